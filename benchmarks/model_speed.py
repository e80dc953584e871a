"""Speed of the Auto-DeepLab network on this machine, against a large fp32 matmul.

    python benchmarks/model_speed.py [--height 1024 --width 2048] [--crops 321 769]
                                     [--variant paper] [--filter_multiplier 20] [--repeats 3]

Measures, in graph mode on CPU after one warm-up call (which includes the graph compile):
- inference: batch 1 forward at height x width;
- train step: forward + backward + Momentum update, batch 2, square crops.
Achieved GFLOP/s = 2 * MACs / time, where MACs are the conv/dense multiply-accumulates of the
forward pass (src.tools.model_stats); a train step is counted as 3x the forward MACs (forward,
gradient w.r.t. activations, gradient w.r.t. weights). The reference is the better of
MindSpore ops.matmul and numpy on 4096 x 4096 fp32 matrices, measured in the same run.
Targets: inference >= 40% and train >= 30% of the matmul rate.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import src  # noqa: F401,E402  (ISA cap before mindspore)
import numpy as np  # noqa: E402
import mindspore as ms  # noqa: E402
from mindspore import nn, ops, Tensor  # noqa: E402

from src.model import AutoDeepLab  # noqa: E402
from src.nas.architecture import AUTODEEPLAB  # noqa: E402
from src.tools.model_stats import count_multi_adds  # noqa: E402

INFERENCE_TARGET = 0.40
TRAIN_TARGET = 0.30
MATMUL_SIZE = 4096
TRAIN_BATCH = 2


def time_calls(fn, repeats):
    """Seconds per call after one warm-up call; also returns the warm-up time."""
    start = time.perf_counter()
    fn()
    warmup = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats, warmup


def matmul_gflops(repeats):
    """GFLOP/s of a MATMUL_SIZE^2 fp32 matmul with MindSpore and with numpy."""
    n = MATMUL_SIZE
    a = np.random.RandomState(0).randn(n, n).astype(np.float32)
    b = np.random.RandomState(1).randn(n, n).astype(np.float32)
    ta, tb = Tensor(a), Tensor(b)
    matmul = ms.jit(ops.matmul)
    flops = 2.0 * n ** 3
    ms_time, _ = time_calls(lambda: matmul(ta, tb).asnumpy(), repeats)
    np_time, _ = time_calls(lambda: a @ b, repeats)
    return flops / ms_time / 1e9, flops / np_time / 1e9


def train_step_cell(net):
    loss = nn.WithLossCell(net, nn.CrossEntropyLoss(ignore_index=255))
    optimizer = nn.Momentum(net.trainable_params(), learning_rate=1e-3, momentum=0.9)
    return nn.TrainOneStepCell(loss, optimizer)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--height", type=int, default=1024)
    parser.add_argument("--width", type=int, default=2048)
    parser.add_argument("--crops", type=int, nargs="*", default=[321, 769])
    parser.add_argument("--variant", default="paper", choices=("paper", "modelzoo"))
    parser.add_argument("--filter_multiplier", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip_inference", action="store_true")
    args = parser.parse_args(argv)

    ms.set_context(mode=ms.GRAPH_MODE, device_target="CPU")
    ms_gflops, np_gflops = matmul_gflops(args.repeats)
    reference = max(ms_gflops, np_gflops)
    print(f"matmul {MATMUL_SIZE}^2 fp32: mindspore {ms_gflops:.1f} GFLOP/s, numpy "
          f"{np_gflops:.1f} GFLOP/s; reference {reference:.1f}", flush=True)
    results = {"matmul_gflops": {"mindspore": ms_gflops, "numpy": np_gflops}}
    net = AutoDeepLab(AUTODEEPLAB, filter_multiplier=args.filter_multiplier,
                      variant=args.variant)
    passed = True

    def report(name, macs, seconds, warmup, target):
        gflops = 2.0 * macs / seconds / 1e9
        ratio = gflops / reference
        ok = ratio >= target
        print(f"{name}: {seconds:.3f} s/call (first call {warmup:.1f} s), {macs / 1e9:.1f} GMACs, "
              f"{gflops:.1f} GFLOP/s = {100 * ratio:.1f}% of matmul (target "
              f"{100 * target:.0f}%): {'PASS' if ok else 'FAIL'}", flush=True)
        results[name] = {"seconds": seconds, "first_call_seconds": warmup, "gmacs": macs / 1e9,
                         "gflops": gflops, "fraction_of_matmul": ratio, "pass": ok}
        return ok

    if not args.skip_inference:
        macs = count_multi_adds(net, args.height, args.width)
        net.set_train(False)
        x = Tensor(np.random.RandomState(0).randn(1, 3, args.height, args.width)
                   .astype(np.float32))
        seconds, warmup = time_calls(lambda: net(x).asnumpy(), args.repeats)
        passed &= report(f"inference_{args.height}x{args.width}", macs, seconds, warmup,
                         INFERENCE_TARGET)

    step = train_step_cell(net)
    step.set_train(True)
    for crop in args.crops:
        macs = 3 * TRAIN_BATCH * count_multi_adds(net, crop, crop)
        rng = np.random.RandomState(crop)
        x = Tensor(rng.randn(TRAIN_BATCH, 3, crop, crop).astype(np.float32))
        y = Tensor(rng.randint(0, 19, (TRAIN_BATCH, crop, crop)).astype(np.int32))
        net.set_train(True)
        seconds, warmup = time_calls(lambda: step(x, y).asnumpy(), args.repeats)
        passed &= report(f"train_step_b{TRAIN_BATCH}_{crop}", macs, seconds, warmup,
                         TRAIN_TARGET)
    print(json.dumps(results))
    print("PASS" if passed else "FAIL")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
