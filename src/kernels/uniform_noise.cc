// Uniform noise in [0, 1) as a pure function of (seed, stream, step, element index), as a MindSpore
// AOT custom op for the CPU (built by src/kernels/build.py).
//
// MindSpore 2.10's CPU random kernels (Dropout, UniformReal) give other numbers run to run with the
// same seed from their second call on; and their state is not in a checkpoint, so a resumed run
// would draw differently anyway. Here each value is a counter-based hash (SplitMix64's finaliser)
// of its coordinates: no state, any thread may compute any value, and a resumed step draws what
// the uninterrupted run drew at that step.
#include <cstdint>

#include "worker_pool.h"

namespace {

constexpr int64_t kBlock = 1 << 16;  // values per task

uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

// params: like (any shape, float32, read for its shape only), key (3,) int64 = (seed, stream, step)
// -> noise (like's shape) float32, uniform in [0, 1) with 24 random bits.
extern "C" int UniformNoise(int nparam, void **params, int *ndims, int64_t **shapes, const char **, void *, void *) {
  const auto *key = static_cast<const int64_t *>(params[1]);
  auto *noise = static_cast<float *>(params[2]);
  int64_t count = 1;
  for (int d = 0; d < ndims[0]; ++d) count *= shapes[0][d];
  (void)nparam;
  const uint64_t base = mix(mix(mix(static_cast<uint64_t>(key[0])) ^ static_cast<uint64_t>(key[1])) ^
                            static_cast<uint64_t>(key[2]));
  parallel_for((count + kBlock - 1) / kBlock, [=](int64_t block) {
    const int64_t end = count < (block + 1) * kBlock ? count : (block + 1) * kBlock;
    for (int64_t i = block * kBlock; i < end; ++i)
      noise[i] = static_cast<float>(mix(base + 0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(i + 1)) >> 40) *
                 (1.0f / 16777216.0f);
  });
  return 0;
}
