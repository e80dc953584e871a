"""The supernet's node: its moves' preprocessing op by op, each edge one compile-once function.

Why edges are compiled, not nodes or cells: MindSpore compiles a graph per Cell instance (~25 s
for a 20-edge search cell), so 105 cell instances would compile for ~45 minutes, and PyNative
alone runs every small op with its dispatch cost. ``edge_forward`` (one edge's mixed op) is one
``@ms.jit`` function whose weights arrive as tensor arguments, so it compiles once per edge
*shape* (level x number of moves: 10 at 12 layers, ~2 s each) and serves every edge of that
shape. A compiled whole node (the previous design) took ~30 s per node shape to compile and
held ~0.6 GB of host memory per compiled shape: a paper-size search spent 7-9 minutes and
most of its 16-22 GB before its first step; per edge, compiling takes seconds and the compiled
graphs about 0.1 GB in all (figures in docs/search_step.md). The weightless ops (pools with
their BN, identity) depend on the state alone: ``state_terms`` (one more compile-once function)
computes them once per state for every edge leaving it (docs/search_step.md).

A node (l, s) gets R incoming moves (one per existing source level). The R cell runs share the
input shapes, so they are computed together: run r's channels sit at [r*C, (r+1)*C) of every
state and each convolution is grouped by run (``groups=R``), which is exactly R separate cells
with separate weights. The mixed op is built from ``src.layers.operations.OP_TABLE``: each op's
kind selects its functional form here, with the table's kernel and dilation, the same
operations ``make_op`` builds with ``search=True, affine=False, variant="paper"`` at stride 1
(tests check equality against it). A ``zero`` op contributes zeros, so it is left out of the sum
(its softmax weight still normalises). The stacked weights of the conv ops are named by kind and
kernel (``EDGE_WEIGHT_NAMES``: sep3_dw, sep3_pw, ..., dil5), in table order.

BN has no affine parameters (DARTS) and always normalises with batch statistics, in training and
in search-time validation alike, so the supernet keeps no running statistics.

Activation-memory options (config ``memory_mode``; docs/search.md, Memory modes; the supernet runs 105 cells):

- recompute: ``RecomputedNodeForward`` marks each node with ``Cell.recompute``. In PyNative this
  is MindSpore's reentrant recompute: the node runs without grad (autograd keeps only its inputs
  and output), and its backward pass reruns it with grad. Same maths (tested).
- partial_channel (PC-DARTS, Xu et al. 2020): ``partial_k`` > 1 sends only the first C/k channels
  of each run through every mixed op (whose convs are then C/k wide), the other channels bypass
  it, then a channel shuffle with k groups. This changes the searched maths (and the weight
  shapes); PC-DARTS' edge normalisation is not part of it.
"""
from typing import Callable, NamedTuple

import mindspore as ms
import mindspore.nn as nn
import mindspore.ops as ops

from src.layers.resize import resize_bilinear
from src.layers.conv import draw_conv_weight
from src.nas.decode import edge_block_ranges
from src.layers.operations import OP_TABLE


def _weight_names(kind, kernel):
    """Names of the stacked per-edge weights of one op of the table (none for weightless ops)."""
    if kind == "sep_conv":
        return (f"sep{kernel}_dw", f"sep{kernel}_pw")
    if kind == "dil_conv":
        return (f"dil{kernel}",)
    return ()


# (alpha column, kind, kernel, dilation, first weight, number of weights) of every op that is not
# zero, in table order: plain constants, which the compiled node function unrolls.
MIXED_OPS = []
EDGE_WEIGHT_NAMES = []
for _column, (_kind, _kernel, _dilation) in enumerate(OP_TABLE.values()):
    if _kind != "zero":
        _names = _weight_names(_kind, _kernel)
        MIXED_OPS.append((_column, _kind, _kernel, _dilation, len(EDGE_WEIGHT_NAMES), len(_names)))
        EDGE_WEIGHT_NAMES += _names
MIXED_OPS, EDGE_WEIGHT_NAMES = tuple(MIXED_OPS), tuple(EDGE_WEIGHT_NAMES)
NUM_WEIGHTLESS = sum(1 for op in MIXED_OPS if op[5] == 0)  # pools and identity


def batch_norm(x, eps):
    """Non-affine BatchNorm with batch statistics (biased variance, as in training-mode BN)."""
    mean = x.mean(axis=(0, 2, 3), keep_dims=True)
    centred = x - mean
    var = (centred * centred).mean(axis=(0, 2, 3), keep_dims=True)
    return centred * ops.rsqrt(var + eps)


def relu_conv_bn(x, weight, eps, stride=1, dilation=1, groups=1):
    """ReLU, bias-free conv with 'same' padding, non-affine BN."""
    padding = dilation * (weight.shape[-1] - 1) // 2
    x = ops.conv2d(ops.relu(x), weight, stride=stride, pad_mode="pad", padding=padding,
                   dilation=dilation, groups=groups)
    return batch_norm(x, eps)


def sep_conv(x, depthwise, pointwise, runs, eps):
    """(ReLU, depthwise, pointwise, BN) x 2; depthwise (2, RC, 1, k, k), pointwise (2, RC, C, 1, 1)."""
    channels = x.shape[1]
    for half in range(2):
        padding = (depthwise.shape[-1] - 1) // 2
        x = ops.conv2d(ops.relu(x), depthwise[half], pad_mode="pad", padding=padding,
                       groups=channels)
        x = batch_norm(ops.conv2d(x, pointwise[half], groups=runs), eps)
    return x


def search_op(x, kind, kernel, dilation, weights, runs, eps):
    """One op of the table at stride 1 on (N, R*C, H, W), ``weights`` its edge's stacked weights."""
    if kind == "max_pool":
        # MaxPool "SAME" (padding left out of the max, as the retrain's Pool), not
        # ops.max_pool2d: the latter's argmax gradient on CPU grows faster than the input, 7.6 s
        # against 0.07 s per forward + backward at (2, 80, 81, 81), paper size's level 0, for
        # the same values and gradients (docs/search_step.md).
        return batch_norm(ops.MaxPool(kernel_size=kernel, strides=1, pad_mode="SAME")(x), eps)
    if kind == "avg_pool":
        return batch_norm(ops.avg_pool2d(x, kernel, stride=1, padding=kernel // 2,
                                         count_include_pad=False), eps)
    if kind == "identity":
        return x
    if kind == "sep_conv":
        return sep_conv(x, weights[0], weights[1], runs, eps)
    return relu_conv_bn(x, weights[0], eps, dilation=dilation, groups=runs)


def state_terms(x, runs, partial_k, eps):
    """What every edge leaving a state shares, flat: the mixed ops' input (with ``partial_k`` > 1
    PC-DARTS' first C/k channels of each run), then with ``partial_k`` > 1 the bypassed channels
    (N, R, C - C/k, H, W), then the weightless ops' outputs in table order (pools with their BN,
    identity): functions of the input alone, so computed once per state, not once per edge (the
    max-pool backward was the costliest kernel of the step: docs/search_step.md)."""
    shared = []
    if partial_k > 1:
        batch, channels, height, width = x.shape
        part = channels // runs // partial_k
        x = ops.reshape(x, (batch, runs, channels // runs, height, width))
        shared.append(x[:, :, part:])
        x = ops.reshape(x[:, :, :part], (batch, runs * part, height, width))
    for _, kind, kernel, dilation, _, count in MIXED_OPS:
        if count == 0:
            shared.append(search_op(x, kind, kernel, dilation, (), runs, eps))
    return (x, *shared)


def mixed_op(x, weightless, edge_weights, op_weights, runs, eps):
    """sum_k softmax(alpha_e)_k op_k(x) over the table's ops (zero adds 0); ``weightless`` the
    weightless ops' outputs (``state_terms``), ``edge_weights`` the edge's own weights, in
    ``EDGE_WEIGHT_NAMES`` order."""
    out = None
    shared = 0
    for column, kind, kernel, dilation, first, count in MIXED_OPS:
        if count == 0:
            op = weightless[shared]
            shared += 1
        else:
            op = search_op(x, kind, kernel, dilation, edge_weights[first:first + count], runs, eps)
        term = op_weights[column] * op
        out = term if out is None else out + term
    return out


def edge_forward(op_weights, runs, partial_k, eps, *tensors):
    """One edge: the mixed op, or with ``partial_k`` > 1 PC-DARTS' partial one: the mixed op on
    the first C/k channels of each run, the rest passed through, then each run's channels
    shuffled with k groups (out channel j*k + g = channel g*C/k + j). ``tensors``: the state's
    ``state_terms``, then the edge's weights."""
    first = 1 if partial_k == 1 else 2  # after the input and the bypassed channels
    x = tensors[0]
    weightless, edge_weights = tensors[first:first + NUM_WEIGHTLESS], tensors[first + NUM_WEIGHTLESS:]
    mixed = mixed_op(x, weightless, edge_weights, op_weights, runs, eps)
    if partial_k == 1:
        return mixed
    bypass = tensors[1]
    batch, _, height, width = x.shape
    part = x.shape[1] // runs
    mixed = ops.reshape(mixed, (batch, runs, part, height, width))
    out = ops.reshape(ops.concat([mixed, bypass], axis=2),
                      (batch, runs, partial_k, part, height, width))
    return ops.reshape(ops.transpose(out, (0, 1, 3, 2, 4, 5)),
                       (batch, runs * partial_k * part, height, width))


def transition(source, weight, size, eps):
    """A move's own preprocess of the previous-layer node to this node's level and C channels:
    finer source: ReLU, 3x3 stride-2 conv, BN; same level: ReLU, 1x1 conv, BN; coarser source:
    bilinear upsample (align_corners) then ReLU, 1x1 conv, BN."""
    if source.shape[2] > size[0]:
        return relu_conv_bn(source, weight, eps, stride=2)
    return relu_conv_bn(resize_bilinear(source, size), weight, eps)


def node_inputs(prev_prev, size, eps, prev_prev_w, *moves):
    """The cell inputs of a node: prev-prev resized to ``size``, ReLU-conv-BN to R*C channels;
    prev = the R moves' transitions (``moves``: per run its source and transition weight)."""
    prev_prev = relu_conv_bn(resize_bilinear(prev_prev, size), prev_prev_w, eps)
    runs = len(moves) // 2
    prev = ops.concat([transition(moves[2 * r], moves[2 * r + 1], size, eps) for r in range(runs)],
                      axis=1)
    return prev_prev, prev


def node_output(beta_weights, *blocks):
    """sum_r beta_r * (run r's blocks concatenated): blocks (N, R*C, H, W) -> (N, B*C, H, W)."""
    runs = beta_weights.shape[0]
    batch, channels, height, width = blocks[0].shape
    runs_blocks = ops.concat([ops.reshape(block, (batch, runs, channels // runs, height, width))
                              for block in blocks], axis=2)
    return (runs_blocks * ops.reshape(beta_weights, (1, runs, 1, 1, 1))).sum(axis=1)


class NodeOps(NamedTuple):
    """The functions a node is made of, eager or compiled (``node_forward`` calls them)."""

    inputs: Callable
    state: Callable
    edge: Callable
    output: Callable


EAGER_NODE_OPS = NodeOps(node_inputs, state_terms, edge_forward, node_output)
# The compile-once units: one graph per edge shape (level x runs) and per node's input, state and
# output shapes; every one is small, so each compiles in seconds.
COMPILED_NODE_OPS = NodeOps(ms.jit(node_inputs), ms.jit(state_terms), ms.jit(edge_forward),
                            ms.jit(node_output))


def node_forward(node_ops, prev_prev, alpha_weights, beta_weights, size, num_blocks, partial_k, eps,
                 *tensors):
    """Node (l, s) = sum_r beta_r * Cell_r(prev = move_r(source_r), prev-prev).

    node_ops: ``EAGER_NODE_OPS`` or ``COMPILED_NODE_OPS``; prev_prev: the prev-prev tensor
    (resized here to ``size``); alpha_weights (E, 8) softmax over ops; beta_weights (R,)
    normalised move probabilities; partial_k: 1, or PC-DARTS' k; tensors: sep3_dw, sep3_pw,
    sep5_dw, sep5_pw, dil3, dil5 (stacked over edges), prev_prev_w (R*C, Cin, 1, 1), then per run
    its source (previous-layer tensor, ascending level) and its transition weight.
    Returns (N, B*C, H, W). Every call passes its tensors as flat positional arguments (with
    tuple arguments (ms.mutable) MindSpore 2.10 silently drops gradients of some of them).
    """
    num_edge_w = len(EDGE_WEIGHT_NAMES)
    # One unstack per weight: its backward is one stack of the edges' gradients, where indexing
    # each edge would add a zero-filled copy of the whole stacked weight per edge.
    edge_weights = list(zip(*[ops.unstack(stacked, axis=0) for stacked in tensors[:num_edge_w]]))
    edge_alphas = ops.unstack(alpha_weights, axis=0)  # likewise: a PyNative getitem costs ~1.5 ms
    runs = len(tensors[num_edge_w + 1:]) // 2
    states = list(node_ops.inputs(prev_prev, size, eps, *tensors[num_edge_w:]))
    shared = []  # per state, its state_terms
    for start, count in edge_block_ranges(num_blocks):
        block = None
        for state in range(count):
            if state == len(shared):
                shared.append(node_ops.state(states[state], runs, partial_k, eps))
            edge = start + state
            out = node_ops.edge(edge_alphas[edge], runs, partial_k, eps, *shared[state],
                                *edge_weights[edge])
            block = out if block is None else block + out
        states.append(block)
    return node_ops.output(beta_weights, *states[2:])


class RecomputedNodeForward(nn.Cell):
    """Calls ``forward`` (``node_forward`` with eager or compiled edges) marked with
    ``Cell.recompute``: the forward pass keeps none of the node's internal activations, the backward pass reruns it
    (tests check the rerun and the identical gradients). The rerun differentiates stop-gradient
    copies of the inputs: a hand-written bprop that differentiated the input tensors themselves
    corrupted their autograd records: the stem's weight gradients came out wrong (by ~1e-2)."""

    def __init__(self, forward):
        super().__init__()
        self.forward = forward
        self.recompute()

    def construct(self, *args):
        return self.forward(*args)


def init_node_weights(rng, channels, prev_prev_channels, source_shapes, num_edges, partial_k=1):
    """numpy weights of one node: source_shapes = [(in_channels, kernel)] per run (R runs).

    Each run's weights are drawn separately, each conv by the op table's rule
    (``src.layers.conv.draw_conv_weight``, variant paper: the retrain convs' initialisation; a
    depthwise conv counts as groups = channels), and laid out run-major along the output
    channels, the layout ``node_forward`` expects. The mixed ops' convs are channels/partial_k
    wide."""
    runs = len(source_shapes)
    weights = {"prev_prev": draw_conv_weight(rng, (channels, prev_prev_channels, 1, 1),
                                             stack=(runs,)).reshape(
                   runs * channels, prev_prev_channels, 1, 1),
               "transition": [draw_conv_weight(rng, (channels, in_channels, kernel, kernel))
                              for in_channels, kernel in source_shapes]}
    channels //= partial_k
    for _, kind, kernel, _, _, _ in MIXED_OPS:
        if kind == "sep_conv":
            weights[f"sep{kernel}_dw"] = draw_conv_weight(
                rng, (channels, 1, kernel, kernel), groups=channels,
                stack=(num_edges, 2, runs)).reshape(num_edges, 2, runs * channels, 1, kernel, kernel)
            weights[f"sep{kernel}_pw"] = draw_conv_weight(
                rng, (channels, channels, 1, 1),
                stack=(num_edges, 2, runs)).reshape(num_edges, 2, runs * channels, channels, 1, 1)
        elif kind == "dil_conv":
            weights[f"dil{kernel}"] = draw_conv_weight(
                rng, (channels, channels, kernel, kernel),
                stack=(num_edges, runs)).reshape(num_edges, runs * channels, channels, kernel, kernel)
    return weights


