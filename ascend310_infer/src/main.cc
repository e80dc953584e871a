// Auto-DeepLab inference app: model + folder of inputs -> one uint8 trainId label map per input
// (<output_path>/<stem>.bin, H*W bytes) and a timing file (<output_path>/inference_time.txt).
//
//   main --model_path MODEL --input_path DIR_OR_FILE --output_path DIR [--backend mindspore|opencv]
//        [--device ascend|cpu] [--device_id N] [--height H --width W] [--channel_order rgb|bgr]
//
// Inputs are preprocess.py's float32 .bin tensors or images (normalised here). postprocess.py turns
// the label maps into mIoU and colour PNGs.
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "inc/backend.h"
#include "inc/utils.h"
#ifdef HAVE_MINDSPORE
#include "inc/mindspore_backend.h"
#endif
#ifdef HAVE_OPENCV
#include "inc/opencv_backend.h"
#endif

namespace fs = std::filesystem;

namespace {
const char kUsage[] =
    "usage: main --model_path MODEL --input_path DIR_OR_FILE --output_path DIR [--backend mindspore|opencv]\n"
    "            [--device ascend|cpu] [--device_id N] [--height H --width W] [--channel_order rgb|bgr]\n"
    "  mindspore: MINDIR export with MindSpore (Lite) on Ascend 310 (--device ascend, the default) or the CPU;\n"
    "  opencv: ONNX export on the CPU (needs --height/--width)\n";
const std::set<std::string> kOptions = {"model_path", "input_path", "output_path", "backend", "device",
                                        "device_id",  "height",     "width",       "channel_order"};

#ifdef HAVE_MINDSPORE
const char kDefaultBackend[] = "mindspore";
#else
const char kDefaultBackend[] = "opencv";
#endif

int Fail(const std::string &message) {
  std::fprintf(stderr, "error: %s\n", message.c_str());
  return 2;
}

bool ParseArgs(int argc, char **argv, std::map<std::string, std::string> *args, std::string *error) {
  for (int i = 1; i < argc; i += 2) {
    const std::string key = argv[i];
    if (key.rfind("--", 0) != 0 || i + 1 >= argc) {
      *error = "bad argument '" + key + "'\n" + kUsage;
      return false;
    }
    if (kOptions.count(key.substr(2)) == 0) {
      *error = "unknown option '" + key + "'\n" + kUsage;
      return false;
    }
    (*args)[key.substr(2)] = argv[i + 1];
  }
  for (const char *required : {"model_path", "input_path", "output_path"}) {
    if (args->count(required) == 0) {
      *error = std::string("missing --") + required + "\n" + kUsage;
      return false;
    }
  }
  return true;
}

std::string Arg(const std::map<std::string, std::string> &args, const std::string &key, const std::string &fallback) {
  const auto it = args.find(key);
  return it == args.end() ? fallback : it->second;
}

/** Integer value of option `key` (fallback when absent); false with *error set when it is not a number. */
bool IntArg(const std::map<std::string, std::string> &args, const std::string &key, int64_t fallback, int64_t *value,
            std::string *error) {
  const std::string text = Arg(args, key, std::to_string(fallback));
  try {
    size_t used = 0;
    *value = std::stoll(text, &used);
    if (used == text.size()) return true;
  } catch (const std::exception &) {
  }
  *error = "--" + key + " must be an integer, got '" + text + "'";
  return false;
}

std::unique_ptr<Backend> MakeBackend(const std::map<std::string, std::string> &args, std::string *error) {
  const std::string name = Arg(args, "backend", kDefaultBackend);
  const std::string model_path = args.at("model_path");
  if (!fs::is_regular_file(model_path)) {
    *error = "model file " + model_path + " does not exist";
    return nullptr;
  }
#ifdef HAVE_MINDSPORE
  if (name == "mindspore") {
    int64_t device_id = 0;
    if (!IntArg(args, "device_id", 0, &device_id, error)) return nullptr;
    const std::string device = Arg(args, "device", "ascend");
    if (device != "ascend" && device != "cpu") {
      *error = "--device must be ascend or cpu, got '" + device + "'";
      return nullptr;
    }
    return CreateMindSporeBackend(model_path, device == "cpu", static_cast<int>(device_id), error);
  }
#endif
#ifdef HAVE_OPENCV
  if (name == "opencv") {
    int64_t height = 0, width = 0;
    if (!IntArg(args, "height", 0, &height, error) || !IntArg(args, "width", 0, &width, error)) return nullptr;
    if (height <= 0 || width <= 0) {
      *error = "the opencv backend needs the export's --height and --width";
      return nullptr;
    }
    return CreateOpenCvBackend(model_path, height, width, error);
  }
#endif
  *error = "backend '" + name + "' is not built into this app (rebuild with build.sh; mindspore needs " +
           "MINDSPORE_PATH, opencv needs libopencv-dev)";
  return nullptr;
}
}  // namespace

/** Refuses an output folder that is (or holds) the input, and inputs whose outputs would share a name. */
bool CheckOutputs(const fs::path &input_path, const fs::path &output_dir, const std::vector<fs::path> &inputs,
                  std::string *error) {
  std::error_code ec;
  const fs::path input_dir = fs::is_directory(input_path) ? input_path : input_path.parent_path();
  if (fs::exists(output_dir) && fs::equivalent(fs::absolute(input_dir), fs::absolute(output_dir), ec)) {
    *error = "--output_path " + output_dir.string() + " is the input folder: its label maps would replace the " +
             "inputs; choose another --output_path";
    return false;
  }
  std::map<std::string, fs::path> stems;
  for (const fs::path &path : inputs) {
    const auto inserted = stems.emplace(path.stem().string(), path);
    if (!inserted.second) {
      *error = inserted.first->second.string() + " and " + path.string() + " would both write " +
               path.stem().string() + ".bin; keep one of them in the input folder";
      return false;
    }
  }
  return true;
}

int Run(int argc, char **argv) {
  std::map<std::string, std::string> args;
  std::string error;
  if (!ParseArgs(argc, argv, &args, &error)) return Fail(error);
  const std::string channel_order = Arg(args, "channel_order", "rgb");
  if (channel_order != "rgb" && channel_order != "bgr") return Fail("--channel_order must be rgb or bgr");
  std::unique_ptr<Backend> backend = MakeBackend(args, &error);
  if (!backend) return Fail(error);
  const std::vector<int64_t> shape = backend->InputShape();

  const std::vector<fs::path> inputs = ListInputs(args.at("input_path"));
  if (inputs.empty()) return Fail("no .bin or image files in " + args.at("input_path"));
  const fs::path output_dir = args.at("output_path");
  if (!CheckOutputs(args.at("input_path"), output_dir, inputs, &error)) return Fail(error);
  for (const fs::path &path : inputs) {  // every tensor's size before anything is written
    const uintmax_t expected = static_cast<uintmax_t>(3 * shape[2] * shape[3]) * sizeof(float);
    if (IsTensorFile(path) && fs::file_size(path) != expected) {
      return Fail(path.string() + " has " + std::to_string(fs::file_size(path)) + " bytes but the model input " +
                  "needs " + std::to_string(expected) + " (float32 1x3x" + std::to_string(shape[2]) + "x" +
                  std::to_string(shape[3]) + "); is it left from another run? rerun preprocess.py into an empty folder");
    }
  }
  std::error_code ec;
  fs::create_directories(output_dir, ec);
  if (ec) return Fail("cannot create " + output_dir.string() + ": " + ec.message());

  std::vector<std::pair<std::string, double>> times;
  std::vector<float> input;
  std::vector<uint8_t> labels;
  for (const fs::path &path : inputs) {
    if (!LoadInput(path, shape[2], shape[3], channel_order, &input, &error)) return Fail(error);
    Output output;
    const auto start = std::chrono::steady_clock::now();
    if (!backend->Run(input, &output, &error)) return Fail(path.string() + ": " + error);
    const auto stop = std::chrono::steady_clock::now();
    if (!LabelMap(output, &labels, &error)) return Fail(path.string() + ": " + error);
    if (labels.size() != static_cast<size_t>(shape[2] * shape[3])) {
      return Fail(path.string() + ": output has " + std::to_string(labels.size()) + " pixels, input " +
                  std::to_string(shape[2] * shape[3]));
    }
    const fs::path label_file = output_dir / (path.stem().string() + ".bin");
    if (!WriteFileAtomic(label_file, labels.data(), labels.size(), &error)) return Fail(error);
    times.emplace_back(path.stem().string(), std::chrono::duration<double, std::milli>(stop - start).count());
    std::printf("%s -> %s (%.2f ms)\n", path.filename().c_str(), label_file.c_str(), times.back().second);
  }

  double total = 0.0;
  std::string report = "# file inference_ms (height " + std::to_string(shape[2]) + ", width " +
                       std::to_string(shape[3]) + ")\n";
  for (const auto &entry : times) {
    total += entry.second;
    report += entry.first + " " + std::to_string(entry.second) + "\n";
  }
  report += "mean_ms_per_image " + std::to_string(total / times.size()) + " images " + std::to_string(times.size()) +
            "\n";
  if (!WriteFileAtomic(output_dir / "inference_time.txt", report.data(), report.size(), &error)) return Fail(error);
  std::printf("mean %.2f ms/image over %zu images\n", total / times.size(), times.size());
  return 0;
}

int main(int argc, char **argv) {
  try {
    return Run(argc, argv);
  } catch (const fs::filesystem_error &err) {  // e.g. a name too long or a symlink loop in the input folder
    return Fail(err.path1().empty() ? std::string(err.what()) : err.path1().string() + ": " + err.code().message());
  } catch (const std::exception &err) {
    return Fail(err.what());
  }
}
