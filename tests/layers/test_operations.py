"""The op table: every op keeps the shape (stride 1) or halves it (stride 2), for both variants."""
import numpy as np
import pytest

import mindspore as ms
import mindspore.ops as ops
from conftest import default_norm

from src.kernels import portable_ops
from src.layers.conv import DepthwiseConv
from src.layers.operations import OPS, PRIMITIVES, make_op, preprocess

NORM = default_norm()

EXPECTED_PARAMS = {  # trainable params at C=8, stride 1, paper variant
    "none": 0, "max_pool_3x3": 0, "avg_pool_3x3": 0, "skip_connect": 0,
    "sep_conv_3x3": 2 * (9 * 8 + 64 + 16), "sep_conv_5x5": 2 * (25 * 8 + 64 + 16),
    "dil_conv_3x3": 9 * 64 + 16, "dil_conv_5x5": 25 * 64 + 16,
}


def trainable(cell):
    return sum(int(np.prod(p.shape)) for p in cell.trainable_params())


@pytest.mark.parametrize("variant", ["paper", "modelzoo"])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("name", PRIMITIVES)
def test_op_output_shape(name, stride, variant):
    x = ms.Tensor(np.random.RandomState(0).randn(2, 8, 9, 10).astype(np.float32))
    op = OPS[name](8, NORM, variant, stride)
    expected = (2, 8, 9, 10) if stride == 1 else (2, 8, 5, 5)
    assert op(x).shape == expected


def test_op_params_and_variants():
    for name, count in EXPECTED_PARAMS.items():
        assert trainable(make_op(name, 8, NORM, "paper")) == count, name
    # modelzoo dil conv adds a 1x1 conv; its sep conv is the paper's
    assert trainable(make_op("dil_conv_3x3", 8, NORM, "modelzoo")) == 9 * 64 + 64 + 16
    assert trainable(make_op("sep_conv_5x5", 8, NORM, "modelzoo")) == EXPECTED_PARAMS["sep_conv_5x5"]


def test_search_pools_get_non_affine_bn():
    pool = make_op("avg_pool_3x3", 8, NORM, "paper", search=True)
    assert trainable(pool) == 0
    assert any("moving_mean" in p.name for p in pool.get_parameters())
    assert not list(make_op("avg_pool_3x3", 8, NORM, "paper").get_parameters())


def test_none_is_zero_and_skip_is_identity():
    x = ms.Tensor(np.random.RandomState(1).randn(1, 4, 7, 7).astype(np.float32))
    assert np.all(make_op("none", 4, NORM, "paper")(x).asnumpy() == 0)
    assert np.array_equal(make_op("skip_connect", 4, NORM, "paper")(x).asnumpy(), x.asnumpy())


def pool_reference(x, kind, stride):
    """3x3 pool of (N, C, H, W) with padding 1 left out of the max and of the average's count."""
    n, c, h, w = x.shape
    out = np.zeros((n, c, (h - 1) // stride + 1, (w - 1) // stride + 1), np.float64)
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            y, z = i * stride, j * stride
            window = x[:, :, max(0, y - 1):y + 2, max(0, z - 1):z + 2]
            out[:, :, i, j] = window.max(axis=(2, 3)) if kind == "max" else window.mean(axis=(2, 3))
    return out


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("name", ["avg_pool_3x3", "max_pool_3x3"])
def test_avg_pool_excludes_padding(name, stride):
    """Against numpy on a ramp (so max and mean differ, and a zero-padded count shows at the
    borders: the corner's mean over 4 pixels, not 9)."""
    x = np.arange(2 * 5 * 6, dtype=np.float32).reshape(1, 2, 5, 6) + 1.0
    out = make_op(name, 2, NORM, "paper", stride=stride)(ms.Tensor(x)).asnumpy()
    np.testing.assert_allclose(out, pool_reference(x, name[:3], stride), rtol=1e-6)


def test_preprocess_and_bad_names():
    x = ms.Tensor(np.random.RandomState(2).randn(1, 6, 5, 5).astype(np.float32))
    for variant in ("paper", "modelzoo"):
        assert preprocess(6, 4, NORM, variant)(x).shape == (1, 4, 5, 5)
    with pytest.raises(ValueError, match="unknown op"):
        make_op("conv_7x7", 4, NORM, "paper")
    with pytest.raises(ValueError, match="unknown network variant"):
        make_op("sep_conv_3x3", 4, NORM, "tf")


@pytest.mark.parametrize("kernel_size", [3, 5])
def test_cpu_depthwise_kernel_equals_conv2d(kernel_size, pynative_mode):
    """The CPU depthwise kernel's output and both gradients equal MindSpore's grouped conv,
    eager and compiled."""
    conv = DepthwiseConv(6, kernel_size)
    assert conv.use_cpu_kernel
    rng = np.random.RandomState(kernel_size)
    x = ms.Tensor(rng.randn(2, 6, 9, 11).astype(np.float32))
    target = ms.Tensor(rng.randn(2, 6, 9, 11).astype(np.float32))

    def reference(x, weight):
        out = ops.conv2d(x, weight, pad_mode="pad", padding=kernel_size // 2, groups=6)
        return (out * target).sum()

    def cpu_kernel(x, weight):
        return (conv.cpu_kernel(x, weight) * target).sum()

    for run in (lambda fn: fn, ms.jit):
        expected = ms.value_and_grad(reference, grad_position=(0, 1))(x, conv.weight)
        actual = run(ms.value_and_grad(cpu_kernel, grad_position=(0, 1)))(x, conv.weight)
        np.testing.assert_allclose(actual[0].asnumpy(), expected[0].asnumpy(), rtol=1e-5)
        for got, want in zip(actual[1], expected[1]):
            np.testing.assert_allclose(got.asnumpy(), want.asnumpy(), rtol=1e-4, atol=1e-4)


def test_portable_ops_switch_the_cpu_kernel_off_inside_the_block_only():
    op = make_op("sep_conv_5x5", 4, NORM, "paper")
    depthwise = [op.depthwise1, op.depthwise2]
    assert all(conv.use_cpu_kernel for conv in depthwise)
    x = ms.Tensor(np.random.RandomState(3).randn(1, 4, 7, 7).astype(np.float32))
    op.set_train(False)
    fast = op(x).asnumpy()
    with portable_ops(op):
        assert not any(conv.use_cpu_kernel for conv in depthwise)
        portable = op(x).asnumpy()
    assert all(conv.use_cpu_kernel for conv in depthwise)
    np.testing.assert_allclose(fast, portable, rtol=1e-5, atol=1e-6)
