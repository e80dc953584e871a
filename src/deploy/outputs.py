"""Prediction files: labelId PNGs (Cityscapes ids, for the official scorer), colour PNGs, overlays.

Each kind goes to its own sub-folder with the image's stem as name, so the labelIds folder can be
handed to cityscapesscripts as CITYSCAPES_RESULTS (it wants exactly one PNG per image).
"""
import os

import cv2
import numpy as np

from src.data.labels import TRAIN_ID_TO_ID, train_ids_to_color

KINDS = ("labelIds", "color", "overlay")
OVERLAY_ALPHA = 0.5


def write_png(path, image):
    """Write a uint8 grey (H, W) or RGB (H, W, 3) image as PNG, atomically."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    pixels = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    ok, data = cv2.imencode(".png", pixels)
    if not ok:
        raise RuntimeError("PNG encoding failed for %s" % path)
    temporary = path + ".tmp%d" % os.getpid()
    with open(temporary, "wb") as f:
        f.write(data.tobytes())
    os.replace(temporary, path)
    return path


def overlay(image_rgb, color, alpha=OVERLAY_ALPHA):
    """The image blended with the colour map (alpha = colour weight)."""
    return cv2.addWeighted(color, alpha, image_rgb, 1.0 - alpha, 0.0)


def prediction_images(train_ids, image_rgb=None):
    """{kind: uint8 image}: labelIds, color and (with the image) overlay of a trainId map."""
    train_ids = np.asarray(train_ids, np.uint8)
    color = train_ids_to_color(train_ids)
    images = {"labelIds": TRAIN_ID_TO_ID[train_ids], "color": color}
    if image_rgb is not None:
        images["overlay"] = overlay(image_rgb, color)
    return images


def write_prediction(output_dir, stem, train_ids, image_rgb=None):
    """Write <output_dir>/<kind>/<stem>.png for every kind; returns {kind: path}."""
    return {kind: write_png(os.path.join(output_dir, kind, stem + ".png"), image)
            for kind, image in prediction_images(train_ids, image_rgb).items()}
