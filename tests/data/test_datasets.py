"""The data set registry and the conversion of VOC, ADE20K and custom layouts: exact round trip of
each format's public layout, the folder's data set record, one clear error per bad input."""
import glob
import json
import os
import shutil
import subprocess
import sys

import cv2
import mindspore.dataset as ds
import numpy as np
import pytest
from PIL import Image

from src import config
from src.data import datasets, labels
from src.data.mindrecord_writer import build_mindrecord, find_mindrecord
from src.data.synthetic import generate
from src.errors import UserError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FORMATS = ("voc", "ade20k", "custom")
TRAIN, VAL = 3, 2


def test_cityscapes_table_is_the_label_module_s():
    table = datasets.DATASETS["cityscapes"].table
    assert table.names == labels.TRAIN_CLASS_NAMES
    assert np.array_equal(np.array(table.colours, np.uint8), labels.TRAIN_ID_PALETTE)


def test_voc_and_ade20k_tables():
    voc = datasets.DATASETS["voc"].table
    assert voc.num_classes == 21 and voc.names[15] == "person"
    # the devkit's VOClabelcolormap: aeroplane dark red, person (192, 128, 128), tvmonitor (0, 64, 128)
    assert voc.colours[1] == (128, 0, 0) and voc.colours[15] == (192, 128, 128) and voc.colours[20] == (0, 64, 128)
    ade = datasets.DATASETS["ade20k"].table
    assert ade.num_classes == 150 and len(set(ade.names)) == 150 and len(ade.colours) == 150
    assert (ade.names[0], ade.names[149]) == ("wall", "flag")
    assert all(table.ignore_label == 255 for table in (voc, ade))


@pytest.fixture(scope="module", params=FORMATS)
def converted(request, tmp_path_factory):
    """(format, generated root, MindRecord folder) of a tiny tree in each public layout."""
    base = tmp_path_factory.mktemp(request.param)
    root, out = base / "data", base / "mindrecord"
    generate(str(root), TRAIN, VAL, 32, 48, seed=3, dataset=request.param)
    for split in ("train", "val"):
        build_mindrecord(str(root), str(out), split, num_workers=2 if split == "train" else 1, progress=False,
                         dataset=request.param)
    return request.param, root, out


def _source_pairs(fmt, root, split):
    """(name, image path, expected train ids) read from the layout without the registry."""
    if fmt == "voc":
        voc = root / "VOCdevkit" / "VOC2012"
        names = (voc / "ImageSets" / "Segmentation" / f"{split}.txt").read_text().split()
        for name in names:
            mask = Image.open(voc / "SegmentationClass" / f"{name}.png")
            assert mask.mode == "P"  # the public layout's palette PNG
            yield name, voc / "JPEGImages" / f"{name}.jpg", np.array(mask)
    elif fmt == "ade20k":
        folder = {"train": "training", "val": "validation"}[split]
        for image in sorted((root / "ADEChallengeData2016" / "images" / folder).glob("*.jpg")):
            raw = np.array(Image.open(root / "ADEChallengeData2016" / "annotations" / folder / f"{image.stem}.png"))
            yield image.stem, image, np.where(raw == 0, 255, raw.astype(np.int32) - 1).astype(np.uint8)
    else:
        for image in sorted((root / "images" / split).glob("*.png")):
            yield image.stem, image, np.array(Image.open(root / "masks" / split / f"{image.stem}.png"))


def test_round_trip_gives_source_pixels_and_mapped_labels(converted):
    fmt, root, out = converted
    for split, count in (("train", TRAIN), ("val", VAL)):
        data = ds.MindDataset(find_mindrecord(str(out), split), columns_list=["image", "label", "file_name"],
                              shuffle=False)
        rows = list(data.create_dict_iterator(output_numpy=True, num_epochs=1))
        expected = list(_source_pairs(fmt, root, split))
        assert len(rows) == len(expected) == count
        seen_ignore = False
        for row, (name, image_path, train_ids) in zip(rows, expected):
            assert str(row["file_name"]) == name
            image = cv2.imdecode(np.frombuffer(row["image"].tobytes(), np.uint8), cv2.IMREAD_UNCHANGED)
            assert np.array_equal(image, cv2.imread(str(image_path), cv2.IMREAD_UNCHANGED))
            label = cv2.imdecode(np.frombuffer(row["label"].tobytes(), np.uint8), cv2.IMREAD_UNCHANGED)
            assert np.array_equal(label, train_ids)
            seen_ignore |= bool((label == 255).any())
        assert seen_ignore  # the void pixels of the scenes arrive as the ignore label


def test_folder_records_data_set_and_class_table(converted):
    fmt, root, out = converted
    with open(out / "dataset.json") as handle:
        record = json.load(handle)
    assert record["dataset"] == fmt
    expected = datasets.table_of(fmt, str(root))
    assert tuple(record["names"]) == expected.names and record["ignore_label"] == 255
    if fmt == "custom":  # classes.txt: colours on even lines, the default colours elsewhere
        assert expected.names == labels.TRAIN_CLASS_NAMES
        assert expected.colours[0] == tuple(labels.TRAIN_ID_PALETTE[0])
        assert expected.colours[1] == datasets.voc_colours(19)[1]
    assert datasets.read_record_info(str(out)) == (fmt, expected)


def test_other_data_set_is_refused_in_a_converted_folder(converted, demo_cityscapes_root):
    fmt, _, out = converted
    with pytest.raises(UserError, match=rf"holds MindRecords of another data set, {fmt} .*: write cityscapes to "
                                        r"another --output_path"):
        build_mindrecord(str(demo_cityscapes_root), str(out), "val", num_workers=1, progress=False)


def test_cityscapes_folder_without_record_is_cityscapes(demo_mindrecord_dir, demo_cityscapes_root, tmp_path):
    """Cityscapes output is what it was before data sets were recorded: no dataset.json, and such a
    folder reads as Cityscapes; a stale record of another data set in a folder without records is replaced."""
    assert not (demo_mindrecord_dir / "dataset.json").exists()
    assert datasets.read_record_info(str(demo_mindrecord_dir)) == ("cityscapes", datasets.CITYSCAPES_TABLE)
    assert find_mindrecord(str(demo_mindrecord_dir), "val").endswith("cityscapes_val.mindrecord")
    with pytest.raises(UserError, match="holds MindRecords of another data set, cityscapes .*: write voc to"):
        datasets.check_record_info(str(demo_mindrecord_dir), "voc", datasets.VOC_TABLE)
    stale = tmp_path / "stale"
    stale.mkdir()
    datasets.write_record_info(str(stale), "voc", datasets.VOC_TABLE)
    build_mindrecord(str(demo_cityscapes_root), str(stale), "val", num_workers=1, progress=False)
    assert datasets.read_record_info(str(stale)) == ("cityscapes", datasets.CITYSCAPES_TABLE)


def test_voc_train_uses_sbd_augmented_set_when_present(tmp_path):
    root = tmp_path / "voc"
    generate(str(root), 4, 1, 32, 48, seed=1, dataset="voc")
    voc = root / "VOCdevkit" / "VOC2012"
    aug = voc / "SegmentationClassAug"
    aug.mkdir()
    names = (voc / "ImageSets" / "Segmentation" / "train.txt").read_text().split()
    for name in names:  # SBD's masks are greyscale PNGs; train_aug.txt lists "image mask" paths
        Image.fromarray(np.full((32, 48), 7, np.uint8), "L").save(aug / f"{name}.png")
    (voc / "ImageSets" / "Segmentation" / "train_aug.txt").write_text(
        "".join(f"/JPEGImages/{n}.jpg /SegmentationClassAug/{n}.png\n" for n in names[:3]))
    table, samples = datasets.find_samples("voc", str(root), "train")
    assert [s.name for s in samples] == sorted(names[:3])
    assert all(os.path.dirname(s.label_path) == str(aug) for s in samples)
    out = tmp_path / "out"
    build_mindrecord(str(root), str(out), "train", num_workers=1, progress=False, dataset="voc")
    rows = list(ds.MindDataset(find_mindrecord(str(out), "train"), columns_list=["label"], shuffle=False)
                .create_dict_iterator(output_numpy=True, num_epochs=1))
    assert len(rows) == 3
    assert all((cv2.imdecode(np.frombuffer(r["label"].tobytes(), np.uint8), 0) == 7).all() for r in rows)


def _first(pattern):
    return sorted(glob.glob(pattern, recursive=True))[0]


BREAKAGES = {
    "voc": [
        ("missing_split_file", lambda r: os.remove(_first(f"{r}/**/Segmentation/val.txt")),
         r"split file '.*val\.txt' is missing: pass the VOC2012 folder"),
        ("image_without_mask", lambda r: os.remove(_first(f"{r}/**/SegmentationClass/val_00001.png")),
         r"image '.*val_00001\.jpg' has no mask: expected '.*SegmentationClass/val_00001\.png'"),
        ("values_outside_table", lambda r: Image.fromarray(np.full((32, 48), 30, np.uint8), "L").save(
            _first(f"{r}/**/SegmentationClass/val_00000.png")),
         r"'.*val_00000\.png' holds values 30 outside the voc class table \(valid: 0-20, 255\)"),
        ("colour_mask", lambda r: cv2.imwrite(_first(f"{r}/**/SegmentationClass/val_00000.png"),
                                              np.zeros((32, 48, 3), np.uint8)),
         r"'.*val_00000\.png' is a RGB PNG: a mask must hold one class index per pixel"),
        ("size_mismatch", lambda r: Image.fromarray(np.zeros((16, 48), np.uint8), "L").save(
            _first(f"{r}/**/SegmentationClass/val_00001.png")),
         r"size mismatch: image '.*val_00001\.jpg' is 48x32 but label '.*val_00001\.png' is 48x16"),
        ("truncated_jpeg", lambda r: _truncate(_first(f"{r}/**/JPEGImages/val_00000.jpg")),
         r"'.*val_00000\.jpg' is a truncated JPEG"),
    ],
    "ade20k": [
        ("missing_split", lambda r: shutil.rmtree(_first(f"{r}/**/images/validation")),
         r"split 'val' not found: '.*images/validation' does not exist"),
        ("image_without_mask", lambda r: os.remove(_first(f"{r}/**/annotations/validation/*.png")),
         r"image '.*ADE_val_00000\.jpg' has no mask: expected '.*annotations/validation/ADE_val_00000\.png'"),
        ("values_outside_table", lambda r: Image.fromarray(np.full((32, 48), 200, np.uint8), "L").save(
            _first(f"{r}/**/annotations/validation/*.png")),
         r"holds values 200 outside the ade20k class table \(valid: 0-150, 255\)"),
    ],
    "custom": [
        ("no_classes_file", lambda r: os.remove(f"{r}/classes.txt"),
         r"class table '.*classes\.txt' is missing: write one class name per line"),
        ("duplicate_class", lambda r: open(f"{r}/classes.txt", "a").write("road\n"),
         r"class table '.*classes\.txt' names 'road' twice \(lines 1 and 20\)"),
        ("values_outside_table", lambda r: Image.fromarray(np.full((32, 48), 19, np.uint8), "L").save(
            f"{r}/masks/val/val_00000.png"),
         r"holds values 19 outside the custom class table \(valid: 0-18, 255\): fix the mask, or the class table"),
        ("image_without_mask", lambda r: os.remove(f"{r}/masks/val/val_00001.png"),
         r"image '.*images/val/val_00001\.png' has no mask"),
        ("unreadable_palette", lambda r: _corrupt_palette(f"{r}/masks/val/val_00000.png"),
         r"'.*val_00000\.png' is a corrupt PNG \(CRC error in chunk b'PLTE'\)"),
    ],
}


def _truncate(path):
    with open(path, "rb") as handle:
        data = handle.read()
    with open(path, "wb") as handle:
        handle.write(data[:len(data) // 2])


def _corrupt_palette(path):
    mask = Image.open(path).convert("P")
    mask.putpalette([0, 0, 0] * 256)
    mask.save(path)
    with open(path, "rb") as handle:
        data = bytearray(handle.read())
    data[data.index(b"PLTE") + 6] ^= 0xFF
    with open(path, "wb") as handle:
        handle.write(bytes(data))


@pytest.mark.parametrize("fmt,breakage,message", [(f, b, m) for f, cases in BREAKAGES.items() for b, _, m in cases])
def test_bad_input_one_message_nothing_written(tmp_path, fmt, breakage, message):
    root, out = tmp_path / "data", tmp_path / "out"
    generate(str(root), 0, VAL, 32, 48, seed=2, dataset=fmt)
    dict((b, f) for b, f, _ in BREAKAGES[fmt])[breakage](str(root))
    with pytest.raises(UserError, match=message):
        build_mindrecord(str(root), str(out), "val", num_workers=1, progress=False, dataset=fmt)
    assert not out.exists() or os.listdir(out) == []


@pytest.mark.parametrize("text,message", [
    ("road\n\nsky\n", r"line 2 is empty"),
    ("only\n", r"lists 1 classes: need 2\.\.255"),
    ("road 300 0 0\nsky\n", r"line 1: colour values must be 0\.\.255"),
])
def test_bad_classes_file(tmp_path, text, message):
    path = tmp_path / "classes.txt"
    path.write_text(text)
    with pytest.raises(UserError, match=message):
        datasets.read_classes_file(str(path))


def test_classes_file_names_with_spaces_and_colours(tmp_path):
    path = tmp_path / "classes.txt"
    path.write_text("back ground\ntraffic light 250 170 30\n\n")
    table = datasets.read_classes_file(str(path))
    assert table.names == ("back ground", "traffic light")
    assert table.colours == (datasets.voc_colours(2)[0], (250, 170, 30))


def test_cli_dataset_option(tmp_path):
    root, out = tmp_path / "ade", tmp_path / "out"
    generate(str(root), 0, 1, 32, 48, dataset="ade20k")
    proc = subprocess.run([sys.executable, "build_mindrecord.py", "--dataset", "ade20k", "--data_path", str(root),
                           "--output_path", str(out), "--split", "val", "--num_workers", "1"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "wrote " + str(out / "ade20k_val.mindrecord") in proc.stdout
    proc = subprocess.run([sys.executable, "build_mindrecord.py", "--dataset", "voc", "--data_path", str(root),
                           "--output_path", str(tmp_path / "voc"), "--split", "val"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "split file" in proc.stderr


def test_config_choices_are_the_registry_s():
    assert config.SCHEMA["dataset"].choices == datasets.NAMES


def test_num_classes_follows_the_data_set_unless_given(tmp_path):
    voc = config.load_config("config/voc.yaml", {}, stage="train")
    assert datasets.with_dataset(voc).num_classes == 21
    assert datasets.with_dataset(config.load_config(None, {"dataset": "ade20k"})).num_classes == 150
    given = config.load_config(None, {"dataset": "voc", "num_classes": 5})
    assert datasets.with_dataset(given).num_classes == 5
    (tmp_path / "classes.txt").write_text("a\nb\nc\n")
    custom = config.load_config(None, {"dataset": "custom", "classes_path": str(tmp_path / "classes.txt")})
    assert datasets.with_dataset(custom).num_classes == 3
    assert datasets.output_table(datasets.with_dataset(custom)).names == ("a", "b", "c")
    # a checkpoint of other classes: numbered names rather than the wrong data set's
    assert datasets.output_table(given).names == ("0", "1", "2", "3", "4")


def test_custom_classes_come_from_the_mindrecord_folder(converted):
    fmt, root, out = converted
    cfg = datasets.with_dataset(config.load_config(None, {"dataset": fmt, "data_path": str(out)}),
                                reads_records=True)
    assert datasets.output_table(cfg) == datasets.table_of(fmt, str(root))
    if fmt != "custom":
        with pytest.raises(UserError, match=rf"classes_path '.*' holds {fmt} MindRecords, not a custom data set's"):
            datasets.run_table(config.load_config(None, {"dataset": "custom", "classes_path": str(out)}))


def test_grey_image_is_stored_as_colour(tmp_path):
    """ADE20K and VOC hold a few greyscale JPEGs: the record decodes to 3 equal channels of its pixels."""
    root, out = tmp_path / "ade", tmp_path / "out"
    generate(str(root), 0, 1, 32, 48, dataset="ade20k")
    (image,) = glob.glob(f"{root}/**/validation/*.jpg", recursive=True)
    cv2.imwrite(image, cv2.imread(image, cv2.IMREAD_GRAYSCALE))
    grey = cv2.imread(image, cv2.IMREAD_UNCHANGED)
    assert grey.ndim == 2
    build_mindrecord(str(root), str(out), "val", num_workers=1, progress=False, dataset="ade20k")
    (row,) = ds.MindDataset(find_mindrecord(str(out), "val"), columns_list=["image"], shuffle=False) \
        .create_dict_iterator(output_numpy=True, num_epochs=1)
    stored = cv2.imdecode(np.frombuffer(row["image"].tobytes(), np.uint8), cv2.IMREAD_UNCHANGED)
    assert stored.shape == grey.shape + (3,) and all(np.array_equal(stored[..., c], grey) for c in range(3))


@pytest.mark.parametrize("moved", [1, 2])
def test_build_killed_after_the_record_moved_in_is_refused_then_rebuilt(tmp_path, moved):
    """dataset.json moves in before the shards: a kill between leaves a folder that names its data set,
    holds no usable set, and takes the next build."""
    from tests.data.test_mindrecord_writer import _build_killed_at

    root, out = tmp_path / "voc", tmp_path / "out"
    generate(str(root), 2, 0, 32, 48, dataset="voc")
    _build_killed_at(root, out, "replace_files:%d" % moved, "--dataset", "voc", "--num_shards", "2")
    assert datasets.read_record_info(str(out))[0] == "voc"
    with pytest.raises(UserError, match="no MindRecord for split 'train'" if moved == 1 else "is incomplete"):
        find_mindrecord(str(out), "train")
    build_mindrecord(str(root), str(out), "train", num_shards=2, num_workers=1, overwrite=True, progress=False,
                     dataset="voc")
    assert find_mindrecord(str(out), "train").endswith("voc_train.mindrecord0")


def test_the_data_set_decides_num_classes_against_a_checkpoint():
    """With records read or a dataset given, num_classes counts as given: a checkpoint of other classes
    is refused (src.model.loading) instead of silently scoring one data set with another's classes."""
    read = datasets.with_dataset(config.load_config(None, {}), reads_records=True)
    assert "num_classes" in read.given and read.num_classes == 19
    voc = datasets.with_dataset(config.load_config(None, {"dataset": "voc"}))
    assert "num_classes" in voc.given and voc.num_classes == 21
    assert "num_classes" not in datasets.with_dataset(config.load_config(None, {})).given


def test_cityscapes_records_pass_the_check(demo_mindrecord_dir):
    cfg = datasets.with_dataset(config.load_config("config/search.yaml", {"data_path": str(demo_mindrecord_dir)}),
                                reads_records=True)
    assert (cfg.dataset, cfg.num_classes) == ("cityscapes", 19)
    with pytest.raises(UserError, match=r"num_classes is 5 but the cityscapes MindRecords .* have 19 classes"):
        datasets.with_dataset(cfg.replace(num_classes=5), reads_records=True)
