/** File handling, preprocessing and output writing of the inference app. */
#ifndef AUTODEEPLAB_UTILS_H_
#define AUTODEEPLAB_UTILS_H_

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "inc/backend.h"

/** Input files of `path` (a file, or a folder's .bin and image files), sorted by name. */
std::vector<std::filesystem::path> ListInputs(const std::filesystem::path &path);

/** Whether `path` is a raw float32 tensor written by preprocess.py (extension .bin). */
bool IsTensorFile(const std::filesystem::path &path);

/**
 * Network input (3 * height * width float32, CHW) of one input file: a .bin tensor read as is, or an
 * image decoded, converted to RGB (or kept BGR for channel_order "bgr") and normalised with the
 * ImageNet mean/std in 0..255 units, exactly as src/deploy/images.py. Returns false with *error set
 * when the file is unreadable or its size does not match.
 */
bool LoadInput(const std::filesystem::path &path, int64_t height, int64_t width, const std::string &channel_order,
               std::vector<float> *input, std::string *error);

/** (H, W) uint8 trainId map of an output: the label map itself, or the argmax over classes. */
bool LabelMap(const Output &output, std::vector<uint8_t> *labels, std::string *error);

/** Write `size` bytes to `path` under a temporary name, then rename. */
bool WriteFileAtomic(const std::filesystem::path &path, const void *data, size_t size, std::string *error);

#endif  // AUTODEEPLAB_UTILS_H_
