#ifndef AUTODEEPLAB_MINDSPORE_BACKEND_H_
#define AUTODEEPLAB_MINDSPORE_BACKEND_H_

#include <memory>
#include <string>

#include "inc/backend.h"

/** MindSpore C++ API: MINDIR export built for the Ascend 310 device `device_id`. */
std::unique_ptr<Backend> CreateMindSporeBackend(const std::string &model_path, int device_id, std::string *error);

#endif  // AUTODEEPLAB_MINDSPORE_BACKEND_H_
