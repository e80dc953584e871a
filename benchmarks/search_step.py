"""Time and peak memory of search iterations (weight step + architecture step) on random data.

    python benchmarks/search_step.py [--layers 12 --filter_multiplier 8 --blocks 5 --crop 321
                                      --batch 2 --mode graph|pynative --iterations 2
                                      --memory_mode none|recompute|partial_channel
                                      --partial_channel_k 4 --grads one|split]
    python benchmarks/search_step.py --compare /tmp/old_code [--sizes demo paper]

--compare OLD runs this script of an older checkout (``git worktree add /tmp/old_code <commit>``)
and of this tree, one process at a time, at the demo size (config/demo_search.yaml: 4 layers,
F 4, B 2, crop 65, stem 16) and at paper size (12 layers, F 8, B 5, crop 321, stem 64; memory_mode
none and recompute), batch 2, and prints them side by side with PASS/FAIL against the targets of
issue 30: demo iteration >= 5x faster than OLD; paper size none <= 120 s per iteration and
<= 15 GB, recompute <= 10 GB, compile <= 120 s. Figures, hosts and dates: docs/search_step.md.

--grads one (the search's way, src.nas.search_trainer): both steps differentiate w.r.t. every
parameter and apply their part. --grads split: the weight step w.r.t. the weights only, the
architecture step w.r.t. alpha/beta only: cheaper, but in graph mode its architecture gradients
are wrong (0) from the second iteration on (MindSpore's jit grad cache:
docs/search.md, One gradient configuration); it is kept to measure what the fix costs. Each line
prints the architecture gradient norms.

At the end the run prints the memory breakdown it can measure (framework loaded; parameters and
optimizer state; what the first iteration added: compiled graphs, pools and activations; process
peak), the planner's estimate (src.tools.plan) of the same settings, the first and steady
iteration times, and at paper size PASS/FAIL against the targets (recompute <= 10 GB,
partial_channel k 4 <= 6 GB, compile = first minus steady iteration <= 120 s).

The first iteration includes the compile of every shape (graph mode). "step peak" is the
highest RSS sampled during the iteration minus the RSS before it (activations; the compiled
graphs dominate the first iteration's); "process peak" is ru_maxrss (compile memory included).
RSS includes MindSpore's memory pool, so a later step's "step peak" only shows what it needs
beyond the memory already pooled.
"""
import argparse
import os
import re
import resource
import subprocess
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

SIZES = {"demo": dict(layers=4, filter_multiplier=4, blocks=2, crop=65, batch=2, stem_channels=16),
         "paper": dict(layers=12, filter_multiplier=8, blocks=5, crop=321, batch=2, stem_channels=64)}
COMPARED = (("demo", "none"), ("paper", "none"), ("paper", "recompute"))  # (size, memory_mode)
DEMO_SPEEDUP = 5.0
PAPER_ITERATION_S = 120.0
PAPER_PEAK_GB = {"none": 15.0, "recompute": 10.0}
COMPILE_S = 120.0


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


def measure(root, size, memory_mode, iterations):
    """(first s, steady s, peak GB) of this script of checkout ``root`` in its own process, or
    None when it printed no timing (it failed or ran out of memory)."""
    options = [f"--{key}={value}" for key, value in SIZES[size].items()]
    command = [sys.executable, os.path.join("benchmarks", "search_step.py"), *options,
               f"--memory_mode={memory_mode}", f"--iterations={iterations}"]
    print(f"$ cd {root} && python " + " ".join(command[1:]), flush=True)
    output = subprocess.run(command, cwd=root, capture_output=True, text=True).stdout
    print("".join(line + "\n" for line in output.splitlines()
                  if line.startswith(("iteration", "time:", "memory:"))), end="", flush=True)
    timing = re.search(r"first iteration ([\d.]+) s, steady ([\d.]+) s", output)
    peak = re.search(r"process peak ([\d.]+) GB", output)
    return (float(timing.group(1)), float(timing.group(2)), float(peak.group(1))) if timing and peak else None


def verdict(ok, text):
    print(f"{'PASS' if ok else 'FAIL'}: {text}", flush=True)


def compare(old_root, sizes, iterations):
    """OLD and this tree side by side at each size, then PASS/FAIL against the targets."""
    new_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    results = {}
    for size, memory_mode in COMPARED:
        if size in sizes:
            for code, root in (("old", old_root), ("new", new_root)):
                results[(size, memory_mode, code)] = measure(root, size, memory_mode, iterations)
    print(f"\n{'size':6} {'memory':10} {'code':4} {'first s':>8} {'steady s':>9} {'compile s':>10} "
          f"{'peak GB':>8}")
    for (size, memory_mode, code), result in results.items():
        figures = (f"{result[0]:8.1f} {result[1]:9.2f} {result[0] - result[1]:10.1f} {result[2]:8.2f}"
                   if result else "  no result")
        print(f"{size:6} {memory_mode:10} {code:4} {figures}")
    old, new = results.get(("demo", "none", "old")), results.get(("demo", "none", "new"))
    if "demo" in sizes:
        verdict(bool(old and new) and old[1] / new[1] >= DEMO_SPEEDUP,
                f"demo steady iteration {old[1] if old else float('nan'):.2f} s -> "
                f"{new[1] if new else float('nan'):.2f} s, target >= {DEMO_SPEEDUP:.0f}x faster")
    if "paper" in sizes:
        for memory_mode in PAPER_PEAK_GB:
            new = results[("paper", memory_mode, "new")]
            if new is None:
                verdict(False, f"paper size {memory_mode}: no result")
            else:
                paper_verdicts(memory_mode, PAPER_PEAK_GB[memory_mode], *new)


def paper_verdicts(memory_mode, peak_limit_gb, first_s, steady_s, peak_gb):
    """PASS/FAIL of a paper-size run against issue 30's targets (``steady_s`` None: one iteration)."""
    if memory_mode == "none" and steady_s is not None:
        verdict(steady_s <= PAPER_ITERATION_S, f"paper size iteration {steady_s:.1f} s, "
                f"target <= {PAPER_ITERATION_S:.0f} s")
    if peak_limit_gb is not None:
        verdict(peak_gb <= peak_limit_gb, f"paper size {memory_mode} peak RSS {peak_gb:.2f} GB, "
                f"target <= {peak_limit_gb:.0f} GB")
    if steady_s is not None:
        verdict(first_s - steady_s <= COMPILE_S, f"paper size {memory_mode} compile (first iteration "
                f"minus a steady one) {first_s - steady_s:.1f} s, target <= {COMPILE_S:.0f} s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--compare", metavar="OLD_CHECKOUT")
    parser.add_argument("--sizes", nargs="+", choices=tuple(SIZES), default=tuple(SIZES))
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
    if args.compare:
        if not os.path.isfile(os.path.join(args.compare, "benchmarks", "search_step.py")):
            parser.error(f"--compare {args.compare}: no benchmarks/search_step.py there; make one "
                         "with: git worktree add /tmp/old_code <commit>")
        compare(os.path.abspath(args.compare), args.sizes, max(args.iterations, 3))
        return
    ms.set_context(mode=ms.PYNATIVE_MODE)
    ms.set_seed(0)  # the stem's and head's initializers: same seed, same losses across checkouts
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
    if paper:
        limit = dict(PAPER_PEAK_GB, partial_channel=6.0 if net.partial_k == 4 else None)[args.memory_mode]
        paper_verdicts(args.memory_mode, limit, times[0], steady, peak_gb)


if __name__ == "__main__":
    main()
