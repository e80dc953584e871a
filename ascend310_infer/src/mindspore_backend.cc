// MindSpore backend: the MINDIR export on Ascend 310 (or the CPU), as in the MindSpore ModelZoo
// cpp_infer apps. Compiled only when MINDSPORE_PATH is given to CMake. Default: MindSpore Lite's
// Model::Build(path, kMindIR, context), the 310 route of MindSpore >= 2.2; with -DMINDSPORE_LEGACY_API=ON
// the MindSpore 1.x package's Serialization::Load + GraphCell route.
#include <cstring>

#include "include/api/context.h"
#include "include/api/model.h"
#ifdef MINDSPORE_LEGACY_API
#include "include/api/serialization.h"
#endif
#include "include/api/types.h"
#include "inc/backend.h"
#include "inc/mindspore_backend.h"

namespace {
class MindSporeBackend : public Backend {
 public:
  std::vector<int64_t> InputShape() const override { return input_shape_; }

  bool Build(const std::string &model_path, bool on_cpu, int device_id, std::string *error) {
    auto context = std::make_shared<mindspore::Context>();
    if (on_cpu) {
      context->MutableDeviceInfo().push_back(std::make_shared<mindspore::CPUDeviceInfo>());
    } else {
      auto ascend = std::make_shared<mindspore::AscendDeviceInfo>();
      ascend->SetDeviceID(static_cast<uint32_t>(device_id));
      context->MutableDeviceInfo().push_back(ascend);
    }
    const std::string device = on_cpu ? std::string("the CPU") : "Ascend device " + std::to_string(device_id);
#ifdef MINDSPORE_LEGACY_API
    mindspore::Graph graph;
    if (mindspore::Serialization::Load(model_path, mindspore::ModelType::kMindIR, &graph) != mindspore::kSuccess) {
      *error = model_path + " is not a MINDIR file MindSpore can load";
      return false;
    }
    const mindspore::Status built = model_.Build(mindspore::GraphCell(graph), context);
#else
    const mindspore::Status built = model_.Build(model_path, mindspore::ModelType::kMindIR, context);
#endif
    if (built != mindspore::kSuccess) {
      *error = "building " + model_path + " for " + device + " failed (is it a MINDIR export this MindSpore " +
               "(Lite) version reads?)";
      return false;
    }
    std::vector<mindspore::MSTensor> inputs = model_.GetInputs();
    const std::vector<int64_t> shape = inputs.size() == 1 ? inputs[0].Shape() : std::vector<int64_t>();
    if (shape.size() != 4 || shape[0] != 1 || shape[1] != 3 || shape[2] <= 0 || shape[3] <= 0 ||
        inputs[0].DataType() != mindspore::DataType::kNumberTypeFloat32) {
      *error = model_path + " must have one float32 (1, 3, H, W) input; export it with export.py";
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

std::unique_ptr<Backend> CreateMindSporeBackend(const std::string &model_path, bool on_cpu, int device_id,
                                                std::string *error) {
  auto backend = std::make_unique<MindSporeBackend>();
  if (!backend->Build(model_path, on_cpu, device_id, error)) return nullptr;
  return backend;
}
