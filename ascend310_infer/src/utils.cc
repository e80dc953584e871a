#include "inc/utils.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <system_error>

#ifdef HAVE_OPENCV
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#endif

namespace fs = std::filesystem;

namespace {
// ImageNet RGB constants in 0..255 units (src/data/dataset.py IMAGENET_MEAN_RGB / IMAGENET_STD_RGB).
const float kMean[3] = {0.485f * 255.0f, 0.456f * 255.0f, 0.406f * 255.0f};
const float kStd[3] = {0.229f * 255.0f, 0.224f * 255.0f, 0.225f * 255.0f};
const char *kImageExtensions[] = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm"};

std::string Lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

bool IsImageFile(const fs::path &path) {
  const std::string extension = Lower(path.extension().string());
  return std::any_of(std::begin(kImageExtensions), std::end(kImageExtensions),
                     [&extension](const char *e) { return extension == e; });
}

bool LoadTensor(const fs::path &path, size_t count, std::vector<float> *input, std::string *error) {
  std::error_code ec;
  const auto bytes = fs::file_size(path, ec);
  if (ec || bytes != count * sizeof(float)) {
    *error = path.string() + " has " + std::to_string(ec ? 0 : bytes) + " bytes but the model input needs " +
             std::to_string(count * sizeof(float)) + " (float32 1x3xHxW); run preprocess.py with the export's " +
             "--height/--width";
    return false;
  }
  input->resize(count);
  std::ifstream file(path, std::ios::binary);
  if (!file.read(reinterpret_cast<char *>(input->data()), static_cast<std::streamsize>(bytes))) {
    *error = "cannot read " + path.string();
    return false;
  }
  return true;
}

#ifdef HAVE_OPENCV
bool LoadImage(const fs::path &path, int64_t height, int64_t width, const std::string &channel_order,
               std::vector<float> *input, std::string *error) {
  cv::Mat image = cv::imread(path.string(), cv::IMREAD_COLOR);  // BGR
  if (image.empty()) {
    *error = path.string() + " is not an image OpenCV can read";
    return false;
  }
  if (image.rows != height || image.cols != width) {
    *error = path.string() + " is " + std::to_string(image.rows) + "x" + std::to_string(image.cols) +
             " (HxW) but the model was exported for " + std::to_string(height) + "x" + std::to_string(width) +
             "; re-export with export.py --height " + std::to_string(image.rows) + " --width " +
             std::to_string(image.cols);
    return false;
  }
  if (channel_order == "rgb") cv::cvtColor(image, image, cv::COLOR_BGR2RGB);
  const size_t plane = static_cast<size_t>(height * width);
  input->resize(3 * plane);
  for (int y = 0; y < image.rows; ++y) {
    const cv::Vec3b *row = image.ptr<cv::Vec3b>(y);
    for (int x = 0; x < image.cols; ++x) {
      for (int c = 0; c < 3; ++c) {
        (*input)[c * plane + static_cast<size_t>(y) * width + x] =
            (static_cast<float>(row[x][c]) - kMean[c]) / kStd[c];
      }
    }
  }
  return true;
}
#endif
}  // namespace

bool IsTensorFile(const fs::path &path) { return Lower(path.extension().string()) == ".bin"; }

std::vector<fs::path> ListInputs(const fs::path &path) {
  std::vector<fs::path> inputs;
  if (fs::is_regular_file(path)) {
    inputs.push_back(path);
    return inputs;
  }
  if (!fs::is_directory(path)) return inputs;
  for (const auto &entry : fs::directory_iterator(path)) {
    if (entry.is_regular_file() && (IsTensorFile(entry.path()) || IsImageFile(entry.path()))) {
      inputs.push_back(entry.path());
    }
  }
  std::sort(inputs.begin(), inputs.end());
  return inputs;
}

bool LoadInput(const fs::path &path, int64_t height, int64_t width, const std::string &channel_order,
               std::vector<float> *input, std::string *error) {
  if (IsTensorFile(path)) return LoadTensor(path, static_cast<size_t>(3 * height * width), input, error);
#ifdef HAVE_OPENCV
  return LoadImage(path, height, width, channel_order, input, error);
#else
  (void)channel_order;
  *error = path.string() + ": this build has no OpenCV to decode images; pass the .bin files of preprocess.py";
  return false;
#endif
}

bool LabelMap(const Output &output, std::vector<uint8_t> *labels, std::string *error) {
  const auto &shape = output.shape;
  // A label map is (1, H, W), or (1, 1, H, W) as OpenCV DNN shapes ArgMax (its values come as float).
  const bool label_map = (shape.size() == 3 && shape[0] == 1) || (shape.size() == 4 && shape[0] == 1 && shape[1] == 1);
  if (label_map) {
    if (!output.labels.empty()) {
      labels->assign(output.labels.begin(), output.labels.end());
    } else {
      labels->resize(output.scores.size());
      std::transform(output.scores.begin(), output.scores.end(), labels->begin(),
                     [](float v) { return static_cast<uint8_t>(v + 0.5f); });
    }
    return true;
  }
  if (shape.size() != 4 || shape[0] != 1 || output.scores.empty()) {
    *error = "unexpected model output: need a (1, H, W) label map or (1, C, H, W) scores";
    return false;
  }
  const int64_t classes = shape[1];
  const size_t plane = static_cast<size_t>(shape[2] * shape[3]);
  labels->assign(plane, 0);
  std::vector<float> best(output.scores.begin(), output.scores.begin() + plane);
  for (int64_t c = 1; c < classes; ++c) {
    const float *scores = output.scores.data() + c * plane;
    for (size_t i = 0; i < plane; ++i) {
      if (scores[i] > best[i]) {
        best[i] = scores[i];
        (*labels)[i] = static_cast<uint8_t>(c);
      }
    }
  }
  return true;
}

bool WriteFileAtomic(const fs::path &path, const void *data, size_t size, std::string *error) {
  const fs::path temporary = path.string() + ".tmp";
  {
    std::ofstream file(temporary, std::ios::binary | std::ios::trunc);
    if (!file.write(static_cast<const char *>(data), static_cast<std::streamsize>(size))) {
      *error = "cannot write " + temporary.string();
      return false;
    }
  }
  std::error_code ec;
  fs::rename(temporary, path, ec);
  if (ec) {
    *error = "cannot rename " + temporary.string() + " to " + path.string() + ": " + ec.message();
    return false;
  }
  return true;
}
