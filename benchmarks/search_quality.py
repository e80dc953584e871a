"""Does the search beat chance? Searched vs random architectures at demo scale, same retrain budget.

    python benchmarks/search_quality.py --output_path DIR [--seeds 0 1 2] [--train_epochs 20]
                                        [--data "48 12 256 512"] [--search_config config/demo_search.yaml]

1. Generates the demo data set (src/data/synthetic.py, seed 0) and its MindRecord files.
2. Searches once per seed with the search config (config/demo_search.yaml: 4 layers, B 2, F 4),
   all in this process (the node functions compile once), and decodes each search.
3. Draws as many random architectures from the same space (same number of cells and blocks; a
   path drawn uniformly from the valid ones, ``src.nas.decode.uniform_random_path``; per block two
   distinct earlier states, each with a uniformly drawn op other than none), seeded.
4. Retrains every architecture with config/demo.yaml for ``--train_epochs`` epochs (the same
   budget for all; seed 0) and evaluates it on the val split at one scale without flip.
5. Prints the table (mean and sample standard deviation of val mIoU per group) and which wins.

A benchmark (tens of minutes on a 2-core CPU), not a test. The table of a run is in
docs/search.md, Search quality.
"""
import argparse
import json
import logging
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import src  # noqa: E402,F401  (CPU set-up before mindspore)
import mindspore as ms  # noqa: E402
import numpy as np  # noqa: E402

from src.config import load_config  # noqa: E402
from src.data.mindrecord_writer import find_mindrecord  # noqa: E402
from src.architecture import Architecture  # noqa: E402
from src.layers.operations import PRIMITIVES  # noqa: E402
from src.nas.decode import uniform_random_path  # noqa: E402
from src.nas.search_trainer import SearchTrainer  # noqa: E402


def run(command):
    print("$", " ".join(command), flush=True)
    subprocess.run(command, cwd=ROOT, check=True)


def generated_mindrecord(out, data, scenes="street"):
    """The MindRecord folder of a generated data set under ``out`` (``data``: "NUM_TRAIN NUM_VAL
    HEIGHT WIDTH", seed 0), made once: a resumed benchmark reuses it."""
    num_train, num_val, height, width = data.split()
    images, mindrecord = os.path.join(out, "cityscapes"), os.path.join(out, "mindrecord")
    if not os.path.exists(os.path.join(mindrecord, "cityscapes_val.mindrecord")):
        run([sys.executable, "-m", "src.data.synthetic", "--output_path", images, "--num_train", num_train,
             "--num_val", num_val, "--height", height, "--width", width, "--seed", "0", "--overwrite",
             "--scenes", scenes])
        for split in ("train", "val"):
            run([sys.executable, "build_mindrecord.py", "--data_path", images, "--output_path", mindrecord,
                 "--split", split, "--overwrite"])
    return mindrecord


def random_architecture(rng, num_layers, num_blocks):
    """A uniformly drawn member of the search space (see the module docstring)."""
    path = uniform_random_path(num_layers, rng)
    ops = [name for name in PRIMITIVES if name != "none"]
    cell = []
    for block in range(num_blocks):
        for state in sorted(rng.choice(block + 2, size=2, replace=False)):
            cell.append([int(state), str(rng.choice(ops))])
    return Architecture(path, cell, {"source": "random", "seed": int(rng.integers(1 << 31))})


def retrain_and_evaluate(arch_path, out_dir, mindrecord, train_epochs, seed=0):
    """val mIoU of ``arch_path`` after ``train_epochs`` epochs of config/demo.yaml with ``seed``
    (kept in ``out_dir``: a finished one is read, not rerun)."""
    results = os.path.join(out_dir, "eval", "eval_results.json")
    if not os.path.exists(results):
        config = os.path.join(ROOT, "config", "demo.yaml")
        run([sys.executable, "train.py", "--config_path", config, "--arch_path", arch_path,
             "--data_path", mindrecord, "--output_path", os.path.join(out_dir, "train"),
             "--epochs", str(train_epochs), "--seed", str(seed)])
        checkpoints = sorted(os.listdir(os.path.join(out_dir, "train", "checkpoints")))
        run([sys.executable, "eval.py", "--config_path", config, "--arch_path", arch_path,
             "--data_path", mindrecord, "--output_path", os.path.join(out_dir, "eval"),
             "--ckpt_path", os.path.join(out_dir, "train", "checkpoints", checkpoints[-1]),
             "--flip", "false", "--scales", "1.0"])
    with open(results) as handle:
        return float(json.load(handle)["miou"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output_path", required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--train_epochs", type=int, default=20)
    parser.add_argument("--data", default="48 12 256 512", help="NUM_TRAIN NUM_VAL HEIGHT WIDTH")
    parser.add_argument("--search_config", default=os.path.join(ROOT, "config", "demo_search.yaml"))
    args = parser.parse_args()
    out = os.path.abspath(args.output_path)
    mindrecord = generated_mindrecord(out, args.data)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    ms.set_context(mode=ms.PYNATIVE_MODE)
    groups = {"searched": [], "random": []}
    rng = np.random.default_rng(1234)
    for seed in args.seeds:
        search_dir = os.path.join(out, f"search_seed{seed}")
        arch_path = os.path.join(search_dir, "architecture.json")
        cfg = load_config(args.search_config, {"seed": seed, "data_path": mindrecord,
                                                "output_path": search_dir})
        if not os.path.exists(os.path.join(search_dir, "done")):
            ms.set_seed(seed)
            SearchTrainer(cfg, find_mindrecord(mindrecord, "train"), search_dir).run()
            open(os.path.join(search_dir, "done"), "w").close()
        random_dir = os.path.join(out, f"random{seed}")
        os.makedirs(random_dir, exist_ok=True)
        random_path = os.path.join(random_dir, "architecture.json")
        random_architecture(rng, cfg.num_layers, cfg.block_multiplier).save(random_path)
        groups["searched"].append((arch_path, search_dir))
        groups["random"].append((random_path, random_dir))
    scores = {}
    for name, members in groups.items():
        scores[name] = []
        for arch_path, member_dir in members:
            miou = retrain_and_evaluate(arch_path, os.path.join(member_dir, "retrain"), mindrecord,
                                        args.train_epochs)
            arch = Architecture.load(arch_path)
            print(f"{name}: {arch_path}: path {arch.network_path} cell {arch.cell} val mIoU {miou:.4f}",
                  flush=True)
            scores[name].append(miou)
    print(f"\nretrain budget: config/demo.yaml, {args.train_epochs} epochs, seed 0; eval one scale, no flip")
    print("| group | architectures | val mIoU mean | std | values |")
    print("|---|---|---|---|---|")
    for name, values in scores.items():
        values = np.array(values)
        std = values.std(ddof=1) if len(values) > 1 else float("nan")
        print(f"| {name} | {len(values)} | {values.mean():.4f} | {std:.4f} | "
              f"{', '.join(f'{v:.4f}' for v in values)} |")
    winner = max(scores, key=lambda name: np.mean(scores[name]))
    gap = abs(np.mean(scores["searched"]) - np.mean(scores["random"]))
    spread = max(np.std(scores["searched"], ddof=1), np.std(scores["random"], ddof=1))
    verdict = "beyond" if gap > spread else "within"
    print(f"\n{winner} wins by {gap:.4f} mIoU, {verdict} the larger group spread ({spread:.4f})")


if __name__ == "__main__":
    main()
