"""Search supernet topology, functional ops vs the op table, gradients to alpha and beta."""
import numpy as np
import pytest

import mindspore as ms
from conftest import build_search_net, default_norm
from mindspore import ops

from src.errors import UserError
from src.layers.operations import OP_TABLE, make_op
from src.nas import supernet
from src.layers.conv import draw_conv_weight
from src.nas.search_cell import (edge_forward, mixed_op, node_forward, relu_conv_bn, search_op,
                                 sep_conv, state_terms)
from src.nas.supernet import incoming_levels, prev_prev_key, supernet_nodes

pytestmark = pytest.mark.heavy  # scheduled first (conftest.py)


def test_connectivity_at_12_layers():
    nodes = supernet_nodes(12, 4)
    assert len(nodes) == 45
    assert sum(len(incoming_levels(l, s, 4)) for l, s in nodes) == 105
    assert incoming_levels(0, 0, 4) == [0] and incoming_levels(0, 1, 4) == [0]
    assert incoming_levels(5, 0, 4) == [0, 1] and incoming_levels(5, 3, 4) == [2, 3]
    assert incoming_levels(2, 3, 4) == [2]
    # prev-prev never dropped: stem tensors first, then layer l-2 at the closest level.
    assert prev_prev_key(0, 1, 4) == "stem1" and prev_prev_key(1, 2, 4) == "stem2"
    assert prev_prev_key(2, 3, 4) == (0, 1) and prev_prev_key(3, 3, 4) == (1, 2)
    assert prev_prev_key(7, 2, 4) == (5, 2)
    net = build_search_net(False, num_classes=3, num_layers=12, filter_multiplier=1,
                           block_multiplier=1, stem_channels=2)
    assert net.num_moves == 105 and len(net.nodes) == 45
    assert net.alphas.shape == (2, 8) and net.betas.shape == (12, 4, 3)


def _cell_output(cell, x):
    cell.set_train(True)
    return cell(x).asnumpy()


@pytest.mark.parametrize("name", ["sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5",
                                  "max_pool_3x3", "avg_pool_3x3"])
def test_functional_ops_equal_op_table(name):
    ms.set_context(mode=ms.PYNATIVE_MODE)
    channels, runs = 3, 2
    x = np.random.default_rng(0).standard_normal((2, runs * channels, 7, 7)).astype(np.float32)
    cells = [make_op(name, channels, default_norm(), "paper", affine=False, search=True) for _ in range(runs)]
    expected = np.concatenate([_cell_output(c, ms.Tensor(x[:, r * channels:(r + 1) * channels]))
                               for r, c in enumerate(cells)], axis=1)
    xt, eps = ms.Tensor(x), 1e-5
    if name.startswith("sep"):
        dw = np.stack([np.concatenate([c.depthwise1.weight.asnumpy() for c in cells]),
                       np.concatenate([c.depthwise2.weight.asnumpy() for c in cells])])
        pw = np.stack([np.concatenate([c.pointwise1.weight.asnumpy() for c in cells]),
                       np.concatenate([c.pointwise2.weight.asnumpy() for c in cells])])
        got = sep_conv(xt, ms.Tensor(dw), ms.Tensor(pw), runs, eps)
    elif name.startswith("dil"):
        w = np.concatenate([c.conv.weight.asnumpy() for c in cells])
        got = relu_conv_bn(xt, ms.Tensor(w), eps, dilation=2, groups=runs)
    else:
        kind, kernel, dilation = OP_TABLE[name]
        got = search_op(xt, kind, kernel, dilation, (), runs, eps)
    np.testing.assert_allclose(got.asnumpy(), expected, rtol=1e-4, atol=1e-4)


def _tiny_supernet(compiled, num_layers=2, filter_multiplier=2, **memory_options):
    ms.set_seed(5)  # stem and head weights come from the MindSpore initializers
    net = build_search_net(compiled, num_classes=3, num_layers=num_layers,
                           filter_multiplier=filter_multiplier, block_multiplier=1, stem_channels=4,
                           seed=3, **memory_options)
    net.set_train(True)
    return net


def _tiny_batch():
    x = ms.Tensor(np.random.default_rng(1).standard_normal((2, 3, 17, 17)).astype(np.float32))
    label = ms.Tensor(np.random.default_rng(2).integers(0, 3, (2, 17, 17)).astype(np.int32))
    return x, label


def _loss_and_grads(compiled, num_layers=2, **memory_options):
    """Loss and {parameter name: gradient} of one tiny supernet step (fixed data and seeds)."""
    net = _tiny_supernet(compiled, num_layers, **memory_options)
    params = net.trainable_params()
    grad = ms.value_and_grad(lambda a, b: ops.cross_entropy(net(a), b), None, params)
    loss, grads = grad(*_tiny_batch())
    return float(loss.asnumpy()), {p.name: g.asnumpy() for p, g in zip(params, grads)}


def test_gradients_reach_alpha_beta_and_compiled_equals_eager(pynative_mode):
    loss_eager, eager = _loss_and_grads(compiled=False)
    loss_jit, jit = _loss_and_grads(compiled=True)
    assert np.abs(eager["alphas"]).sum() > 0 and np.abs(eager["betas"]).sum() > 0
    assert loss_jit == pytest.approx(loss_eager, rel=1e-4)
    for name, value in eager.items():
        assert np.abs(jit[name]).sum() > 0 or np.abs(value).sum() == 0, name
        np.testing.assert_allclose(jit[name], value, rtol=2e-3, atol=1e-5, err_msg=name)


def test_recompute_reruns_each_node_and_gives_the_same_loss_and_gradients(pynative_mode,
                                                                         monkeypatch):
    calls = []

    def counted_node_forward(*args):
        calls.append(args[4])  # the node's size tells the two nodes apart
        return node_forward(*args)

    monkeypatch.setattr(supernet, "node_forward", counted_node_forward)
    loss, grads = _loss_and_grads(compiled=True, num_layers=1)
    num_nodes = len(supernet_nodes(1, 4))
    assert len(calls) == num_nodes
    loss_recompute, grads_recompute = _loss_and_grads(compiled=True, num_layers=1,
                                                      memory_mode="recompute")
    # Each node runs in the forward pass, then again in the backward pass, last node first.
    assert calls[num_nodes:] == calls[:num_nodes] + calls[num_nodes - 1::-1]
    assert loss_recompute == pytest.approx(loss, rel=1e-5)
    assert grads_recompute.keys() == grads.keys()
    for name, value in grads.items():
        np.testing.assert_allclose(grads_recompute[name], value, rtol=1e-5, atol=1e-7, err_msg=name)


def test_partial_channel_edge_bypasses_and_shuffles(pynative_mode):
    channels, runs, k = 4, 2, 2
    part = channels // k
    x = np.random.default_rng(0).standard_normal((2, runs * channels, 5, 5)).astype(np.float32)
    rng = np.random.default_rng(1)
    weights = [ms.Tensor(draw_conv_weight(rng, shape)) for shape in (
        (2, 2, runs * part, 1, 3, 3), (2, 2, runs * part, part, 1, 1), (2, 2, runs * part, 1, 5, 5),
        (2, 2, runs * part, part, 1, 1), (2, runs * part, part, 3, 3), (2, runs * part, part, 5, 5))]
    op_weights = ops.softmax(ms.Tensor(rng.standard_normal(8).astype(np.float32)))

    def edge(xt, *w):
        return edge_forward(op_weights, runs, k, 1e-5, *state_terms(xt, runs, k, 1e-5),
                            *[stacked[1] for stacked in w])

    got = edge(ms.Tensor(x), *weights).asnumpy()
    assert got.shape == x.shape
    np.testing.assert_allclose(ms.jit(edge)(ms.Tensor(x), *weights).asnumpy(), got,
                               rtol=1e-4, atol=1e-5)
    active = np.concatenate([x[:, r * channels:r * channels + part] for r in range(runs)], axis=1)
    active = ms.Tensor(active)
    mixed = mixed_op(active, state_terms(active, runs, 1, 1e-5)[1:], [w[1] for w in weights],
                     op_weights, runs, 1e-5).asnumpy()
    for r in range(runs):
        for j in range(part):
            np.testing.assert_allclose(got[:, r * channels + j * k], mixed[:, r * part + j],
                                       rtol=1e-5, atol=1e-6)
            for group in range(1, k):  # bypassed channels, moved by the shuffle
                np.testing.assert_array_equal(got[:, r * channels + j * k + group],
                                              x[:, r * channels + group * part + j])


def test_partial_channel_supernet_changes_the_maths_with_k(pynative_mode):
    x, _ = _tiny_batch()
    nets = {k: _tiny_supernet(False, 1, 4, memory_mode="partial_channel", partial_channel_k=k)
            for k in (1, 2, 4)}
    logits = {k: net(x).asnumpy() for k, net in nets.items()}
    full = _tiny_supernet(False, 1, 4)
    np.testing.assert_allclose(logits[1], full(x).asnumpy(), rtol=1e-5, atol=1e-6)  # k = 1 is none
    for k in (2, 4):
        weights = {p.name: p for p in nets[k].get_parameters()}
        assert weights["node0_1.sep3_pw"].shape == (2, 2, 8 // k, 8 // k, 1, 1)
        assert weights["node0_1.prev_prev"].shape == (8, 4, 1, 1)
        assert logits[k].shape == (2, 3, 17, 17) and np.isfinite(logits[k]).all()
        assert np.abs(logits[k] - logits[1]).max() > 1e-3
    assert np.abs(logits[2] - logits[4]).max() > 1e-3


def test_partial_channel_k_must_divide_the_channels():
    with pytest.raises(UserError, match="partial_channel_k 3 must divide filter_multiplier 4"):
        build_search_net(False, num_classes=3, num_layers=1, filter_multiplier=4,
                         block_multiplier=1, stem_channels=2, memory_mode="partial_channel",
                         partial_channel_k=3)


@pytest.mark.parametrize("move_mixing", ["paper", "path"])
def test_encoded_architecture_makes_the_supernet_ignore_every_node_off_its_path(pynative_mode, move_mixing):
    """With encode_architecture's logits and the path's head only, the logits depend on the path's
    nodes and not on the others (here path [0, 0, 0]: every prev-prev input lies on the path too);
    with all heads scored (the search) they do. ``use_path`` gives that supernet whatever the betas."""
    from src.nas.decode import encode_architecture
    net = build_search_net(True, num_classes=3, num_layers=3, filter_multiplier=2, block_multiplier=2,
                           stem_channels=4, seed=3, move_mixing=move_mixing)
    net.set_train(False)
    path = [0, 0, 0]
    alphas, betas = encode_architecture(path, [[0, "sep_conv_3x3"], [1, "skip_connect"],
                                               [0, "avg_pool_3x3"], [2, "dil_conv_3x3"]])
    net.alphas.set_data(ms.Tensor(alphas.astype(np.float32)))
    net.betas.set_data(ms.Tensor(betas.astype(np.float32)))
    x, _ = _tiny_batch()

    def logits_after_redrawing(node):
        """Logits with the weights of ``node`` (layer, level) redrawn (restored after)."""
        params = [p for p in net.trainable_params() if p.name.startswith("node%d_%d." % node)]
        saved = [p.asnumpy() for p in params]
        rng = np.random.default_rng(0)
        for p in params:
            p.set_data(ms.Tensor(rng.standard_normal(p.shape).astype(np.float32)))
        logits = net(x).asnumpy()
        for p, value in zip(params, saved):
            p.set_data(ms.Tensor(value))
        return logits

    net.scored_levels = (path[-1],)
    fixed = net(x).asnumpy()
    for node in [(0, 1), (1, 1), (1, 2), (2, 1), (2, 2), (2, 3)]:  # off the path
        np.testing.assert_allclose(logits_after_redrawing(node), fixed, rtol=1e-5, atol=1e-6, err_msg=str(node))
    assert np.abs(logits_after_redrawing((1, 0)) - fixed).max() > 1e-3  # on the path
    net.scored_levels = tuple(net.head_levels)
    mixed = net(x).asnumpy()
    assert np.abs(logits_after_redrawing((2, 1)) - mixed).max() > 1e-3
    # path_search single_path: use_path makes the same one-path supernet whatever the betas hold,
    # and use_path(None) gives back beta's, every head scored.
    net.betas.set_data(ms.Tensor(np.random.default_rng(4).standard_normal(betas.shape).astype(np.float32)))
    shuffled = net(x).asnumpy()
    net.use_path(path)
    assert net.scored_levels == (path[-1],)
    np.testing.assert_allclose(net(x).asnumpy(), fixed, rtol=1e-5, atol=1e-6)
    net.use_path(None)
    np.testing.assert_array_equal(net(x).asnumpy(), shuffled)


def _posterior_move_weights(probs):
    """Reference: P(source) * p(move) / P(destination), P the chain's probability of reaching a node."""
    num_layers, num_levels, _ = probs.shape
    reach, weights = np.eye(1, num_levels)[0], np.zeros_like(probs)
    for layer in range(num_layers):
        arriving = np.zeros(num_levels)
        for source, move in np.ndindex(num_levels, 3):
            if 0 <= source - 1 + move < num_levels:
                arriving[source - 1 + move] += reach[source] * probs[layer, source, move]
        for source, move in np.ndindex(num_levels, 3):
            if 0 <= source - 1 + move < num_levels and arriving[source - 1 + move] > 0:
                weights[layer, source, move] = reach[source] * probs[layer, source, move] / arriving[source - 1 + move]
        reach = arriving
    return weights


def test_move_weights_paper_are_the_beta_softmax_and_path_the_path_posterior():
    from src.nas.decode import move_mask, normalize_betas
    betas = np.random.default_rng(4).standard_normal((5, 4, 3)).astype(np.float32)
    probs = normalize_betas(betas)
    weights = {}
    for mixing in ("paper", "path"):
        net = build_search_net(False, num_classes=3, num_layers=5, filter_multiplier=2, block_multiplier=1,
                               stem_channels=4, move_mixing=mixing)
        net.betas.set_data(ms.Tensor(betas))
        weights[mixing] = net.move_weights().asnumpy()
    np.testing.assert_allclose(weights["paper"], probs, atol=1e-6)
    np.testing.assert_allclose(weights["path"], _posterior_move_weights(probs), atol=1e-5)
    # every node the path can reach mixes its incoming moves with weights summing to 1
    for layer, level in supernet_nodes(5, 4):
        incoming = sum(weights["path"][layer, source, level - source + 1]
                       for source in incoming_levels(layer, level, 4))
        assert incoming == pytest.approx(1.0, abs=1e-5), (layer, level)
    assert (weights["path"][move_mask(5, 4) == 0] == 0).all()


def test_first_cell_level_gets_a_gradient_with_path_mixing_only(pynative_mode):
    """The paper's weights scale a single-input node (both layer-0 nodes), which the next cell's
    BN undoes: the stem's move beta gets no gradient. The path posterior passes it to layer 1."""
    magnitude = {}
    for mixing in ("paper", "path"):
        _, grads = _loss_and_grads(compiled=True, num_layers=2, move_mixing=mixing)
        first, rest = np.abs(grads["betas"][0, 0, 1:]), np.abs(grads["betas"][1])
        magnitude[mixing] = first.max() / rest.max()
    assert magnitude["paper"] < 1e-2  # measured 1e-3 here (BN's eps), 1e-5 on the search's crops
    assert magnitude["path"] > 1e-1  # measured 1.0

