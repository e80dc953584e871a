#ifndef AUTODEEPLAB_MINDSPORE_BACKEND_H_
#define AUTODEEPLAB_MINDSPORE_BACKEND_H_

#include <memory>
#include <string>

#include "inc/backend.h"

/** MindSpore (Lite) C++ API: MINDIR export built for the Ascend device `device_id`, or the CPU when `on_cpu`. */
std::unique_ptr<Backend> CreateMindSporeBackend(const std::string &model_path, bool on_cpu, int device_id,
                                                std::string *error);

#endif  // AUTODEEPLAB_MINDSPORE_BACKEND_H_
