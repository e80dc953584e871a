// OpenCV DNN backend: runs the ONNX export on the CPU (builds on any machine with libopencv-dev).
#include <opencv2/dnn.hpp>

#include "inc/backend.h"
#include "inc/opencv_backend.h"

namespace {
class OpenCvBackend : public Backend {
 public:
  OpenCvBackend(cv::dnn::Net net, std::vector<int64_t> input_shape)
      : net_(std::move(net)), input_shape_(std::move(input_shape)) {}

  std::vector<int64_t> InputShape() const override { return input_shape_; }

  bool Run(const std::vector<float> &input, Output *output, std::string *error) override {
    const int dims[4] = {1, 3, static_cast<int>(input_shape_[2]), static_cast<int>(input_shape_[3])};
    cv::Mat blob(4, dims, CV_32F, const_cast<float *>(input.data()));
    cv::Mat result;
    try {
      net_.setInput(blob);
      result = net_.forward();
    } catch (const cv::Exception &e) {
      *error = std::string("OpenCV DNN inference failed: ") + e.what();
      return false;
    }
    output->shape.assign(result.size.p, result.size.p + result.dims);
    const size_t count = result.total();
    if (result.depth() == CV_32F) {
      output->scores.assign(result.ptr<float>(), result.ptr<float>() + count);
    } else if (result.depth() == CV_32S) {
      output->labels.assign(result.ptr<int32_t>(), result.ptr<int32_t>() + count);
    } else {
      *error = "unsupported OpenCV output depth " + std::to_string(result.depth());
      return false;
    }
    return true;
  }

 private:
  cv::dnn::Net net_;
  std::vector<int64_t> input_shape_;
};
}  // namespace

std::unique_ptr<Backend> CreateOpenCvBackend(const std::string &model_path, int64_t height, int64_t width,
                                             std::string *error) {
  try {
    cv::dnn::Net net = cv::dnn::readNetFromONNX(model_path);
    net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
    net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
    return std::make_unique<OpenCvBackend>(std::move(net), std::vector<int64_t>{1, 3, height, width});
  } catch (const cv::Exception &e) {
    *error = model_path + " is not an ONNX model OpenCV DNN can read: " + e.what();
    return nullptr;
  }
}
