"""The dense conv cell: its SGEMM kernel equals MindSpore's Conv2D, and it is chosen where it pays."""
import numpy as np
import pytest

import mindspore as ms
import mindspore.ops as ops

from src.kernels import cpu_kernel_library, portable_ops
from src.nas.conv import Conv2d, CpuDenseConv


@pytest.mark.parametrize("kernel_size, dilation, in_channels, out_channels", [
    (1, 1, 6, 5), (3, 1, 5, 7), (3, 2, 7, 4), (5, 2, 4, 6),
    (3, 12, 5, 5),  # dilation beyond the map: only the centre tap reads the input
    (3, 4, 6, 5), (5, 3, 4, 7),  # padding > width / 4: each tap over the pixels it reads
])
def test_cpu_dense_kernel_equals_conv2d(kernel_size, dilation, in_channels, out_channels,
                                        pynative_mode):
    """Output and both gradients equal MindSpore's conv, eager and compiled, odd sizes included."""
    kernel = CpuDenseConv(cpu_kernel_library("dense_conv"), dilation)
    rng = np.random.RandomState(kernel_size * dilation)
    x = ms.Tensor(rng.randn(2, in_channels, 9, 11).astype(np.float32))
    weight = ms.Tensor(rng.randn(out_channels, in_channels, kernel_size, kernel_size)
                       .astype(np.float32))
    target = ms.Tensor(rng.randn(2, out_channels, 9, 11).astype(np.float32))
    padding = dilation * (kernel_size - 1) // 2

    def reference(x, weight):
        out = ops.conv2d(x, weight, pad_mode="pad", padding=padding, dilation=dilation)
        return (out * target).sum()

    def cpu_kernel(x, weight):
        return (kernel(x, weight) * target).sum()

    expected = ms.value_and_grad(reference, grad_position=(0, 1))(x, weight)
    for run in (lambda fn: fn, ms.jit):
        actual = run(ms.value_and_grad(cpu_kernel, grad_position=(0, 1)))(x, weight)
        np.testing.assert_allclose(actual[0].asnumpy(), expected[0].asnumpy(), rtol=1e-4)
        for got, want in zip(actual[1], expected[1]):
            np.testing.assert_allclose(got.asnumpy(), want.asnumpy(), rtol=1e-4, atol=1e-3)


def test_kernel_chosen_only_where_it_is_faster():
    assert Conv2d(64, 64, 3).use_cpu_kernel and Conv2d(128, 256, 1).use_cpu_kernel
    assert not Conv2d(32, 64, 3).use_cpu_kernel        # few channels: MindSpore's conv is faster
    assert not Conv2d(64, 64, 1).use_cpu_kernel        # 1x1 needs more channels
    assert not Conv2d(64, 64, 3, stride=2).use_cpu_kernel
    assert Conv2d(64, 64, 3, dilation=18).gemm_pays_off(32, 32)
    assert not Conv2d(64, 64, 3).gemm_pays_off(16, 16)  # too few pixels


def test_conv2d_runs_the_kernel_and_portable_ops_turn_it_off(monkeypatch):
    """Same output both ways; inside portable_ops the kernel is not called (export)."""
    conv = Conv2d(64, 64, 3, dilation=2)
    x = ms.Tensor(np.random.RandomState(4).randn(1, 64, 40, 36).astype(np.float32))
    calls = []
    forward = conv.cpu_kernel.construct
    monkeypatch.setattr(conv.cpu_kernel, "construct",
                        lambda *args: calls.append(1) or forward(*args))
    fast = conv(x).asnumpy()
    assert calls == [1]
    with portable_ops(conv):
        portable = conv(x).asnumpy()
    assert calls == [1] and conv.use_cpu_kernel
    np.testing.assert_allclose(fast, portable, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("act, kernel_size", [("relu", 3), ("leaky_relu", 1)])
def test_inference_conv_bn_act_fused_in_the_kernel_equals_three_ops(act, kernel_size):
    """In eval mode ConvBNAct applies BN and the activation inside the SGEMM kernel: same values
    as conv, BN (moving statistics) and activation run one after the other; training is unfused."""
    from src.model.layers import ConvBNAct

    channels = 128
    block = ConvBNAct(channels, channels, kernel_size, act=act)
    rng = np.random.RandomState(5)
    for name in ("gamma", "beta", "moving_mean", "moving_variance"):
        value = rng.rand(channels) + 0.5 if name in ("gamma", "moving_variance") else rng.randn(channels)
        getattr(block.bn, name).set_data(ms.Tensor(value.astype(np.float32)))
    x = ms.Tensor(rng.randn(1, channels, 32, 33).astype(np.float32))
    block.set_train(False)
    assert block.conv.runs_cpu_kernel(x)
    separate = block.act(block.bn(block.conv.conv(x, block.conv.weight))).asnumpy()
    assert (separate < 0).any() == (act == "leaky_relu") and (separate > 0).any()
    for run in (lambda fn: fn, ms.jit):
        np.testing.assert_allclose(run(block.construct)(x).asnumpy(), separate, rtol=1e-4, atol=1e-4)
    block.set_train(True)
    calls = []
    fused = block.conv.cpu_kernel.affine_act
    block.conv.cpu_kernel.affine_act = lambda *args: calls.append(1) or fused(*args)
    block(x)
    assert calls == []
