"""DeepLabv3+ decoder: fuse the upsampled ASPP output with a stride-4 low-level feature."""
import mindspore.nn as nn
import mindspore.ops as ops

from src.layers.blocks import ConvNormAct
from src.layers.conv import Conv2d
from src.layers.dropout import Dropout
from src.layers.resize import BilinearResize

LOW_LEVEL_CHANNELS = 48


class Decoder(nn.Cell):
    """low-level 1x1 -> 48; concat with the ASPP output (``channels`` wide) upsampled to its size;
    3x3 ``channels`` (paper 256), dropout 0.5, 3x3 ``channels``, dropout 0.1, 1x1 -> classes
    (logits at stride 4). ``step``: the training step, which draws the dropout masks."""

    def __init__(self, num_classes, low_level_channels, channels, norm, variant):
        super().__init__()
        args = dict(norm=norm, variant=variant)
        self.reduce_low_level = ConvNormAct(low_level_channels, LOW_LEVEL_CHANNELS, 1, **args)
        self.fuse1 = ConvNormAct(channels + LOW_LEVEL_CHANNELS, channels, 3, **args)
        self.dropout1 = Dropout(0.5, stream=1)
        self.fuse2 = ConvNormAct(channels, channels, 3, **args)
        self.dropout2 = Dropout(0.1, stream=2)
        self.classifier = Conv2d(channels, num_classes, 1, variant=variant)
        self.resize = BilinearResize()

    def construct(self, high_level, low_level, step):
        low_level = self.reduce_low_level(low_level)
        high_level = self.resize(high_level, (low_level.shape[2], low_level.shape[3]))
        x = ops.concat((high_level, low_level), axis=1)
        x = self.dropout1(self.fuse1(x), step)
        x = self.dropout2(self.fuse2(x), step)
        return self.classifier(x)
