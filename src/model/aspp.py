"""Atrous spatial pyramid pooling on the last cell's output."""
import mindspore.nn as nn
import mindspore.ops as ops

from src.layers.blocks import ConvNormAct


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
