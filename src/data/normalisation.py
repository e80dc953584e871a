"""Network-input normalisation in numpy (no MindSpore): the one definition every stage uses.

The network takes (x - mean) / std per channel, CHW float32, with the ImageNet constants in
0..255 units (the MindSpore pipelines' ``vision.Normalize`` gets the same numbers).
channel_order "rgb": RGB pixels with the RGB constants (correct). "bgr": pixels swapped to BGR,
the same RGB constants applied; this reproduces the MindSpore ModelZoo port (its checkpoints need
it), and nothing else.
"""
import numpy as np

IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
IMAGENET_STD_RGB = (0.229, 0.224, 0.225)
CHANNEL_ORDERS = ("rgb", "bgr")


def normalise(image_rgb, channel_order):
    """(3, H, W) float32 network input of an RGB uint8 (H, W, 3) image."""
    if channel_order not in CHANNEL_ORDERS:
        raise ValueError("channel_order must be one of %s, got %r" % (CHANNEL_ORDERS, channel_order))
    pixels = np.asarray(image_rgb, np.float32)
    if channel_order == "bgr":
        pixels = pixels[:, :, ::-1]
    mean = np.array(IMAGENET_MEAN_RGB, np.float32) * 255.0
    std = np.array(IMAGENET_STD_RGB, np.float32) * 255.0
    return np.ascontiguousarray(((pixels - mean) / std).transpose(2, 0, 1))
