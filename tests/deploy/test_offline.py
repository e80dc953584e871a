"""preprocess/postprocess of the C++ app flow on the demo Cityscapes tree (no network needed)."""
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

import src  # noqa: F401  (CPU set-up before mindspore)
from src.data.cityscapes import find_samples
from src.data.labels import label_ids_to_train_ids
from src.data.normalisation import normalise
from src.deploy.images import read_image
from src.deploy.offline import postprocess, preprocess
from src.errors import UserError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize("channel_order", ["rgb", "bgr"])
def test_preprocess_writes_the_normalised_image_per_file(demo_cityscapes_root, tmp_path, channel_order):
    samples = find_samples(str(demo_cityscapes_root), "val")
    height, width = read_image(samples[0].image_path).shape[:2]
    written = preprocess(str(demo_cityscapes_root), str(tmp_path), height, width, channel_order, progress=False)
    assert [os.path.basename(p) for p in written] == [os.path.basename(s.image_path)[:-4] + ".bin" for s in samples]
    for path, sample in zip(written, samples):
        tensor = np.fromfile(path, np.float32).reshape(3, height, width)
        bgr = cv2.imread(sample.image_path).astype(np.float32)
        pixels = bgr[..., ::-1] if channel_order == "rgb" else bgr  # bgr: the ModelZoo's RGB constants on BGR
        # ImageNet statistics (RGB) as published with torchvision's pretrained models.
        expected = (pixels / 255.0 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
        np.testing.assert_allclose(tensor, expected.transpose(2, 0, 1), atol=1e-5)
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_preprocess_refuses_images_of_another_size_than_the_export(demo_cityscapes_root, tmp_path):
    with pytest.raises(UserError, match=r"export the model with --height \d+ --width \d+"):
        preprocess(str(demo_cityscapes_root), str(tmp_path), 65, 97, "rgb", progress=False)


def test_postprocess_scores_perfect_label_maps_as_one_and_writes_pngs(demo_cityscapes_root, tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    for sample in find_samples(str(demo_cityscapes_root), "val"):
        train_ids = label_ids_to_train_ids(cv2.imread(sample.label_path, cv2.IMREAD_UNCHANGED))
        prediction = np.where(train_ids == 255, 0, train_ids).astype(np.uint8)
        prediction.tofile(results / (os.path.basename(sample.image_path)[:-4] + ".bin"))
    result = subprocess.run([sys.executable, os.path.join(REPO, "postprocess.py"), "--data_path", demo_cityscapes_root,
                             "--result_path", results, "--output_path", tmp_path / "out"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    scores = json.loads((tmp_path / "out" / "postprocess_results.json").read_text())
    assert scores["miou"] == 1.0 and scores["pixel_accuracy"] == 1.0
    for kind in ("labelIds", "color", "overlay"):
        assert len(list((tmp_path / "out" / kind).glob("*.png"))) == len(list(results.glob("*.bin")))


def test_postprocess_names_a_missing_or_wrong_sized_result(demo_cityscapes_root, tmp_path):
    with pytest.raises(UserError, match=r"no result '.*_leftImg8bit\.bin'"):
        postprocess(str(demo_cityscapes_root), str(tmp_path), str(tmp_path / "out"), 19, 255, progress=False)
    for sample in find_samples(str(demo_cityscapes_root), "val"):
        np.zeros(10, np.uint8).tofile(tmp_path / (os.path.basename(sample.image_path)[:-4] + ".bin"))
    with pytest.raises(UserError, match="has 10 bytes"):
        postprocess(str(demo_cityscapes_root), str(tmp_path), str(tmp_path / "out"), 19, 255, progress=False)


@pytest.mark.parametrize("channel_order", ["rgb", "bgr"])
def test_normalise_matches_the_eval_pipeline(demo_cityscapes_root, demo_mindrecord_dir, channel_order):
    from src.data.dataset import create_eval_dataset
    from src.data.mindrecord_writer import find_mindrecord

    dataset = create_eval_dataset(find_mindrecord(str(demo_mindrecord_dir), "val"), channel_order=channel_order,
                                  num_parallel_workers=1)
    paths = {s.name: s.image_path for s in find_samples(str(demo_cityscapes_root), "val")}
    rows = list(dataset.create_dict_iterator(num_epochs=1, output_numpy=True))
    assert sorted(str(row["file_name"][0]) for row in rows) == sorted(paths)
    for row in rows:
        image = normalise(read_image(paths[str(row["file_name"][0])]), channel_order)
        np.testing.assert_allclose(image, row["image"][0], atol=1e-5)
