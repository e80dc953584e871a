"""The dense conv cell: its SGEMM kernel equals MindSpore's Conv2D, and it is chosen where it pays."""
import numpy as np
import pytest

import mindspore as ms
from conftest import build_net, default_norm
import mindspore.ops as ops

from src.kernels import cpu_kernel_library, portable_ops
from src.errors import UserError
from src.layers import conv as conv_module
from src.layers.conv import Conv2d, CpuDenseConv, DepthwiseConv, draw_conv_weight


@pytest.mark.parametrize("kernel_size, dilation, in_channels, out_channels, height, width", [
    (1, 1, 6, 5, 9, 11), (3, 1, 5, 7, 9, 11), (3, 2, 7, 4, 9, 11), (5, 2, 4, 6, 9, 11),
    (3, 12, 5, 5, 9, 11),  # dilation beyond the map: only the centre tap reads the input
    (3, 4, 6, 5, 9, 11), (5, 3, 4, 7, 9, 11),  # padding > width / 4: each tap over the pixels it reads
    # maps large enough that the kernel splits its GEMMs into blocks of pixels (forward, input
    # gradient) and of summed pixels (weight gradient)
    (1, 1, 6, 5, 66, 70), (3, 1, 5, 7, 66, 70), (3, 20, 6, 5, 66, 70),
])
def test_cpu_dense_kernel_equals_conv2d(kernel_size, dilation, in_channels, out_channels, height, width,
                                        pynative_mode):
    """Output and both gradients equal MindSpore's conv, eager and compiled, odd sizes included."""
    kernel = CpuDenseConv(cpu_kernel_library("dense_conv"), dilation)
    rng = np.random.RandomState(kernel_size * dilation)
    x = ms.Tensor(rng.randn(2, in_channels, height, width).astype(np.float32))
    weight = ms.Tensor(rng.randn(out_channels, in_channels, kernel_size, kernel_size)
                       .astype(np.float32))
    target = ms.Tensor(rng.randn(2, out_channels, height, width).astype(np.float32))
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


@pytest.fixture
def fresh_probe(tmp_path, monkeypatch):
    """No SGEMM verdict yet: the per-process one forgotten before and after the test, the kept
    timings in tmp_path."""
    monkeypatch.setattr(conv_module, "sgemm_probe_path", lambda library: str(tmp_path / "probe.json"))
    conv_module.sgemm_is_fast.cache_clear()
    yield tmp_path / "probe.json"
    conv_module.sgemm_is_fast.cache_clear()


@pytest.mark.parametrize("sgemm_seconds, uses_kernel", [(1.4, True), (1.6, False)])
def test_auto_keeps_the_sgemm_kernel_unless_it_is_clearly_slower(
        sgemm_seconds, uses_kernel, monkeypatch, fresh_probe):
    """auto: the kernel unless the probe finds it over SGEMM_MAX_SLOWDOWN (1.5) x slower than
    MindSpore's conv; the slow case warns, and the probe runs once per process."""
    probes = []
    monkeypatch.setenv(conv_module.DENSE_CONV_VAR, "auto")
    monkeypatch.setattr(conv_module, "probe_dense_conv_seconds",
                        lambda library: probes.append(library) or (sgemm_seconds, 1.0))
    if uses_kernel:
        assert Conv2d(64, 64, 3).use_cpu_kernel
    else:
        with pytest.warns(UserWarning, match="slower than MindSpore"):
            assert not Conv2d(64, 64, 3).use_cpu_kernel
    assert Conv2d(128, 128, 3).use_cpu_kernel == uses_kernel and len(probes) == 1


def test_auto_choice_is_kept_for_later_processes(monkeypatch, fresh_probe):
    """The probe's timings are kept: a later process (the per-process verdict forgotten) makes the
    same choice without timing, even when a new timing would now decide the other way; an
    unreadable file is timed again."""
    monkeypatch.setenv(conv_module.DENSE_CONV_VAR, "auto")
    monkeypatch.setattr(conv_module, "probe_dense_conv_seconds", lambda library: (1.0, 1.0))
    assert Conv2d(64, 64, 3).use_cpu_kernel
    conv_module.sgemm_is_fast.cache_clear()
    monkeypatch.setattr(conv_module, "probe_dense_conv_seconds", lambda library: (9.0, 1.0))
    assert Conv2d(64, 64, 3).use_cpu_kernel
    fresh_probe.write_text("{not json")
    conv_module.sgemm_is_fast.cache_clear()
    with pytest.warns(UserWarning, match="slower than MindSpore"):
        assert not Conv2d(64, 64, 3).use_cpu_kernel


def test_dense_conv_choice_by_environment(monkeypatch, fresh_probe):
    """sgemm and mindspore skip the probe; another value is a UserError naming the variable."""
    monkeypatch.setattr(conv_module, "probe_dense_conv_seconds", lambda library: pytest.fail("probed"))
    monkeypatch.setenv(conv_module.DENSE_CONV_VAR, "mindspore")
    assert not Conv2d(64, 64, 3).use_cpu_kernel
    monkeypatch.setenv(conv_module.DENSE_CONV_VAR, "sgemm")
    assert Conv2d(64, 64, 3).use_cpu_kernel
    monkeypatch.setenv(conv_module.DENSE_CONV_VAR, "fast")
    with pytest.raises(UserError, match="AUTODEEPLAB_DENSE_CONV='fast' is not one of auto, sgemm, mindspore"):
        Conv2d(64, 64, 3)


def test_probe_times_both_formulations_in_either_mode(pynative_mode):
    """The probe compiles both convs even in PyNative (eager custom ops cost about 0.1 s more)."""
    seconds = conv_module.probe_dense_conv_seconds(cpu_kernel_library("dense_conv"), repeats=1)
    assert len(seconds) == 2 and all(0 < s < 5 for s in seconds)


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
    """In eval mode ConvNormAct applies BN and the activation inside the SGEMM kernel: same values
    as conv, BN (moving statistics) and activation run one after the other; training is unfused."""
    from src.layers.blocks import ConvNormAct

    channels = 128
    block = ConvNormAct(channels, channels, kernel_size, default_norm(), "paper", act=act)
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


# Initial weights (docs/retrain_network.md, Initialisation and activation).
# paper = TF's variance_scaling_initializer(factor=1/3, mode='FAN_IN',
# uniform=True): U(-a, a) with a = sqrt(3 * factor / fan_in), TF's fan_in of a kernel [k, k, in, out]
# being k*k*in (a depthwise kernel [k, k, C, 1]: k*k*C). modelzoo = He normal N(0, 2 / fan_in) with
# MindSpore's fan_in (in/groups)*k*k. Conv kinds as the network has them: (weight shape, groups,
# TF's fan_in, MindSpore's fan_in).
CONV_KINDS = {
    "dense 3x3": (lambda variant: Conv2d(48, 96, 3, variant=variant), 48 * 9, 48 * 9),
    "dilated 5x5": (lambda variant: Conv2d(40, 40, 5, dilation=2, variant=variant), 40 * 25, 40 * 25),
    "pointwise": (lambda variant: Conv2d(160, 160, 1, variant=variant), 160, 160),
    "depthwise 3x3": (lambda variant: DepthwiseConv(320, 3, variant=variant), 320 * 9, 9),
    "depthwise 5x5": (lambda variant: DepthwiseConv(160, 5, variant=variant), 160 * 25, 25),
}


@pytest.mark.parametrize("kind", sorted(CONV_KINDS))
def test_paper_init_is_tf_variance_scaling(kind):
    build, tf_fan_in, _ = CONV_KINDS[kind]
    weight = build("paper").weight.asnumpy().ravel()
    limit = np.sqrt(3.0 * (1.0 / 3.0) / tf_fan_in)
    assert np.abs(weight).max() <= limit * (1 + 1e-6)   # float32 rounding of the bound
    assert np.abs(weight).max() > 0.98 * limit          # uniform: it reaches the bound
    assert weight.std() == pytest.approx(1.0 / np.sqrt(3.0 * tf_fan_in), rel=0.05)
    # uniform, not normal: a quarter of the values lie beyond a/2 ... a in each tail
    assert np.mean(np.abs(weight) > limit / 2) == pytest.approx(0.5, abs=0.05)


@pytest.mark.parametrize("kind", sorted(CONV_KINDS))
def test_modelzoo_init_is_he_normal(kind):
    build, _, ms_fan_in = CONV_KINDS[kind]
    weight = build("modelzoo").weight.asnumpy().ravel()
    std = np.sqrt(2.0 / ms_fan_in)
    assert weight.std() == pytest.approx(std, rel=0.05)
    assert np.abs(weight).max() > 2.5 * std             # normal tails, unlike a uniform draw


@pytest.mark.parametrize("variant", ["paper", "modelzoo"])
def test_search_numpy_draw_follows_the_same_rule(variant):
    """draw_conv_weight (the search supernet's stacked numpy weights) has the std of the cells."""
    rng = np.random.default_rng(0)
    for build, tf_fan_in, ms_fan_in in CONV_KINDS.values():
        cell = build(variant)
        cell_weight = cell.weight.asnumpy()
        groups = cell_weight.shape[0] if isinstance(cell, DepthwiseConv) else 1
        drawn = draw_conv_weight(rng, cell_weight.shape, groups, variant, stack=(2,))
        assert drawn.shape == (2,) + cell_weight.shape and drawn.dtype == np.float32
        expected = (1.0 / np.sqrt(3.0 * tf_fan_in) if variant == "paper"
                    else np.sqrt(2.0 / ms_fan_in))
        assert drawn.std() == pytest.approx(expected, rel=0.05)
        assert not np.array_equal(drawn[0], drawn[1])


def test_network_convs_use_the_variant_init():
    """Every conv of a built network (stem, cells, ASPP, decoder) follows its variant's rule."""
    from src.architecture import AUTODEEPLAB

    for variant in ("paper", "modelzoo"):
        net = build_net(AUTODEEPLAB, num_classes=5, filter_multiplier=8, variant=variant,
                        stem_channels=16, decoder_channels=32)
        convs = [(name, cell) for name, cell in net.cells_and_names()
                 if isinstance(cell, (Conv2d, DepthwiseConv))]
        assert any(name.startswith("encoder.stem") for name, _ in convs)
        assert any(name.startswith("aspp") for name, _ in convs)
        assert any(name.startswith("decoder") for name, _ in convs)
        for name, cell in convs:
            out, per_group, k, _ = cell.weight.shape
            groups = out if isinstance(cell, DepthwiseConv) else 1
            weight = cell.weight.asnumpy()
            if variant == "paper":
                assert np.abs(weight).max() <= 1.0 / np.sqrt(per_group * groups * k * k) * (1 + 1e-6), name
            elif weight.size >= 2000:
                assert weight.std() == pytest.approx(np.sqrt(2.0 / (per_group * k * k)), rel=0.1), name
