"""Reading images and turning them into the network input, exactly as the eval pipeline does.

The eval pipeline (``src.data.dataset.create_eval_dataset``) decodes to RGB, optionally swaps to
BGR (channel_order 'bgr', the ModelZoo convention), normalises with the ImageNet constants in
0..255 units and transposes to CHW; ``normalise`` repeats that in numpy for files on disk.
"""
import os

import cv2
import numpy as np

from src.errors import UserError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm")


def read_image(path):
    """RGB uint8 (H, W, 3) image of ``path``; UserError naming the file when it is not an image."""
    if not os.path.isfile(path):
        raise UserError("input '%s' does not exist" % path)
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise UserError("'%s' is not an image OpenCV can read (PNG, JPEG, BMP, TIFF...); remove it or pass "
                        "another file" % path)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def list_images(input_path):
    """The image files of ``input_path``: the file itself, or a folder's image files (sorted)."""
    if os.path.isfile(input_path):
        return [input_path]
    if not os.path.isdir(input_path):
        raise UserError("input '%s' does not exist; pass an image file or a folder of images" % input_path)
    paths = sorted(os.path.join(input_path, name) for name in os.listdir(input_path)
                   if name.lower().endswith(IMAGE_EXTENSIONS) and os.path.isfile(os.path.join(input_path, name)))
    if not paths:
        raise UserError("folder '%s' holds no image files (%s)" % (input_path, ", ".join(IMAGE_EXTENSIONS)))
    return paths


def normalise(image_rgb, channel_order="rgb"):
    """(3, H, W) float32 network input of an RGB uint8 image (see module docstring)."""
    from src.data.dataset import IMAGENET_MEAN_RGB, IMAGENET_STD_RGB

    pixels = np.asarray(image_rgb, np.float32)
    if channel_order == "bgr":
        pixels = pixels[:, :, ::-1]
    mean = np.array(IMAGENET_MEAN_RGB, np.float32) * 255.0
    std = np.array(IMAGENET_STD_RGB, np.float32) * 255.0
    return np.ascontiguousarray(((pixels - mean) / std).transpose(2, 0, 1))
