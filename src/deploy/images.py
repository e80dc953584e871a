"""Reading images and turning them into the network input, exactly as the eval pipeline does.

The eval pipeline (``src.data.dataset.create_eval_dataset``) decodes to RGB, optionally swaps to
BGR (channel_order 'bgr', the ModelZoo convention), normalises with the ImageNet constants in
0..255 units and transposes to CHW; ``normalise`` applies the same definition in numpy
(src/data/normalisation.py) to files on disk.
"""
import os

import cv2

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


def list_images(input_path, flat=False):
    """[(path, name)] of ``input_path``, sorted: the file itself, or every image under a folder, its
    subfolders included (a Cityscapes split has one per city). ``name`` is the output name: the path
    relative to the folder without extension ('frankfurt/x_leftImg8bit'), or with ``flat`` the bare stem.
    Two images of one name (a.png and a.jpg) are refused, since their outputs would overwrite each other.
    """
    if os.path.isfile(input_path):
        return [(input_path, os.path.splitext(os.path.basename(input_path))[0])]
    if not os.path.isdir(input_path):
        raise UserError("input '%s' does not exist; pass an image file or a folder of images" % input_path)
    named = {}
    for folder, subfolders, files in os.walk(input_path):
        subfolders[:] = [d for d in subfolders if not d.startswith(".")]
        for file_name in files:
            path = os.path.join(folder, file_name)
            if file_name.startswith(".") or not file_name.lower().endswith(IMAGE_EXTENSIONS) or not os.path.isfile(path):
                continue
            relative = os.path.splitext(os.path.relpath(path, input_path))[0].replace(os.sep, "/")
            name = relative.rsplit("/", 1)[-1] if flat else relative
            if name in named:
                raise UserError("'%s' and '%s' would both write outputs named '%s'; keep one of them in the input "
                                "folder" % (named[name], path, name))
            named[name] = path
    if not named:
        raise UserError("folder '%s' holds no image files (%s), nor do its subfolders"
                        % (input_path, ", ".join(IMAGE_EXTENSIONS)))
    return sorted((path, name) for name, path in named.items())


def check_apart(input_path, output_dir, what="--output_path"):
    """Refuse an output folder that is the input folder or inside it (outputs would mix with, or replace,
    the inputs and be read as inputs next time)."""
    input_dir = os.path.realpath(input_path if os.path.isdir(input_path) else os.path.dirname(input_path) or ".")
    output = os.path.realpath(output_dir)
    if output == input_dir or output.startswith(input_dir + os.sep):
        raise UserError("%s '%s' is %s input folder '%s'; choose an output folder outside the inputs"
                        % (what, output_dir, "the" if output == input_dir else "inside the", input_path))
