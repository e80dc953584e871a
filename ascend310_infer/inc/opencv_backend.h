#ifndef AUTODEEPLAB_OPENCV_BACKEND_H_
#define AUTODEEPLAB_OPENCV_BACKEND_H_

#include <memory>
#include <string>

#include "inc/backend.h"

/** OpenCV DNN over an ONNX export of fixed input (1, 3, height, width). */
std::unique_ptr<Backend> CreateOpenCvBackend(const std::string &model_path, int64_t height, int64_t width,
                                             std::string *error);

#endif  // AUTODEEPLAB_OPENCV_BACKEND_H_
