// MindSpore backend: the MINDIR export on Ascend 310 (Serialization::Load, Model::Build, Predict),
// as in the MindSpore ModelZoo cpp_infer apps. Compiled only when MINDSPORE_PATH is given to CMake.
#include <cstring>

#include "include/api/context.h"
#include "include/api/model.h"
#include "include/api/serialization.h"
#include "include/api/types.h"
#include "inc/backend.h"
#include "inc/mindspore_backend.h"

namespace {
class MindSporeBackend : public Backend {
 public:
  std::vector<int64_t> InputShape() const override { return input_shape_; }

  bool Build(const std::string &model_path, int device_id, std::string *error) {
    auto context = std::make_shared<mindspore::Context>();
    auto ascend = std::make_shared<mindspore::AscendDeviceInfo>();
    ascend->SetDeviceID(static_cast<uint32_t>(device_id));
    context->MutableDeviceInfo().push_back(ascend);
    mindspore::Graph graph;
    if (mindspore::Serialization::Load(model_path, mindspore::ModelType::kMindIR, &graph) != mindspore::kSuccess) {
      *error = model_path + " is not a MINDIR file MindSpore can load";
      return false;
    }
    if (model_.Build(mindspore::GraphCell(graph), context) != mindspore::kSuccess) {
      *error = "building " + model_path + " for Ascend device " + std::to_string(device_id) + " failed";
      return false;
    }
    std::vector<mindspore::MSTensor> inputs = model_.GetInputs();
    if (inputs.size() != 1 || inputs[0].Shape().size() != 4) {
      *error = model_path + " must have one (1, 3, H, W) input; export it with export.py";
      return false;
    }
    input_ = inputs[0];
    input_shape_ = input_.Shape();
    return true;
  }

  bool Run(const std::vector<float> &input, Output *output, std::string *error) override {
    std::vector<mindspore::MSTensor> inputs{mindspore::MSTensor(input_.Name(), mindspore::DataType::kNumberTypeFloat32,
                                                                input_shape_, input.data(),
                                                                input.size() * sizeof(float))};
    std::vector<mindspore::MSTensor> outputs;
    if (model_.Predict(inputs, &outputs) != mindspore::kSuccess || outputs.empty()) {
      *error = "MindSpore Predict failed";
      return false;
    }
    const mindspore::MSTensor &result = outputs[0];
    output->shape = result.Shape();
    const auto data = result.Data();
    const size_t count = static_cast<size_t>(result.ElementNum());
    if (result.DataType() == mindspore::DataType::kNumberTypeFloat32) {
      output->scores.resize(count);
      std::memcpy(output->scores.data(), data.get(), count * sizeof(float));
    } else if (result.DataType() == mindspore::DataType::kNumberTypeInt32) {
      output->labels.resize(count);
      std::memcpy(output->labels.data(), data.get(), count * sizeof(int32_t));
    } else {
      *error = "unsupported output data type of the MINDIR model";
      return false;
    }
    return true;
  }

 private:
  mindspore::Model model_;
  mindspore::MSTensor input_;
  std::vector<int64_t> input_shape_;
};
}  // namespace

std::unique_ptr<Backend> CreateMindSporeBackend(const std::string &model_path, int device_id, std::string *error) {
  auto backend = std::make_unique<MindSporeBackend>();
  if (!backend->Build(model_path, device_id, error)) return nullptr;
  return backend;
}
