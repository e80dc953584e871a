"""Atrous spatial pyramid pooling on the last cell's output."""
import mindspore.nn as nn
import mindspore.ops as ops

from src.layers.blocks import ConvNormAct
from src.layers.conv import downsampled_size
from src.layers.resize import scale_dimension


def aspp_input_size(network_path, height, width):
    """(h, w) of the last cell's output for an input of height x width: the stem's two stride-2
    convs (padding 1), then each cell's level change by DeepLab's size rule (as the cells do)."""
    size = [height, width]
    for _ in range(2):
        size = [downsampled_size(d) for d in size]
    level = 0
    for next_level in network_path:
        size = [scale_dimension(d, 2.0 ** (level - next_level)) for d in size]
        level = next_level
    return tuple(size)


def rates_without_data(rates, size):
    """The rates whose off-centre 3x3 taps lie outside a ``size`` feature map in at least one
    direction at every position (rate >= the smaller side): those taps only ever multiply the
    zero padding, so training never moves their weights."""
    return [rate for rate in rates if rate >= min(size)]


class ASPP(nn.Cell):
    """1x1 branch, one 3x3 atrous branch per rate, image pooling; each ``channels`` (paper 256)
    + BN + act; concat -> 1x1 -> ``channels`` + BN + act."""

    def __init__(self, in_channels, rates, channels, act, norm, variant):
        super().__init__()
        args = dict(act=act, norm=norm, variant=variant)
        self.branches = nn.CellList(
            [ConvNormAct(in_channels, channels, 1, **args)]
            + [ConvNormAct(in_channels, channels, 3, dilation=int(rate), **args) for rate in rates])
        self.pool = ConvNormAct(in_channels, channels, 1, **args)
        self.project = ConvNormAct((len(rates) + 2) * channels, channels, 1, **args)

    def construct(self, x):
        outputs = ()
        for branch in self.branches:
            outputs += (branch(x),)
        pooled = self.pool(ops.mean(x, axis=(2, 3), keep_dims=True))
        # Upsampling a 1x1 map bilinearly is a broadcast.
        outputs += (ops.broadcast_to(pooled, (-1, -1, x.shape[2], x.shape[3])),)
        return self.project(ops.concat(outputs, axis=1))
