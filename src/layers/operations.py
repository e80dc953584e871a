"""The candidate operations: one table shared by the search supernet and the retrain network.

Search and retrain must run the same operations, so both are built from ``OP_TABLE``
(name -> kind, kernel, dilation): the retrain network's cells with ``make_op`` (or
``OPS[name]``), the search's functional mixed op (``src.nas.search_cell``) by kind, with the
kernel and dilation of the table. ``PRIMITIVES`` (the table's names in order) is also the column
order of the cell-level architecture weights alpha.

Kinds (composition at stride 1; ``make_op`` also builds the stride-2 forms):
- zero: zeros; identity: the input (stride 2: ``FactorizedReduce``);
- max_pool / avg_pool: kxk pool (average excludes padding), then a non-affine BN in search;
- sep_conv: (ReLU, depthwise kxk, pointwise 1x1, BN) x 2;
- dil_conv: ReLU, dense kxk conv with the table's dilation, BN (modelzoo variant: below).

Variants:
- ``paper``: sep_conv_kxk = (ReLU, depthwise kxk, pointwise 1x1, BN) x 2;
  dil_conv_kxk = ReLU, dense kxk conv with dilation 2, BN; preprocess = ReLU, 1x1 conv, BN.
- ``modelzoo`` (the MindSpore ModelZoo port with its default ``use_ABN=True``): sep_conv as
  in the paper; dil_conv = dense dilated kxk conv, 1x1 conv, BN, LeakyReLU(0.01);
  preprocess = 1x1 conv, BN, LeakyReLU(0.01).

No convolution has a bias. Initial conv weights: ``src.layers.conv.conv_init_rule`` of the variant
(paper: the TF network's variance scaling; modelzoo: He normal). Every BN takes the network's
``src.layers.norm.BatchNormSettings``.
"""
import collections
import functools

import mindspore.nn as nn
import mindspore.ops as ops

from src.layers.blocks import ConvNormAct
from src.layers.conv import Conv2d, DepthwiseConv
from src.layers.norm import activation, batch_norm

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


class SepConv(nn.Cell):
    """(ReLU, depthwise kxk, pointwise 1x1, BN) twice; only the first depthwise conv strides."""

    def __init__(self, channels, kernel_size, stride, affine, norm, variant):
        super().__init__()
        self.relu = nn.ReLU()
        self.depthwise1 = DepthwiseConv(channels, kernel_size, stride, variant=variant)
        self.pointwise1 = Conv2d(channels, channels, 1, variant=variant)
        self.bn1 = batch_norm(channels, norm, affine)
        self.depthwise2 = DepthwiseConv(channels, kernel_size, variant=variant)
        self.pointwise2 = Conv2d(channels, channels, 1, variant=variant)
        self.bn2 = batch_norm(channels, norm, affine)

    def construct(self, x):
        x = self.bn1(self.pointwise1(self.depthwise1(self.relu(x))))
        return self.bn2(self.pointwise2(self.depthwise2(self.relu(x))))


class ModelZooDilConv(nn.Cell):
    """The ModelZoo port's dil_conv: atrous dense kxk conv, 1x1 conv, BN, LeakyReLU. (The paper's
    is a pre-activation ``ConvNormAct``: ReLU, atrous conv, BN.)"""

    def __init__(self, channels, kernel_size, dilation, stride, affine, norm):
        super().__init__()
        self.conv = Conv2d(channels, channels, kernel_size, stride=stride, dilation=dilation,
                           variant="modelzoo")
        self.pointwise = Conv2d(channels, channels, 1, variant="modelzoo")
        self.bn = batch_norm(channels, norm, affine)
        self.act = activation("leaky_relu")

    def construct(self, x):
        return self.act(self.bn(self.pointwise(self.conv(x))))


class Pool(nn.Cell):
    """3x3 max or average pool (average excludes padding); a non-affine BN follows in search.

    At stride 1 pad_mode "same" is exactly padding 1 with the padding left out of the max and of
    the average's count, and it exports to ONNX, which MindSpore 2.10's explicit-padding pools
    (MaxPool3DWithArgmax / AvgPool3D) do not. Stride 2 ("same" pads asymmetrically) pads by 1.
    """

    def __init__(self, kind, channels, stride, norm, with_bn):
        super().__init__()
        padding = dict(pad_mode="same") if stride == 1 else dict(pad_mode="pad", padding=1)
        if kind == "max":
            self.pool = nn.MaxPool2d(3, stride=stride, **padding)
        else:
            self.pool = nn.AvgPool2d(3, stride=stride, **padding,
                                     **({} if stride == 1 else dict(count_include_pad=False)))
        self.with_bn = with_bn
        if with_bn:
            self.bn = batch_norm(channels, norm, affine=False)

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

    def __init__(self, in_channels, out_channels, affine, norm, variant):
        super().__init__()
        if out_channels % 2:
            raise ValueError(f"FactorizedReduce needs an even channel count, got {out_channels}")
        self.relu = nn.ReLU()
        self.conv1 = Conv2d(in_channels, out_channels // 2, 1, stride=2, variant=variant)
        self.conv2 = Conv2d(in_channels, out_channels // 2, 1, stride=2, variant=variant)
        self.pad = nn.Pad(((0, 0), (0, 0), (0, 1), (0, 1)))
        self.bn = batch_norm(out_channels, norm, affine)

    def construct(self, x):
        x = self.relu(x)
        shifted = self.pad(x[:, :, 1:, 1:])
        return self.bn(ops.concat((self.conv1(x), self.conv2(shifted)), axis=1))


def preprocess(in_channels, out_channels, norm, variant):
    """The 1x1 conv from a cell input to the cell's C channels.
    paper: ReLU, conv, BN. modelzoo (ABN style): conv, BN, LeakyReLU(0.01)."""
    check_variant(variant)
    if variant == "modelzoo":
        return ConvNormAct(in_channels, out_channels, 1, norm, variant, act="leaky_relu")
    return ConvNormAct(in_channels, out_channels, 1, norm, variant, pre_activation=True)


def check_variant(variant):
    if variant not in VARIANTS:
        raise ValueError(f"unknown network variant {variant!r}; valid: {', '.join(VARIANTS)}")


def make_op(name, channels, norm, variant, stride=1, affine=True, search=False):
    """Build candidate op ``name`` mapping C channels to C channels; ``norm`` the
    BatchNormSettings of its BNs.

    ``search=True`` adds the DARTS-style non-affine BN after the pooling ops. ``stride`` is 1
    or 2 (the retrain network only uses 1).
    """
    check_variant(variant)
    if stride not in (1, 2):
        raise ValueError(f"op stride must be 1 or 2, got {stride}")
    if name not in OP_TABLE:
        raise ValueError(f"unknown op {name!r}; valid ops: {', '.join(PRIMITIVES)}")
    kind, kernel, dilation = OP_TABLE[name]
    if kind == "zero":
        return Zero(stride)
    if kind in ("max_pool", "avg_pool"):
        return Pool(kind[:3], channels, stride, norm, with_bn=search)
    if kind == "identity":
        return Identity() if stride == 1 else FactorizedReduce(channels, channels, affine, norm,
                                                                  variant)
    if kind == "sep_conv":
        return SepConv(channels, kernel, stride, affine, norm, variant)
    if variant == "modelzoo":
        return ModelZooDilConv(channels, kernel, dilation, stride, affine, norm)
    return ConvNormAct(channels, channels, kernel, norm, variant, stride=stride, dilation=dilation,
                       pre_activation=True, affine=affine)


OPS = {name: functools.partial(make_op, name) for name in PRIMITIVES}
