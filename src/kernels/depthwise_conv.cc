// Stride-1 "same" depthwise convolution (k 3 or 5) on NCHW float32 tensors, as MindSpore AOT custom ops.
//
// MindSpore 2.10 runs a CPU depthwise conv as one tiny GEMM per channel (about 4 GFLOP/s here); these
// loops keep each padded plane in cache and vectorise along the row (built by src/kernels/build.py).
#include <algorithm>
#include <cstdint>
#include <vector>

#include "worker_pool.h"

namespace {

// Copy a plane into the centre of a zero (H + 2p) x (W + 2p) buffer.
void pad_plane(const float *x, float *padded, int64_t height, int64_t width, int64_t pad) {
  const int64_t stride = width + 2 * pad;
  std::fill(padded, padded + (height + 2 * pad) * stride, 0.0f);
  for (int64_t h = 0; h < height; ++h) std::copy(x + h * width, x + (h + 1) * width, padded + (h + pad) * stride + pad);
}

template <int K>
void plane_forward(const float *padded, const float *w, float *y, int64_t height, int64_t width) {
  const int64_t stride = width + K - 1;
  for (int64_t h = 0; h < height; ++h) {
    float *out = y + h * width;
#pragma omp simd
    for (int64_t c = 0; c < width; ++c) {
      float acc = 0.0f;
      for (int i = 0; i < K; ++i)
        for (int j = 0; j < K; ++j) acc += w[i * K + j] * padded[(h + i) * stride + c + j];
      out[c] = acc;
    }
  }
}

// sums[(i * K + j) * W + c] += sum over rows h of dy[h][c] * padded[h + i][c + j]: one partial
// sum per tap and column, so the inner loop is a plain vectorised multiply-add.
template <int K>
void plane_weight_grad(const float *padded, const float *dy, float *sums, int64_t height, int64_t width) {
  const int64_t stride = width + K - 1;
  for (int64_t h = 0; h < height; ++h) {
    const float *g = dy + h * width;
    for (int i = 0; i < K; ++i)
      for (int j = 0; j < K; ++j) {
        const float *in = padded + (h + i) * stride + j;
        float *sum = sums + (i * K + j) * width;
#pragma omp simd
        for (int64_t c = 0; c < width; ++c) sum[c] += g[c] * in[c];
      }
  }
}

template <int K>
void forward(const float *x, const float *w, float *y, int64_t planes, int64_t channels, int64_t height, int64_t width) {
  parallel_for(planes, [=](int64_t p) {
    thread_local std::vector<float> padded;
    padded.resize((height + K - 1) * (width + K - 1));
    pad_plane(x + p * height * width, padded.data(), height, width, K / 2);
    plane_forward<K>(padded.data(), w + (p % channels) * K * K, y + p * height * width, height, width);
  });
}

template <int K>
void weight_grad(const float *dy, const float *x, float *dw, int64_t batch, int64_t channels, int64_t height,
                 int64_t width) {
  parallel_for(channels, [=](int64_t c) {
    thread_local std::vector<float> padded, sums;
    padded.resize((height + K - 1) * (width + K - 1));
    sums.assign(K * K * width, 0.0f);
    for (int64_t b = 0; b < batch; ++b) {
      const int64_t offset = (b * channels + c) * height * width;
      pad_plane(x + offset, padded.data(), height, width, K / 2);
      plane_weight_grad<K>(padded.data(), dy + offset, sums.data(), height, width);
    }
    for (int tap = 0; tap < K * K; ++tap) {
      float total = 0.0f;
      for (int64_t col = 0; col < width; ++col) total += sums[tap * width + col];
      dw[c * K * K + tap] = total;
    }
  });
}

}  // namespace

// params: x (N, C, H, W), w (C, 1, k, k) -> y (N, C, H, W); k in {3, 5}. Returns 1 for another k.
extern "C" int DepthwiseConvForward(int, void **params, int *, int64_t **shapes, const char **, void *, void *) {
  const auto *x = static_cast<const float *>(params[0]);
  const auto *w = static_cast<const float *>(params[1]);
  auto *y = static_cast<float *>(params[2]);
  const int64_t planes = shapes[0][0] * shapes[0][1], channels = shapes[0][1];
  const int64_t height = shapes[0][2], width = shapes[0][3], k = shapes[1][2];
  if (k == 3) forward<3>(x, w, y, planes, channels, height, width);
  else if (k == 5) forward<5>(x, w, y, planes, channels, height, width);
  else return 1;
  return 0;
}

// params: dy (N, C, H, W), x (N, C, H, W), w (C, 1, k, k) (read for its shape only) -> dw (C, 1, k, k);
// k in {3, 5}. Returns 1 for another k.
extern "C" int DepthwiseConvWeightGrad(int, void **params, int *, int64_t **shapes, const char **, void *, void *) {
  const auto *dy = static_cast<const float *>(params[0]);
  const auto *x = static_cast<const float *>(params[1]);
  auto *dw = static_cast<float *>(params[3]);
  const int64_t batch = shapes[0][0], channels = shapes[0][1], height = shapes[0][2], width = shapes[0][3];
  const int64_t k = shapes[3][2];
  if (k == 3) weight_grad<3>(dy, x, dw, batch, channels, height, width);
  else if (k == 5) weight_grad<5>(dy, x, dw, batch, channels, height, width);
  else return 1;
  return 0;
}
