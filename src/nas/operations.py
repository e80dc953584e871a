"""The candidate operations: one table shared by the search supernet and the retrain network.

Search and retrain must run the same operations (SPEC 5), so both build their edges with
``make_op`` (or ``OPS[name]``). ``PRIMITIVES`` is also the column order of the cell-level
architecture weights alpha.

Variants (SPEC 3):
- ``paper``: sep_conv_kxk = (ReLU, depthwise kxk, pointwise 1x1, BN) x 2;
  dil_conv_kxk = ReLU, dense kxk conv with dilation 2, BN; preprocess = ReLU, 1x1 conv, BN.
- ``modelzoo`` (the MindSpore ModelZoo port with its default ``use_ABN=True``): sep_conv as
  in the paper; dil_conv = dense dilated kxk conv, 1x1 conv, BN, LeakyReLU(0.01);
  preprocess = 1x1 conv, BN, LeakyReLU(0.01).

No convolution has a bias. BN momentum uses MindSpore's convention: 0.995 keeps 99.5% of the
running statistics at each step.
"""
import functools

import mindspore.nn as nn
import mindspore.ops as ops
from mindspore import Parameter
from mindspore.common.initializer import HeNormal, initializer

from src.kernels import cpu_kernel_library

PRIMITIVES = [
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
]
VARIANTS = ("paper", "modelzoo")
LEAKY_SLOPE = 0.01
DILATION = 2


def he_normal():
    """He (kaiming) normal init over the fan-in of each output (k*k*C_in/groups), ReLU gain."""
    return HeNormal(mode="fan_in", nonlinearity="relu")


def conv2d(in_channels, out_channels, kernel_size, stride=1, dilation=1, group=1):
    """Bias-free conv with 'same'-style explicit padding and He init."""
    padding = dilation * (kernel_size - 1) // 2
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, pad_mode="pad",
                     padding=padding, dilation=dilation, group=group, has_bias=False,
                     weight_init=he_normal())


def batch_norm(channels, momentum=0.995, eps=1e-5, affine=True, use_sync_bn=False):
    """BatchNorm2d, or SyncBatchNorm when the caller runs distributed on Ascend."""
    norm = nn.SyncBatchNorm if use_sync_bn else nn.BatchNorm2d
    return norm(channels, eps=eps, momentum=momentum, affine=affine)


CPU_DEPTHWISE_KERNEL_SIZES = (3, 5)


class CpuDepthwiseConv(nn.Cell):
    """Stride-1 'same' depthwise conv of (x, weight) by the C++ kernels of
    src/kernels/depthwise_conv.cc.

    MindSpore 2.10 runs a CPU depthwise conv as one small GEMM per channel, at about 4 GFLOP/s;
    these kernels are 3-8x faster (README, Measured figures). The input gradient of a stride-1
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

    Kept as its own cell so the kernel formulation can change without touching parameters: on
    CPU at stride 1 it runs ``CpuDepthwiseConv`` (same values and gradients), elsewhere and inside
    ``src.kernels.portable_ops`` (export) MindSpore's grouped conv."""

    def __init__(self, channels, kernel_size, stride=1):
        super().__init__()
        self.stride = stride
        self.padding = (kernel_size - 1) // 2
        self.groups = channels
        self.weight = Parameter(initializer(he_normal(), (channels, 1, kernel_size, kernel_size)),
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


class SepConv(nn.Cell):
    """(ReLU, depthwise kxk, pointwise 1x1, BN) twice; only the first depthwise conv strides."""

    def __init__(self, channels, kernel_size, stride, affine, bn_momentum, bn_eps, use_sync_bn):
        super().__init__()
        self.relu = nn.ReLU()
        self.depthwise1 = DepthwiseConv(channels, kernel_size, stride)
        self.pointwise1 = conv2d(channels, channels, 1)
        self.bn1 = batch_norm(channels, bn_momentum, bn_eps, affine, use_sync_bn)
        self.depthwise2 = DepthwiseConv(channels, kernel_size)
        self.pointwise2 = conv2d(channels, channels, 1)
        self.bn2 = batch_norm(channels, bn_momentum, bn_eps, affine, use_sync_bn)

    def construct(self, x):
        x = self.bn1(self.pointwise1(self.depthwise1(self.relu(x))))
        return self.bn2(self.pointwise2(self.depthwise2(self.relu(x))))


class DilConv(nn.Cell):
    """Atrous (rate 2) dense kxk conv. paper: ReLU, conv, BN. modelzoo: conv, 1x1, BN, LeakyReLU."""

    def __init__(self, channels, kernel_size, stride, affine, bn_momentum, bn_eps, use_sync_bn,
                 variant):
        super().__init__()
        self.modelzoo = variant == "modelzoo"
        self.conv = conv2d(channels, channels, kernel_size, stride=stride, dilation=DILATION)
        if self.modelzoo:
            self.pointwise = conv2d(channels, channels, 1)
            self.act = nn.LeakyReLU(LEAKY_SLOPE)
        else:
            self.act = nn.ReLU()
        self.bn = batch_norm(channels, bn_momentum, bn_eps, affine, use_sync_bn)

    def construct(self, x):
        if self.modelzoo:
            return self.act(self.bn(self.pointwise(self.conv(x))))
        return self.bn(self.conv(self.act(x)))


class Pool(nn.Cell):
    """3x3 max or average pool (average excludes padding); a non-affine BN follows in search.

    At stride 1 pad_mode "same" is exactly padding 1 with the padding left out of the max and of
    the average's count, and it exports to ONNX, which MindSpore 2.10's explicit-padding pools
    (MaxPool3DWithArgmax / AvgPool3D) do not. Stride 2 ("same" pads asymmetrically) pads by 1.
    """

    def __init__(self, kind, channels, stride, bn_momentum, bn_eps, use_sync_bn, with_bn):
        super().__init__()
        padding = dict(pad_mode="same") if stride == 1 else dict(pad_mode="pad", padding=1)
        if kind == "max":
            self.pool = nn.MaxPool2d(3, stride=stride, **padding)
        else:
            self.pool = nn.AvgPool2d(3, stride=stride, **padding,
                                     **({} if stride == 1 else dict(count_include_pad=False)))
        self.with_bn = with_bn
        if with_bn:
            self.bn = batch_norm(channels, bn_momentum, bn_eps, False, use_sync_bn)

    def construct(self, x):
        x = self.pool(x)
        if self.with_bn:
            x = self.bn(x)
        return x


class Identity(nn.Cell):
    """skip_connect at stride 1."""

    def construct(self, x):
        return x


class Zero(nn.Cell):
    """The 'none' op: zeros shaped like the (strided) input."""

    def __init__(self, stride):
        super().__init__()
        self.stride = stride

    def construct(self, x):
        if self.stride > 1:
            x = x[:, :, ::self.stride, ::self.stride]
        return ops.zeros_like(x)


class FactorizedReduce(nn.Cell):
    """skip_connect at stride 2: ReLU, two 1x1 stride-2 convs on x and x shifted by one pixel,
    concat, BN. The shifted input is zero-padded at the end so odd sizes give ceil(d/2) too."""

    def __init__(self, in_channels, out_channels, affine, bn_momentum, bn_eps, use_sync_bn):
        super().__init__()
        if out_channels % 2:
            raise ValueError(f"FactorizedReduce needs an even channel count, got {out_channels}")
        self.relu = nn.ReLU()
        self.conv1 = conv2d(in_channels, out_channels // 2, 1, stride=2)
        self.conv2 = conv2d(in_channels, out_channels // 2, 1, stride=2)
        self.pad = nn.Pad(((0, 0), (0, 0), (0, 1), (0, 1)))
        self.bn = batch_norm(out_channels, bn_momentum, bn_eps, affine, use_sync_bn)

    def construct(self, x):
        x = self.relu(x)
        shifted = self.pad(x[:, :, 1:, 1:])
        return self.bn(ops.concat((self.conv1(x), self.conv2(shifted)), axis=1))


class Preprocess(nn.Cell):
    """1x1 conv from a cell input to the cell's C channels.
    paper: ReLU, conv, BN. modelzoo (ABN style): conv, BN, LeakyReLU(0.01)."""

    def __init__(self, in_channels, out_channels, variant="paper", affine=True,
                 bn_momentum=0.995, bn_eps=1e-5, use_sync_bn=False):
        super().__init__()
        check_variant(variant)
        self.modelzoo = variant == "modelzoo"
        self.conv = conv2d(in_channels, out_channels, 1)
        self.bn = batch_norm(out_channels, bn_momentum, bn_eps, affine, use_sync_bn)
        self.act = nn.LeakyReLU(LEAKY_SLOPE) if self.modelzoo else nn.ReLU()

    def construct(self, x):
        if self.modelzoo:
            return self.act(self.bn(self.conv(x)))
        return self.bn(self.conv(self.act(x)))


def check_variant(variant):
    if variant not in VARIANTS:
        raise ValueError(f"unknown network variant {variant!r}; valid: {', '.join(VARIANTS)}")


def make_op(name, channels, stride=1, affine=True, bn_momentum=0.995, bn_eps=1e-5,
            variant="paper", search=False, use_sync_bn=False):
    """Build candidate op ``name`` mapping C channels to C channels.

    ``search=True`` adds the DARTS-style non-affine BN after the pooling ops. ``stride`` is 1
    or 2 (the retrain network only uses 1).
    """
    check_variant(variant)
    if stride not in (1, 2):
        raise ValueError(f"op stride must be 1 or 2, got {stride}")
    bn_args = dict(bn_momentum=bn_momentum, bn_eps=bn_eps, use_sync_bn=use_sync_bn)
    if name == "none":
        return Zero(stride)
    if name in ("max_pool_3x3", "avg_pool_3x3"):
        return Pool(name[:3], channels, stride, with_bn=search, **bn_args)
    if name == "skip_connect":
        return Identity() if stride == 1 else FactorizedReduce(channels, channels, affine,
                                                                  **bn_args)
    if name in ("sep_conv_3x3", "sep_conv_5x5"):
        return SepConv(channels, int(name[-1]), stride, affine, **bn_args)
    if name in ("dil_conv_3x3", "dil_conv_5x5"):
        return DilConv(channels, int(name[-1]), stride, affine, variant=variant, **bn_args)
    raise ValueError(f"unknown op {name!r}; valid ops: {', '.join(PRIMITIVES)}")


OPS = {name: functools.partial(make_op, name) for name in PRIMITIVES}
