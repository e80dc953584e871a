"""The conv-norm-act block: the stem, ASPP, decoder and cell preprocessing of the retrain network,
the stem and head of the search supernet, and the paper's dil_conv op."""
import mindspore as ms
import mindspore.nn as nn
import mindspore.ops as ops

from src.layers.conv import Conv2d
from src.layers.norm import LEAKY_SLOPE, activation, batch_norm


class ConvNormAct(nn.Cell):
    """Bias-free kxk conv (initial weights by ``variant``, src.layers.conv), BN, activation; with
    ``pre_activation`` the activation comes first (act, conv, BN: the paper's cell preprocessing
    and dil_conv). Parameters ``conv.weight`` and ``bn.*`` in either order.

    In inference mode, when the conv runs the CPU SGEMM kernel, a post-activation block's BN and
    activation are applied by the kernel as it writes the conv's output (``Conv2d``'s ``bn_act``):
    the same values as three ops, without two more passes over a large tensor."""

    def __init__(self, in_channels, out_channels, kernel_size, norm, variant, stride=1, dilation=1,
                 act="relu", pre_activation=False, affine=True):
        super().__init__()
        self.conv = Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                           dilation=dilation, variant=variant)
        self.bn = batch_norm(out_channels, norm, affine)
        self.act = activation(act)
        self.pre_activation = pre_activation
        self.fuses_bn_act = affine and not pre_activation
        self.negative_slope = ms.Tensor([0.0 if act == "relu" else LEAKY_SLOPE], ms.float32)

    def construct(self, x):
        if self.pre_activation:
            return self.bn(self.conv(self.act(x)))
        if self.fuses_bn_act and not self.training and self.conv.runs_cpu_kernel(x):
            scale = self.bn.gamma / ops.sqrt(self.bn.moving_variance + self.bn.eps)
            shift = self.bn.beta - self.bn.moving_mean * scale
            return self.conv(x, (scale, shift, self.negative_slope))
        return self.act(self.bn(self.conv(x)))
