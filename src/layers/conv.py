"""The convolutions of the op table and of the retrain network: dense and depthwise.

Each is a cell with one parameter ``weight`` (the name nn.Conv2d gives it, so checkpoints keep
their layout) and two formulations with the same values and gradients (tested): on CPU, where it
is faster, a C++ kernel of src/kernels (see docs/cpu.md, Kernels); elsewhere, and inside
``src.kernels.portable_ops`` (export), MindSpore's own Conv2D, which every backend knows.
"""
import functools
import json
import math
import os
import time
import warnings

import mindspore as ms
import mindspore.nn as nn
import mindspore.ops as ops
import numpy as np
from mindspore import Parameter
from mindspore.common.initializer import Normal, Uniform, initializer

from src.errors import UserError
from src.fileio import atomic_write
from src.kernels import cpu_kernel_library

CPU_DEPTHWISE_KERNEL_SIZES = (3, 5)
# Where the SGEMM formulation of a dense conv beats MindSpore's (benchmarks/conv_kernels.py): both
# channel counts at least GEMM_MIN_CHANNELS (1x1 convs: GEMM_MIN_POINTWISE_CHANNELS) and at least
# GEMM_MIN_PIXELS output pixels.
GEMM_MIN_CHANNELS = 64
GEMM_MIN_POINTWISE_CHANNELS = 128
GEMM_MIN_PIXELS = 1024
# Those thresholds hold where numpy's OpenBLAS runs at full speed; on some hosts it is 2-3x slower
# than MindSpore's conv (docs/cpu.md, Host dependence). So ``dense_conv_library`` times one 3x3 conv of
# SGEMM_PROBE_SHAPE (batch, channels, height, width) both ways once per host and library build and
# keeps the SGEMM kernel unless it is more than SGEMM_MAX_SLOWDOWN times slower. The timings are kept
# beside the library (SGEMM_VERDICT_SUFFIX): a choice timed per process could flip between two runs
# on a loaded host, and the two kernels round differently. AUTODEEPLAB_DENSE_CONV overrides.
DENSE_CONV_VAR = "AUTODEEPLAB_DENSE_CONV"
DENSE_CONV_CHOICES = ("auto", "sgemm", "mindspore")
SGEMM_PROBE_SHAPE = (1, 128, 128, 128)
SGEMM_MAX_SLOWDOWN = 1.5
SGEMM_VERDICT_SUFFIX = ".probe.json"


CONV_INIT_VARIANTS = ("paper", "modelzoo")


def conv_fan_in(shape, groups=1):
    """Input connections of each output of a conv weight (out, in/groups, k, k).

    paper: as TF counts them for its kernel layout [k, k, in, out] (fan_in = in * k * k); a
    depthwise kernel there is [k, k, C, 1], so its fan_in is C * k * k, not k * k.
    modelzoo: MindSpore's HeNormal count, (in/groups) * k * k (k * k for a depthwise conv)."""
    receptive = int(np.prod(shape[2:]))
    return shape[1] * receptive * groups


def conv_init_rule(shape, groups=1, variant="paper"):
    """(distribution, parameter) of the initial weights of a conv: the one rule that the retrain
    network (``conv_initializer``) and the search supernet (``draw_conv_weight``) share.

    paper: the official TF network's ``variance_scaling_initializer(factor=1/3, mode='FAN_IN',
    uniform=True)``: U(-a, a), a = sqrt(3 * (1/3) / fan_in) = 1/sqrt(fan_in), so
    std = 1/sqrt(3 * fan_in), fan_in counted as TF does (``conv_fan_in``).
    modelzoo: the ModelZoo port's He normal, N(0, 2 / fan_in) with fan_in = (in/groups) * k * k.
    """
    if variant == "paper":
        return "uniform", 1.0 / math.sqrt(conv_fan_in(shape, groups))
    if variant == "modelzoo":
        return "normal", math.sqrt(2.0 / conv_fan_in(shape))
    raise ValueError(f"unknown conv init variant {variant!r}; valid: {', '.join(CONV_INIT_VARIANTS)}")


def conv_init_std(shape, groups=1, variant="paper"):
    """Standard deviation of the initial weights (``conv_init_rule``)."""
    kind, value = conv_init_rule(shape, groups, variant)
    return value / math.sqrt(3.0) if kind == "uniform" else value


def conv_initializer(shape, groups=1, variant="paper"):
    """MindSpore Initializer of a conv Parameter of ``shape`` by ``conv_init_rule``."""
    kind, value = conv_init_rule(shape, groups, variant)
    if kind == "uniform":
        return Uniform(scale=value)
    return Normal(sigma=value)


def draw_conv_weight(rng, shape, groups=1, variant="paper", stack=()):
    """float32 numpy weights of a conv of ``shape`` by ``conv_init_rule``, drawn with the numpy
    Generator ``rng``; ``stack`` prepends axes of independent draws (stacked op weights)."""
    kind, value = conv_init_rule(shape, groups, variant)
    full_shape = tuple(stack) + tuple(shape)
    if kind == "uniform":
        return rng.uniform(-value, value, full_shape).astype(np.float32)
    return (rng.standard_normal(full_shape) * value).astype(np.float32)


def same_padding(kernel_size, dilation=1):
    return dilation * (kernel_size - 1) // 2


def downsampled_size(size):
    """Output size of a 3x3 stride-2 conv with padding 1 (the stem's and the search's
    downsampling) on a side of ``size``."""
    return (size - 1) // 2 + 1


class CpuDenseConv(nn.Cell):
    """Stride-1 'same' dense conv of (x, weight) by the SGEMM kernels of src/kernels/dense_conv.cc.

    The input gradient is the same conv of the output gradient with transposed, flipped filters;
    the weight gradient has its own kernel. MindSpore registers a custom op's shape function once
    per kernel name, so every shape comes from the inputs and the dilation is an input too."""

    def __init__(self, library, dilation):
        super().__init__()
        self.dilation = ms.Tensor([dilation], ms.int64)
        self.conv = ops.Custom(library + ":DenseConvForward",
                               out_shape=lambda x, w, d: (x[0], w[0], x[2], x[3]),
                               out_dtype=lambda x, w, d: x, func_type="aot")
        self.input_grad = ops.Custom(library + ":DenseConvInputGrad",
                                     out_shape=lambda dout, w, d: (dout[0], w[1], dout[2], dout[3]),
                                     out_dtype=lambda dout, w, d: dout, func_type="aot")
        self.weight_grad = ops.Custom(library + ":DenseConvWeightGrad",
                                      out_shape=lambda dout, x, w, d: w,
                                      out_dtype=lambda dout, x, w, d: w, func_type="aot")
        self.conv_affine_act = ops.Custom(
            library + ":DenseConvAffineActForward",
            out_shape=lambda x, w, d, scale, shift, slope: (x[0], w[0], x[2], x[3]),
            out_dtype=lambda x, w, d, scale, shift, slope: x, func_type="aot")

    def construct(self, x, weight):
        return self.conv(x, weight, self.dilation)

    def affine_act(self, x, weight, scale, shift, negative_slope):
        """act(conv(x) * scale + shift) per output channel, act = (leaky) ReLU, in one pass over the
        output: an inference-mode conv -> BN -> act. No gradient (inference only)."""
        return self.conv_affine_act(x, weight, self.dilation, scale, shift, negative_slope)

    def bprop(self, x, weight, out, dout):
        return (self.input_grad(dout, weight, self.dilation),
                self.weight_grad(dout, x, weight, self.dilation))


class MindSporeDenseConv(nn.Cell):
    """Stride-1 'same' dense conv of (x, weight) by MindSpore's Conv2D: what ``CpuDenseConv`` is
    timed against."""

    def __init__(self, kernel_size, dilation):
        super().__init__()
        self.padding, self.dilation = same_padding(kernel_size, dilation), dilation

    def construct(self, x, weight):
        return ops.conv2d(x, weight, pad_mode="pad", padding=self.padding, dilation=self.dilation)


def probe_dense_conv_seconds(library, repeats=3):
    """(SGEMM kernel, MindSpore) best seconds of a 3x3 conv of SGEMM_PROBE_SHAPE, each a compiled
    cell whatever the mode (an eagerly run custom op carries an overhead of about 0.1 s)."""
    batch, channels, height, width = SGEMM_PROBE_SHAPE
    rng = np.random.RandomState(0)
    x = ms.Tensor(rng.randn(batch, channels, height, width).astype(np.float32))
    weight = ms.Tensor(rng.randn(channels, channels, 3, 3).astype(np.float32))

    def best_seconds(cell):
        conv = ms.jit(cell.construct)
        conv(x, weight).asnumpy()  # compile
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            conv(x, weight).asnumpy()
            times.append(time.perf_counter() - start)
        return min(times)

    return best_seconds(CpuDenseConv(library, 1)), best_seconds(MindSporeDenseConv(3, 1))


def dense_conv_library():
    """The dense_conv kernel library if the SGEMM formulation is to run on this host, else None."""
    choice = os.environ.get(DENSE_CONV_VAR, "auto")
    if choice not in DENSE_CONV_CHOICES:
        raise UserError(f"{DENSE_CONV_VAR}={choice!r} is not one of {', '.join(DENSE_CONV_CHOICES)}; "
                        "unset it to let each process choose")
    library = cpu_kernel_library("dense_conv") if choice != "mindspore" else None
    return library if library is None or choice == "sgemm" or sgemm_is_fast(library) else None


def sgemm_probe_path(library):
    """Where the probe's timings of ``library`` are kept (beside it, in the private kernel cache)."""
    return library + SGEMM_VERDICT_SUFFIX


def probed_seconds(library):
    """(SGEMM kernel, MindSpore) seconds of the probe: read from ``sgemm_probe_path`` or timed now
    and kept there (an unwritable or unreadable file only means timing again next time)."""
    path = sgemm_probe_path(library)
    try:
        with open(path, encoding="utf-8") as f:
            kept = json.load(f)
        return float(kept["sgemm_seconds"]), float(kept["mindspore_seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    sgemm, mindspore = probe_dense_conv_seconds(library)
    try:
        with atomic_write(path) as f:
            json.dump({"sgemm_seconds": sgemm, "mindspore_seconds": mindspore, "shape": SGEMM_PROBE_SHAPE}, f)
    except OSError:
        pass
    return sgemm, mindspore


@functools.cache
def sgemm_is_fast(library):
    """Whether the SGEMM kernel is at most SGEMM_MAX_SLOWDOWN x slower than MindSpore's conv here
    (timed once per host and library build; warns when it is not)."""
    sgemm, mindspore = probed_seconds(library)
    if sgemm <= SGEMM_MAX_SLOWDOWN * mindspore:
        return True
    warnings.warn(f"numpy's OpenBLAS ran a 3x3 conv {sgemm / mindspore:.1f}x slower than MindSpore on "
                  "this host, so the dense convs use MindSpore's kernel (docs/cpu.md, Host dependence; "
                  f"{DENSE_CONV_VAR}=sgemm forces the SGEMM kernel; delete {sgemm_probe_path(library)} "
                  "to time again)", stacklevel=2)
    return False


class Conv2d(nn.Cell):
    """Bias-free kxk conv with 'same'-style padding dilation*(k-1)/2; initial weights by
    ``conv_init_rule`` of ``variant``.

    On CPU at stride 1, for the channel counts and input sizes where that is faster (see
    GEMM_MIN_CHANNELS) and where this host's SGEMM is not slow (``dense_conv_library``), it runs
    ``CpuDenseConv``: MindSpore's CPU convs are capped at AVX2 (docs/cpu.md, ISA cap) and reach about
    half of the AVX-512 SGEMM rate."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, dilation=1,
                 variant="paper"):
        super().__init__()
        self.padding = same_padding(kernel_size, dilation)
        shape = (out_channels, in_channels, kernel_size, kernel_size)
        self.weight = Parameter(initializer(conv_initializer(shape, 1, variant), shape),
                                name="weight")
        # Pairs, as nn.Conv2d passes them: the ONNX exporter reads these attributes as tuples.
        self.conv = ops.Conv2D(out_channels, (kernel_size, kernel_size), pad_mode="pad",
                               pad=self.padding, stride=(stride, stride), dilation=(dilation, dilation))
        min_channels = GEMM_MIN_CHANNELS if kernel_size > 1 else GEMM_MIN_POINTWISE_CHANNELS
        library = (dense_conv_library()
                   if stride == 1 and min(in_channels, out_channels) >= min_channels else None)
        self.use_cpu_kernel = library is not None
        if self.use_cpu_kernel:
            self.cpu_kernel = CpuDenseConv(library, dilation)

    @staticmethod
    def gemm_pays_off(height, width):
        return height * width >= GEMM_MIN_PIXELS

    def runs_cpu_kernel(self, x):
        return self.use_cpu_kernel and self.gemm_pays_off(x.shape[2], x.shape[3])

    def construct(self, x, bn_act=None):
        """``bn_act`` = (scale, shift, negative_slope): inference-mode BN and (leaky) ReLU applied
        by the kernel (``CpuDenseConv.affine_act``); pass it only when ``runs_cpu_kernel(x)``."""
        if self.runs_cpu_kernel(x):
            if bn_act is None:
                return self.cpu_kernel(x, self.weight)
            return self.cpu_kernel.affine_act(x, self.weight, *bn_act)
        return self.conv(x, self.weight)


class CpuDepthwiseConv(nn.Cell):
    """Stride-1 'same' depthwise conv of (x, weight) by the C++ kernels of
    src/kernels/depthwise_conv.cc.

    MindSpore 2.10 runs a CPU depthwise conv as one small GEMM per channel, at about 4 GFLOP/s;
    these kernels are 3-8x faster (docs/cpu.md, Kernels). The input gradient of a stride-1
    'same' depthwise conv is the same conv of the output gradient with the spatially flipped
    filters, so the forward kernel serves both passes; the weight gradient has its own. MindSpore
    registers a custom op's shape function once per kernel name, so both take every shape from
    their inputs (the weight gradient is given the weight for its shape)."""

    def __init__(self, library):
        super().__init__()
        self.conv = ops.Custom(library + ":DepthwiseConvForward", out_shape=lambda x, w: x,
                               out_dtype=lambda x, w: x, func_type="aot")
        self.weight_grad = ops.Custom(library + ":DepthwiseConvWeightGrad",
                                      out_shape=lambda dout, x, w: w, out_dtype=lambda dout, x, w: w,
                                      func_type="aot")
        self.flip = ops.ReverseV2(axis=[2, 3])

    def construct(self, x, weight):
        return self.conv(x, weight)

    def bprop(self, x, weight, out, dout):
        return self.conv(dout, self.flip(weight)), self.weight_grad(dout, x, weight)


class DepthwiseConv(nn.Cell):
    """Depthwise kxk conv (one filter per channel); parameter ``weight`` of shape (C, 1, k, k).

    Initial weights by ``conv_init_rule`` of ``variant`` (groups = channels).
    On CPU at stride 1 it runs ``CpuDepthwiseConv``, elsewhere MindSpore's grouped conv."""

    def __init__(self, channels, kernel_size, stride=1, variant="paper"):
        super().__init__()
        self.stride = stride
        self.padding = same_padding(kernel_size)
        self.groups = channels
        shape = (channels, 1, kernel_size, kernel_size)
        self.weight = Parameter(initializer(conv_initializer(shape, channels, variant), shape),
                                name="weight")
        library = (cpu_kernel_library("depthwise_conv")
                   if stride == 1 and kernel_size in CPU_DEPTHWISE_KERNEL_SIZES else None)
        self.use_cpu_kernel = library is not None
        if self.use_cpu_kernel:
            self.cpu_kernel = CpuDepthwiseConv(library)

    def construct(self, x):
        if self.use_cpu_kernel:
            return self.cpu_kernel(x, self.weight)
        return ops.conv2d(x, self.weight, stride=self.stride, pad_mode="pad",
                          padding=self.padding, groups=self.groups)
