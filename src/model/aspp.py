"""Atrous spatial pyramid pooling on the last cell's output."""
import mindspore.nn as nn
import mindspore.ops as ops

from src.model.layers import ConvBNAct

class ASPP(nn.Cell):
    """1x1 branch, one 3x3 atrous branch per rate, image pooling; each ``channels`` (paper 256)
    + BN + act; concat -> 1x1 -> ``channels`` + BN + act."""

    def __init__(self, in_channels, rates=(6, 12, 18), channels=256, act="relu", bn_momentum=0.995,
                 bn_eps=1e-5, use_sync_bn=False, variant="paper"):
        super().__init__()
        args = dict(act=act, bn_momentum=bn_momentum, bn_eps=bn_eps, use_sync_bn=use_sync_bn,
                    variant=variant)
        self.branches = nn.CellList(
            [ConvBNAct(in_channels, channels, 1, **args)]
            + [ConvBNAct(in_channels, channels, 3, dilation=int(rate), **args) for rate in rates])
        self.pool = ConvBNAct(in_channels, channels, 1, **args)
        self.project = ConvBNAct((len(rates) + 2) * channels, channels, 1, **args)

    def construct(self, x):
        outputs = ()
        for branch in self.branches:
            outputs += (branch(x),)
        pooled = self.pool(ops.mean(x, axis=(2, 3), keep_dims=True))
        # Upsampling a 1x1 map bilinearly is a broadcast.
        outputs += (ops.broadcast_to(pooled, (-1, -1, x.shape[2], x.shape[3])),)
        return self.project(ops.concat(outputs, axis=1))
