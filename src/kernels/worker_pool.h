// A persistent per-core worker pool for the kernels of this folder (header-only; each kernel
// library gets its own pool).
#pragma once

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

}  // namespace
