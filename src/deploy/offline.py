"""The file-based flow around the C++ inference app (Ascend 310 or OpenCV DNN).

preprocess: images -> normalised float32 tensors ``<stem>.bin`` (1, 3, H, W) at the export size.
postprocess: the app's uint8 label maps ``<stem>.bin`` (H, W trainIds) -> scores against the
ground truth and labelId / colour PNGs. ``<stem>`` is the image file name without its extension.
"""
import os

import numpy as np
from tqdm import tqdm

from src.data.labels import label_ids_to_train_ids
from src.data.normalisation import normalise
from src.deploy.images import check_apart, list_images, read_image
from src.deploy.outputs import write_prediction
from src.errors import UserError
from src.fileio import atomic_write, check_output_location

SPLIT = "val"


def input_images(data_path, with_labels):
    """[(image path, name, labelIds path or None)]: a Cityscapes root's val split, or the images under a
    folder (subfolders included). ``name`` (the image's stem) names the app's tensor and label map;
    ground truth is looked up (and required) only ``with_labels``.
    """
    from src.data.cityscapes import IMAGE_DIR, find_samples

    if with_labels and os.path.isdir(os.path.join(data_path, IMAGE_DIR)):
        return [(s.image_path, stem(s.image_path), s.label_path) for s in find_samples(data_path, SPLIT)]
    return [(path, name, None) for path, name in list_images(image_folder(data_path), flat=True)]


def image_folder(data_path):
    """The folder whose images are read: a Cityscapes root's leftImg8bit/val, or ``data_path`` itself."""
    from src.data.cityscapes import IMAGE_DIR

    split = os.path.join(data_path, IMAGE_DIR, SPLIT)
    return split if os.path.isdir(split) else data_path


def stem(path):
    return os.path.splitext(os.path.basename(path))[0]


def _check_size(image_path, image, height, width):
    if image.shape[:2] != (height, width):
        raise UserError("'%s' is %dx%d (HxW) but the export takes %dx%d; export the model with --height %d "
                        "--width %d" % (image_path, image.shape[0], image.shape[1], height, width,
                                        image.shape[0], image.shape[1]))


def preprocess(data_path, output_dir, height, width, channel_order, progress=True):
    """Write ``<output_dir>/<stem>.bin`` per image; returns the paths written.

    Every image is read and its size checked before the first file is written.
    """
    samples = input_images(data_path, with_labels=False)
    check_apart(image_folder(data_path), output_dir)
    for image_path, _, _ in samples:
        _check_size(image_path, read_image(image_path), height, width)
    os.makedirs(check_output_location(output_dir), exist_ok=True)
    written = []
    for image_path, name, _ in tqdm(samples, desc="preprocess", unit="image", disable=not progress):
        path = os.path.join(output_dir, name + ".bin")
        with atomic_write(path, "wb") as handle:
            handle.write(normalise(read_image(image_path), channel_order).tobytes())
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


def read_ground_truth(path, height, width):
    """(H, W) trainIds of a Cityscapes labelIds PNG; UserError when missing, unreadable or of another size."""
    import cv2

    label_ids = cv2.imread(path, cv2.IMREAD_UNCHANGED) if os.path.isfile(path) else None
    if label_ids is None or label_ids.ndim != 2:
        raise UserError("ground truth '%s' is missing or not a single-channel labelIds PNG; restore it from the "
                        "Cityscapes gtFine package" % path)
    if label_ids.shape != (height, width):
        raise UserError("ground truth '%s' is %dx%d but its image is %dx%d; it belongs to another image"
                        % (path, label_ids.shape[0], label_ids.shape[1], height, width))
    return label_ids_to_train_ids(label_ids)


def postprocess(data_path, result_dir, output_dir, num_classes, ignore_label, progress=True):
    """Score the app's label maps (when ground truth exists) and write labelIds / colour / overlay PNGs.

    Every image, label map and ground-truth file is checked before the first PNG is written.
    Returns the scores dict, or None for a folder of images without labels.
    """
    from src.eval.evaluate import class_names
    from src.eval.metrics import ConfusionMatrix

    samples = input_images(data_path, with_labels=True)
    check_apart(image_folder(data_path), output_dir)
    matrix = ConfusionMatrix(num_classes, ignore_label)
    for image_path, name, label_path in samples:
        height, width = read_image(image_path).shape[:2]
        labels = read_label_map(os.path.join(result_dir, name + ".bin"), height, width)
        if label_path is not None:
            matrix.update(labels, read_ground_truth(label_path, height, width))
    os.makedirs(check_output_location(output_dir), exist_ok=True)
    for image_path, name, _ in tqdm(samples, desc="postprocess", unit="image", disable=not progress):
        image = read_image(image_path)
        write_prediction(output_dir, name, read_label_map(os.path.join(result_dir, name + ".bin"),
                                                          *image.shape[:2]), image)
    if samples[0][2] is None:
        return None
    return matrix.scores(class_names(num_classes))
