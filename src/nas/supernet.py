"""The Auto-DeepLab search supernet (docs/search.md, Method): L layers x 4 levels, shared alpha, network beta.

Topology. Node (l, s) exists when s <= l+1 (45 nodes at 12 layers); its output has B*F*2^s
channels at output stride 4*2^s. Its incoming moves come from the existing nodes (l-1, s-1),
(l-1, s), (l-1, s+1) (the stem's stride-4 output for l = 0): 105 moves at 12 layers, each with
its own cell weights and its own preprocess (``search_cell.transition``)::

    node(l, s) = sum_moves weight(move) * Cell_move(prev = moved source, prev-prev)

Move weights (``move_mixing``): "paper" = beta_norm(move), the softmax over the source node's
moves. Every cell starts with ReLU-conv-BN, which undoes a scale, so a node fed by one move (both
layer-0 nodes, the top diagonal) passes no gradient to its beta: the first cell's level gets
~1e-8 against ~1e-3 elsewhere (docs/search.md, The level of the first cell). "path" = the posterior
P(source) * beta_norm(move) / P(node) of beta's Markov chain over paths (P = the probability
that the path passes through a node, 1 at the stem): each node mixes its moves by how likely the
path came through them, so the first move's beta reaches layer 1's mixtures.

Prev-prev rule (the node two layers back at the same level, else the nearest-size earlier
tensor, never dropped): l = 0 uses the stem's stride-2 output, l = 1 the stem's stride-4 output,
l >= 2 node (l-2, min(s, top level of layer l-2)), i.e. the same earlier layer at its closest
level. It is bilinearly resized to the node's size (as in the retrain cell).

Stem: three 3x3 convs (3 -> c, stride 2; c -> c; c -> 2c, stride 2), each conv-BN-ReLU, c = 64
(the retrain network's stem; the paper's "two-layer stem" to stride 4 plus the stride-2 tensor
cell 0 needs as prev-prev).
Heads: one simplified ASPP per level of the last layer (1x1; 3x3 atrous with rate 96/stride,
clipped to the feature size - 1 for tiny crops; image pooling), concat, 1x1 to classes;
bilinearly upsampled to the input and summed.

Execution: this Cell runs in PyNative; each node is one call of ``search_cell.node_forward``
with the node's weights passed as tensors; in graph mode its edges and its input/output steps
are compile-once functions (see that module).
``memory_mode`` (none | recompute | partial_channel) selects that module's activation-memory
option; partial_channel changes the maths and the weight shapes, recompute does not.
"""
import functools

import mindspore.nn as nn
import mindspore.ops as ops
import numpy as np
from mindspore import Parameter, Tensor

from src.errors import UserError
from src.layers.blocks import ConvNormAct
from src.layers.conv import Conv2d, downsampled_size
from src.layers.norm import batch_norm, norm_settings
from src.layers.operations import PRIMITIVES
from src.layers.resize import resize_bilinear
from src.nas.decode import NUM_MOVES, encode_path, move_mask, normalize_betas, num_cell_edges
from src.nas.search_cell import (COMPILED_NODE_OPS, EAGER_NODE_OPS, EDGE_WEIGHT_NAMES,
                                 RecomputedNodeForward, init_node_weights, node_forward)

ASPP_RATE_TIMES_STRIDE = 96
ARCH_INIT_SCALE = 1e-3
MEMORY_MODES = ("none", "recompute", "partial_channel")
MOVE_MIXINGS = ("paper", "path")
# P(node) of a node the path (almost) never reaches underflows to 0; its moves then weigh 0.
MIN_REACH = 1e-30


def level_sizes(size, num_levels):
    """Spatial size per level: level 0 is the stem's stride-4 size, each next level is what a
    3x3 stride-2 conv with padding 1 gives."""
    sizes = [tuple(int(d) for d in size)]
    for _ in range(num_levels - 1):
        sizes.append(tuple(downsampled_size(d) for d in sizes[-1]))
    return sizes


def supernet_nodes(num_layers, num_levels):
    """[(layer, level)] of every existing node, in computation order."""
    return [(layer, level) for layer in range(num_layers)
            for level in range(min(layer + 1, num_levels - 1) + 1)]


def incoming_levels(layer, level, num_levels):
    """Source levels (ascending) at layer-1 (the stem, level 0, for layer 0) with a move here."""
    top = 0 if layer == 0 else min(layer, num_levels - 1)
    return [source for source in (level - 1, level, level + 1) if 0 <= source <= top]


def prev_prev_key(layer, level, num_levels):
    """Which tensor is the prev-prev input of node (layer, level): 'stem1', 'stem2' or a node."""
    if layer == 0:
        return "stem1"
    if layer == 1:
        return "stem2"
    return (layer - 2, min(level, layer - 1, num_levels - 1))


class SearchHead(nn.Cell):
    """Simplified ASPP of one level: 1x1, 3x3 atrous (rate 96/stride), image pooling -> classes."""

    def __init__(self, in_channels, channels, num_classes, rate, norm):
        super().__init__()
        self.rate = rate
        self.branch1x1 = ConvNormAct(in_channels, channels, 1, norm, "paper")
        self.atrous_weight = Conv2d(in_channels, channels, 3).weight
        self.atrous_bn = batch_norm(channels, norm)
        self.pool_conv = Conv2d(in_channels, channels, 1)
        self.classifier = nn.Conv2d(3 * channels, num_classes, 1, has_bias=True)

    def construct(self, x):
        rate = max(1, min(self.rate, min(x.shape[2], x.shape[3]) - 1))
        atrous = ops.conv2d(x, self.atrous_weight, pad_mode="pad", padding=rate, dilation=rate)
        pooled = ops.relu(self.pool_conv(x.mean(axis=(2, 3), keep_dims=True)))
        pooled = ops.broadcast_to(pooled, (-1, -1, x.shape[2], x.shape[3]))
        features = ops.concat([self.branch1x1(x), ops.relu(self.atrous_bn(atrous)), pooled], axis=1)
        return self.classifier(features)


class SearchSupernet(nn.Cell):
    """Supernet with Parameters ``alphas`` (edges, ops) and ``betas`` (layers, levels, 3).

    Every setting is a config key (``src.config`` holds the defaults; ``compiled`` is ``mode:
    graph``; ``norm`` the BatchNormSettings of every BN): ``build_supernet`` builds the supernet
    of a config. ``head_channels`` None = the number of classes."""

    def __init__(self, *, num_classes, num_layers, filter_multiplier, block_multiplier,
                 stem_channels, norm, seed, compiled, memory_mode,
                 partial_channel_k, move_mixing="paper", num_levels=4, head_channels=None):
        super().__init__()
        if move_mixing not in MOVE_MIXINGS:
            raise UserError(f"move_mixing {move_mixing!r} is not one of {', '.join(MOVE_MIXINGS)}")
        self.move_mixing = move_mixing
        if memory_mode not in MEMORY_MODES:
            raise UserError(f"memory_mode {memory_mode!r} is not one of {', '.join(MEMORY_MODES)}")
        self.partial_k = partial_channel_k if memory_mode == "partial_channel" else 1
        if self.partial_k < 1 or filter_multiplier % self.partial_k:
            raise UserError(f"partial_channel_k {partial_channel_k} must divide filter_multiplier "
                            f"{filter_multiplier} (every node's channel count is a multiple of it); "
                            "pick a divisor of filter_multiplier")
        forward = functools.partial(node_forward,
                                    COMPILED_NODE_OPS if compiled else EAGER_NODE_OPS)
        self.node_forward = RecomputedNodeForward(forward) if memory_mode == "recompute" else forward
        rng = np.random.default_rng(seed)
        self.num_layers, self.num_levels = num_layers, num_levels
        self.block_multiplier, self.bn_eps = block_multiplier, norm.eps
        self.num_edges = num_cell_edges(block_multiplier)
        self.alphas = Parameter(Tensor(ARCH_INIT_SCALE * rng.standard_normal(
            (self.num_edges, len(PRIMITIVES))).astype(np.float32)), name="alphas")
        self.betas = Parameter(Tensor(ARCH_INIT_SCALE * rng.standard_normal(
            (num_layers, num_levels, 3)).astype(np.float32)), name="betas")
        self.move_mask = Tensor(move_mask(num_layers, num_levels).astype(np.float32))
        # destination[s * 3 + k, d] = 1 when move k from level s lands on level d = s - 1 + k
        target = np.arange(num_levels)[:, None] - 1 + np.arange(NUM_MOVES)
        self.move_destination = Tensor((target[..., None] == np.arange(num_levels)).reshape(
            num_levels * NUM_MOVES, num_levels).astype(np.float32))
        # DARTS- (Chu et al., ICLR 2021): an auxiliary skip connection on every edge, weight set by
        # the trainer per step (its schedule is a function of the step: nothing to checkpoint). It
        # takes the residual path's advantage away from the searched skip_connect.
        self.aux_skip_weight = 0.0
        self.skip_column = Tensor(np.eye(len(PRIMITIVES), dtype=np.float32)[PRIMITIVES.index("skip_connect")])
        self.stem1 = nn.SequentialCell([
            ConvNormAct(3, stem_channels, 3, norm, "paper", stride=2),
            ConvNormAct(stem_channels, stem_channels, 3, norm, "paper")])
        self.stem2 = ConvNormAct(stem_channels, 2 * stem_channels, 3, norm, "paper", stride=2)
        channels = [filter_multiplier * 2 ** level for level in range(num_levels)]
        out_channels = {"stem1": stem_channels, "stem2": 2 * stem_channels}
        self.nodes, self.node_weights, moves = [], {}, []
        for layer, level in supernet_nodes(num_layers, num_levels):
            sources = incoming_levels(layer, level, num_levels)
            source_shapes = []
            for source in sources:
                in_channels = out_channels["stem2" if layer == 0 else (layer - 1, source)]
                source_shapes.append((in_channels, 3 if source < level else 1))
                moves.append((layer, source, level - source + 1))
            pp_key = prev_prev_key(layer, level, num_levels)
            arrays = init_node_weights(rng, channels[level], out_channels[pp_key], source_shapes,
                                       self.num_edges, self.partial_k)
            self.node_weights[(layer, level)] = self._register(f"node{layer}_{level}", arrays,
                                                               sources)
            self.nodes.append((layer, level, tuple(sources), pp_key))
            out_channels[(layer, level)] = block_multiplier * channels[level]
        self.num_moves = len(moves)
        self.move_index = Tensor(np.array(moves, dtype=np.int32))
        head_channels = head_channels or num_classes
        last = num_layers - 1
        self.head_levels = [level for layer, level in supernet_nodes(num_layers, num_levels)
                            if layer == last]
        # Last-layer levels whose heads are summed into the logits: all in the search; the path's
        # last level when the supernet stands for one architecture (decode.encode_architecture).
        self.scored_levels = tuple(self.head_levels)
        # path_search single_path: the (L, levels, 3) move weights of the one path trained or scored
        # now (``use_path``), in place of beta's; None: beta's (``move_weights``).
        self.path_move_weights = None
        self.heads = nn.CellList([
            SearchHead(out_channels[(last, level)], head_channels, num_classes,
                       max(1, ASPP_RATE_TIMES_STRIDE // (4 * 2 ** level)), norm)
            for level in self.head_levels])

    def _register(self, prefix, arrays, sources):
        """Make the node's Parameters (registered on this Cell); returns them in the flat order
        ``node_forward`` takes."""
        def param(name, array):
            parameter = Parameter(Tensor(array), name=f"{prefix}.{name}")
            self.insert_param_to_cell(f"{prefix}_{name}", parameter)
            return parameter
        return ([param(name, arrays[name]) for name in EDGE_WEIGHT_NAMES]
                + [param("prev_prev", arrays["prev_prev"])]
                + [param(f"transition_from{source}", array)
                   for source, array in zip(sources, arrays["transition"])])

    def arch_parameters(self):
        return [self.alphas, self.betas]

    def weight_parameters(self):
        return [p for p in self.trainable_params() if p.name not in ("alphas", "betas")]

    def normalized_betas(self):
        """Softmax of beta over each node's existing moves (non-existing moves 0); no 2/3 factor."""
        masked = self.betas + (self.move_mask - 1.0) * 1e9
        return ops.softmax(masked, axis=-1) * self.move_mask

    def use_path(self, path):
        """Make the supernet the one network ``path`` (its moves alone, its last level's head), or
        the whole supernet again for None: single-path training and scoring (path_search)."""
        if path is None:
            self.path_move_weights, self.scored_levels = None, tuple(self.head_levels)
            return
        self.path_move_weights = Tensor(normalize_betas(encode_path(path, self.num_levels)).astype(np.float32))
        self.scored_levels = (path[-1],)

    def move_weights(self):
        """(layers, levels, 3) weight of each move in its destination node's sum (``move_mixing``;
        the single path's when ``use_path`` set one)."""
        if self.path_move_weights is not None:
            return self.path_move_weights
        probs = self.normalized_betas()
        if self.move_mixing == "paper":
            return probs
        num_levels = self.num_levels
        reach = Tensor(np.eye(1, num_levels, dtype=np.float32))  # (1, levels): the stem, level 0
        weights = []
        for layer in range(self.num_layers):
            mass = (reach.reshape(num_levels, 1) * probs[layer]).reshape(1, num_levels * NUM_MOVES)
            reach = ops.matmul(mass, self.move_destination)
            destination_reach = ops.matmul(self.move_destination, reach.reshape(num_levels, 1))
            weights.append(mass.reshape(num_levels * NUM_MOVES, 1) / ops.maximum(destination_reach, MIN_REACH))
        return ops.stack(weights).reshape(self.num_layers, num_levels, NUM_MOVES)

    def construct(self, x):
        stem1 = self.stem1(x)
        stem2 = self.stem2(stem1)
        sizes = level_sizes(stem2.shape[2:], self.num_levels)
        alpha_weights = ops.softmax(self.alphas, axis=-1)
        if self.aux_skip_weight:
            alpha_weights = alpha_weights + self.aux_skip_weight * self.skip_column
        # One split, not a slice per node: each PyNative op costs its dispatch (docs/search_step.md).
        node_move_probs = ops.split(ops.gather_nd(self.move_weights(), self.move_index),
                                    [len(sources) for _, _, sources, _ in self.nodes])
        outputs = {"stem1": stem1, "stem2": stem2}
        num_edge_w = len(EDGE_WEIGHT_NAMES)
        for (layer, level, sources, pp_key), move_probs in zip(self.nodes, node_move_probs):
            weights = self.node_weights[(layer, level)]
            # The stacked edge weights reach the compiled functions unstacked (node_forward); the
            # weights passed to them directly go as tensors (w * 1), not Parameters.
            tensors = list(weights[:num_edge_w]) + [weights[num_edge_w] * 1]
            for source, transition_w in zip(sources, weights[-len(sources):]):
                tensors += [outputs["stem2" if layer == 0 else (layer - 1, source)], transition_w * 1]
            outputs[(layer, level)] = self.node_forward(
                outputs[pp_key], alpha_weights, move_probs, sizes[level], self.block_multiplier,
                self.partial_k, self.bn_eps, *tensors)
        size = x.shape[2:]
        logits = None
        for level, head in zip(self.head_levels, self.heads):
            if level not in self.scored_levels:
                continue
            level_logits = resize_bilinear(head(outputs[(self.num_layers - 1, level)]), size)
            logits = level_logits if logits is None else logits + level_logits
        return logits


def build_supernet(cfg):
    """The SearchSupernet of a search config (``mode: graph`` compiles the node functions)."""
    return SearchSupernet(num_classes=cfg.num_classes, num_layers=cfg.num_layers,
                          filter_multiplier=cfg.filter_multiplier,
                          block_multiplier=cfg.block_multiplier, stem_channels=cfg.stem_channels,
                          norm=norm_settings(cfg), seed=cfg.seed,
                          compiled=cfg.mode == "graph", memory_mode=cfg.memory_mode,
                          partial_channel_k=cfg.partial_channel_k, move_mixing=cfg.move_mixing)
