"""The dense conv cell's choice of formulation, shape by shape: is it the faster one?

    python benchmarks/conv_kernels.py [--repeats 5] [--quick]

For the dense conv shapes of Auto-DeepLab-S (its train step at batch 2, crop 321, and its
inference at 1024x2048), times MindSpore's Conv2D and the SGEMM kernel of
src/kernels/dense_conv.cc (``CpuDenseConv``), forward and forward + both gradients, in graph mode
(best of ``--repeats`` after a warm-up call). Prints GFLOP/s of each and which one ``Conv2d``
picks (src/layers/conv.py: GEMM_MIN_CHANNELS and its neighbours, and the per-process timing of
``dense_conv_library``). Verdict: PASS when, for the summed time over all shapes, the picks are
within 5% of always taking the faster formulation (single shapes are noisy on a shared machine).
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import src  # noqa: F401,E402  (ISA cap before mindspore)
import numpy as np  # noqa: E402
import mindspore as ms  # noqa: E402

from src.kernels import cpu_kernel_library  # noqa: E402
from src.layers.conv import Conv2d, CpuDenseConv, MindSporeDenseConv  # noqa: E402

# (batch, in, out, kernel, dilation, height, width): stride-1 dense convs of S, biggest first.
SHAPES = (
    (2, 304, 256, 3, 1, 81, 81), (2, 256, 256, 3, 1, 81, 81),        # decoder, crop 321
    (2, 64, 64, 3, 1, 161, 161),                                      # stem, crop 321
    (2, 200, 256, 3, 6, 41, 41), (2, 200, 256, 3, 18, 41, 41),        # ASPP, crop 321
    (2, 1280, 256, 1, 1, 41, 41), (2, 80, 80, 5, 2, 21, 21),          # ASPP project; dil conv
    (2, 40, 40, 5, 2, 41, 41), (2, 100, 20, 1, 1, 81, 81),            # dil conv; preprocess
    (1, 304, 256, 3, 1, 256, 512), (1, 64, 64, 3, 1, 512, 1024),     # decoder, stem at 1024x2048
    (1, 200, 256, 3, 18, 128, 256), (1, 1280, 256, 1, 1, 128, 256),  # ASPP at 1024x2048
)
QUICK_SHAPES = SHAPES[:4]
TOLERANCE = 1.05


def best_seconds(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def time_conv(conv, x, weight, target, repeats):
    """(forward seconds, forward + both gradients seconds) of ``conv(x, weight)``, compiled."""
    forward = ms.jit(conv.construct)
    def loss(x, weight):
        return (conv(x, weight) * target).sum()

    train = ms.jit(ms.value_and_grad(loss, grad_position=(0, 1)))
    return (best_seconds(lambda: forward(x, weight).asnumpy(), repeats),
            best_seconds(lambda: train(x, weight)[1][1].asnumpy(), repeats))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="only the first four shapes")
    args = parser.parse_args(argv)
    ms.set_context(mode=ms.GRAPH_MODE, device_target="CPU")
    library = cpu_kernel_library("dense_conv")
    if library is None:
        print("the dense_conv kernel did not build (see the warning above): FAIL")
        return 1
    picked_total, best_total = 0.0, 0.0
    for batch, cin, cout, k, dilation, height, width in (QUICK_SHAPES if args.quick else SHAPES):
        rng = np.random.RandomState(0)
        x = ms.Tensor(rng.randn(batch, cin, height, width).astype(np.float32))
        weight = ms.Tensor(rng.randn(cout, cin, k, k).astype(np.float32))
        target = ms.Tensor(rng.randn(batch, cout, height, width).astype(np.float32))
        cell = Conv2d(cin, cout, k, dilation=dilation)
        picks_kernel = cell.use_cpu_kernel and cell.gemm_pays_off(height, width)
        times = {"mindspore": time_conv(MindSporeDenseConv(k, dilation), x, weight, target, args.repeats),
                 "kernel": time_conv(CpuDenseConv(library, dilation), x, weight, target, args.repeats)}
        flops = 2.0 * batch * cin * cout * k * k * height * width
        rates = "  ".join("%s fwd %.0f / train %.0f GFLOP/s" % (name, flops / t[0] / 1e9, 3 * flops / t[1] / 1e9)
                          for name, t in times.items())
        picked = times["kernel" if picks_kernel else "mindspore"]
        picked_total += picked[0] + picked[1]
        best_total += min(t[0] for t in times.values()) + min(t[1] for t in times.values())
        print("conv %dx%d->%d k%d d%d at %dx%d: %s  picks %s" % (
            batch, cin, cout, k, dilation, height, width, rates, "kernel" if picks_kernel else "mindspore"))
    ratio = picked_total / best_total
    verdict = ratio <= TOLERANCE
    print("picked formulations: %.3f s over all shapes, %.3f x the fastest choice per pass (target <= %.2f): %s"
          % (picked_total, ratio, TOLERANCE, "PASS" if verdict else "FAIL"))
    return 0 if verdict else 1


if __name__ == "__main__":
    sys.exit(main())
