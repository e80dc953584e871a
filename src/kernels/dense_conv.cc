// Stride-1 "same" dense convolution (any k x k, any dilation) on NCHW float32 tensors, as MindSpore
// AOT custom ops whose multiply-adds run in OpenBLAS's SGEMM (the library bundled with numpy).
//
// Under the ONEDNN_MAX_CPU_ISA=AVX2 cap that MindSpore 2.10 needs on CPU (docs/cpu.md, ISA cap),
// its convolutions peak at about half of the AVX-512 SGEMM rate. Here a k x k conv is k*k GEMMs over one zero-padded
// copy of the input: with the output computed on the padded width Wp, tap (i, j) reads the padded
// input as a (C_in x H*Wp) matrix starting at offset (i*Wp + j) * dilation, so no im2col buffer is
// needed; the Wp - W extra columns of each output row are dropped afterwards. The input gradient is
// the same conv of dy with the transposed, spatially flipped filters; the weight gradient is one GEMM
// per tap of dy (zero on the extra columns) with the same shifted views. Taps that only ever read
// padding are skipped. When the padding is large against the map (ASPP's rates 12 and 18 at stride
// 8 of a 321 crop), each tap's GEMM instead covers only the output pixels where it reads the input.
//
// Repeatable results: OpenBLAS's threaded SGEMM gave run-to-run differences (its result for a call
// depends on how many of its threads that call gets, which depends on what else runs). So OpenBLAS
// runs single-threaded (set when this library loads) and the kernels split their GEMMs themselves
// over the worker pool, into blocks fixed by the shapes alone: every output value is summed in the
// same order whichever thread computes it, whatever the timing and the number of cores.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "worker_pool.h"

extern "C" void openblas_set_num_threads64_(int threads);
extern "C" void cblas_sgemm64_(int order, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                               const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                               int64_t ldc);

namespace {

constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112;
// At most about this many output pixels per block of tap GEMMs (fastest of 2048-16384 here, 2 MB L2
// per core).
constexpr int64_t kChunkPixels = 4096;
// The work of one GEMM or conv is split into at most kTasks blocks (enough for 8 cores): of at least
// kMinColumns output columns or, where the output is small, of at least kMinDepth summed products.
// Constants, not the core count: the split, and so every result, is the same on every host.
constexpr int64_t kTasks = 8, kMinColumns = 512, kMinDepth = 2048;

__attribute__((constructor)) void single_threaded_openblas() { openblas_set_num_threads64_(1); }

// C (m x n) = A B + beta C, single-threaded (op(A) is m x k, op(B) k x n, row-major).
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b,
          int64_t ldb, float beta, float *c, int64_t ldc) {
  cblas_sgemm64_(kRowMajor, trans_a ? kTrans : kNoTrans, trans_b ? kTrans : kNoTrans, m, n, k, 1.0f, a, lda, b, ldb,
                 beta, c, ldc);
}

// A split of `length` into `parts` blocks of `size` (the last one shorter): at most `max_parts`
// blocks, none shorter than `min_size` unless the whole is.
struct Split {
  int64_t size, parts;
  Split(int64_t length, int64_t min_size, int64_t max_parts) {
    const int64_t wanted = std::max<int64_t>(1, std::min(max_parts, length / min_size));
    size = (length + wanted - 1) / wanted;
    parts = (length + size - 1) / size;
  }
  int64_t begin(int64_t part) const { return part * size; }
  int64_t length(int64_t part, int64_t total) const { return std::min(size, total - part * size); }
};

// A growable scratch buffer per thread that is not zeroed on growth.
float *scratch(int slot, int64_t size) {
  thread_local std::unique_ptr<float[]> buffers[4];
  thread_local int64_t capacity[4] = {0, 0, 0, 0};
  if (capacity[slot] < size) {
    buffers[slot].reset(new float[size]);
    capacity[slot] = size;
  }
  return buffers[slot].get();
}

// out[i] = (beta ? out[i] : 0) + partials[0][i] + ... + partials[parts - 1][i], i < size, in that order.
void add_partials(const float *partials, int64_t parts, int64_t size, float beta, float *out) {
  const Split blocks(size, kMinColumns, kTasks);
  parallel_for(blocks.parts, [=](int64_t block) {
    for (int64_t i = blocks.begin(block), end = i + blocks.length(block, size); i < end; ++i) {
      float sum = beta != 0.0f ? out[i] : 0.0f;
      for (int64_t part = 0; part < parts; ++part) sum += partials[part * size + i];
      out[i] = sum;
    }
  });
}

// C (m x n, row stride n) = op(A) op(B) + beta C on the worker pool: blocks of C's columns, or where
// C has too few columns, blocks of the summed dimension whose products add_partials sums in order.
void parallel_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                   const float *b, int64_t ldb, float beta, float *c) {
  const Split columns(n, kMinColumns, kTasks);
  const Split depth(k, kMinDepth, columns.parts > 1 ? 1 : kTasks);
  if (depth.parts == 1) {
    parallel_for(columns.parts, [=](int64_t part) {
      const int64_t first = columns.begin(part);
      gemm(trans_a, trans_b, m, columns.length(part, n), k, a, lda, trans_b ? b + first * ldb : b + first, ldb, beta,
           c + first, n);
    });
    return;
  }
  float *partials = scratch(3, depth.parts * m * n);
  parallel_for(depth.parts, [=](int64_t part) {
    const int64_t first = depth.begin(part);
    gemm(trans_a, trans_b, m, n, depth.length(part, k), trans_a ? a + first * lda : a + first, lda,
         trans_b ? b + first : b + first * ldb, ldb, 0.0f, partials + part * m * n, n);
  });
  add_partials(partials, depth.parts, m * n, beta, c);
}

// The output range [begin, end) of one axis of length `size` where a tap shifted by `shift` reads
// the input (empty when begin >= end).
struct Span {
  int64_t begin, end;
  Span(int64_t size, int64_t shift) : begin(std::max<int64_t>(0, -shift)), end(std::min(size, size - shift)) {}
  int64_t length() const { return end - begin; }
};

struct Geometry {
  int64_t height, width, kernel, dilation, pad, padded_height, padded_width;

  Geometry(int64_t h, int64_t w, int64_t k, int64_t d)
      : height(h), width(w), kernel(k), dilation(d), pad(d * (k - 1) / 2), padded_height(h + d * (k - 1)),
        padded_width(w + d * (k - 1)) {}

  // Blocks of the H x Wp output pixels (row-major, padded width), one task each: at most about
  // kChunkPixels, so that a block's output and input stay in cache across the taps.
  Split pixel_blocks() const {
    const int64_t pixels = height * padded_width;
    return Split(pixels, kMinColumns, std::max(kTasks, (pixels + kChunkPixels - 1) / kChunkPixels));
  }
  int64_t plane() const { return padded_height * padded_width; }
  // Floats of a padded copy of `channels` planes, with room for the last tap's overhang.
  int64_t padded_size(int64_t channels) const { return channels * plane() + 2 * pad; }
  int64_t offset(int64_t tap) const {
    return ((tap / kernel) * padded_width + tap % kernel) * dilation;
  }
  // Whether tap (i, j) reads at least one input pixel (else it only multiplies padding).
  bool reads_input(int64_t tap) const {
    return Span(height, (tap / kernel) * dilation - pad).length() > 0 &&
           Span(width, (tap % kernel) * dilation - pad).length() > 0;
  }
};

// Copy `channels` H x W planes into the centre of zeroed Hp x Wp planes (plus a zero overhang).
void pad_planes(const float *x, float *padded, int64_t channels, const Geometry &g) {
  const int64_t pad = g.pad, stride = g.padded_width;
  parallel_for(channels, [=](int64_t c) {
    const float *in = x + c * g.height * g.width;
    float *out = padded + c * g.plane();
    std::fill(out, out + pad * stride + pad, 0.0f);
    for (int64_t h = 0; h < g.height; ++h) {
      float *row = out + (h + pad) * stride + pad;
      std::copy(in + h * g.width, in + (h + 1) * g.width, row);
      std::fill(row + g.width, row + g.width + 2 * pad, 0.0f);
    }
    std::fill(out + (g.height + pad) * stride + pad, out + g.plane(), 0.0f);
  });
  std::fill(padded + channels * g.plane(), padded + g.padded_size(channels), 0.0f);
}

// w (C_out, C_in, k, k) -> packed (k*k, C_out, C_in), one GEMM operand per tap; and back.
void pack_taps(const float *w, float *packed, int64_t pairs, int64_t taps) {
  for (int64_t p = 0; p < pairs; ++p)
    for (int64_t t = 0; t < taps; ++t) packed[t * pairs + p] = w[p * taps + t];
}

void unpack_taps(const float *packed, float *w, int64_t pairs, int64_t taps) {
  for (int64_t p = 0; p < pairs; ++p)
    for (int64_t t = 0; t < taps; ++t) w[p * taps + t] = packed[t * pairs + p];
}

// An optional per-channel y = act(y * scale + shift), act = x > 0 ? x : slope * x: a BatchNorm in
// inference mode and a (leaky) ReLU, applied while the output is written.
struct Epilogue {
  const float *scale = nullptr, *shift = nullptr;
  float slope = 1.0f;

  void apply(const float *in, float *out, int64_t count, int64_t channel) const {
    if (scale == nullptr) {
      if (in != out) std::copy(in, in + count, out);
      return;
    }
    const float a = scale[channel], b = shift[channel], s = slope;
#pragma omp simd
    for (int64_t i = 0; i < count; ++i) {
      const float v = in[i] * a + b;
      out[i] = v > 0.0f ? v : s * v;
    }
  }

  // In place on `channels` planes of `pixels` values (nothing to do without scale).
  void apply_to_planes(float *y, int64_t channels, int64_t pixels) const {
    if (scale != nullptr)
      parallel_for(channels, [=](int64_t c) { apply(y + c * pixels, y + c * pixels, pixels, c); });
  }
};

// A tap that reads the input: its index, shifts, and the output rows and columns where it does.
struct ValidTap {
  int64_t tap, row_shift, column_shift;
  Span rows, columns;
};

// The taps that read the input, grouped by column tap (one group shares columns and column_shift).
std::vector<std::vector<ValidTap>> valid_taps_by_column(const Geometry &g) {
  std::vector<std::vector<ValidTap>> groups;
  for (int64_t j = 0; j < g.kernel; ++j) {
    const int64_t column_shift = j * g.dilation - g.pad;
    const Span columns(g.width, column_shift);
    std::vector<ValidTap> group;
    for (int64_t i = 0; i < g.kernel && columns.length() > 0; ++i) {
      const int64_t row_shift = i * g.dilation - g.pad;
      const Span rows(g.height, row_shift);
      if (rows.length() > 0) group.push_back({i * g.kernel + j, row_shift, column_shift, rows, columns});
    }
    if (!group.empty()) groups.push_back(group);
  }
  return groups;
}

// Large dilations on small maps: padding would make up most of the padded-width GEMMs (rows more
// than 1.5x longer), so each tap multiplies only the rows and columns where it reads the input.
bool pads_too_much(const Geometry &g) { return 4 * g.pad > g.width; }

// slice[c] (H x width) = columns [first, first + width) of plane c of x (H x W).
void slice_columns(const float *x, float *slice, int64_t channels, int64_t first, int64_t width, const Geometry &g) {
  parallel_for(channels, [=](int64_t c) {
    for (int64_t h = 0; h < g.height; ++h) {
      const float *from = x + (c * g.height + h) * g.width + first;
      std::copy(from, from + width, slice + (c * g.height + h) * width);
    }
  });
}

// For each group of valid_taps_by_column(g) (in order): body(group, width, plane, slice, other), where
// slice (scratch 0) holds the in_channels planes of x cut to the group's input columns (H x width,
// `plane` floats each) and other (scratch 1) has room for out_channels such planes.
template <typename Body>
void for_each_column_group(const float *x, int64_t in_channels, int64_t out_channels, const Geometry &g,
                           const Body &body) {
  for (const auto &group : valid_taps_by_column(g)) {
    const Span columns = group[0].columns;
    const int64_t width = columns.length(), plane = g.height * width;
    float *slice = scratch(0, in_channels * plane);
    float *other = scratch(1, out_channels * plane);
    slice_columns(x, slice, in_channels, columns.begin + group[0].column_shift, width, g);
    body(group, width, plane, slice, other);
  }
}

// same_conv for one image when pads_too_much: per column tap, the input columns it reads (slice)
// and its output columns (partial); per row tap, one GEMM over the rows where it reads the input,
// run over fixed blocks of the partial plane's pixels.
void valid_region_conv(const float *x, int64_t in_channels, const float *packed, bool adjoint, int64_t lda,
                       float *y, int64_t out_channels, const Geometry &g) {
  const int64_t taps = g.kernel * g.kernel, pairs = in_channels * out_channels;
  std::fill(y, y + out_channels * g.height * g.width, 0.0f);
  for_each_column_group(x, in_channels, out_channels, g, [&](const std::vector<ValidTap> &group, int64_t width,
                                                              int64_t plane, const float *slice, float *partial) {
    const Span columns = group[0].columns;
    const Split blocks(plane, kMinColumns, kTasks);
    parallel_for(blocks.parts, [&](int64_t block) {
      const int64_t begin = blocks.begin(block), end = begin + blocks.length(block, plane);
      for (int64_t c = 0; c < out_channels; ++c) std::fill(partial + c * plane + begin, partial + c * plane + end, 0.0f);
      for (const ValidTap &t : group) {
        const int64_t first = std::max(begin, t.rows.begin * width), last = std::min(end, t.rows.end * width);
        if (first < last)
          gemm(adjoint, false, out_channels, last - first, in_channels,
               packed + (adjoint ? taps - 1 - t.tap : t.tap) * pairs, lda, slice + first + t.row_shift * width, plane,
               1.0f, partial + first, plane);
      }
    });
    parallel_for(out_channels, [=](int64_t c) {
      for (int64_t h = 0; h < g.height; ++h) {
        const float *from = partial + c * plane + h * width;
        float *to = y + (c * g.height + h) * g.width + columns.begin;
#pragma omp simd
        for (int64_t w = 0; w < width; ++w) to[w] += from[w];
      }
    });
  });
}

// out[n] (out_channels, H, W) = the 'same' conv of in[n] (in_channels, H, W) with w, which is
// (out_channels, in_channels, k, k) or, when `adjoint` (the input gradient), (in_channels,
// out_channels, k, k) used transposed and spatially flipped: one GEMM per tap over shifted views.
// (Gathering the taps into one GEMM with K = C_in*k*k per block was slower than MindSpore's conv
// for the few-channel convs this could serve.)
void same_conv(const float *in, int64_t in_channels, const float *w, bool adjoint, float *out,
               int64_t out_channels, int64_t batch, const Geometry &g, const Epilogue &epilogue = Epilogue()) {
  const int64_t taps = g.kernel * g.kernel, pixels = g.height * g.width, pairs = in_channels * out_channels;
  // packed[t] is (out x in), or (in x out) used transposed when adjoint.
  float *packed = scratch(2, pairs * taps);
  pack_taps(w, packed, pairs, taps);
  const int64_t lda = adjoint ? out_channels : in_channels;
  for (int64_t n = 0; n < batch; ++n) {
    const float *x = in + n * in_channels * pixels;
    float *y = out + n * out_channels * pixels;
    if (g.kernel == 1) {
      parallel_gemm(adjoint, false, out_channels, pixels, in_channels, packed, lda, x, pixels, 0.0f, y);
      epilogue.apply_to_planes(y, out_channels, pixels);
      continue;
    }
    if (pads_too_much(g)) {
      valid_region_conv(x, in_channels, packed, adjoint, lda, y, out_channels, g);
      epilogue.apply_to_planes(y, out_channels, pixels);
      continue;
    }
    float *padded = scratch(0, g.padded_size(in_channels));
    float *wide = scratch(1, out_channels * g.height * g.padded_width);
    pad_planes(x, padded, in_channels, g);
    const int64_t wide_pixels = g.height * g.padded_width;
    const Split blocks = g.pixel_blocks();
    parallel_for(blocks.parts, [=](int64_t block) {
      const int64_t start = blocks.begin(block), columns = blocks.length(block, wide_pixels);
      float beta = 0.0f;
      for (int64_t t = 0; t < taps; ++t) {
        if (!g.reads_input(t)) continue;
        const float *a = packed + (adjoint ? taps - 1 - t : t) * pairs;
        gemm(adjoint, false, out_channels, columns, in_channels, a, lda, padded + g.offset(t) + start, g.plane(),
             beta, wide + start, wide_pixels);
        beta = 1.0f;
      }
    });
    parallel_for(out_channels, [=](int64_t c) {
      for (int64_t h = 0; h < g.height; ++h)
        epilogue.apply(wide + (c * g.height + h) * g.padded_width, y + (c * g.height + h) * g.width, g.width, c);
    });
  }
}

// Adds one image's weight gradient to packed (k*k, C_out, C_in) when pads_too_much: per tap, dy
// and x restricted to the rows and columns where the tap reads the input.
void valid_region_weight_grad(const float *dy, int64_t out_channels, const float *x, int64_t in_channels,
                              float *packed, const Geometry &g) {
  const int64_t pairs = in_channels * out_channels;
  for_each_column_group(x, in_channels, out_channels, g, [&](const std::vector<ValidTap> &group, int64_t width,
                                                              int64_t plane, const float *inputs, float *grads) {
    slice_columns(dy, grads, out_channels, group[0].columns.begin, width, g);
    parallel_for(static_cast<int64_t>(group.size()), [&](int64_t i) {
      const ValidTap &t = group[i];
      gemm(false, true, out_channels, in_channels, t.rows.length() * width, grads + t.rows.begin * width, plane,
           inputs + (t.rows.begin + t.row_shift) * width, plane, 1.0f, packed + t.tap * pairs, in_channels);
    });
  });
}

struct Shapes {
  int64_t batch, channels, height, width;
};

Shapes nchw(const int64_t *shape) { return {shape[0], shape[1], shape[2], shape[3]}; }

// The 'same' conv of both forward kernels (params x, w, dilation, ... -> y) and of the input gradient
// (`adjoint`: params dy, w, dilation -> dx, w used transposed and flipped).
int conv(void **params, int64_t **shapes, bool adjoint, float *y, const Epilogue &epilogue = Epilogue()) {
  const auto *x = static_cast<const float *>(params[0]);
  const auto *w = static_cast<const float *>(params[1]);
  const int64_t dilation = *static_cast<const int64_t *>(params[2]);
  const Shapes s = nchw(shapes[0]);
  const int64_t out_channels = shapes[1][adjoint ? 1 : 0], kernel = shapes[1][2];
  same_conv(x, s.channels, w, adjoint, y, out_channels, s.batch, Geometry(s.height, s.width, kernel, dilation),
            epilogue);
  return 0;
}

}  // namespace

// params: x (N, C_in, H, W), w (C_out, C_in, k, k), dilation (1,) int64 -> y (N, C_out, H, W).
extern "C" int DenseConvForward(int, void **params, int *, int64_t **shapes, const char **, void *, void *) {
  return conv(params, shapes, false, static_cast<float *>(params[3]));
}

// params: x (N, C_in, H, W), w (C_out, C_in, k, k), dilation (1,) int64, scale (C_out,), shift (C_out,),
// negative_slope (1,) -> y = act(conv(x, w) * scale + shift) (N, C_out, H, W), for inference.
extern "C" int DenseConvAffineActForward(int, void **params, int *, int64_t **shapes, const char **, void *,
                                         void *) {
  Epilogue epilogue;
  epilogue.scale = static_cast<const float *>(params[3]);
  epilogue.shift = static_cast<const float *>(params[4]);
  epilogue.slope = *static_cast<const float *>(params[5]);
  return conv(params, shapes, false, static_cast<float *>(params[6]), epilogue);
}

// params: dy (N, C_out, H, W), w (C_out, C_in, k, k), dilation (1,) int64 -> dx (N, C_in, H, W).
extern "C" int DenseConvInputGrad(int, void **params, int *, int64_t **shapes, const char **, void *, void *) {
  return conv(params, shapes, true, static_cast<float *>(params[3]));
}

// params: dy (N, C_out, H, W), x (N, C_in, H, W), w (C_out, C_in, k, k) (read for its shape only),
// dilation (1,) int64 -> dw (C_out, C_in, k, k).
extern "C" int DenseConvWeightGrad(int, void **params, int *, int64_t **shapes, const char **, void *, void *) {
  const auto *dy = static_cast<const float *>(params[0]);
  const auto *x = static_cast<const float *>(params[1]);
  const int64_t dilation = *static_cast<const int64_t *>(params[3]);
  auto *dw = static_cast<float *>(params[4]);
  const Shapes s = nchw(shapes[0]);
  const int64_t in_channels = shapes[1][1], kernel = shapes[2][2], taps = kernel * kernel;
  const int64_t pixels = s.height * s.width;
  const Geometry g(s.height, s.width, kernel, dilation);
  if (kernel == 1) {
    for (int64_t n = 0; n < s.batch; ++n)
      parallel_gemm(false, true, s.channels, in_channels, pixels, dy + n * s.channels * pixels, pixels,
                    x + n * in_channels * pixels, pixels, n ? 1.0f : 0.0f, dw);
    return 0;
  }
  const int64_t wide_pixels = s.height * g.padded_width, pairs = s.channels * in_channels;
  float *packed = scratch(2, taps * pairs);
  std::fill(packed, packed + taps * pairs, 0.0f);
  std::vector<int64_t> valid;
  for (int64_t t = 0; t < taps; ++t)
    if (g.reads_input(t)) valid.push_back(t);
  // One task per (tap, block of the summed pixels); each block's product is added in block order.
  const Split depth(wide_pixels, kMinDepth, kTasks);
  for (int64_t n = 0; n < s.batch; ++n) {
    if (pads_too_much(g)) {
      valid_region_weight_grad(dy + n * s.channels * pixels, s.channels, x + n * in_channels * pixels, in_channels,
                               packed, g);
      continue;
    }
    float *padded = scratch(0, g.padded_size(in_channels));
    float *wide = scratch(1, s.channels * wide_pixels);
    float *partials = scratch(3, static_cast<int64_t>(valid.size()) * depth.parts * pairs);
    pad_planes(x + n * in_channels * pixels, padded, in_channels, g);
    const float *grad = dy + n * s.channels * pixels;
    parallel_for(s.channels, [=](int64_t c) {
      for (int64_t h = 0; h < s.height; ++h) {
        float *row = wide + (c * s.height + h) * g.padded_width;
        std::copy(grad + (c * s.height + h) * s.width, grad + (c * s.height + h + 1) * s.width, row);
        std::fill(row + s.width, row + g.padded_width, 0.0f);
      }
    });
    parallel_for(static_cast<int64_t>(valid.size()) * depth.parts, [&](int64_t task) {
      const int64_t t = valid[task / depth.parts], start = depth.begin(task % depth.parts);
      gemm(false, true, s.channels, in_channels, depth.length(task % depth.parts, wide_pixels), wide + start,
           wide_pixels, padded + g.offset(t) + start, g.plane(), 0.0f, partials + task * pairs, in_channels);
    });
    for (size_t i = 0; i < valid.size(); ++i)
      add_partials(partials + i * depth.parts * pairs, depth.parts, pairs, 1.0f, packed + valid[i] * pairs);
  }
  unpack_taps(packed, dw, pairs, taps);
  return 0;
}
