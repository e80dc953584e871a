"""Memory and time planner: the peak host memory and seconds per iteration of a search or a
training run on this machine's CPU, before you start it, and the settings that fit a budget.

    python -m src.tools.plan --config_path config/search.yaml [--KEY VALUE ...] [--memory_gb 10]
    python -m src.tools.plan --config_path config/autodeeplab_s.yaml --crop_size 513 --memory_gb 8

The stage is the config's: a file that sets a search-only key (memory_mode, arch_*, num_layers,
block_multiplier) plans a search, any other a training run; ``--stage`` overrides that.

The estimate is a sum of parts (GB):

- framework: MindSpore and this package loaded, the data and the process (measured once);
- parameters: weights, their gradients and the optimizer's moments (exact: the network is built);
- graphs and pools: the compiled graphs (the search: one per edge shape, level x moves, and per
  node input/output shape; training: one of the whole train step) and the allocator's pools;
- activations: what the backward pass keeps. The search counts the feature maps of its nodes
  and edges from the supernet's topology (``src.nas.supernet``); training counts the outputs of
  every cell of one forward pass (a PyNative run at a small size, scaled by pixels and batch).
  Each count times a factor measured here (``benchmarks/plan_accuracy.py`` checks the
  estimates against measured peak RSS).

Accelerators: the figures are host (CPU) memory of MindSpore's CPU backend. On Ascend/GPU the
activations and parameters live in device memory, with other kernels, fp16 under amp_level O2/O3
(about half the activations) and the device's own pool overhead; read ``activations +
parameters`` as a first guess of device memory, and the framework part as host memory.
"""
import argparse
import functools
import math
import os

from src.config import CONFIG_DIR, SCHEMA, SEARCH, TRAIN, load_config, parse_config, read_yaml
from src.errors import UserError, run_main

GB = 2 ** 30
FLOAT_BYTES = 4
# Fitted on this machine (2-core x86_64, MindSpore 2.10 CPU, graph mode): the search constants
# on the searches marked "fitted" in benchmarks/plan_accuracy.py (benchmarks/search_step.py),
# the training ones on one run (Auto-DeepLab-S, crop 321, batch 2: benchmarks/train_step.py).
# That benchmark checks them on the other configurations.
FRAMEWORK_GB = {SEARCH: 0.45, TRAIN: 0.9}
SEARCH_POOLS_GB = 0.16           # the allocator's pools and the node input/output graphs
SEARCH_GB_PER_EDGE_SHAPE = 0.064  # one compiled edge graph (level x moves) and its buffers
TRAIN_GRAPH_GB = 0.5             # the train step's graph
SEARCH_KEPT_PER_MIXED = 29.6     # floats kept per element of a mixed op's input
SEARCH_KEPT_PER_STATE = 7.7      # floats kept per element of a node's states
RECOMPUTE_KEPT_PER_PARAMETER = 4.8  # recompute: floats kept per supernet parameter
RECOMPUTE_KEPT_NODES = 2.7       # recompute: the largest node's activations, this many times
TRAIN_KEPT_PER_FEATURE = 2.55    # floats kept per element of a cell output
# One search iteration (weight + architecture step): kernels per element, plus the dispatch of
# each compiled node piece (node_forward's calls, forward and backward of both steps). Fitted
# 2026-12-06 on benchmarks/search_step.py at demo size, 4 layers B 5 crop 129 and paper size
# (2.8, 11.7 and 117.7 s; the fit gives 2.8, 11.8, 117.2 s).
SEARCH_SECONDS_PER_MIXED = 7.5e-7
SEARCH_SECONDS_PER_STATE = 2.6e-7
SEARCH_SECONDS_PER_CALL = 0.020
TRAIN_SECONDS_PER_GFLOP = 0.0083  # forward + backward + update
SEARCH_ONLY_KEYS = tuple(name for name, key in SCHEMA.items() if key.stages == (SEARCH,))


def search_feature_counts(cfg, memory_mode=None, partial_k=None):
    """Element counts of the supernet's feature maps for one batch: ``mixed`` (inputs of the mixed
    ops, C/k channels per move), ``state`` (node inputs, block states and outputs; the stem),
    ``largest_node`` (the kept floats of the largest single node, for recompute),
    ``edge_shapes`` (the distinct (level, moves) of the nodes: one compiled edge graph each) and
    ``calls`` (compiled pieces called per forward pass: each node's inputs, states that feed
    edges, edges and output)."""
    from src.layers.conv import downsampled_size
    from src.nas.decode import num_cell_edges
    from src.nas.supernet import incoming_levels, level_sizes, supernet_nodes

    memory_mode = memory_mode or cfg.memory_mode
    k = (partial_k or cfg.partial_channel_k) if memory_mode == "partial_channel" else 1
    edges, blocks = num_cell_edges(cfg.block_multiplier), cfg.block_multiplier
    half = downsampled_size(cfg.crop_size)  # the stem's stride-2 and stride-4 outputs
    quarter = downsampled_size(half)
    sizes = level_sizes((quarter, quarter), 4)
    counts = {"mixed": 0, "state": 3 * cfg.batch_size * cfg.stem_channels * half * half,
              "largest_node": 0, "edge_shapes": set(), "calls": 0}
    for layer, level in supernet_nodes(cfg.num_layers, 4):
        runs = len(incoming_levels(layer, level, 4))
        channels = cfg.filter_multiplier * 2 ** level
        pixels = cfg.batch_size * sizes[level][0] * sizes[level][1]
        active = channels // k
        mixed = edges * runs * active * pixels
        state = runs * channels * pixels * (blocks + 2)
        counts["mixed"] += mixed
        counts["state"] += state
        counts["largest_node"] = max(counts["largest_node"], SEARCH_KEPT_PER_MIXED * mixed
                                     + SEARCH_KEPT_PER_STATE * state)
        counts["edge_shapes"].add((level, runs))
        counts["calls"] += 2 + (blocks + 1) + edges
    return counts


@functools.lru_cache(maxsize=None)
def _supernet_parameters(num_classes, num_layers, filter_multiplier, block_multiplier,
                         stem_channels, memory_mode, partial_channel_k):
    """Trainable parameter count of that supernet (built once per network: crop and batch do
    not change it)."""
    from src.nas.supernet import build_supernet

    cfg = load_config(None, dict(num_classes=num_classes, num_layers=num_layers,
                                 filter_multiplier=filter_multiplier,
                                 block_multiplier=block_multiplier, stem_channels=stem_channels,
                                 memory_mode=memory_mode, partial_channel_k=partial_channel_k,
                                 mode="pynative"))
    return sum(int(math.prod(p.shape)) for p in build_supernet(cfg).trainable_params())


def search_estimate(cfg, memory_mode=None, partial_k=None):
    """{part: GB} and seconds per iteration (weight step + architecture step) of a search."""
    memory_mode = memory_mode or cfg.memory_mode
    params = _supernet_parameters(cfg.num_classes, cfg.num_layers, cfg.filter_multiplier,
                                  cfg.block_multiplier, cfg.stem_channels, memory_mode,
                                  partial_k or cfg.partial_channel_k)
    counts = search_feature_counts(cfg, memory_mode, partial_k)
    if memory_mode == "recompute":
        # The nodes' weight copies and their gradients (per parameter), and the rerun of a node
        # with its gradients and the allocator's fragments (in largest nodes' activations).
        kept = RECOMPUTE_KEPT_PER_PARAMETER * params + RECOMPUTE_KEPT_NODES * counts["largest_node"]
    else:
        kept = SEARCH_KEPT_PER_MIXED * counts["mixed"] + SEARCH_KEPT_PER_STATE * counts["state"]
    parts = {"framework": FRAMEWORK_GB[SEARCH],
             "parameters": params * FLOAT_BYTES * 3 / GB,  # weight, gradient, SGD momentum
             "graphs and pools": SEARCH_POOLS_GB
                                 + SEARCH_GB_PER_EDGE_SHAPE * len(counts["edge_shapes"]),
             "activations": kept * FLOAT_BYTES / GB}
    seconds = (SEARCH_SECONDS_PER_MIXED * counts["mixed"] + SEARCH_SECONDS_PER_STATE * counts["state"]
               + SEARCH_SECONDS_PER_CALL * counts["calls"])
    if memory_mode == "recompute":
        seconds *= 4 / 3  # one more forward pass per step
    return parts, seconds


def train_estimate(cfg, crop=None, batch=None):
    """{part: GB} and seconds per training step."""
    from src.model import build_model
    from src.tools.model_stats import count_multi_adds, forward_total

    crop, batch = crop or cfg.crop_size, batch or cfg.batch_size
    net = build_model(cfg)
    params = sum(int(math.prod(p.shape)) for p in net.trainable_params())
    probe = 65  # a small forward pass; feature maps scale with the pixels
    leaves = {id(cell) for _, cell in net.cells_and_names() if not list(cell.cells())}
    features = forward_total(net, probe, probe,
                             lambda cell, out: int(math.prod(out.shape)) if id(cell) in leaves
                             and hasattr(out, "shape") else None)
    scale = batch * (crop / probe) ** 2
    flops = 2 * 3 * count_multi_adds(net, probe, probe) * scale  # forward + 2x backward
    parts = {"framework": FRAMEWORK_GB[TRAIN],
             "parameters": params * FLOAT_BYTES * 3 / GB,  # weight, gradient, momentum
             "graphs and pools": TRAIN_GRAPH_GB,
             "activations": TRAIN_KEPT_PER_FEATURE * features * scale * FLOAT_BYTES / GB}
    return parts, TRAIN_SECONDS_PER_GFLOP * flops / 1e9


def estimate(cfg, stage, **setting):
    return search_estimate(cfg, **setting) if stage == SEARCH else train_estimate(cfg, **setting)


def fitting_settings(cfg, stage, memory_gb):
    """Settings within ``memory_gb``, most faithful first: search keeps the config's crop and
    batch and tries the exact modes, then partial_channel with growing k; then smaller batches
    and crops (multiples of 32 plus one, as the data sets use). Training tries batch and crop."""
    crops = [cfg.crop_size] + [c for c in (769, 641, 513, 385, 321, 257, 193, 129)
                               if c < cfg.crop_size]
    batches = [b for b in (cfg.batch_size, cfg.batch_size // 2, 1) if b >= 1]
    found = []
    for batch in dict.fromkeys(batches):
        for crop in crops:
            trial = cfg.replace(batch_size=batch, crop_size=crop)
            if stage == SEARCH:
                modes = [("none", None), ("recompute", None)] + [
                    ("partial_channel", k) for k in (2, 4, 8) if cfg.filter_multiplier % k == 0]
                for mode, k in modes:
                    parts, seconds = search_estimate(trial, mode, k)
                    if sum(parts.values()) <= memory_gb:
                        found.append((dict(memory_mode=mode, partial_channel_k=k, batch_size=batch,
                                           crop_size=crop), sum(parts.values()), seconds))
                        break
            else:
                parts, seconds = train_estimate(trial)
                if sum(parts.values()) <= memory_gb:
                    found.append((dict(batch_size=batch, crop_size=crop), sum(parts.values()), seconds))
            if found and found[-1][0]["batch_size"] == batch:
                break
    return found


def config_stage(config_path):
    """search when the file (with its bases) sets a search-only key, else train."""
    raw = read_yaml(config_path) if config_path else {}
    return SEARCH if any(name in raw for name in SEARCH_ONLY_KEYS) else TRAIN


def _format(setting):
    return " ".join("--%s %s" % (key, value) for key, value in setting.items() if value is not None)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], add_help=False, allow_abbrev=False,
        epilog="Any other --KEY VALUE is a config key of the planned stage (see search.py --help / "
               "train.py --help).")
    parser.add_argument("--config_path", help="the search or retrain YAML file (default config/search.yaml)")
    parser.add_argument("--stage", choices=(SEARCH, TRAIN), help="default: the config's (see above)")
    parser.add_argument("--memory_gb", type=float, help="also list the settings that fit this budget")
    parser.add_argument("-h", "--help", action="store_true")
    args, rest = parser.parse_known_args(argv)
    if args.help:
        parser.print_help()
        print("\n" + __doc__)
        return
    if args.memory_gb is not None and args.memory_gb <= 0:
        raise UserError("--memory_gb %s must be positive (the budget in GiB)" % args.memory_gb)
    stage = args.stage or config_stage(args.config_path or os.path.join(CONFIG_DIR, "search.yaml"))
    default_config = os.path.join(CONFIG_DIR, "search.yaml" if stage == SEARCH else "autodeeplab_s.yaml")
    if args.config_path:
        rest = ["--config_path", args.config_path] + rest
    cfg = parse_config(rest, default_config_path=default_config, stage=stage)
    import mindspore as ms

    ms.set_context(mode=ms.PYNATIVE_MODE, device_target="CPU")
    parts, seconds = estimate(cfg, stage)
    what = ("search: %d layers, F %d, B %d, crop %d, batch %d, memory_mode %s%s"
            % (cfg.num_layers, cfg.filter_multiplier, cfg.block_multiplier, cfg.crop_size,
               cfg.batch_size, cfg.memory_mode,
               " (k %d)" % cfg.partial_channel_k if cfg.memory_mode == "partial_channel" else "")
            if stage == SEARCH else
            "training: F %d, crop %d, batch %d, %s" % (cfg.filter_multiplier, cfg.crop_size,
                                                       cfg.batch_size, cfg.arch_path or "paper path"))
    print(what)
    for name, value in parts.items():
        print("  %-16s %6.2f GB" % (name, value))
    print("  %-16s %6.2f GB peak host memory (CPU backend)" % ("total", sum(parts.values())))
    print("  %-16s %6.0f s per %s on this machine's CPU" % (
        "time", seconds, "iteration (weight + architecture step)" if stage == SEARCH else "step"))
    if args.memory_gb is not None:
        found = fitting_settings(cfg, stage, args.memory_gb)
        if not found:
            print("nothing fits in %.1f GB (smallest tried: batch 1, crop 129)" % args.memory_gb)
        for setting, total, secs in found:
            print("fits in %.1f GB: %s  (%.2f GB, %.0f s)" % (args.memory_gb, _format(setting), total, secs))


if __name__ == "__main__":
    run_main(main)
