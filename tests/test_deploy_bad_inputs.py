"""predict, preprocess and postprocess refuse bad inputs in one line, before writing anything.

The model is a one-node ONNX graph (Identity on a (1, 3, H, W) input: the label map is the argmax over
the normalised image's channels), so these checks need no trained network.
"""
import os
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import DEMO_HEIGHT, DEMO_WIDTH
from src.config import load_config
from src.data.cityscapes import find_samples
from src.deploy.offline import postprocess, preprocess
from src.deploy.outputs import check_submission_names
from src.deploy.predictor import Predictor, export_input_size
from src.errors import UserError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_identity_onnx(path, height, width):
    """A one-node ONNX model (Identity) of a (1, 3, height, width) input: its label map is the channels' argmax."""
    from onnx import TensorProto, helper, save

    shape = [1, 3, height, width]
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "identity",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)])
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return str(path)


@pytest.fixture(scope="module")
def identity_onnx(tmp_path_factory):
    return write_identity_onnx(tmp_path_factory.mktemp("model") / "identity.onnx", DEMO_HEIGHT, DEMO_WIDTH)


@pytest.fixture
def images(demo_cityscapes_root, tmp_path):
    """A folder with two of the demo's val images, a.png and b.png."""
    folder = tmp_path / "images"
    folder.mkdir()
    for sample, name in zip(find_samples(str(demo_cityscapes_root), "val"), ("a", "b")):
        shutil.copy(sample.image_path, folder / (name + ".png"))
    return folder


def corrupt_image(folder):
    (folder / "z_corrupt.png").write_bytes(b"not a png")


def collision(folder):
    shutil.copy(folder / "a.png", folder / "a.jpg")


def predict(model, input_path, output_path, **options):
    return Predictor(model, load_config(None, {})).predict_paths(str(input_path), str(output_path), progress=False,
                                                               **options)


PREDICT_CASES = {
    "a.png and a.jpg": (collision, "out", "would both write outputs named 'a'"),
    "a bad image after good ones": (corrupt_image, "out", "z_corrupt.png' is not an image"),
    "output = input folder": (None, ".", "is the input folder"),
    "output inside the input folder": (None, "pred", "is inside the input folder"),
}


@pytest.mark.parametrize("case", PREDICT_CASES)
def test_predict_refuses_before_writing(identity_onnx, images, case):
    change, output, message = PREDICT_CASES[case]
    if change:
        change(images)
    before = sorted(os.listdir(images))
    output_path = images if output == "." else (images / output if output == "pred" else images.parent / output)
    with pytest.raises(UserError, match=message):
        predict(identity_onnx, images, output_path)
    assert sorted(os.listdir(images)) == before
    assert not (images.parent / "out").exists()


def test_predict_mirrors_subfolders_and_writes_the_argmax(identity_onnx, demo_cityscapes_root, tmp_path):
    from src.data.normalisation import normalise
    from src.deploy.images import read_image

    split = demo_cityscapes_root / "leftImg8bit" / "val"
    written = predict(identity_onnx, split, tmp_path / "out")
    samples = find_samples(str(demo_cityscapes_root), "val")
    assert len(written) == len(samples)
    for sample in samples:
        relative = os.path.relpath(sample.image_path, split)
        label_ids = cv2.imread(str(tmp_path / "out" / "labelIds" / relative), cv2.IMREAD_UNCHANGED)
        expected_train_ids = normalise(read_image(sample.image_path), "rgb").argmax(axis=0)
        # trainIds 0, 1, 2 are road, sidewalk, building: Cityscapes ids 7, 8, 11.
        assert np.array_equal(label_ids, np.array([7, 8, 11], np.uint8)[expected_train_ids]), relative


def test_submission_names_must_be_cityscapes_ids(identity_onnx, images, tmp_path):
    check_submission_names(["frankfurt/frankfurt_000000_000294_leftImg8bit"])
    with pytest.raises(UserError, match="'a' is not a Cityscapes image name"):
        predict(identity_onnx, images, tmp_path / "out", kinds=("labelIds",), check_names=check_submission_names)
    assert not (tmp_path / "out").exists()


def test_preprocess_needs_no_ground_truth(demo_cityscapes_root, tmp_path):
    root = tmp_path / "images_only"
    shutil.copytree(demo_cityscapes_root / "leftImg8bit", root / "leftImg8bit")
    written = preprocess(str(root), str(tmp_path / "out"), DEMO_HEIGHT, DEMO_WIDTH, "rgb", progress=False)
    assert len(written) == len(find_samples(str(demo_cityscapes_root), "val"))


@pytest.mark.parametrize("change, message", [(corrupt_image, "z_corrupt.png' is not an image"),
                                             (collision, "would both write outputs named 'a'")])
def test_preprocess_checks_every_image_before_writing(images, tmp_path, change, message):
    change(images)
    with pytest.raises(UserError, match=message):
        preprocess(str(images), str(tmp_path / "out"), DEMO_HEIGHT, DEMO_WIDTH, "rgb", progress=False)
    assert not (tmp_path / "out").exists()


def test_preprocess_refuses_the_input_folder_as_output(images):
    with pytest.raises(UserError, match="is the input folder"):
        preprocess(str(images), str(images), DEMO_HEIGHT, DEMO_WIDTH, "rgb", progress=False)
    assert sorted(os.listdir(images)) == ["a.png", "b.png"]


@pytest.mark.parametrize("suffix", [".onnx", ".mindir"])
def test_a_corrupt_export_given_to_preprocess_is_one_line(demo_cityscapes_root, tmp_path, suffix):
    model = tmp_path / ("corrupt" + suffix)
    model.write_bytes(b"\x08\x01garbage" * 10)
    with pytest.raises(UserError, match="is not a (ONNX|MINDIR) export that can be read"):
        export_input_size(str(model))


def _copy_tree(root, tmp_path):
    copy = tmp_path / "cityscapes"
    shutil.copytree(root, copy)
    results = tmp_path / "results"
    results.mkdir()
    samples = find_samples(str(copy), "val")
    for sample in samples:
        np.zeros(DEMO_HEIGHT * DEMO_WIDTH, np.uint8).tofile(results / (sample.name + "_leftImg8bit.bin"))
    return copy, results, samples[-1].label_path


def _corrupt_label(path):
    with open(path, "wb") as handle:
        handle.write(b"not a png")


def _wrong_size_label(path):
    assert cv2.imwrite(path, np.zeros((DEMO_HEIGHT // 2, DEMO_WIDTH), np.uint8))


def _missing_label(path):
    os.remove(path)


@pytest.mark.parametrize("change, message", [(_corrupt_label, "not a single-channel labelIds PNG"),
                                             (_wrong_size_label, "belongs to another image"),
                                             (_missing_label, "has no label")])
def test_postprocess_names_bad_ground_truth_before_writing(demo_cityscapes_root, tmp_path, change, message):
    root, results, last_label = _copy_tree(demo_cityscapes_root, tmp_path)
    change(last_label)
    with pytest.raises(UserError, match=message):
        postprocess(str(root), str(results), str(tmp_path / "out"), 19, 255, progress=False)
    assert not (tmp_path / "out").exists()


def test_cli_errors_are_one_line(demo_cityscapes_root, tmp_path):
    model = tmp_path / "corrupt.onnx"
    model.write_bytes(b"garbage")
    result = subprocess.run([sys.executable, "preprocess.py", "--data_path", str(demo_cityscapes_root), "--model",
                             str(model), "--output_path", str(tmp_path / "out")], cwd=REPO, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "is not a ONNX export" in result.stderr
