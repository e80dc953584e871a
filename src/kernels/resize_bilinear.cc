// Bilinear resize with align_corners=True (MindSpore's ResizeBilinearV2) and its gradient on NCHW
// float32 tensors, as MindSpore AOT custom ops.
//
// Both are separable. Forward: each output row blends its two input rows (a vectorised
// multiply-add), then picks its columns from that blended row. Gradient: each output row is first
// reduced to an input-width row, which is then added to its two input rows. MindSpore 2.10's CPU
// kernels take 3x longer (the gradient was 6% of an Auto-DeepLab-S train step, the forward 5% of its
// inference).
#include <algorithm>
#include <cstdint>
#include <vector>

#include "worker_pool.h"

namespace {

// Source index pairs and weights of a 1-D align_corners resize from `in` to `out` samples.
struct Taps {
  std::vector<int64_t> lower, upper;
  std::vector<float> weight;  // of `upper`
  Taps(int64_t in, int64_t out) : lower(out), upper(out), weight(out) {
    const double scale = out > 1 ? static_cast<double>(in - 1) / static_cast<double>(out - 1) : 0.0;
    for (int64_t o = 0; o < out; ++o) {
      const double position = o * scale;
      lower[o] = std::min<int64_t>(static_cast<int64_t>(position), in - 1);
      upper[o] = std::min<int64_t>(lower[o] + 1, in - 1);
      weight[o] = static_cast<float>(position - static_cast<double>(lower[o]));
    }
  }
};

// Runs plane(source, target, row) for every (n, c) plane of params[0] -> params[2] (`source_size` and
// `target_size` floats a plane) in parallel, with a scratch row of `row_size` floats per thread.
template <typename Plane>
int for_each_plane(void **params, int64_t planes, int64_t source_size, int64_t target_size, int64_t row_size,
                   const Plane &plane) {
  const auto *source = static_cast<const float *>(params[0]);
  auto *target = static_cast<float *>(params[2]);
  parallel_for(planes, [&](int64_t p) {
    thread_local std::vector<float> row;
    row.resize(row_size);
    plane(source + p * source_size, target + p * target_size, row);
  });
  return 0;
}

}  // namespace

// params: x (N, C, Hi, Wi), size (Ho, Wo) (read for its shape only) -> y (N, C, Ho, Wo).
extern "C" int ResizeBilinear(int, void **params, int *, int64_t **shapes, const char **, void *, void *) {
  const int64_t in_h = shapes[0][2], in_w = shapes[0][3], out_h = shapes[1][0], out_w = shapes[1][1];
  const Taps rows(in_h, out_h), columns(in_w, out_w);
  return for_each_plane(params, shapes[0][0] * shapes[0][1], in_h * in_w, out_h * out_w, in_w,
                        [&](const float *input, float *result, std::vector<float> &row) {
    for (int64_t oh = 0; oh < out_h; ++oh) {
      const float bottom = rows.weight[oh], top = 1.0f - bottom;
      const float *upper_row = input + rows.lower[oh] * in_w, *lower_row = input + rows.upper[oh] * in_w;
#pragma omp simd
      for (int64_t w = 0; w < in_w; ++w) row[w] = top * upper_row[w] + bottom * lower_row[w];
      float *out = result + oh * out_w;
      for (int64_t ow = 0; ow < out_w; ++ow)
        out[ow] = row[columns.lower[ow]] * (1.0f - columns.weight[ow]) + row[columns.upper[ow]] * columns.weight[ow];
    }
  });
}

// params: dy (N, C, Ho, Wo), x (N, C, Hi, Wi) (read for its shape only) -> dx (N, C, Hi, Wi).
extern "C" int ResizeBilinearGrad(int, void **params, int *, int64_t **shapes, const char **, void *, void *) {
  const int64_t out_h = shapes[0][2], out_w = shapes[0][3], in_h = shapes[1][2], in_w = shapes[1][3];
  const Taps rows(in_h, out_h), columns(in_w, out_w);
  return for_each_plane(params, shapes[0][0] * shapes[0][1], out_h * out_w, in_h * in_w, in_w,
                        [&](const float *grad, float *result, std::vector<float> &row) {
    std::fill(result, result + in_h * in_w, 0.0f);
    for (int64_t oh = 0; oh < out_h; ++oh) {
      std::fill(row.begin(), row.end(), 0.0f);
      const float *g = grad + oh * out_w;
      for (int64_t ow = 0; ow < out_w; ++ow) {
        row[columns.lower[ow]] += g[ow] * (1.0f - columns.weight[ow]);
        row[columns.upper[ow]] += g[ow] * columns.weight[ow];
      }
      const float bottom = rows.weight[oh], top = 1.0f - bottom;
      float *upper_row = result + rows.lower[oh] * in_w, *lower_row = result + rows.upper[oh] * in_w;
#pragma omp simd
      for (int64_t w = 0; w < in_w; ++w) upper_row[w] += top * row[w];
#pragma omp simd
      for (int64_t w = 0; w < in_w; ++w) lower_row[w] += bottom * row[w];
    }
  });
}
