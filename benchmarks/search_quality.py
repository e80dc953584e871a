"""Does the search beat chance? Searched architectures against uniformly drawn and cost-matched
random ones of the same space, retrained identically, on generated scenes where the architecture
matters.

    python benchmarks/search_quality.py --output_path DIR [--search_seeds 0 1 2 3] [--uniform 8]
        [--noise_seeds 3] [--train_epochs 15] [--scenes context] [--data "96 48 256 512"]
        [--search_config config/demo_search.yaml] [--search "SEARCH.PY OVERRIDES"]
        [--retrain "TRAIN.PY OVERRIDES"]

1. Data: ``python -m src.data.synthetic --scenes SCENES`` (seed 0) and its MindRecord files.
2. Searched: search.py once per search seed (the search config and overrides; graph mode as
   users run it), each decoded by its architecture.json.
3. Uniform random: ``--uniform`` architectures drawn uniformly from the search space (a path
   uniform over the valid ones, ``src.nas.decode.uniform_random_path``; per block two distinct
   earlier states, each with a uniformly drawn op other than none; numpy seed 2026).
4. Cost-matched random: per searched architecture, the first uniform draw (numpy seed 1000 + the
   search seed) whose retrain network has parameters and multiply-adds within 20% of it.
5. Every architecture retrained with config/demo.yaml (and ``--retrain``'s overrides) for
   ``--train_epochs`` epochs, seed 0 (runs
   are repeatable: the same data order and initialisation for all), and scored on every val
   image (one scale, no flip); the first uniform architecture also with seeds 1 ..
   ``--noise_seeds`` - 1: the retrain noise (printed by class too: which classes carry it).
6. The supernet's ranking: the first search's last supernet made each retrained architecture in
   turn (``src.nas.decode.encode_architecture``, its path's head alone) and scored on 4 epochs of
   val crops; Kendall tau against the retrained mIoU.
7. Statistics: one-sided Mann-Whitney U p-value (searched > uniform), bootstrap 95% interval of the
   mean difference, spread across uniform architectures against retrain seeds; a table, a plot
   (DIR/search_quality.png) and PASS/FAIL: searched >= uniform + 4 points with p < 0.05, and the
   searched mean at least the cost-matched mean.
8. What the retrained mIoU follows: Spearman rho against each architecture's parameters,
   multiply-adds, first and last cell's levels, mean level and parameter-free ops (what a search
   should pick).

The uniform retrains and the noise run first (printed as they finish): whether the data separates
architectures beyond the retrain noise is known before the searches.

Every search, retrain, model count and supernet score is kept under DIR as it comes (a finished
one is read, not rerun; an interrupted search or retrain continues from its last checkpoint), so
an interrupted run resumes. DIR/protocol.json records the options that shape the results: a rerun
with other ones stops rather than mixing results of two protocols. A benchmark (83 minutes on a 2-core CPU beside other jobs with 96
scenes; 2 h 15 min alone with 960), not a test. Its tables are in
docs/search.md, Does the search beat chance?
"""
import argparse
import json
import logging
import os
import shlex
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import src  # noqa: E402,F401  (CPU set-up before mindspore)
import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402  (a dependency of MindSpore)

from src.architecture import Architecture  # noqa: E402
from src.config import load_config  # noqa: E402
from src.device import init_device  # noqa: E402
from src.fileio import atomic_path  # noqa: E402
from src.layers.operations import PRIMITIVES  # noqa: E402
from src.nas.decode import uniform_random_path  # noqa: E402

TARGET_GAP = 0.04  # searched mean - uniform mean, mIoU
SIGNIFICANCE = 0.05
COST_TOLERANCE = 0.2  # cost-matched: parameters and multiply-adds within 20%
UNIFORM_SEED, COST_SEED = 2026, 1000
SUPERNET_SCORE_EPOCHS = 4  # epochs of val crops the supernet scores each architecture on
DEMO_CONFIG = os.path.join(ROOT, "config", "demo.yaml")


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


def eval_results(folder):
    """eval.py's scores of the retrain kept in ``folder`` (mIoU, per-class IoU)."""
    with open(os.path.join(folder, "eval", "eval_results.json")) as handle:
        return json.load(handle)


def retrain_dir(arch_path, seed):
    """Where the retrain of ``arch_path`` with ``seed`` is kept."""
    return os.path.join(os.path.dirname(arch_path), f"retrain_seed{seed}")


def retrain_and_evaluate(arch_path, out_dir, mindrecord, train_epochs, seed=0, overrides=()):
    """val mIoU of ``arch_path`` after ``train_epochs`` epochs of config/demo.yaml with ``seed`` and
    train.py ``overrides`` (kept in ``out_dir``: a finished one is read, not rerun)."""
    if not os.path.exists(os.path.join(out_dir, "eval", "eval_results.json")):
        checkpoints = os.path.join(out_dir, "train", "checkpoints")
        interrupted = sorted(os.listdir(checkpoints)) if os.path.isdir(checkpoints) else []  # zero-padded steps
        resume = ["--resume", os.path.join(checkpoints, interrupted[-1])] if interrupted else []
        run([sys.executable, "train.py", "--config_path", DEMO_CONFIG, "--arch_path", arch_path,
             "--data_path", mindrecord, "--output_path", os.path.join(out_dir, "train"),
             "--epochs", str(train_epochs), "--seed", str(seed)] + list(overrides) + resume)
        checkpoints = sorted(os.listdir(os.path.join(out_dir, "train", "checkpoints")))
        run([sys.executable, "eval.py", "--config_path", DEMO_CONFIG, "--arch_path", arch_path,
             "--data_path", mindrecord, "--output_path", os.path.join(out_dir, "eval"),
             "--ckpt_path", os.path.join(out_dir, "train", "checkpoints", checkpoints[-1]),
             "--flip", "false", "--scales", "1.0"])
    return float(eval_results(out_dir)["miou"])


PROTOCOL_OPTIONS = ("scenes", "data", "search_config", "search", "train_epochs", "retrain")


def check_protocol(out, options):
    """Record ``options`` in ``out``/protocol.json, or stop when a run there used other ones (its
    results would be read as this run's)."""
    path = os.path.join(out, "protocol.json")
    if os.path.exists(path):
        with open(path) as handle:
            recorded = json.load(handle)
        changed = sorted(key for key in options if recorded.get(key) != options[key])
        if changed:
            sys.exit(f"error: {out} holds a run with other " + ", ".join(
                f"--{key} ({recorded.get(key)!r} there, {options[key]!r} now)" for key in changed)
                + "; pass another --output_path or the same options")
        return
    os.makedirs(out, exist_ok=True)
    with atomic_path(path) as temporary, open(temporary, "w") as handle:
        json.dump(options, handle, indent=1)


class Cache:
    """A JSON file of results by key, written after every new result (the benchmark resumes)."""

    def __init__(self, path):
        self.path = path
        self.values = json.load(open(path)) if os.path.exists(path) else {}

    def get(self, key, compute):
        if key not in self.values:
            self.values[key] = compute()
            with atomic_path(self.path) as temporary, open(temporary, "w") as handle:
                json.dump(self.values, handle, indent=1)
        return self.values[key]


def network_cost(arch, folder, height, width):
    """(parameters, multiply-adds) of the retrain network of config/demo.yaml for ``arch``."""
    from src.tools.model_stats import model_stats
    arch_path = os.path.join(folder, "counted_architecture.json")
    arch.save(arch_path)
    cfg = load_config(DEMO_CONFIG, {"arch_path": arch_path, "height": height, "width": width},
                      stage="model_stats")
    counted = model_stats(cfg)
    return [counted["params"], counted["multi_adds"]]


def cost_matched(searched_path, seed, folder, cost, num_layers, num_blocks):
    """The first uniform draw (numpy seed COST_SEED + seed) whose cost is within COST_TOLERANCE of
    the searched architecture's; saved as ``folder``/architecture.json."""
    path = os.path.join(folder, "architecture.json")
    if os.path.exists(path):
        return path
    target = np.array(cost(Architecture.load(searched_path)))
    rng = np.random.default_rng(COST_SEED + seed)
    for _ in range(1000):
        candidate = random_architecture(rng, num_layers, num_blocks)
        if np.all(np.abs(np.array(cost(candidate)) / target - 1) <= COST_TOLERANCE):
            os.makedirs(folder, exist_ok=True)
            candidate.save(path)
            return path
    raise RuntimeError(f"no architecture within {COST_TOLERANCE:.0%} of {searched_path}'s cost in 1000 draws")


def supernet_scores(cfg, search_dir, mindrecord, arch_paths):
    """{arch_path: mIoU} of the last supernet of the search in ``search_dir`` (its config ``cfg``)
    made each architecture in turn, on SUPERNET_SCORE_EPOCHS epochs of val crops (calls of
    SearchTrainer.eval_batch crops)."""
    import mindspore as ms
    from src.data.mindrecord_writer import find_mindrecord
    from src.nas.decode import encode_architecture
    from src.nas.search_trainer import SearchTrainer, latest_search_checkpoint

    ms.set_context(mode=ms.PYNATIVE_MODE)  # as search.py: the supernet's loop eager, its edges compiled
    heldout = find_mindrecord(mindrecord, "val")
    trainer = SearchTrainer(cfg, find_mindrecord(mindrecord, "train"), search_dir, heldout)
    trainer.resume(latest_search_checkpoint(search_dir))
    net = trainer.net
    scores = {}
    for arch_path in arch_paths:
        arch = Architecture.load(arch_path)
        alphas, betas = encode_architecture(arch.network_path, arch.cell)
        net.alphas.set_data(ms.Tensor(alphas.astype(np.float32)))
        net.betas.set_data(ms.Tensor(betas.astype(np.float32)))
        net.scored_levels = (arch.network_path[-1],)
        crops = (batch for epoch in range(SUPERNET_SCORE_EPOCHS) for batch in trainer.heldout_batches(epoch))
        scores[arch_path] = trainer.validate(crops)
        print(f"supernet as {arch_path}: held-out mIoU {scores[arch_path]:.4f}", flush=True)
    return scores


def bootstrap_interval(a, b, resamples=10000, seed=0):
    """95% bootstrap interval of mean(a) - mean(b) (each group resampled with replacement)."""
    rng = np.random.default_rng(seed)
    a, b = np.asarray(a), np.asarray(b)
    differences = (rng.choice(a, (resamples, len(a))).mean(axis=1)
                   - rng.choice(b, (resamples, len(b))).mean(axis=1))
    return np.percentile(differences, [2.5, 97.5])


def describe(arch):
    """One line naming an architecture (an Architecture or its file)."""
    arch = Architecture.load(arch) if isinstance(arch, str) else arch
    return f"path {arch.network_path} cell " + " ".join(f"({s}, {op})" for s, op in arch.cell)


def architecture_features(arch, cost):
    """What the retrained mIoU might follow, per architecture: its cost, its path and its cell."""
    from src.nas.health import count_parameter_free
    params, macs = cost(arch)
    return {"parameters": params, "multiply-adds": macs, "first cell's level": arch.network_path[0],
            "last cell's level": arch.network_path[-1], "mean level": float(np.mean(arch.network_path)),
            "parameter-free ops": count_parameter_free(arch.cell)}


def plot(groups, path):
    """val mIoU per group, one point per retrain, the group mean as a bar."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    figure, axes = plt.subplots(figsize=(7, 4))
    rng = np.random.default_rng(0)
    for x, (name, values) in enumerate(groups.items()):
        values = 100 * np.asarray(values)
        axes.scatter(x + rng.uniform(-0.12, 0.12, len(values)), values, s=28, zorder=3)
        axes.hlines(values.mean(), x - 0.3, x + 0.3, color="black", zorder=4)
    axes.set_xticks(range(len(groups)), list(groups))
    axes.set_ylabel("val mIoU (%)")
    axes.grid(axis="y", alpha=0.3)
    axes.set_title("Retrained val mIoU per architecture (bar: group mean)")
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output_path", required=True)
    parser.add_argument("--search_seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument("--uniform", type=int, default=8, help="uniformly drawn architectures")
    parser.add_argument("--noise_seeds", type=int, default=3, help="retrain seeds of the first uniform one, in all")
    parser.add_argument("--train_epochs", type=int, default=15)
    parser.add_argument("--scenes", default="context", help="src.data.synthetic --scenes")
    parser.add_argument("--data", default="96 48 256 512", help="NUM_TRAIN NUM_VAL HEIGHT WIDTH")
    parser.add_argument("--search_config", default=os.path.join(ROOT, "config", "demo_search.yaml"))
    parser.add_argument("--search", default="", help="search.py overrides, e.g. \"--epochs 12\"")
    parser.add_argument("--retrain", default="", help="train.py overrides, e.g. \"--base_lr 0.02\"")
    args = parser.parse_args()
    out = os.path.abspath(args.output_path)
    check_protocol(out, {key: getattr(args, key) for key in PROTOCOL_OPTIONS})
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    mindrecord = generated_mindrecord(out, args.data, args.scenes)
    height, width = (int(v) for v in args.data.split()[2:])
    costs = Cache(os.path.join(out, "network_costs.json"))
    cost = lambda arch: costs.get(describe(arch), lambda: network_cost(arch, out, height, width))
    overrides = shlex.split(args.search)
    search_keys = dict(zip((key.lstrip("-") for key in overrides[::2]), overrides[1::2]))
    search_cfg = load_config(args.search_config, {**search_keys, "seed": args.search_seeds[0],
                                                  "data_path": mindrecord})
    init_device(search_cfg)  # before MindSpore runs anything in this process (the model counts)

    num_layers, num_blocks = search_cfg.num_layers, search_cfg.block_multiplier
    rng = np.random.default_rng(UNIFORM_SEED)
    uniform = []
    for index in range(args.uniform):
        arch_path = os.path.join(out, f"uniform{index}", "architecture.json")
        arch = random_architecture(rng, num_layers, num_blocks)  # drawn every run: the draws do not depend on what exists
        os.makedirs(os.path.dirname(arch_path), exist_ok=True)
        if not os.path.exists(arch_path):
            arch.save(arch_path)
        uniform.append(arch_path)

    retrain = lambda arch_path, seed=0: retrain_and_evaluate(
        arch_path, retrain_dir(arch_path, seed), mindrecord, args.train_epochs, seed, shlex.split(args.retrain))
    # The uniform retrains and the noise first: whether the data separates architectures beyond the
    # retrain noise is known before the searches' hour.
    uniform_miou = [retrain(path) for path in uniform]
    noise = [uniform_miou[0]] + [retrain(uniform[0], seed) for seed in range(1, args.noise_seeds)]
    print(f"uniform retrains: sd {100 * np.std(uniform_miou, ddof=1):.2f} across architectures, "
          f"{100 * np.std(noise, ddof=1):.2f} across seeds of uniform0", flush=True)
    from src.nas.search_trainer import latest_search_checkpoint

    searched = []
    for seed in args.search_seeds:
        folder = os.path.join(out, f"search_seed{seed}")
        if not os.path.exists(os.path.join(folder, "done")):
            interrupted = latest_search_checkpoint(folder) if os.path.isdir(folder) else None
            run([sys.executable, "search.py", "--config_path", args.search_config, "--data_path", mindrecord,
                 "--output_path", folder, "--seed", str(seed)] + overrides
                + (["--resume", interrupted] if interrupted else []))
            open(os.path.join(folder, "done"), "w").close()
        searched.append(os.path.join(folder, "architecture.json"))
    matched = [cost_matched(path, seed, os.path.join(out, f"cost_matched{seed}"), cost, num_layers, num_blocks)
               for path, seed in zip(searched, args.search_seeds)]

    groups = {"searched": [retrain(path) for path in searched], "uniform": uniform_miou,
              "cost-matched": [retrain(path) for path in matched]}
    ranked = searched + uniform + matched
    supernet = Cache(os.path.join(out, "supernet_scores.json"))
    missing = [path for path in ranked if os.path.relpath(path, out) not in supernet.values]
    if missing:
        found = supernet_scores(search_cfg, os.path.dirname(searched[0]), mindrecord, missing)
        for path in missing:
            supernet.get(os.path.relpath(path, out), lambda: found[path])
    supernet_miou = [supernet.values[os.path.relpath(path, out)] for path in ranked]
    retrained_miou = groups["searched"] + groups["uniform"] + groups["cost-matched"]

    print(f"\n{args.scenes} scenes ({args.data}); search: {os.path.relpath(args.search_config, ROOT)} "
          f"{args.search or '(as shipped)'}; retrain: config/demo.yaml {args.retrain or '(as shipped)'}, "
          f"{args.train_epochs} epochs, seed 0; "
          "val mIoU at one scale, no flip\n")
    print("| group | architecture | params | multiply-adds | supernet held-out mIoU | retrained val mIoU |")
    print("|---|---|---|---|---|---|")
    labels = ([f"searched, seed {s}" for s in args.search_seeds] + [f"uniform{i}" for i in range(len(uniform))]
              + [f"cost-matched to seed {s}" for s in args.search_seeds])
    for label, path, score, miou in zip(labels, ranked, supernet_miou, retrained_miou):
        params, macs = cost(Architecture.load(path))
        print(f"| {label} | {describe(path)} | {params / 1e6:.3f} M | {macs / 1e9:.2f} G | "
              f"{100 * score:.2f} | {100 * miou:.2f} |")
    print("\n| group | n | mean | sd | values |\n|---|---|---|---|---|")
    for name, values in {**groups, f"uniform0, seeds 0-{args.noise_seeds - 1}": noise}.items():
        values = 100 * np.asarray(values)
        print(f"| {name} | {len(values)} | {values.mean():.2f} | {values.std(ddof=1):.2f} | "
              f"{', '.join(f'{v:.2f}' for v in values)} |")
    noise_ious = [eval_results(retrain_dir(uniform[0], seed))["class_iou"]
                  for seed in range(args.noise_seeds)]
    classes = [name for name, iou in noise_ious[0].items() if iou is not None]
    print(f"\nthe retrain noise by class (uniform0, seeds 0-{args.noise_seeds - 1}; IoU %)\n\n| seed | "
          + " | ".join(classes) + " |\n|---|" + "---|" * len(classes))
    for seed, ious in enumerate(noise_ious):
        print(f"| {seed} | " + " | ".join(f"{100 * ious[name]:.1f}" for name in classes) + " |")
    gap = np.mean(groups["searched"]) - np.mean(groups["uniform"])
    low, high = bootstrap_interval(groups["searched"], groups["uniform"])
    p_value = stats.mannwhitneyu(groups["searched"], groups["uniform"], alternative="greater").pvalue
    tau, tau_p = stats.kendalltau(supernet_miou, retrained_miou)
    spread, seed_sd = np.std(groups["uniform"], ddof=1), np.std(noise, ddof=1)
    print(f"\nsearched - uniform: {100 * gap:+.2f} points (bootstrap 95% interval {100 * low:+.2f} to "
          f"{100 * high:+.2f}); one-sided Mann-Whitney U p = {p_value:.4f}")
    print(f"searched - cost-matched: {100 * (np.mean(groups['searched']) - np.mean(groups['cost-matched'])):+.2f} points")
    print(f"retrain noise: sd {100 * seed_sd:.2f} across {len(noise)} seeds; spread across uniform "
          f"architectures sd {100 * spread:.2f} (ratio {spread / seed_sd:.2f})")
    print(f"supernet ranking vs retrained mIoU ({len(ranked)} architectures): Kendall tau {tau:.3f} (p = {tau_p:.3f})")
    features = [architecture_features(Architecture.load(path), cost) for path in ranked]
    print(f"\nwhat the retrained mIoU follows ({len(ranked)} architectures): Spearman rho (p)")
    for name in features[0]:
        rho, rho_p = stats.spearmanr([f[name] for f in features], retrained_miou)
        print(f"- {name}: {rho:+.2f} ({rho_p:.3f})")
    plot({**groups, "uniform0 seeds": noise}, os.path.join(out, "search_quality.png"))
    passed = (gap >= TARGET_GAP and p_value < SIGNIFICANCE
              and np.mean(groups["searched"]) >= np.mean(groups["cost-matched"]))
    print(f"\ntarget: searched >= uniform + {100 * TARGET_GAP:.0f} points with p < {SIGNIFICANCE}, and at least "
          f"level with cost-matched: {'PASS' if passed else 'FAIL'}")


if __name__ == "__main__":
    main()
