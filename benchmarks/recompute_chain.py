"""Peak RSS of one grad step through a chain of identical search-cell nodes: does recompute drop
each node's activations, and what does it cost per node shape?

    python benchmarks/recompute_chain.py --memory_mode none|recompute [--nodes 6 --size 81
                                         --filter_multiplier 8 --blocks 2 --iterations 2]

Every node has one same-level move (so all share one compiled graph): node i takes node i-1 as
prev and node i-2 as prev-prev, batch 2, size x size. Comparing --nodes 1 with --nodes N gives the
memory each extra node keeps for the backward pass; comparing the modes at --nodes 1 gives
recompute's fixed cost per node shape.

Measured on the loaded 2-core machine (2026-11-22), F 8, B 2, process peak after the second
iteration:

- size 81: none 1119 MB (1 node), 1812 MB (6 nodes): 139 MB per node kept for the backward pass;
  recompute 1317 MB, 1324 MB: flat, the activations are dropped. Seconds per step (6 nodes):
  12.8 none, 13.3 recompute.
- recompute's fixed cost (1 node, recompute minus none): +81 MB at size 41 (790 -> 871 MB), +198 MB
  at 81, +611 MB at 161 (2371 -> 2982 MB). It grows with the node's size: the no-grad forward is
  one more compiled graph, and compiling and running it costs about one node's activations.
"""
import argparse
import functools
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import src  # noqa: E402,F401  (CPU set-up before mindspore)
import mindspore as ms  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.search_step import RssSampler, current_rss_mb  # noqa: E402
from src.nas.decode import num_cell_edges  # noqa: E402
from src.layers.operations import PRIMITIVES  # noqa: E402
from src.nas.search_cell import (EDGE_WEIGHT_NAMES, RecomputedNodeForward,  # noqa: E402
                                 COMPILED_NODE_OPS, init_node_weights, node_forward)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--memory_mode", choices=("none", "recompute"), default="none")
    parser.add_argument("--nodes", type=int, default=6)
    parser.add_argument("--size", type=int, default=81)
    parser.add_argument("--filter_multiplier", type=int, default=8)
    parser.add_argument("--blocks", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=2)
    args = parser.parse_args()
    ms.set_context(mode=ms.PYNATIVE_MODE)
    compiled = functools.partial(node_forward, COMPILED_NODE_OPS)
    forward = RecomputedNodeForward(compiled) if args.memory_mode == "recompute" else compiled
    channels, blocks, size = args.filter_multiplier, args.blocks, args.size
    num_edges = num_cell_edges(blocks)
    rng = np.random.default_rng(0)
    arrays = init_node_weights(rng, channels, blocks * channels, [(blocks * channels, 1)],
                               num_edges)
    weights = ([ms.Tensor(arrays[name]) for name in EDGE_WEIGHT_NAMES]
               + [ms.Tensor(arrays["prev_prev"]), ms.Tensor(arrays["transition"][0])])
    num_ops = len(PRIMITIVES)
    alpha_weights = ms.Tensor(np.full((num_edges, num_ops), 1 / num_ops, np.float32))
    beta_weights = ms.Tensor(np.ones(1, np.float32))
    image = ms.Tensor(rng.standard_normal((2, blocks * channels, size, size)).astype(np.float32))
    target = ms.Tensor(rng.standard_normal((2, blocks * channels, size, size)).astype(np.float32))

    def loss(*node_weights):
        prev_prev = prev = image
        for _ in range(args.nodes):
            prev_prev, prev = prev, forward(prev_prev, alpha_weights, beta_weights, (size, size),
                                            blocks, 1, 1e-5, *node_weights[:-1], prev,
                                            node_weights[-1])
        return (prev * target).mean()

    grad = ms.value_and_grad(loss, tuple(range(len(weights))))
    for iteration in range(args.iterations):
        before, sampler = current_rss_mb(), RssSampler()
        sampler.start()
        started = time.time()
        value, _ = grad(*weights)
        value = float(value.asnumpy())
        step_peak = sampler.stop()
        print(f"{args.memory_mode}, {args.nodes} nodes, iteration {iteration}: "
              f"{time.time() - started:.2f} s, loss {value:.6f}, step peak "
              f"+{step_peak - before:.0f} MB, process peak "
              f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB", flush=True)


if __name__ == "__main__":
    main()
