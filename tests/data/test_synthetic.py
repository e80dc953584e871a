"""The synthetic Cityscapes tree: layout, determinism, class coverage, void ids."""
import glob
import os

import cv2
import numpy as np
import pytest

from src.data import synthetic
from src.data.cityscapes import find_samples
from src.data.labels import ID_TO_TRAIN_ID, NAME_TO_LABEL
from src.errors import UserError, run_main


def test_demo_tree_layout(demo_cityscapes_root):
    train = find_samples(str(demo_cityscapes_root), "train")
    val = find_samples(str(demo_cityscapes_root), "val")
    assert len(train) == 6 and len(val) == 3
    assert {s.name.split("_")[0] for s in train} == {"aachen", "bochum"}
    for sample in train + val:
        assert os.path.basename(sample.image_path) == sample.name + "_leftImg8bit.png"
        image = cv2.imread(sample.image_path, cv2.IMREAD_UNCHANGED)
        label = cv2.imread(sample.label_path, cv2.IMREAD_UNCHANGED)
        assert image.shape == (64, 128, 3) and image.dtype == np.uint8
        assert label.shape == (64, 128) and label.dtype == np.uint8


def test_scenes_cover_classes_and_void_ids():
    seen, void = set(), set()
    for index in range(8):
        _, label = synthetic.render_scene(np.random.default_rng([1, index]), 256, 512)
        train_ids = ID_TO_TRAIN_ID[label]
        seen |= set(np.unique(train_ids).tolist()) - {255}
        void |= set(np.unique(label[train_ids == 255]).tolist())
    names = {"road", "sidewalk", "building", "pole", "traffic light", "traffic sign", "vegetation",
             "terrain", "sky", "person", "car"}
    assert {NAME_TO_LABEL[n].trainId for n in names} <= seen
    assert {NAME_TO_LABEL["ego vehicle"].id, NAME_TO_LABEL["out of roi"].id} <= void


def test_scenes_vary_and_colour_is_not_a_perfect_cue():
    image_a, label_a = synthetic.render_scene(np.random.default_rng(1), 128, 256)
    image_b, label_b = synthetic.render_scene(np.random.default_rng(2), 128, 256)
    assert (label_a != label_b).mean() > 0.05
    road = NAME_TO_LABEL["road"].id
    means = [img[lab == road].mean(axis=0) for img, lab in ((image_a, label_a), (image_b, label_b))]
    assert not np.allclose(means[0], means[1], atol=2)
    assert image_a[label_a == road].std(axis=0).min() > 3  # textured, not flat


def test_generate_is_deterministic_and_seed_dependent(tmp_path):
    args = dict(num_train=2, num_val=1, height=32, width=64)
    synthetic.generate(str(tmp_path / "a"), seed=5, **args)
    synthetic.generate(str(tmp_path / "b"), seed=5, **args)
    synthetic.generate(str(tmp_path / "c"), seed=6, **args)
    files = sorted(os.path.relpath(p, tmp_path / "a") for p in glob.glob(str(tmp_path / "a/**/*.png"), recursive=True))
    assert len(files) == 6
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
    assert any((tmp_path / "a" / r).read_bytes() != (tmp_path / "c" / r).read_bytes() for r in files)


def test_generate_refuses_non_empty_output_without_overwrite(tmp_path):
    (tmp_path / "keep.txt").write_text("x")
    with pytest.raises(UserError, match="exists and is not empty.*--overwrite"):
        synthetic.generate(str(tmp_path), 1, 1, 32, 64)
    synthetic.generate(str(tmp_path), 1, 1, 32, 64, overwrite=True)
    assert not (tmp_path / "keep.txt").exists()
    assert len(find_samples(str(tmp_path), "train")) == 1


def test_cli(tmp_path, capsys):
    out = tmp_path / "tree"
    with pytest.raises(SystemExit) as exit_info:
        run_main(synthetic.main, ["--output_path", str(out), "--num_train", "1", "--num_val", "1",
                                  "--height", "32", "--width", "64", "--seed", "3"])
    assert exit_info.value.code == 0
    assert len(find_samples(str(out), "val")) == 1
    with pytest.raises(SystemExit) as exit_info:
        run_main(synthetic.main, ["--output_path", str(out), "--height", "8", "--width", "64"])
    assert exit_info.value.code == 2
    assert "too small" in capsys.readouterr().err


def test_shuffled_labels_keep_each_scene_and_its_class_counts_but_not_where_they_are():
    """The search verdict's negative control: the same images, labels with no information about
    them (each map's own pixels permuted)."""
    image, label = synthetic.scene(0, "train", 3, 64, 128)
    shuffled_image, shuffled = synthetic.scene(0, "train", 3, 64, 128, shuffled_labels=True)
    assert np.array_equal(shuffled_image, image)
    assert np.array_equal(np.bincount(shuffled.ravel(), minlength=256), np.bincount(label.ravel(), minlength=256))
    assert (shuffled == label).mean() < 0.5  # a scene's labels come in large regions; permuted, they do not
    assert np.array_equal(synthetic.scene(0, "train", 3, 64, 128, shuffled_labels=True)[1], shuffled)


def _context_scenes(count=6):
    return [synthetic.scene(0, "train", index, 256, 512, scenes="context") for index in range(count)]


def test_context_scenes_tell_classes_apart_only_by_extent_and_position():
    ids = {name: NAME_TO_LABEL[name].id for name in ("road", "sidewalk", "building", "car", "person", "rider",
                                                       "pole")}
    colours = {"building": [], "car": [], "person": [], "rider": []}
    for image, label in _context_scenes():
        assert set(np.unique(label)) <= set(ids.values())
        band_rows = np.nonzero((label == ids["sidewalk"]).mean(axis=1) > 0.5)[0]  # poles may cross it
        person_rows, rider_rows = (np.nonzero(label == ids[name])[0] for name in ("person", "rider"))
        assert len(band_rows) and person_rows.max(initial=-1) < band_rows.min() <= band_rows.max() < \
            rider_rows.min(initial=10 ** 6)
        _, _, stats, _ = cv2.connectedComponentsWithStats((label == ids["car"]).astype(np.uint8), connectivity=4)
        assert (stats[1:, cv2.CC_STAT_WIDTH:cv2.CC_STAT_HEIGHT + 1] <= 12).all()  # cars are small...
        _, _, stats, _ = cv2.connectedComponentsWithStats((label == ids["building"]).astype(np.uint8),
                                                          connectivity=4)
        assert stats[1:, cv2.CC_STAT_AREA].max(initial=0) > 20 * 20 or not stats[1:].size  # ...buildings are not
        poles = (label == ids["pole"]).astype(np.uint8)
        assert cv2.erode(poles, np.ones((1, 3), np.uint8)).sum() == 0  # no pole is 3 px wide
        for name in colours:
            colours[name].append(image[label == ids[name]].reshape(-1, 3))
    means = {name: np.concatenate(values).mean(axis=0) for name, values in colours.items()}
    assert np.abs(means["building"] - means["car"]).max() < 12  # one texture: colour does not tell them
    assert np.abs(means["person"] - means["rider"]).max() < 12
    assert all(len(np.concatenate(values)) for values in colours.values())  # every class occurs


def test_cli_writes_context_scenes(tmp_path):
    synthetic.main(["--output_path", str(tmp_path / "ctx"), "--num_train", "1", "--num_val", "0",
                    "--height", "64", "--width", "128", "--scenes", "context"])
    (sample,) = find_samples(str(tmp_path / "ctx"), "train")
    label = cv2.imread(sample.label_path, cv2.IMREAD_UNCHANGED)
    assert NAME_TO_LABEL["sidewalk"].id in label and NAME_TO_LABEL["sky"].id not in label
