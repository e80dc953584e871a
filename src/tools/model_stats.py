"""Parameter count and multiply-adds of the retrain network.

    python -m src.tools.model_stats --config_path config/autodeeplab_s.yaml \
        [--height H --width W] [--variant paper|modelzoo]

Prints JSON {"params": ..., "multi_adds": ..., ...}.
Conventions: ``params`` counts trainable parameters (conv weights, BN gamma and beta; BN
running statistics are not parameters). ``multi_adds`` counts multiply-accumulates (one
multiply + one add = 1) of the convolutions and dense layers for ONE image of H x W
(default 1024 x 2048); BN, activations, pooling, bilinear resizing and element-wise additions
are not counted. They are measured on an actual forward pass (PyNative, forward hooks).
"""
import json

import numpy as np

from src.config import parse_config
from src.errors import run_main
from src.model import build_model
from src.layers.conv import Conv2d, DepthwiseConv

DEFAULT_CONFIG = "config/autodeeplab_s.yaml"


def count_params(net):
    """Trainable parameter count."""
    return int(sum(int(np.prod(p.shape)) for p in net.trainable_params()))


def _conv_macs(cell, output):
    """MACs of a conv cell: output elements x (input channels / groups) x kernel area."""
    _, in_per_group, kh, kw = cell.weight.shape
    return int(np.prod(output.shape[1:])) * in_per_group * kh * kw


def forward_total(net, height, width, measure):
    """Sum of ``measure(cell, output)`` (an int, or None to skip the cell) over every cell call
    of one PyNative inference forward pass of a 1 x 3 x height x width zero image."""
    import mindspore as ms

    total = [0]

    def hook(cell, _inputs, output):
        value = measure(cell, output)
        if value is not None:
            total[0] += value

    handles = [cell.register_forward_hook(hook) for _, cell in net.cells_and_names()]
    previous_mode = ms.get_context("mode")
    ms.set_context(mode=ms.PYNATIVE_MODE)
    try:
        net.set_train(False)
        net(ms.Tensor(np.zeros((1, 3, height, width), np.float32)))
    finally:
        for handle in handles:
            handle.remove()
        ms.set_context(mode=previous_mode)
    return int(total[0])


def count_multi_adds(net, height, width):
    """MACs of convolutions and dense layers for one height x width image (PyNative run)."""
    from mindspore import nn

    def macs(cell, output):
        if isinstance(cell, (Conv2d, DepthwiseConv)):
            return _conv_macs(cell, output)
        if isinstance(cell, nn.Dense):
            return int(np.prod(output.shape[1:])) * cell.weight.shape[1]
        return None

    return forward_total(net, height, width, macs)


def model_stats(cfg):
    """{"params", "multi_adds", ...} of the network ``cfg`` describes at cfg.height x cfg.width."""
    net = build_model(cfg)
    return {"variant": cfg.variant, "filter_multiplier": cfg.filter_multiplier,
            "num_classes": cfg.num_classes, "height": cfg.height, "width": cfg.width,
            "params": count_params(net),
            "multi_adds": count_multi_adds(net, cfg.height, cfg.width)}


def main(argv=None):
    cfg = parse_config(argv, default_config_path=DEFAULT_CONFIG,
                       description="Print params and multiply-adds of the network as JSON.",
                       stage="model_stats")
    print(json.dumps(model_stats(cfg)))


if __name__ == "__main__":
    run_main(main)
