"""Conv -> BN -> activation, the building block of the stem, ASPP and decoder."""
import mindspore as ms
import mindspore.nn as nn
import mindspore.ops as ops

from src.nas.conv import Conv2d
from src.nas.operations import LEAKY_SLOPE, batch_norm


def activation(name):
    """'relu' or 'leaky_relu' (slope 0.01, the ModelZoo ABN activation)."""
    if name == "relu":
        return nn.ReLU()
    if name == "leaky_relu":
        return nn.LeakyReLU(LEAKY_SLOPE)
    raise ValueError(f"unknown activation {name!r}; valid: relu, leaky_relu")


class ConvBNAct(nn.Cell):
    """Bias-free kxk conv (initial weights by ``variant``, src.nas.conv), BN, activation.

    In inference mode, when the conv runs the CPU SGEMM kernel, BN and activation are applied by
    the kernel as it writes the conv's output (``Conv2d``'s ``bn_act``): the same values as three
    ops, without two more passes over a large tensor."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, dilation=1,
                 act="relu", bn_momentum=0.995, bn_eps=1e-5, use_sync_bn=False, variant="paper"):
        super().__init__()
        self.conv = Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                           dilation=dilation, variant=variant)
        self.bn = batch_norm(out_channels, bn_momentum, bn_eps, True, use_sync_bn)
        self.act = activation(act)
        self.negative_slope = ms.Tensor([0.0 if act == "relu" else LEAKY_SLOPE], ms.float32)

    def construct(self, x):
        if not self.training and self.conv.runs_cpu_kernel(x):
            scale = self.bn.gamma / ops.sqrt(self.bn.moving_variance + self.bn.eps)
            shift = self.bn.beta - self.bn.moving_mean * scale
            return self.conv(x, (scale, shift, self.negative_slope))
        return self.act(self.bn(self.conv(x)))
