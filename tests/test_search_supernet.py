"""Search supernet topology, functional ops vs the op table, gradients to alpha and beta."""
import numpy as np
import pytest

import mindspore as ms
from mindspore import ops

from src.nas.operations import make_op
from src.nas.search_cell import batch_norm, sep_conv, relu_conv_bn, mixed_op, EDGE_WEIGHT_NAMES
from src.nas.supernet import (SearchSupernet, incoming_levels, prev_prev_key, supernet_nodes)


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
    net = SearchSupernet(num_classes=3, num_layers=12, filter_multiplier=1, block_multiplier=1,
                         stem_channels=2, compiled=False)
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
    cells = [make_op(name, channels, affine=False, search=True) for _ in range(runs)]
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
    elif name.startswith("max"):
        got = batch_norm(ops.max_pool2d(xt, 3, stride=1, padding=1), eps)
    else:
        got = batch_norm(ops.avg_pool2d(xt, 3, stride=1, padding=1, count_include_pad=False), eps)
    np.testing.assert_allclose(got.asnumpy(), expected, rtol=1e-4, atol=1e-4)


def test_gradients_reach_alpha_beta_and_compiled_equals_eager():
    ms.set_context(mode=ms.PYNATIVE_MODE)
    x = ms.Tensor(np.random.default_rng(1).standard_normal((2, 3, 17, 17)).astype(np.float32))
    label = ms.Tensor(np.random.default_rng(2).integers(0, 3, (2, 17, 17)).astype(np.int32))
    results = []
    for compiled in (False, True):
        ms.set_seed(5)  # stem and head weights come from the MindSpore initializers
        net = SearchSupernet(num_classes=3, num_layers=2, filter_multiplier=2, block_multiplier=1,
                             stem_channels=4, seed=3, compiled=compiled)
        net.set_train(True)
        params = net.trainable_params()
        grad = ms.value_and_grad(lambda a, b: ops.cross_entropy(net(a), b), None, params)
        loss, grads = grad(x, label)
        results.append((float(loss.asnumpy()), {p.name: g.asnumpy() for p, g in zip(params, grads)}))
    (loss_eager, eager), (loss_jit, jit) = results
    assert np.abs(eager["alphas"]).sum() > 0 and np.abs(eager["betas"]).sum() > 0
    assert loss_jit == pytest.approx(loss_eager, rel=1e-4)
    for name, value in eager.items():
        assert np.abs(jit[name]).sum() > 0 or np.abs(value).sum() == 0, name
        np.testing.assert_allclose(jit[name], value, rtol=2e-3, atol=1e-5, err_msg=name)
