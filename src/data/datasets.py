"""The data set registry: per data set its class table, ignore label, file layout and default recipe.

Every stage learns the classes from here (converter, search, train, eval, predict), so a data set's
names, colours and label mapping are stated once. The Cityscapes table itself lives in
``src.data.labels`` (checked field by field against cityscapesscripts); a custom data set's table
is its ``classes.txt``. A MindRecord folder records its data set and class table in
``dataset.json`` (``write_record_info``), which later stages compare with their config.
"""
import json
import os
import re
from collections import namedtuple
from dataclasses import dataclass
from typing import Callable, Optional, Tuple

import numpy as np

from src.data import cityscapes, labels
from src.errors import UserError
from src.fileio import atomic_write

IGNORE_LABEL = labels.IGNORE_LABEL
MAX_CLASSES = IGNORE_LABEL  # class indices 0..254: 255 is the ignore label
RECORD_INFO = "dataset.json"
_RECORD_FILE = re.compile(r"\.mindrecord\d*$")
SPLITS = ("train", "val")

# kind "labelids": a single-channel PNG read as stored (Cityscapes' labelIds);
# kind "indexed": a palette (P) or greyscale (L) PNG whose pixel values are the class indices.
# lut[raw value] = train id, IGNORE_LABEL, or -1 for a value outside the class table.
LabelMap = namedtuple("LabelMap", ["dataset", "kind", "lut"])
Sample = namedtuple("Sample", ["name", "image_path", "label_path", "label_map"])


@dataclass(frozen=True)
class ClassTable:
    """Names and RGB colours per train id (0..N-1), and the label value that is never trained or scored."""

    names: Tuple[str, ...]
    colours: Tuple[Tuple[int, int, int], ...]
    ignore_label: int = IGNORE_LABEL

    @property
    def num_classes(self):
        return len(self.names)

    def palette(self):
        """(256, 3) uint8 RGB per label value: the class colours, black for ignored and unknown values."""
        palette = np.zeros((256, 3), np.uint8)
        palette[:self.num_classes] = self.colours
        return palette

    def to_json(self):
        return {"names": list(self.names), "colours": [list(c) for c in self.colours],
                "ignore_label": self.ignore_label}

    @classmethod
    def from_json(cls, data):
        return cls(tuple(data["names"]), tuple(tuple(int(v) for v in c) for c in data["colours"]),
                   int(data["ignore_label"]))


def voc_colours(count):
    """The PASCAL VOC colour map (bit-interleaved class index): distinct colours for up to 256 classes."""
    colours = []
    for index in range(count):
        rgb, value = [0, 0, 0], index
        for bit in range(8):
            for channel in range(3):
                rgb[channel] |= ((value >> channel) & 1) << (7 - bit)
            value >>= 3
        colours.append(tuple(rgb))
    return tuple(colours)


VOC_NAMES = ("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
             "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
             "tvmonitor")

# SceneParsing objectInfo150 order (class k-1 is annotation value k), short names; colours of the
# benchmark's own visualisation (CSAIL semantic-segmentation-pytorch color150).
ADE20K_NAMES = (
    "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane", "grass", "cabinet",
    "sidewalk", "person", "earth", "door", "table", "mountain", "plant", "curtain", "chair", "car", "water",
    "painting", "sofa", "shelf", "house", "sea", "mirror", "rug", "field", "armchair", "seat", "fence", "desk",
    "rock", "wardrobe", "lamp", "bathtub", "railing", "cushion", "base", "box", "column", "signboard",
    "chest of drawers", "counter", "sand", "sink", "skyscraper", "fireplace", "refrigerator", "grandstand",
    "path", "stairs", "runway", "case", "pool table", "pillow", "screen door", "stairway", "river", "bridge",
    "bookcase", "blind", "coffee table", "toilet", "flower", "book", "hill", "bench", "countertop", "stove",
    "palm", "kitchen island", "computer", "swivel chair", "boat", "bar", "arcade machine", "hovel", "bus",
    "towel", "light", "truck", "tower", "chandelier", "awning", "streetlight", "booth", "television receiver",
    "airplane", "dirt track", "apparel", "pole", "land", "bannister", "escalator", "ottoman", "bottle",
    "buffet", "poster", "stage", "van", "ship", "fountain", "conveyer belt", "canopy", "washer", "plaything",
    "swimming pool", "stool", "barrel", "basket", "waterfall", "tent", "bag", "minibike", "cradle", "oven",
    "ball", "food", "step", "tank", "trade name", "microwave", "pot", "animal", "bicycle", "lake",
    "dishwasher", "screen", "blanket", "sculpture", "hood", "sconce", "vase", "traffic light", "tray",
    "ashcan", "fan", "pier", "crt screen", "plate", "monitor", "bulletin board", "shower", "radiator",
    "glass", "clock", "flag")
ADE20K_COLOURS = (
    (120, 120, 120), (180, 120, 120), (6, 230, 230), (80, 50, 50), (4, 200, 3), (120, 120, 80), (140, 140, 140),
    (204, 5, 255), (230, 230, 230), (4, 250, 7), (224, 5, 255), (235, 255, 7), (150, 5, 61), (120, 120, 70),
    (8, 255, 51), (255, 6, 82), (143, 255, 140), (204, 255, 4), (255, 51, 7), (204, 70, 3), (0, 102, 200),
    (61, 230, 250), (255, 6, 51), (11, 102, 255), (255, 7, 71), (255, 9, 224), (9, 7, 230), (220, 220, 220),
    (255, 9, 92), (112, 9, 255), (8, 255, 214), (7, 255, 224), (255, 184, 6), (10, 255, 71), (255, 41, 10),
    (7, 255, 255), (224, 255, 8), (102, 8, 255), (255, 61, 6), (255, 194, 7), (255, 122, 8), (0, 255, 20),
    (255, 8, 41), (255, 5, 153), (6, 51, 255), (235, 12, 255), (160, 150, 20), (0, 163, 255), (140, 140, 140),
    (250, 10, 15), (20, 255, 0), (31, 255, 0), (255, 31, 0), (255, 224, 0), (153, 255, 0), (0, 0, 255),
    (255, 71, 0), (0, 235, 255), (0, 173, 255), (31, 0, 255), (11, 200, 200), (255, 82, 0), (0, 255, 245),
    (0, 61, 255), (0, 255, 112), (0, 255, 133), (255, 0, 0), (255, 163, 0), (255, 102, 0), (194, 255, 0),
    (0, 143, 255), (51, 255, 0), (0, 82, 255), (0, 255, 41), (0, 255, 173), (10, 0, 255), (173, 255, 0),
    (0, 255, 153), (255, 92, 0), (255, 0, 255), (255, 0, 245), (255, 0, 102), (255, 173, 0), (255, 0, 20),
    (255, 184, 184), (0, 31, 255), (0, 255, 61), (0, 71, 255), (255, 0, 204), (0, 255, 194), (0, 255, 82),
    (0, 10, 255), (0, 112, 255), (51, 0, 255), (0, 194, 255), (0, 122, 255), (0, 255, 163), (255, 153, 0),
    (0, 255, 10), (255, 112, 0), (143, 255, 0), (82, 0, 255), (163, 255, 0), (255, 235, 0), (8, 184, 170),
    (133, 0, 255), (0, 255, 92), (184, 0, 255), (255, 0, 31), (0, 184, 255), (0, 214, 255), (255, 0, 112),
    (92, 255, 0), (0, 224, 255), (112, 224, 255), (70, 184, 160), (163, 0, 255), (153, 0, 255), (71, 255, 0),
    (255, 0, 163), (255, 204, 0), (255, 0, 143), (0, 255, 235), (133, 255, 0), (255, 0, 235), (245, 0, 255),
    (255, 0, 122), (255, 245, 0), (10, 190, 212), (214, 255, 0), (0, 204, 255), (20, 0, 255), (255, 255, 0),
    (0, 153, 255), (0, 41, 255), (0, 255, 204), (41, 0, 255), (41, 255, 0), (173, 0, 255), (0, 245, 255),
    (71, 0, 255), (122, 0, 255), (0, 255, 184), (0, 92, 255), (184, 255, 0), (0, 133, 255), (255, 214, 0),
    (25, 194, 194), (102, 255, 0), (92, 0, 255))


def _index_lut(offset, num_classes, zero_ignored=False):
    """LUT of an indexed mask: value v -> v - offset for the classes, 0 -> ignore when `zero_ignored`,
    255 -> ignore, anything else -1 (outside the class table)."""
    lut = np.full(256, -1, np.int16)
    lut[offset:offset + num_classes] = np.arange(num_classes)
    lut[IGNORE_LABEL] = IGNORE_LABEL
    if zero_ignored:
        lut[0] = IGNORE_LABEL
    return lut


def _check_root(root, what, hint):
    if not root or not os.path.isdir(root):
        raise UserError(f"{what} root '{root}' does not exist or is not a directory: pass the directory that "
                        f"holds {hint}")


def _check_split(split):
    if split not in SPLITS:
        raise UserError(f"unknown split '{split}': choose one of {', '.join(SPLITS)}")


def _pair_up(names, image_of, mask_of, label_map):
    """Samples of `names` sorted; one error naming the first image without its mask."""
    samples = [Sample(name, image_of(name), mask_of(name), label_map) for name in sorted(names)]
    for sample in samples:
        if not os.path.isfile(sample.image_path):
            raise UserError(f"image '{sample.image_path}' is missing (listed in the split): restore it or remove "
                            f"'{sample.name}' from the split")
        if not os.path.isfile(sample.label_path):
            raise UserError(f"image '{sample.image_path}' has no mask: expected '{sample.label_path}'")
    return samples


# ---- Cityscapes -------------------------------------------------------------------------------

CITYSCAPES_TABLE = ClassTable(labels.TRAIN_CLASS_NAMES,
                              tuple(tuple(int(v) for v in colour) for colour in labels.TRAIN_ID_PALETTE))


def _cityscapes_samples(root, split, table):
    label_map = LabelMap("cityscapes", "labelids", labels.ID_TO_TRAIN_ID.astype(np.int16))
    return [Sample(*sample, label_map) for sample in cityscapes.find_samples(root, split)]


# ---- PASCAL VOC 2012 --------------------------------------------------------------------------

VOC_TABLE = ClassTable(VOC_NAMES, voc_colours(len(VOC_NAMES)))


def voc_root(root):
    """VOCdevkit/VOC2012 whether `root` names it, VOCdevkit or the folder holding VOCdevkit."""
    for candidate in (root, os.path.join(root, "VOC2012"), os.path.join(root, "VOCdevkit", "VOC2012")):
        if os.path.isdir(os.path.join(candidate, "JPEGImages")):
            return candidate
    return root


def _read_split_file(path, what):
    try:
        with open(path, encoding="utf-8") as handle:
            names = [line.split()[0] for line in handle if line.strip()]
    except FileNotFoundError:
        raise UserError(f"split file '{path}' is missing: {what}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"cannot read split file '{path}' ({err}): {what}") from None
    if not names:
        raise UserError(f"split file '{path}' lists no images: {what}")
    # train_aug.txt lists "/JPEGImages/x.jpg /SegmentationClassAug/x.png"; the VOC files list "x".
    return [os.path.splitext(os.path.basename(name))[0] for name in names]


def _voc_samples(root, split, table):
    _check_split(split)
    _check_root(root, "PASCAL VOC", "JPEGImages/, SegmentationClass/ and ImageSets/Segmentation/ "
                                    "(VOCdevkit/VOC2012)")
    root = voc_root(root)
    sets = os.path.join(root, "ImageSets", "Segmentation")
    aug_list, aug_masks = os.path.join(sets, "train_aug.txt"), os.path.join(root, "SegmentationClassAug")
    use_aug = split == "train" and os.path.isfile(aug_list) and os.path.isdir(aug_masks)
    list_path = aug_list if use_aug else os.path.join(sets, f"{split}.txt")
    masks = aug_masks if use_aug else os.path.join(root, "SegmentationClass")
    names = _read_split_file(list_path, "pass the VOC2012 folder of the VOCtrainval archive (it holds "
                                        "ImageSets/Segmentation/train.txt and val.txt)")
    label_map = LabelMap("voc", "indexed", _index_lut(0, table.num_classes))
    return _pair_up(names, lambda n: os.path.join(root, "JPEGImages", n + ".jpg"),
                    lambda n: os.path.join(masks, n + ".png"), label_map)


# ---- ADE20K SceneParsing ----------------------------------------------------------------------

ADE20K_TABLE = ClassTable(ADE20K_NAMES, ADE20K_COLOURS)
ADE20K_SPLITS = {"train": "training", "val": "validation"}


def _ade20k_samples(root, split, table):
    _check_split(split)
    _check_root(root, "ADE20K", "images/ and annotations/ (ADEChallengeData2016)")
    nested = os.path.join(root, "ADEChallengeData2016")
    root = nested if os.path.isdir(nested) else root
    images = os.path.join(root, "images", ADE20K_SPLITS[split])
    if not os.path.isdir(images):
        raise UserError(f"split '{split}' not found: '{images}' does not exist; pass the ADEChallengeData2016 "
                        "folder (images/{training,validation}/*.jpg, annotations/{training,validation}/*.png)")
    names = [f[:-4] for f in os.listdir(images) if f.lower().endswith(".jpg")]
    if not names:
        raise UserError(f"split '{split}' is empty: no *.jpg files in '{images}'")
    label_map = LabelMap("ade20k", "indexed", _index_lut(1, table.num_classes, zero_ignored=True))
    masks = os.path.join(root, "annotations", ADE20K_SPLITS[split])
    return _pair_up(names, lambda n: os.path.join(images, n + ".jpg"), lambda n: os.path.join(masks, n + ".png"),
                    label_map)


# ---- Custom: a folder of images and masks ------------------------------------------------------

CLASSES_FILE = "classes.txt"
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
_CLASS_LINE = re.compile(r"^(.*?)(?:\s+(\d{1,3})\s+(\d{1,3})\s+(\d{1,3}))?$")


def read_classes_file(path):
    """ClassTable of a classes.txt: line i names class i, optionally followed by its colour as 'R G B'."""
    fix = f"write one class name per line (optionally 'name R G B'), class 0 first, in '{path}'"
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except FileNotFoundError:
        raise UserError(f"class table '{path}' is missing: {fix}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"cannot read class table '{path}' ({err}): {fix}") from None
    while lines and not lines[-1].strip():
        lines.pop()
    names, colours = [], []
    default = voc_colours(len(lines))
    for number, line in enumerate(lines, 1):
        name, *rgb = _CLASS_LINE.match(line.strip()).groups()
        if not name:
            raise UserError(f"class table '{path}' line {number} is empty: {fix}")
        if name in names:
            raise UserError(f"class table '{path}' names '{name}' twice (lines {names.index(name) + 1} and "
                            f"{number}): class names must be unique")
        if rgb[0] is not None and max(int(v) for v in rgb) > 255:
            raise UserError(f"class table '{path}' line {number}: colour values must be 0..255")
        names.append(name)
        colours.append(tuple(int(v) for v in rgb) if rgb[0] is not None else default[number - 1])
    if not 2 <= len(names) <= MAX_CLASSES:
        raise UserError(f"class table '{path}' lists {len(names)} classes: need 2..{MAX_CLASSES} (mask value 255 "
                        "is the ignore label)")
    return ClassTable(tuple(names), tuple(colours))


def _custom_table(root):
    _check_root(root, "custom data set", f"{CLASSES_FILE}, images/<split>/ and masks/<split>/")
    return read_classes_file(os.path.join(root, CLASSES_FILE))


def _custom_samples(root, split, table):
    _check_split(split)
    images = os.path.join(root, "images", split)
    if not os.path.isdir(images):
        raise UserError(f"split '{split}' not found: '{images}' does not exist; put the images in "
                        f"images/{split}/ and their masks in masks/{split}/ (same name, .png)")
    files = {}
    for file_name in os.listdir(images):
        stem, extension = os.path.splitext(file_name)
        if extension.lower() in IMAGE_EXTENSIONS:
            if stem in files:
                raise UserError(f"'{images}' holds two images named '{stem}' ({files[stem]} and {file_name}): "
                                "rename one (masks are matched by name)")
            files[stem] = file_name
    if not files:
        raise UserError(f"split '{split}' is empty: no {'/'.join(IMAGE_EXTENSIONS)} files in '{images}'")
    label_map = LabelMap("custom", "indexed", _index_lut(0, table.num_classes))
    masks = os.path.join(root, "masks", split)
    return _pair_up(files, lambda n: os.path.join(images, files[n]), lambda n: os.path.join(masks, n + ".png"),
                    label_map)


# ---- Registry ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Dataset:
    """One data set: its class table (None: the data's classes.txt, see ``table_of``), the layout
    build_mindrecord.py reads, its retrain config, and the function finding a split's samples."""

    name: str
    table: Optional[ClassTable]
    layout: str
    retrain_config: str
    find: Callable


DATASETS = {
    "cityscapes": Dataset("cityscapes", CITYSCAPES_TABLE,
                          "leftImg8bit/<split>/<city>/*_leftImg8bit.png, gtFine/<split>/<city>/*_gtFine_labelIds.png",
                          "config/autodeeplab_s.yaml", _cityscapes_samples),
    "voc": Dataset("voc", VOC_TABLE,
                   "VOCdevkit/VOC2012/JPEGImages/*.jpg, SegmentationClass/*.png (train: SegmentationClassAug/*.png "
                   "and train_aug.txt when present), ImageSets/Segmentation/{train,val}.txt",
                   "config/voc.yaml", _voc_samples),
    "ade20k": Dataset("ade20k", ADE20K_TABLE,
                      "ADEChallengeData2016/images/{training,validation}/*.jpg, "
                      "annotations/{training,validation}/*.png",
                      "config/ade20k.yaml", _ade20k_samples),
    "custom": Dataset("custom", None, "classes.txt, images/<split>/*.{jpg,jpeg,png}, masks/<split>/*.png",
                      "config/autodeeplab_s.yaml", _custom_samples),
}
NAMES = tuple(DATASETS)


def get_dataset(name):
    if name not in DATASETS:
        raise UserError(f"unknown data set '{name}': choose one of {', '.join(NAMES)}")
    return DATASETS[name]


def table_of(name, root):
    """Class table of data set `name`; a custom data set's is the classes.txt under `root`."""
    dataset = get_dataset(name)
    return dataset.table if dataset.table is not None else _custom_table(root)


def find_samples(name, root, split):
    """(ClassTable, Samples of `split`) of the data set `name` stored at `root`."""
    table = table_of(name, root)
    return table, get_dataset(name).find(root, split, table)


# ---- What a MindRecord folder holds -----------------------------------------------------------

def record_info_path(folder):
    return os.path.join(folder, RECORD_INFO)


def read_record_info(folder):
    """(data set name, ClassTable) recorded in a MindRecord folder; a folder without the record
    (written before data sets were recorded) holds Cityscapes."""
    path = record_info_path(folder)
    if not os.path.exists(path):
        return "cityscapes", CITYSCAPES_TABLE
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        return data["dataset"], ClassTable.from_json(data)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise UserError(f"'{path}' is not a readable data set record ({err}): rebuild the folder with "
                        "build_mindrecord.py --overwrite") from None


def holds_record_info(folder, name, table):
    """Whether `folder` has a dataset.json naming data set `name` with `table`."""
    return os.path.exists(record_info_path(folder)) and read_record_info(folder) == (name, table)


def check_record_info(folder, name, table):
    """Refuse to add data set `name` to a folder holding MindRecords of another data set or class table."""
    if not any(_RECORD_FILE.search(f) and not f.startswith(".") for f in os.listdir(folder)):
        return
    recorded, recorded_table = read_record_info(folder)
    if (recorded, recorded_table) != (name, table):
        what = "class table" if recorded == name else f"data set, {recorded}"
        raise UserError(f"'{folder}' holds MindRecords of another {what} ({recorded_table.num_classes} classes: "
                        f"{', '.join(recorded_table.names[:3])}, ...): write {name} to another --output_path")


def write_record_info(folder, name, table):
    """Write the folder's dataset.json atomically (the data set and class table of its MindRecords)."""
    with atomic_write(record_info_path(folder)) as handle:
        json.dump({"dataset": name, **table.to_json()}, handle, indent=1)


def check_config_matches(cfg, folder):
    """The ClassTable of the MindRecord folder, after checking that `cfg` (dataset, num_classes,
    ignore_label) fits it: a run must not read one data set's labels with another's classes."""
    recorded, table = read_record_info(folder)
    if cfg.dataset != recorded:
        raise UserError(f"data_path '{folder}' holds {recorded} MindRecords but dataset is {cfg.dataset}: "
                        f"pass --dataset {recorded} (retrain config {get_dataset(recorded).retrain_config}) or "
                        "another --data_path")
    if cfg.num_classes != table.num_classes:
        raise UserError(f"num_classes is {cfg.num_classes} but the {recorded} MindRecords in '{folder}' have "
                        f"{table.num_classes} classes: drop --num_classes (it follows the data set) or set it to "
                        f"{table.num_classes}")
    if cfg.ignore_label != table.ignore_label:
        raise UserError(f"ignore_label is {cfg.ignore_label} but the MindRecords in '{folder}' mark ignored "
                        f"pixels with {table.ignore_label}: set --ignore_label {table.ignore_label}")
    return table


def run_table(cfg):
    """ClassTable of a run's data set (cfg.dataset): the registry's; a custom data set's from
    classes_path (its classes.txt or MindRecord folder), else from data_path's record; None if neither."""
    dataset = get_dataset(cfg.dataset)
    if dataset.table is not None:
        return dataset.table
    path = cfg.classes_path
    if path is None and cfg.data_path and os.path.exists(record_info_path(cfg.data_path)):
        path = cfg.data_path
    if path is None:
        return None
    if os.path.isdir(path):
        recorded, table = read_record_info(path)
        if recorded != "custom":
            raise UserError(f"classes_path '{path}' holds {recorded} MindRecords, not a custom data set's: pass the "
                            "custom data set's classes.txt or MindRecord folder")
        return table
    return read_classes_file(path)


def with_dataset(cfg, reads_records=False):
    """`cfg` with num_classes set by its data set's class table (unless num_classes was given), so a
    checkpoint of other classes is refused rather than adopted; with `reads_records`, checked against
    the MindRecord folder at data_path (dataset.json). Without records to read and no dataset given
    (predict's default), a checkpoint's num_classes is still taken as before."""
    table = run_table(cfg)
    decides = reads_records or "dataset" in cfg.given
    if table is not None and decides and "num_classes" not in cfg.given:
        cfg = cfg.replace(num_classes=table.num_classes)
    if reads_records and cfg.data_path and os.path.isdir(cfg.data_path):
        check_config_matches(cfg, cfg.data_path)
    return cfg


def output_table(cfg):
    """Class names and colours for a run's outputs (eval's table, predict's colours): the data set's,
    or numbered classes when num_classes differs from it (e.g. a checkpoint of another data set)."""
    table = run_table(cfg)
    if table is None or table.num_classes != cfg.num_classes:
        return ClassTable(tuple(str(c) for c in range(cfg.num_classes)), voc_colours(cfg.num_classes),
                          cfg.ignore_label)
    return table
