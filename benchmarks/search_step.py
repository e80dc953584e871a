"""Time and peak memory of search iterations (weight step + architecture step) on random data.

    python benchmarks/search_step.py [--layers 12 --filter_multiplier 8 --blocks 5 --crop 321
                                      --batch 2 --mode graph|pynative --iterations 2
                                      --memory_mode none|recompute|partial_channel
                                      --partial_channel_k 4 --grads one|split]

--grads one (the search's way, src.nas.search_trainer): both steps differentiate w.r.t. every
parameter and apply their part. --grads split: the weight step w.r.t. the weights only, the
architecture step w.r.t. alpha/beta only: cheaper, but in graph mode its architecture gradients
are wrong (0) from the second iteration on (MindSpore's jit grad cache:
docs/search.md, One gradient configuration); it is kept to measure what the fix costs. Each line
prints the architecture gradient norms. Measured
2026-12-01 (machine loaded, load average 14 on 2 cores, so the times say little), 2 layers, F 4,
B 2, crop 33, stem 8, --grads split: |grad alpha| 1.3e-2 and |grad beta| 3.7e-3 in iteration 0,
exactly 0 in iterations 1-3.

Since 2026-12-02 the supernet compiles each edge shape (and each node's input/output step), not
whole nodes; the figures of 2026-11-22 below are of whole compiled nodes. At the end the run
prints the memory breakdown it can measure (framework loaded; parameters and optimizer state;
what the first iteration added: compiled graphs, pools and activations; process peak), the
planner's estimate (src.tools.plan) of the same settings, the first and steady iteration times,
and at paper size PASS/FAIL against the targets (recompute <= 10 GB, partial_channel k 4 <= 6 GB,
compile = first minus steady iteration <= 120 s).

Paper size, per edge, 2026-12-02, one run at a time on the 2-core machine: none 14.83 GB, first
iteration 628 s, steady 592-617 s; partial_channel k 4 5.50 GB, 231 s, 198-229 s; recompute 5.54 GB,
1211 s, 1201 s (machine shared with two other jobs).

The first iteration includes the compile of every shape (graph mode). "step peak" is the
highest RSS sampled during the iteration minus the RSS before it (activations; the compiled
graphs dominate the first iteration's); "process peak" is ru_maxrss (compile memory included).
RSS includes MindSpore's memory pool, so a later step's "step peak" only shows what it needs
beyond the memory already pooled.

Measured on the loaded 2-core machine (other jobs running; 2026-11-22), graph mode, batch 2:

- 2 layers, F 8, B 2, crop 321 (7 cell runs), second iteration (weight + arch step), process peak:
  none 10.5 + 9.6 s, 3.96 GB; recompute 17.6 + 17.2 s, 4.42 GB; partial_channel (k 4) 7.3 + 6.2 s,
  2.60 GB. First iteration (compile): 94 s, 119 s, 90 s. Again under lighter load: none
  9.4 + 5.3 s, 3.94 GB; recompute 6.9 + 6.1 s, 4.40 GB; first iteration 50 s, 68 s.
- Same at crop 641: none 109 + 95 s, 11.65 GB; recompute 101 + 97 s, 12.64 GB. Recompute does
  drop each node's activations (benchmarks/recompute_chain.py), but its no-grad forward is one
  more compiled graph per node shape, costing about one node's activations in memory; here
  every node has its own shape (5 nodes, 5 shapes), so it costs more than it saves.
- 8 layers, F 8, B 2, crop 321 (29 nodes, 12 shapes, 65 cell runs), same measure: none 56.5 +
  46.1 s, 9.19 GB; recompute 52.2 + 52.4 s, 8.59 GB (-0.6 GB). First iteration: 195 s, 226 s.
- Paper size (12 layers, B 5, crop 321) and 12 layers at crop 161 did not finish their first
  iteration (the compiles of the 20-edge cells, at 0.2-0.4 of a core each): after 14 min at crop
  321 none had reached 11.4 GB; at crop 161 (three modes at once) none reached 11.4 GB by 34 min
  (stopped when the machine ran out of memory), recompute 9.7 GB by 36 min, partial_channel
  4.1 GB by 27 min. Again on an idle machine (the test suite started beside it after 1 min):
  paper size, memory_mode none, RSS 22.5 GB after 11 min of the first iteration, which had not
  ended; stopped before the 24 GB machine ran out of memory. Paper size, partial_channel (k 4),
  idle machine: first iteration (compile) 436.5 + 70.6 s, then 37.7 s weight step + 33.9 s
  architecture step; process peak 15.96 GB. Paper size, recompute, idle machine: RSS 21.8 GB
  after 9.5 min of the first iteration (which had not ended); stopped.
"""
import argparse
import os
import resource
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import src  # noqa: E402,F401  (CPU set-up before mindspore)
import mindspore as ms  # noqa: E402
import numpy as np  # noqa: E402

from src.config import load_config  # noqa: E402
from src.nas.search_trainer import weight_parameter_groups  # noqa: E402
from src.nas.supernet import MEMORY_MODES, build_supernet  # noqa: E402
from src.tools.plan import search_estimate  # noqa: E402
from src.train.loss import CrossEntropyLoss  # noqa: E402


def current_rss_mb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


class RssSampler(threading.Thread):
    """Highest RSS seen while running (sampled every 20 ms)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak, self.running = current_rss_mb(), True

    def run(self):
        while self.running:
            self.peak = max(self.peak, current_rss_mb())
            time.sleep(0.02)

    def stop(self):
        self.running = False
        self.join()
        return self.peak


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--filter_multiplier", type=int, default=8)
    parser.add_argument("--blocks", type=int, default=5)
    parser.add_argument("--crop", type=int, default=321)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--stem_channels", type=int, default=64)
    parser.add_argument("--mode", choices=("graph", "pynative"), default="graph")
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument("--memory_mode", choices=MEMORY_MODES, default="none")
    parser.add_argument("--partial_channel_k", type=int, default=4)
    parser.add_argument("--grads", choices=("one", "split"), default="one")
    args = parser.parse_args()
    ms.set_context(mode=ms.PYNATIVE_MODE)
    framework = current_rss_mb()
    cfg = load_config(None, {
        "num_classes": 19, "num_layers": args.layers, "filter_multiplier": args.filter_multiplier,
        "block_multiplier": args.blocks, "stem_channels": args.stem_channels, "mode": args.mode,
        "memory_mode": args.memory_mode, "partial_channel_k": args.partial_channel_k,
        "crop_size": args.crop, "batch_size": args.batch})
    net = build_supernet(cfg)
    net.set_train(True)
    rng = np.random.default_rng(0)
    image = ms.Tensor(rng.standard_normal((args.batch, 3, args.crop, args.crop)).astype(np.float32))
    label = ms.Tensor(rng.integers(0, 19, (args.batch, args.crop, args.crop)).astype(np.int32))
    criterion = CrossEntropyLoss(255)
    loss = lambda x, y: criterion(net(x), y)  # noqa: E731
    weight_sgd = ms.nn.SGD(weight_parameter_groups(net.weight_parameters(), 3e-4), 0.025, momentum=0.9)
    weights, arch = list(weight_sgd.parameters), net.arch_parameters()
    arch_adam = ms.nn.Adam([{"params": arch, "weight_decay": 1e-3}], 3e-3)
    if args.grads == "one":
        both = ms.value_and_grad(loss, None, weights + arch)

        def weight_grad(x, y):
            value, grads = both(x, y)
            return value, grads[:len(weights)]

        def arch_grad(x, y):
            value, grads = both(x, y)
            return value, grads[len(weights):]
    else:
        weight_grad = ms.value_and_grad(loss, None, weights)
        arch_grad = ms.value_and_grad(loss, None, arch)
    print(f"config: layers={args.layers} F={args.filter_multiplier} B={args.blocks} crop={args.crop} "
          f"batch={args.batch} mode={args.mode} memory_mode={args.memory_mode} grads={args.grads} "
          f"partial_channel_k={net.partial_k} nodes={len(net.nodes)} cell runs={net.num_moves}")
    built = current_rss_mb()
    times = []
    for iteration in range(args.iterations):
        before, sampler = current_rss_mb(), RssSampler()
        sampler.start()
        started = time.time()
        value, grads = weight_grad(image, label)
        weight_sgd(grads)
        middle = time.time()
        _, grads = arch_grad(image, label)
        arch_adam(grads)
        norms = [float(np.linalg.norm(g.asnumpy())) for g in grads]
        value = float(value.asnumpy())
        ended, step_peak = time.time(), sampler.stop()
        times.append(ended - started)
        print(f"iteration {iteration}: weight step {middle - started:.2f} s, arch step "
              f"{ended - middle:.2f} s, loss {value:.4f}, step peak +{step_peak - before:.0f} MB, "
              f"process peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB, "
              f"|grad alpha| {norms[0]:.3e} |grad beta| {norms[1]:.3e}",
              flush=True)
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    steady = float(np.median(times[1:])) if len(times) > 1 else None
    compile_s = times[0] - steady if steady is not None else None
    print(f"memory: framework (MindSpore + package loaded) {framework / 1024:.2f} GB, parameters and "
          f"optimizer state {(built - framework) / 1024:.2f} GB, first iteration (compiled graphs + "
          f"activations) +{(peak_gb * 1024 - built) / 1024:.2f} GB, process peak {peak_gb:.2f} GB")
    parts, seconds = search_estimate(cfg)
    print("planner (src.tools.plan): " + ", ".join(f"{k} {v:.2f} GB" for k, v in parts.items())
          + f", total {sum(parts.values()):.2f} GB, {seconds:.0f} s per iteration")
    if steady is not None:
        print(f"time: first iteration {times[0]:.1f} s, steady {steady:.1f} s per iteration "
              f"(weight + architecture step), compile about {compile_s:.1f} s")
    paper = (args.layers, args.filter_multiplier, args.blocks, args.crop, args.batch) == (12, 8, 5, 321, 2)
    limit = {"recompute": 10.0, "partial_channel": 6.0 if net.partial_k == 4 else None}.get(args.memory_mode)
    if paper and limit is not None:
        print(f"{'PASS' if peak_gb <= limit else 'FAIL'}: peak RSS {peak_gb:.2f} GB, target <= {limit:.0f} GB")
    if paper and compile_s is not None:
        print(f"{'PASS' if compile_s <= 120 else 'FAIL'}: compile (first iteration minus a steady one) "
              f"{compile_s:.1f} s, target <= 120 s")


if __name__ == "__main__":
    main()
