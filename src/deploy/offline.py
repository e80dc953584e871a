"""The file-based flow around the C++ inference app (Ascend 310 or OpenCV DNN).

preprocess: images -> normalised float32 tensors ``<stem>.bin`` (1, 3, H, W) at the export size.
postprocess: the app's uint8 label maps ``<stem>.bin`` (H, W trainIds) -> scores against the
ground truth and labelId / colour PNGs. ``<stem>`` is the image file name without its extension.
"""
import os

import numpy as np
from tqdm import tqdm

from src.data.labels import label_ids_to_train_ids
from src.deploy.images import list_images, normalise, read_image
from src.deploy.outputs import write_prediction
from src.errors import UserError

SPLIT = "val"


def input_images(data_path):
    """[(image path, labelIds path or None)]: a Cityscapes root's val split, or a folder of images."""
    from src.data.cityscapes import IMAGE_DIR, find_samples

    if os.path.isdir(os.path.join(data_path, IMAGE_DIR)):
        return [(sample.image_path, sample.label_path) for sample in find_samples(data_path, SPLIT)]
    return [(path, None) for path in list_images(data_path)]


def stem(path):
    return os.path.splitext(os.path.basename(path))[0]


def preprocess(data_path, output_dir, height, width, channel_order="rgb", progress=True):
    """Write ``<output_dir>/<stem>.bin`` per image; returns the paths written."""
    os.makedirs(output_dir, exist_ok=True)
    written = []
    for image_path, _ in tqdm(input_images(data_path), desc="preprocess", unit="image", disable=not progress):
        image = read_image(image_path)
        if image.shape[:2] != (height, width):
            raise UserError("'%s' is %dx%d (HxW) but the export takes %dx%d; export the model with --height %d "
                            "--width %d" % (image_path, image.shape[0], image.shape[1], height, width,
                                            image.shape[0], image.shape[1]))
        path = os.path.join(output_dir, stem(image_path) + ".bin")
        temporary = path + ".tmp"
        normalise(image, channel_order).tofile(temporary)
        os.replace(temporary, path)
        written.append(path)
    return written


def read_label_map(path, height, width):
    """(H, W) uint8 label map written by the app; UserError when missing or of another size."""
    if not os.path.isfile(path):
        raise UserError("no result '%s' for this image; run the inference app on all preprocessed inputs" % path)
    labels = np.fromfile(path, np.uint8)
    if labels.size != height * width:
        raise UserError("result '%s' has %d bytes but the image has %dx%d pixels; was it made from another "
                        "image set or export size?" % (path, labels.size, height, width))
    return labels.reshape(height, width)


def postprocess(data_path, result_dir, output_dir, num_classes=19, ignore_label=255, progress=True):
    """Score the app's label maps (when ground truth exists) and write labelIds / colour / overlay PNGs.

    Returns the scores dict, or None for a folder of images without labels.
    """
    from src.eval.evaluate import class_names
    from src.eval.metrics import ConfusionMatrix

    import cv2

    matrix = ConfusionMatrix(num_classes, ignore_label)
    samples = input_images(data_path)
    for image_path, label_path in tqdm(samples, desc="postprocess", unit="image", disable=not progress):
        image = read_image(image_path)
        labels = read_label_map(os.path.join(result_dir, stem(image_path) + ".bin"), *image.shape[:2])
        write_prediction(output_dir, stem(image_path), labels, image)
        if label_path is not None:
            matrix.update(labels, label_ids_to_train_ids(cv2.imread(label_path, cv2.IMREAD_UNCHANGED)))
    if samples[0][1] is None:
        return None
    return matrix.scores(class_names(num_classes))
