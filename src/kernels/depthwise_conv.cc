// Stride-1 "same" depthwise convolution (k 3 or 5) on NCHW float32 tensors, as MindSpore AOT custom ops.
//
// MindSpore 2.10 runs a CPU depthwise conv as one tiny GEMM per channel (about 4 GFLOP/s here); these
// loops keep each padded plane in cache and vectorise along the row (built by src/kernels/build.py).
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace {

// Persistent worker threads (one per extra core) that run body(0 .. count-1) with the caller.
// Items are handed out one at a time, so a core slowed by another process takes fewer of them.
// A call made while another runs (MindSpore may launch kernels from several threads), or in a
// forked child (which has no workers), runs on the calling thread alone.
class WorkerPool {
 public:
  static WorkerPool &instance() {
    static WorkerPool pool;
    return pool;
  }

  void run(int64_t count, const std::function<void(int64_t)> &body) {
    std::unique_lock<std::mutex> job(job_mutex_, std::try_to_lock);
    if (!job.owns_lock() || getpid() != owner_ || workers_.empty() || count < 2) {
      for (int64_t i = 0; i < count; ++i) body(i);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      body_ = &body;
      count_ = count;
      next_ = 0;
      busy_ = workers_.size();
      ++generation_;
    }
    wake_.notify_all();
    work();
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [this] { return busy_ == 0; });
  }

  ~WorkerPool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto &worker : workers_) worker.join();
  }

 private:
  WorkerPool() : owner_(getpid()) {
    const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    for (unsigned t = 1; t < cores; ++t) workers_.emplace_back([this] { serve(); });
  }

  void work() {
    for (int64_t i = next_++; i < count_; i = next_++) (*body_)(i);
  }

  void serve() {
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
      }
      work();
      std::lock_guard<std::mutex> lock(mutex_);
      if (--busy_ == 0) done_.notify_one();
    }
  }

  const pid_t owner_;
  std::vector<std::thread> workers_;
  std::mutex job_mutex_, mutex_;
  std::condition_variable wake_, done_;
  const std::function<void(int64_t)> *body_ = nullptr;
  int64_t count_ = 0;
  std::atomic<int64_t> next_{0};
  size_t busy_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
};

template <typename Body>
void parallel_for(int64_t count, Body body) {
  WorkerPool::instance().run(count, std::function<void(int64_t)>(body));
}

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
