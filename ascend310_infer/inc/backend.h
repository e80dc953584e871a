/**
 * One interface over the two inference engines of the app:
 *  - MindSporeBackend: MindSpore C++ API on Ascend 310 (MINDIR), built when MINDSPORE_PATH is set;
 *  - OpenCvBackend: OpenCV DNN on the CPU (ONNX export), built when OpenCV is found.
 */
#ifndef AUTODEEPLAB_BACKEND_H_
#define AUTODEEPLAB_BACKEND_H_

#include <cstdint>
#include <string>
#include <vector>

/** A model output: a label map (N, H, W) or class scores (N, C, H, W). */
struct Output {
  std::vector<int64_t> shape;
  std::vector<float> scores;    // filled for float outputs
  std::vector<int32_t> labels;  // filled for integer (argmax) outputs
};

class Backend {
 public:
  virtual ~Backend() = default;
  /** Input shape (1, 3, H, W) the model was exported with. */
  virtual std::vector<int64_t> InputShape() const = 0;
  /** Run one normalised float32 NCHW input; returns false and sets *error on failure. */
  virtual bool Run(const std::vector<float> &input, Output *output, std::string *error) = 0;
};

#endif  // AUTODEEPLAB_BACKEND_H_
