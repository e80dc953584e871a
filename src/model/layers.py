"""Conv -> BN -> activation, the building block of the stem, ASPP and decoder."""
import mindspore.nn as nn

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
    """Bias-free kxk conv, BN, activation."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, dilation=1,
                 act="relu", bn_momentum=0.995, bn_eps=1e-5, use_sync_bn=False):
        super().__init__()
        self.conv = Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                           dilation=dilation)
        self.bn = batch_norm(out_channels, bn_momentum, bn_eps, True, use_sync_bn)
        self.act = activation(act)

    def construct(self, x):
        return self.act(self.bn(self.conv(x)))
