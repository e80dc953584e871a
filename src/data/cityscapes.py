"""Find the image/label pairs of a Cityscapes split in the standard directory layout."""
import os
from collections import namedtuple

from src.errors import UserError

IMAGE_DIR, LABEL_DIR = "leftImg8bit", "gtFine"
IMAGE_SUFFIX, LABEL_SUFFIX = "_leftImg8bit.png", "_gtFine_labelIds.png"
SPLITS = ("train", "val", "test")

# name: "<city>_<seq>_<frame>", e.g. "frankfurt_000000_000294".
Sample = namedtuple("Sample", ["name", "image_path", "label_path"])


def find_samples(root, split):
    """All (name, image, label) triples of `split` under `root`, sorted by name.

    Raises UserError when the root or split is missing, the split has no images, or an image
    has no labelIds file.
    """
    if split not in SPLITS:
        raise UserError(f"unknown split '{split}': choose one of {', '.join(SPLITS)}")
    if not os.path.isdir(root):
        raise UserError(f"Cityscapes root '{root}' does not exist or is not a directory: "
                        f"pass the directory that holds {IMAGE_DIR}/ and {LABEL_DIR}/")
    image_root = os.path.join(root, IMAGE_DIR, split)
    if not os.path.isdir(image_root):
        raise UserError(f"split '{split}' not found: '{image_root}' does not exist; expected "
                        f"{IMAGE_DIR}/{split}/<city>/*{IMAGE_SUFFIX} under '{root}'")
    samples = []
    for city in sorted(os.listdir(image_root)):
        city_dir = os.path.join(image_root, city)
        if not os.path.isdir(city_dir):
            continue
        for file_name in sorted(os.listdir(city_dir)):
            if file_name.endswith(IMAGE_SUFFIX):
                name = file_name[:-len(IMAGE_SUFFIX)]
                samples.append(Sample(name, os.path.join(city_dir, file_name),
                                      os.path.join(root, LABEL_DIR, split, city, name + LABEL_SUFFIX)))
    if not samples:
        raise UserError(f"split '{split}' is empty: no *{IMAGE_SUFFIX} files in '{image_root}/<city>/'")
    for sample in samples:
        if not os.path.isfile(sample.label_path):
            raise UserError(f"image '{sample.image_path}' has no label: expected '{sample.label_path}'")
    return sorted(samples)
