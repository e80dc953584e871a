"""The candidate operations: one table shared by the search supernet and the retrain network.

Search and retrain must run the same operations (SPEC 5), so both are built from ``OP_TABLE``
(name -> kind, kernel, dilation): the retrain network's cells with ``make_op`` (or
``OPS[name]``), the search's functional mixed op (``src.nas.search_cell``) by kind, with the
kernel and dilation of the table. ``PRIMITIVES`` (the table's names in order) is also the column
order of the cell-level architecture weights alpha.

Kinds (composition at stride 1; ``make_op`` also builds the stride-2 forms):
- zero: zeros; identity: the input (stride 2: ``FactorizedReduce``);
- max_pool / avg_pool: kxk pool (average excludes padding), then a non-affine BN in search;
- sep_conv: (ReLU, depthwise kxk, pointwise 1x1, BN) x 2;
- dil_conv: ReLU, dense kxk conv with the table's dilation, BN (modelzoo variant: below).

Variants (SPEC 3):
- ``paper``: sep_conv_kxk = (ReLU, depthwise kxk, pointwise 1x1, BN) x 2;
  dil_conv_kxk = ReLU, dense kxk conv with dilation 2, BN; preprocess = ReLU, 1x1 conv, BN.
- ``modelzoo`` (the MindSpore ModelZoo port with its default ``use_ABN=True``): sep_conv as
  in the paper; dil_conv = dense dilated kxk conv, 1x1 conv, BN, LeakyReLU(0.01);
  preprocess = 1x1 conv, BN, LeakyReLU(0.01).

No convolution has a bias. Initial conv weights: ``src.nas.conv.conv_init_rule`` of the variant
(paper: the TF network's variance scaling; modelzoo: He normal). BN momentum uses MindSpore's convention: 0.995 keeps 99.5% of the
running statistics at each step.
"""
import collections
import functools

import mindspore.nn as nn
import mindspore.ops as ops

from src.nas.conv import Conv2d, DepthwiseConv

OpSpec = collections.namedtuple("OpSpec", ("kind", "kernel", "dilation"))
DILATION = 2  # of the dil_conv ops
OP_TABLE = {
    "none": OpSpec("zero", 1, 1),
    "max_pool_3x3": OpSpec("max_pool", 3, 1),
    "avg_pool_3x3": OpSpec("avg_pool", 3, 1),
    "skip_connect": OpSpec("identity", 1, 1),
    "sep_conv_3x3": OpSpec("sep_conv", 3, 1),
    "sep_conv_5x5": OpSpec("sep_conv", 5, 1),
    "dil_conv_3x3": OpSpec("dil_conv", 3, DILATION),
    "dil_conv_5x5": OpSpec("dil_conv", 5, DILATION),
}
PRIMITIVES = list(OP_TABLE)
VARIANTS = ("paper", "modelzoo")
LEAKY_SLOPE = 0.01


def batch_norm(channels, momentum=0.995, eps=1e-5, affine=True, use_sync_bn=False):
    """BatchNorm2d, or SyncBatchNorm when the caller runs distributed on Ascend."""
    norm = nn.SyncBatchNorm if use_sync_bn else nn.BatchNorm2d
    return norm(channels, eps=eps, momentum=momentum, affine=affine)


class SepConv(nn.Cell):
    """(ReLU, depthwise kxk, pointwise 1x1, BN) twice; only the first depthwise conv strides."""

    def __init__(self, channels, kernel_size, stride, affine, bn_momentum, bn_eps, use_sync_bn,
                 variant):
        super().__init__()
        self.relu = nn.ReLU()
        self.depthwise1 = DepthwiseConv(channels, kernel_size, stride, variant=variant)
        self.pointwise1 = Conv2d(channels, channels, 1, variant=variant)
        self.bn1 = batch_norm(channels, bn_momentum, bn_eps, affine, use_sync_bn)
        self.depthwise2 = DepthwiseConv(channels, kernel_size, variant=variant)
        self.pointwise2 = Conv2d(channels, channels, 1, variant=variant)
        self.bn2 = batch_norm(channels, bn_momentum, bn_eps, affine, use_sync_bn)

    def construct(self, x):
        x = self.bn1(self.pointwise1(self.depthwise1(self.relu(x))))
        return self.bn2(self.pointwise2(self.depthwise2(self.relu(x))))


class DilConv(nn.Cell):
    """Atrous dense kxk conv. paper: ReLU, conv, BN. modelzoo: conv, 1x1, BN, LeakyReLU."""

    def __init__(self, channels, kernel_size, dilation, stride, affine, bn_momentum, bn_eps,
                 use_sync_bn, variant):
        super().__init__()
        self.modelzoo = variant == "modelzoo"
        self.conv = Conv2d(channels, channels, kernel_size, stride=stride, dilation=dilation,
                           variant=variant)
        if self.modelzoo:
            self.pointwise = Conv2d(channels, channels, 1, variant=variant)
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

    def __init__(self, in_channels, out_channels, affine, bn_momentum, bn_eps, use_sync_bn,
                 variant="paper"):
        super().__init__()
        if out_channels % 2:
            raise ValueError(f"FactorizedReduce needs an even channel count, got {out_channels}")
        self.relu = nn.ReLU()
        self.conv1 = Conv2d(in_channels, out_channels // 2, 1, stride=2, variant=variant)
        self.conv2 = Conv2d(in_channels, out_channels // 2, 1, stride=2, variant=variant)
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
        self.conv = Conv2d(in_channels, out_channels, 1, variant=variant)
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
    if name not in OP_TABLE:
        raise ValueError(f"unknown op {name!r}; valid ops: {', '.join(PRIMITIVES)}")
    kind, kernel, dilation = OP_TABLE[name]
    bn_args = dict(bn_momentum=bn_momentum, bn_eps=bn_eps, use_sync_bn=use_sync_bn)
    if kind == "zero":
        return Zero(stride)
    if kind in ("max_pool", "avg_pool"):
        return Pool(kind[:3], channels, stride, with_bn=search, **bn_args)
    if kind == "identity":
        return Identity() if stride == 1 else FactorizedReduce(channels, channels, affine,
                                                                  variant=variant, **bn_args)
    if kind == "sep_conv":
        return SepConv(channels, kernel, stride, affine, variant=variant, **bn_args)
    return DilConv(channels, kernel, dilation, stride, affine, variant=variant, **bn_args)


OPS = {name: functools.partial(make_op, name) for name in PRIMITIVES}
