"""Does the architecture matter on a data set? Spread of retrained mIoU across architectures
against the spread across retrain seeds of one architecture.

    python benchmarks/architecture_spread.py --output_path DIR [--scenes context] [--architectures 8]
                                             [--seeds 3] [--train_epochs 30] [--data "48 48 256 512"]

1. Generates the data set (``python -m src.data.synthetic --scenes SCENES``, seed 0) and its
   MindRecord files.
2. Draws ``--architectures`` architectures uniformly from the demo search space (4 layers, B 2:
   ``search_quality.random_architecture``, seeded) and retrains each once (config/demo.yaml,
   ``--train_epochs`` epochs, seed 0); retrains the first with ``--seeds`` seeds in all.
3. Scores each on the val split (one scale, no flip) and prints every figure, the sample standard
   deviation across architectures and across seeds, and PASS when the first is at least twice
   the second (the issue: the spread across architectures well above the retrain noise).

Every retrain is kept under DIR (a finished one is read, not rerun), so an interrupted run resumes.
A benchmark (about 2 minutes per retrain on a 2-core CPU), not a test.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from search_quality import generated_mindrecord, random_architecture, retrain_and_evaluate  # noqa: E402
import numpy as np  # noqa: E402

RATIO_TARGET = 2.0  # spread across architectures / spread across seeds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output_path", required=True)
    parser.add_argument("--scenes", default="context", help="src.data.synthetic --scenes")
    parser.add_argument("--architectures", type=int, default=8)
    parser.add_argument("--seeds", type=int, default=3, help="retrain seeds of the first architecture, in all")
    parser.add_argument("--train_epochs", type=int, default=30)
    parser.add_argument("--data", default="48 48 256 512", help="NUM_TRAIN NUM_VAL HEIGHT WIDTH")
    args = parser.parse_args()
    out = os.path.abspath(args.output_path)
    mindrecord = generated_mindrecord(out, args.data, args.scenes)
    rng = np.random.default_rng(2026)
    architectures = []
    for index in range(args.architectures):
        arch_path = os.path.join(out, f"arch{index}", "architecture.json")
        os.makedirs(os.path.dirname(arch_path), exist_ok=True)
        arch = random_architecture(rng, 4, 2)  # drawn every run, so the draws do not depend on what exists
        if not os.path.exists(arch_path):
            arch.save(arch_path)
        architectures.append(arch_path)
    runs = [(architectures[0], seed) for seed in range(1, args.seeds)] + [(path, 0) for path in architectures]
    scores = {}
    for arch_path, seed in runs:
        scores[arch_path, seed] = retrain_and_evaluate(
            arch_path, os.path.join(os.path.dirname(arch_path), f"retrain_seed{seed}"), mindrecord,
            args.train_epochs, seed)
        print(f"{arch_path} seed {seed}: val mIoU {scores[arch_path, seed]:.4f}", flush=True)
    across_archs = np.array([scores[path, 0] for path in architectures])
    across_seeds = np.array([scores[architectures[0], seed] for seed in range(args.seeds)])
    arch_sd, seed_sd = across_archs.std(ddof=1), across_seeds.std(ddof=1)
    print(f"\n{args.scenes} scenes ({args.data}), config/demo.yaml retrains of {args.train_epochs} epochs, "
          "val mIoU one scale, no flip")
    print(f"across {len(across_archs)} architectures: mean {across_archs.mean():.4f} sd {arch_sd:.4f} "
          f"(min {across_archs.min():.4f}, max {across_archs.max():.4f})")
    print(f"across {len(across_seeds)} seeds of arch0: mean {across_seeds.mean():.4f} sd {seed_sd:.4f}")
    ratio = arch_sd / seed_sd if seed_sd > 0 else float("inf")
    print(f"ratio {ratio:.2f} (target >= {RATIO_TARGET:g}): {'PASS' if ratio >= RATIO_TARGET else 'FAIL'}")


if __name__ == "__main__":
    main()
