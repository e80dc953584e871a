"""The Cityscapes label table: the project's single source of truth for ids, trainIds and colours.

Copied from ``cityscapesscripts.helpers.labels`` (tests compare every field against it) so that
the runtime does not depend on that package.
"""
from collections import namedtuple

import numpy as np

IGNORE_LABEL = 255

Label = namedtuple(
    "Label", ["name", "id", "trainId", "category", "categoryId", "hasInstances", "ignoreInEval", "color"])

LABELS = (
    #     name                     id  trainId  category       catId  inst   ignore  color
    Label("unlabeled",              0, 255, "void",         0, False, True,  (0, 0, 0)),
    Label("ego vehicle",            1, 255, "void",         0, False, True,  (0, 0, 0)),
    Label("rectification border",   2, 255, "void",         0, False, True,  (0, 0, 0)),
    Label("out of roi",             3, 255, "void",         0, False, True,  (0, 0, 0)),
    Label("static",                 4, 255, "void",         0, False, True,  (0, 0, 0)),
    Label("dynamic",                5, 255, "void",         0, False, True,  (111, 74, 0)),
    Label("ground",                 6, 255, "void",         0, False, True,  (81, 0, 81)),
    Label("road",                   7, 0,   "flat",         1, False, False, (128, 64, 128)),
    Label("sidewalk",               8, 1,   "flat",         1, False, False, (244, 35, 232)),
    Label("parking",                9, 255, "flat",         1, False, True,  (250, 170, 160)),
    Label("rail track",            10, 255, "flat",         1, False, True,  (230, 150, 140)),
    Label("building",              11, 2,   "construction", 2, False, False, (70, 70, 70)),
    Label("wall",                  12, 3,   "construction", 2, False, False, (102, 102, 156)),
    Label("fence",                 13, 4,   "construction", 2, False, False, (190, 153, 153)),
    Label("guard rail",            14, 255, "construction", 2, False, True,  (180, 165, 180)),
    Label("bridge",                15, 255, "construction", 2, False, True,  (150, 100, 100)),
    Label("tunnel",                16, 255, "construction", 2, False, True,  (150, 120, 90)),
    Label("pole",                  17, 5,   "object",       3, False, False, (153, 153, 153)),
    Label("polegroup",             18, 255, "object",       3, False, True,  (153, 153, 153)),
    Label("traffic light",         19, 6,   "object",       3, False, False, (250, 170, 30)),
    Label("traffic sign",          20, 7,   "object",       3, False, False, (220, 220, 0)),
    Label("vegetation",            21, 8,   "nature",       4, False, False, (107, 142, 35)),
    Label("terrain",               22, 9,   "nature",       4, False, False, (152, 251, 152)),
    Label("sky",                   23, 10,  "sky",          5, False, False, (70, 130, 180)),
    Label("person",                24, 11,  "human",        6, True,  False, (220, 20, 60)),
    Label("rider",                 25, 12,  "human",        6, True,  False, (255, 0, 0)),
    Label("car",                   26, 13,  "vehicle",      7, True,  False, (0, 0, 142)),
    Label("truck",                 27, 14,  "vehicle",      7, True,  False, (0, 0, 70)),
    Label("bus",                   28, 15,  "vehicle",      7, True,  False, (0, 60, 100)),
    Label("caravan",               29, 255, "vehicle",      7, True,  True,  (0, 0, 90)),
    Label("trailer",               30, 255, "vehicle",      7, True,  True,  (0, 0, 110)),
    Label("train",                 31, 16,  "vehicle",      7, True,  False, (0, 80, 100)),
    Label("motorcycle",            32, 17,  "vehicle",      7, True,  False, (0, 0, 230)),
    Label("bicycle",               33, 18,  "vehicle",      7, True,  False, (119, 11, 32)),
    Label("license plate",         -1, -1,  "vehicle",      7, False, True,  (0, 0, 142)),
)

NAME_TO_LABEL = {label.name: label for label in LABELS}

TRAIN_LABELS = tuple(sorted((l for l in LABELS if 0 <= l.trainId < IGNORE_LABEL), key=lambda l: l.trainId))
NUM_CLASSES = len(TRAIN_LABELS)
TRAIN_CLASS_NAMES = tuple(label.name for label in TRAIN_LABELS)
# RGB colour per trainId (row trainId), e.g. for coloured prediction maps.
TRAIN_ID_PALETTE = np.array([label.color for label in TRAIN_LABELS], dtype=np.uint8)


def _id_to_train_id_lut():
    lut = np.full(256, IGNORE_LABEL, dtype=np.uint8)
    for label in LABELS:
        if 0 <= label.id and 0 <= label.trainId < IGNORE_LABEL:
            lut[label.id] = label.trainId
    return lut


# Index with a uint8 labelIds map: unknown ids (34..255) and -1 (255 in uint8) map to IGNORE_LABEL.
ID_TO_TRAIN_ID = _id_to_train_id_lut()
# Index with a uint8 trainId map: 0..18 -> Cityscapes id, IGNORE_LABEL (and anything else) -> 0.
TRAIN_ID_TO_ID = np.zeros(256, dtype=np.uint8)
TRAIN_ID_TO_ID[[l.trainId for l in TRAIN_LABELS]] = [l.id for l in TRAIN_LABELS]


def label_ids_to_train_ids(label_ids):
    """Map a labelIds array (any integer dtype, -1 allowed) to a uint8 trainId map."""
    label_ids = np.asarray(label_ids)
    valid = (label_ids >= 0) & (label_ids < ID_TO_TRAIN_ID.size)
    return np.where(valid, ID_TO_TRAIN_ID[np.where(valid, label_ids, 0)], IGNORE_LABEL).astype(np.uint8)


def train_ids_to_color(train_ids):
    """RGB image (H, W, 3) of a trainId map; ignored pixels are black."""
    palette = np.zeros((256, 3), dtype=np.uint8)
    palette[:NUM_CLASSES] = TRAIN_ID_PALETTE
    return palette[np.asarray(train_ids, dtype=np.uint8)]
