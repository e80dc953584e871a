"""Prediction files: labelId PNGs (Cityscapes ids, for the official scorer), colour PNGs, overlays.

Each kind goes to its own sub-folder with the image's stem as name, so the labelIds folder can be
handed to cityscapesscripts as CITYSCAPES_RESULTS (it wants exactly one PNG per image).
"""
import os
import re
import zipfile

import cv2
import numpy as np

from src.data.labels import TRAIN_ID_TO_ID, train_ids_to_color
from src.errors import UserError
from src.fileio import atomic_path, atomic_write

KINDS = ("labelIds", "color", "overlay")
OVERLAY_ALPHA = 0.5


def write_png(path, image):
    """Write a uint8 grey (H, W) or RGB (H, W, 3) image as PNG, atomically."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    pixels = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    ok, data = cv2.imencode(".png", pixels)
    if not ok:
        raise RuntimeError("PNG encoding failed for %s" % path)
    with atomic_write(path, "wb") as handle:
        handle.write(data.tobytes())
    return path


def overlay(image_rgb, color, alpha=OVERLAY_ALPHA):
    """The image blended with the colour map (alpha = colour weight)."""
    return cv2.addWeighted(color, alpha, image_rgb, 1.0 - alpha, 0.0)


def prediction_images(train_ids, image_rgb=None, palette=None):
    """{kind: uint8 image}: labelIds, color and (with the image) overlay of a trainId map.

    Without `palette` (256x3 RGB per train id) the data set is Cityscapes: labelIds are its ids and the
    colours its own; with one, labelIds are the class indices (the data set's train ids)."""
    train_ids = np.asarray(train_ids, np.uint8)
    if palette is None:
        color, label_ids = train_ids_to_color(train_ids), TRAIN_ID_TO_ID[train_ids]
    else:
        color, label_ids = palette[train_ids], train_ids
    images = {"labelIds": label_ids, "color": color}
    if image_rgb is not None:
        images["overlay"] = overlay(image_rgb, color)
    return images


def write_prediction(output_dir, name, train_ids, image_rgb=None, kinds=KINDS, palette=None):
    """Write <output_dir>/<kind>/<name>.png for each of ``kinds`` (name may hold subfolders); returns {kind: path}."""
    return {kind: write_png(os.path.join(output_dir, kind, *name.split("/")) + ".png", image)
            for kind, image in prediction_images(train_ids, image_rgb, palette).items() if kind in kinds}


# The benchmark server finds each test image's prediction by "<city>_<sequence>_<frame>" in its file name.
CITYSCAPES_NAME = re.compile(r"[a-z_]+_\d{6}_\d{6}")


def check_submission_names(names):
    """Refuse images whose names the Cityscapes benchmark server cannot match to its test images."""
    for name in names:
        if not CITYSCAPES_NAME.match(name.rsplit("/", 1)[-1]):
            raise UserError("'%s' is not a Cityscapes image name (<city>_<sequence>_<frame>_leftImg8bit): the "
                            "benchmark server matches predictions by it; pass --input CITYSCAPES/leftImg8bit/test"
                            % name)


def write_submission_zip(zip_path, label_files):
    """The benchmark server's upload: the labelIds PNGs (flat names, each holding its image's id), zipped."""
    with atomic_path(zip_path, keep_suffix=True) as temporary:
        with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in label_files:
                archive.write(path, os.path.basename(path))
    return zip_path
