"""Export, predictor, eval.py and the 310 flow on one tiny network.

One module so the expensive steps (graph compiles, exports) run once: a F=2 network at 65x97
(odd sizes exercise the align_corners size rule), a synthetic val split of two 65x97 images.

The network is built to make exact cross-backend checks possible (see ``tiny``): 6 cells along
[0, 1, 2, 3, 2, 1] (every level, down and up, so every kind of resize), a cell whose blocks all
read the cell inputs (every conv op and skip_connect), BatchNorm calibrated on the images and the
classifier fitted to their labels. Why not the paper network: in a ReLU-conv-BN layer with
random weights the ReLU's positive mean puts a large per-channel offset into the conv sum, which
the BatchNorm removes, so the fp32 rounding of the whole sum lands on a smaller remainder: about
x1.16 relative error per BatchNorm. The paper cell chains its blocks (up to ~9 such layers per
cell), and through its 12 cells MindSpore's and ONNX Runtime's fp32 logits are each ~1.1e-3 from
the float64 evaluation of the same ONNX graph (|logits| <= 48), hence ~1.2e-3 from each other
(1.2e-3 to 1.9e-3 over ONNX Runtime's graph optimisation levels and thread counts): rounding, not
an export difference. This network keeps the same ops with ~3 such layers per cell.
"""
import json
import os
import shutil
import subprocess
import sys
import zipfile

import cv2
import numpy as np
import pytest

import src  # noqa: F401  (CPU set-up before mindspore)
from src.config import load_config
from src.data.labels import TRAIN_CLASS_NAMES as TRAIN_NAMES
from src.data.labels import TRAIN_ID_PALETTE, TRAIN_ID_TO_ID

pytestmark = pytest.mark.heavy  # scheduled first (conftest.py)

HEIGHT, WIDTH = 65, 97
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON = sys.executable
TINY = {"filter_multiplier": 2, "aspp_rates": [2, 4, 6], "height": HEIGHT, "width": WIDTH,
        "num_parallel_workers": 1}
ARCHITECTURE = {
    "network_path": [0, 1, 2, 3, 2, 1],
    "cell": [[0, "sep_conv_3x3"], [1, "sep_conv_5x5"], [0, "dil_conv_3x3"], [1, "dil_conv_5x5"],
             [0, "sep_conv_3x3"], [1, "dil_conv_3x3"], [0, "skip_connect"], [1, "sep_conv_3x3"],
             [1, "dil_conv_3x3"], [0, "sep_conv_5x5"]],
    "provenance": {"source": "tests/test_deployment.py (shallow cells for exact fp32 parity checks)"},
}
# Seed of the weights: chosen so that no pixel of the two val images is a near tie (TIE_MARGIN).
SEED = 21  # re-chosen when the synthetic scenes changed (4d8a62f: 7 then had a tie of 1.4e-5); margins 1.5e-3, 1.3e-3
# Issue 5: checkpoint, MINDIR and ONNX logits agree to this (max abs). Measured on the val images:
# MINDIR 0, ONNX Runtime 6.2e-5 at logits in [-8.4, 7.8].
PARITY_TOLERANCE = 1e-4
# A pixel whose top-2 checkpoint logits are closer than this may take either class on another
# backend: more than twice the largest deviation of OpenCV DNN (the C++ app's backend) from the
# checkpoint on these images, 2.1e-4 (measured with Python's OpenCV on the same ONNX file).
TIE_MARGIN = 5e-4


def run_script(script, *args):
    """Run an entry script; returns the CompletedProcess (text output)."""
    return subprocess.run([PYTHON, os.path.join(REPO, script), *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=600)


def labelled_images(data_root):
    """(normalised image (3, H, W), trainId label map (H, W)) of every image of the tree."""
    from src.data.cityscapes import find_samples
    from src.data.labels import label_ids_to_train_ids
    from src.data.normalisation import normalise
    from src.deploy.images import read_image

    samples = find_samples(str(data_root), "train") + find_samples(str(data_root), "val")
    return [(normalise(read_image(s.image_path), "rgb"),
             label_ids_to_train_ids(cv2.imread(s.label_path, cv2.IMREAD_UNCHANGED))) for s in samples]


def calibrate_batch_norm(net, images):
    """Set BatchNorm statistics from one batch of the images (a stand-in for training), so that the
    activations have the scale of a trained network instead of growing through unnormalised cells."""
    import mindspore as ms

    net.set_train(True)
    net(ms.Tensor(np.stack(images)))
    net.set_train(False)


def fit_classifier(net, images, labels, target=5.0, ridge=0.1):
    """Fit the final 1x1 conv to the labels by ridge least squares on targets +-``target``: a stand-in
    for training that gives logits of trained scale (|logits| ~ 10) and confident, mostly right
    predictions (pixel accuracy ~0.8), so class boundaries, not noise, decide where near ties are."""
    import mindspore as ms
    from src.layers.resize import interpolation_matrix

    classifier = net.decoder.classifier
    inputs = []
    hook = classifier.register_forward_pre_hook(lambda cell, args: inputs.append(args[0].asnumpy()[0]))
    for image in images:
        net(ms.Tensor(image[None]))
    hook.remove()
    # The logits are the classifier's output resized to the image: resize its inputs the same way.
    features = np.concatenate([np.einsum("hy,cyx,wx->hwc", interpolation_matrix(f.shape[1], image.shape[1]), f,
                                         interpolation_matrix(f.shape[2], image.shape[2])).reshape(-1, f.shape[0])
                               for f, image in zip(inputs, images)]).astype(np.float64)
    train_ids = np.concatenate([label.ravel() for label in labels])
    known = train_ids != 255
    features, train_ids = features[known], train_ids[known]
    targets = np.full((train_ids.size, classifier.weight.shape[0]), -target)
    targets[np.arange(train_ids.size), train_ids] = target
    gram = features.T @ features + ridge * train_ids.size * np.eye(features.shape[1])
    weights = np.linalg.solve(gram, features.T @ targets).T
    classifier.weight.set_data(ms.Tensor(weights.reshape(classifier.weight.shape).astype(np.float32)))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Config, data, checkpoint and logits exports (MINDIR, ONNX) of the tiny network."""
    import mindspore as ms
    from src.data.mindrecord_writer import build_mindrecord
    from src.data.synthetic import generate
    from src.deploy.export import export_network
    from src.model import build_model
    from src.model.weights import checkpoint_meta

    root = tmp_path_factory.mktemp("tiny")
    data_root, records = root / "cityscapes", root / "mindrecord"
    generate(str(data_root), 1, 2, HEIGHT, WIDTH, seed=3)
    build_mindrecord(str(data_root), str(records), "val", num_workers=1, progress=False)
    arch_path = root / "arch.json"
    arch_path.write_text(json.dumps(ARCHITECTURE))
    cfg = load_config(None, {**TINY, "arch_path": str(arch_path), "output_path": str(root / "out")})
    ms.set_seed(SEED)
    net = build_model(cfg.replace(bn_momentum=0.01))
    images, labels = zip(*labelled_images(data_root))
    previous = ms.get_context("mode")
    ms.set_context(mode=ms.PYNATIVE_MODE)  # fitting the weights only (eager); the tests run in graph mode
    try:
        calibrate_batch_norm(net, images)
        fit_classifier(net, images, labels)
    finally:
        ms.set_context(mode=previous)
    ckpt = str(root / "tiny.ckpt")
    ms.save_checkpoint(net, ckpt, append_dict=checkpoint_meta(cfg, net.architecture))
    config_path = root / "tiny.yaml"  # the scripts' --config_path: the network of the checkpoint
    config_path.write_text(json.dumps({**TINY, "device_target": "CPU"}))
    exports = {fmt: export_network(net, str(root / ("tiny_logits." + fmt.lower())), fmt, HEIGHT, WIDTH, "logits")
               for fmt in ("MINDIR", "ONNX")}
    return {"root": root, "data_root": data_root, "records": records, "arch_path": str(arch_path),
            "config_path": str(config_path),
            "cfg": cfg.replace(ckpt_path=ckpt), "net": net, "ckpt": ckpt, **exports}


def val_images(tiny):
    folder = tiny["root"] / "val_images"
    if not folder.exists():
        folder.mkdir()
        for path in sorted((tiny["data_root"] / "leftImg8bit" / "val").rglob("*.png")):
            shutil.copy(path, folder / path.name)
    return folder


def val_logits(tiny):
    """{image stem: checkpoint logits (C, H, W)} of the val images (what eval.py's network computes)."""
    import mindspore as ms
    from src.data.normalisation import normalise
    from src.deploy.images import read_image

    if "val_logits" not in tiny:
        tiny["val_logits"] = {path.stem: tiny["net"](ms.Tensor(normalise(read_image(str(path)), "rgb")[None])).asnumpy()[0]
                              for path in sorted(val_images(tiny).iterdir())}
    return tiny["val_logits"]


def top2_margin(logits):
    """Per pixel: top-1 minus top-2 logit."""
    top2 = np.sort(logits, axis=0)[-2:]
    return top2[1] - top2[0]


def test_checkpoint_mindir_and_onnx_give_the_same_logits(tiny):
    """On the val images, MINDIR (MindSpore's own kernels) and ONNX Runtime (its own kernels and
    fusions) agree with the checkpoint to PARITY_TOLERANCE; see the module docstring for the network."""
    import mindspore as ms
    import onnx as onnx_format
    import onnxruntime as ort
    from src.data.normalisation import normalise
    from src.deploy.images import read_image

    graph = ms.nn.GraphCell(ms.load(tiny["MINDIR"]))
    session = ort.InferenceSession(tiny["ONNX"], providers=["CPUExecutionProvider"])
    for path in sorted(val_images(tiny).iterdir()):
        batch = normalise(read_image(str(path)), "rgb")[None]
        reference = tiny["net"](ms.Tensor(batch)).asnumpy()
        mindir = graph(ms.Tensor(batch)).asnumpy()
        onnx = session.run(None, {session.get_inputs()[0].name: batch})[0]
        assert reference.shape == onnx.shape == mindir.shape == (1, 19, HEIGHT, WIDTH)
        assert 5.0 < np.abs(reference).max() < 50.0, "logits should have the scale of a trained network"
        assert np.abs(mindir - reference).max() <= PARITY_TOLERANCE, path.name
        assert np.abs(onnx - reference).max() <= PARITY_TOLERANCE, path.name
    ops = [node.op_type for node in onnx_format.load(tiny["ONNX"]).graph.node]
    assert "Resize" in ops and "MatMul" not in ops, "the MatMul resizes should be Resize nodes"


@pytest.fixture(scope="module")
def eval_run(tiny):
    """eval.py on the tiny checkpoint, run once: (process result, saved scores)."""
    out = tiny["root"] / "eval"
    result = run_script("eval.py", "--config_path", tiny["config_path"],
                        "--filter_multiplier", 2, "--num_parallel_workers", 1,
                        "--arch_path", tiny["arch_path"], "--data_path", tiny["records"], "--ckpt_path", tiny["ckpt"],
                        "--output_path", out)
    assert result.returncode == 0, result.stderr[-2000:]
    return result, json.loads((out / "eval_results.json").read_text())


def test_eval_py_scores_the_checkpoint_and_saves_json(tiny, eval_run):
    """eval.py (graph mode, the checkpoint read back) scores what this process's network computes,
    scored here from numpy argmaxes (no pixel is a near tie: see TIE_MARGIN)."""
    result, scores = eval_run
    assert "mIoU" in result.stdout and "traffic light" in result.stdout
    assert set(scores["class_iou"]) == set(TRAIN_NAMES)
    _assert_same_scores(scores, _reference_scores(tiny, lambda f, image: f(image[None])[0]))


def test_cpp_app_and_postprocess_reproduce_eval_py(tiny, eval_run, tmp_path):
    """scripts/run_infer_310.sh with the ONNX export: build, preprocess, C++ app, postprocess."""
    if shutil.which("cmake") is None or shutil.which("g++") is None:
        pytest.fail("cmake and g++ are needed (apt-get install cmake g++ libopencv-dev; .ci/run installs them)")
    env = {**os.environ, "PYTHON": PYTHON}
    result = subprocess.run(["bash", os.path.join(REPO, "scripts", "run_infer_310.sh"), tiny["ONNX"],
                             str(tiny["data_root"]), "0", tiny["config_path"]],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    inputs = sorted((tmp_path / "preprocess_Result").glob("*.bin"))
    labels = sorted((tmp_path / "result_Files").glob("*.bin"))
    assert [p.name for p in inputs] == [p.name for p in labels] and len(labels) == 2
    assert all(p.stat().st_size == 3 * HEIGHT * WIDTH * 4 for p in inputs)
    assert all(p.stat().st_size == HEIGHT * WIDTH for p in labels)
    timing = (tmp_path / "result_Files" / "inference_time.txt").read_text().splitlines()
    assert timing[-1].startswith("mean_ms_per_image") and float(timing[-1].split()[1]) > 0
    # Exact: the app's label maps are the checkpoint's (the backends' logits differ by rounding only, and no
    # pixel is within TIE_MARGIN of a tie), so postprocess scores the same label maps as eval.py.
    for path in labels:
        logits = val_logits(tiny)[path.stem]
        assert top2_margin(logits).min() > TIE_MARGIN, "near-tie pixel in %s: choose another SEED" % path.name
        app_labels = np.fromfile(path, np.uint8).reshape(HEIGHT, WIDTH)
        assert np.array_equal(app_labels, logits.argmax(axis=0)), path.name
    scores = json.loads((tmp_path / "postprocess_Result" / "postprocess_results.json").read_text())
    assert set(scores) == {"miou", "class_iou", "pixel_accuracy", "num_pixels"}
    assert scores == {key: eval_run[1][key] for key in scores}, "postprocess and eval.py scores differ"
    assert len(list((tmp_path / "postprocess_Result" / "color").glob("*.png"))) == 2

    # The app's own image preprocessing (C++) gives the same label maps as preprocess.py's tensors.
    app = os.path.join(REPO, "ascend310_infer", "out", "main")
    direct = tmp_path / "direct"
    result = subprocess.run([app, "--model_path", tiny["ONNX"], "--input_path", str(val_images(tiny)),
                             "--output_path", str(direct), "--backend", "opencv", "--height", str(HEIGHT),
                             "--width", str(WIDTH)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for path in labels:
        assert np.array_equal(np.fromfile(direct / path.name, np.uint8), np.fromfile(path, np.uint8)), path.name


def test_predictor_writes_the_same_labels_with_all_three_backends(tiny):
    from src.deploy.predictor import Predictor

    folder = val_images(tiny)
    label_maps = {}
    for kind, model in (("checkpoint", tiny["ckpt"]), ("MINDIR", tiny["MINDIR"]), ("ONNX", tiny["ONNX"])):
        out = tiny["root"] / ("predict_" + kind)
        written = Predictor(model, tiny["cfg"]).predict_paths(str(folder), str(out), progress=False)
        assert len(written) == 2
        for files in written:
            assert set(files) == {"labelIds", "color", "overlay"}
            label_ids = cv2.imread(files["labelIds"], cv2.IMREAD_UNCHANGED)
            color = cv2.cvtColor(cv2.imread(files["color"]), cv2.COLOR_BGR2RGB)
            overlay = cv2.imread(files["overlay"])
            assert label_ids.shape == (HEIGHT, WIDTH) and color.shape == overlay.shape == (HEIGHT, WIDTH, 3)
            train_ids = np.searchsorted(TRAIN_ID_TO_ID[:19], label_ids)
            assert np.array_equal(TRAIN_ID_TO_ID[train_ids], label_ids), "labelIds must be Cityscapes training ids"
            assert np.array_equal(color, TRAIN_ID_PALETTE[train_ids]), "colours must follow the label table"
        label_maps[kind] = np.stack([cv2.imread(f["labelIds"], cv2.IMREAD_UNCHANGED) for f in written])
    expected = [TRAIN_ID_TO_ID[logits.argmax(axis=0)] for logits in val_logits(tiny).values()]
    for kind in ("checkpoint", "MINDIR", "ONNX"):
        assert np.array_equal(label_maps[kind], expected), kind


def test_wrong_input_size_for_a_fixed_shape_export_names_the_sizes_and_the_fix(tiny, tmp_path):
    from src.deploy.predictor import Predictor
    from src.errors import UserError

    (tmp_path / "in").mkdir()
    cv2.imwrite(str(tmp_path / "in" / "small.png"), np.zeros((40, 50, 3), np.uint8))
    for model in (tiny["ONNX"], tiny["MINDIR"]):
        with pytest.raises(UserError) as error:
            Predictor(model, tiny["cfg"]).predict_paths(str(tmp_path / "in"), str(tmp_path / "out"), progress=False)
        message = str(error.value)
        assert "small.png" in message and "40x50" in message and "65x97" in message
        assert "export.py" in message and "--height 40 --width 50" in message


def test_a_file_that_is_not_an_image_is_named(tiny, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    shutil.copy(next(val_images(tiny).iterdir()), folder / "good.png")
    (folder / "notes.png").write_text("not a picture")
    result = run_script("predict.py", "--model", tiny["ONNX"], "--input", folder, "--output_path", tmp_path / "out",
                        "--config_path", tiny["config_path"])
    assert result.returncode == 2
    assert "error:" in result.stderr and "notes.png" in result.stderr and "not an image" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists(), "nothing is written when an input is bad"


def test_checkpoint_of_another_architecture_is_refused_with_the_fix(tiny, tmp_path):
    import mindspore as ms
    from src.deploy.predictor import Predictor
    from src.errors import UserError
    from src.model import build_model
    from src.model.weights import checkpoint_meta
    from src.architecture import load_architecture

    arch = load_architecture(None).to_dict()
    arch["cell"] = [[0, "sep_conv_3x3"], [1, "sep_conv_3x3"]] * 5
    arch_path = tmp_path / "other_arch.json"
    arch_path.write_text(json.dumps(arch))
    other_cfg = tiny["cfg"].replace(arch_path=str(arch_path))
    other = build_model(other_cfg)
    ckpt = str(tmp_path / "other.ckpt")
    ms.save_checkpoint(other, ckpt, append_dict=checkpoint_meta(other_cfg, other.architecture))
    with pytest.raises(UserError) as error:
        Predictor(ckpt, tiny["cfg"])
    assert "another network" in str(error.value) and "--arch_path" in str(error.value)


def test_export_py_argmax_onnx_gives_labels_for_onnxruntime_and_the_cpp_app(tiny, tmp_path):
    import onnxruntime as ort
    from src.data.normalisation import normalise
    from src.deploy.images import read_image

    result = run_script("export.py", "--config_path", tiny["config_path"],
                        "--filter_multiplier", 2, "--arch_path", tiny["arch_path"], "--ckpt_path", tiny["ckpt"],
                        "--file_format", "ONNX",
                        "--output", "argmax", "--height", HEIGHT, "--width", WIDTH, "--output_path", tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    exported = tmp_path / ("autodeeplab_%dx%d_argmax.onnx" % (HEIGHT, WIDTH))
    assert sorted(p.name for p in tmp_path.iterdir()) == [exported.name], "no temporary files left behind"

    image_path = sorted(val_images(tiny).iterdir())[0]
    batch = normalise(read_image(str(image_path)), "rgb")[None]
    session = ort.InferenceSession(str(exported), providers=["CPUExecutionProvider"])
    labels = session.run(None, {session.get_inputs()[0].name: batch})[0]
    logits_session = ort.InferenceSession(tiny["ONNX"], providers=["CPUExecutionProvider"])
    logits = logits_session.run(None, {logits_session.get_inputs()[0].name: batch})[0]
    assert labels.shape == (1, HEIGHT, WIDTH) and labels.dtype == np.int32
    assert np.array_equal(labels[0], logits[0].argmax(axis=0))

    build = subprocess.run(["bash", os.path.join(REPO, "ascend310_infer", "build.sh")], capture_output=True,
                           text=True, timeout=600)
    assert build.returncode == 0, build.stdout[-2000:]
    app = subprocess.run([os.path.join(REPO, "ascend310_infer", "out", "main"), "--model_path", str(exported),
                          "--input_path", str(image_path), "--output_path", str(tmp_path / "app"),
                          "--backend", "opencv", "--height", str(HEIGHT), "--width", str(WIDTH)],
                         capture_output=True, text=True, timeout=120)
    assert app.returncode == 0, app.stderr
    app_labels = np.fromfile(tmp_path / "app" / (image_path.stem + ".bin"), np.uint8).reshape(HEIGHT, WIDTH)
    assert np.array_equal(app_labels, labels[0])


def _softmax(logits):
    e = np.exp(logits - logits.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def _reference_scores(tiny, probabilities_of):
    """Scores of the val images from ``probabilities_of(forward, image) -> (C, H, W)``, computed
    here without src.eval's inference (numpy only), for comparison with evaluate_forward."""
    from src.data.cityscapes import find_samples
    from src.data.labels import label_ids_to_train_ids
    from src.data.normalisation import normalise
    from src.deploy.images import read_image
    from src.eval.metrics import ConfusionMatrix
    from src.model.loading import numpy_forward

    forward = numpy_forward(tiny["net"])
    matrix = ConfusionMatrix(19, 255)
    for sample in find_samples(str(tiny["data_root"]), "val"):
        image = normalise(read_image(sample.image_path), "rgb")
        label = label_ids_to_train_ids(cv2.imread(sample.label_path, cv2.IMREAD_UNCHANGED))
        matrix.update(probabilities_of(forward, image).argmax(axis=0), label)
    return matrix.scores(list(TRAIN_NAMES))


def _flipped(forward, image):
    plain = _softmax(forward(image[None])[0])
    mirrored = _softmax(forward(np.ascontiguousarray(image[None, :, :, ::-1]))[0])[:, :, ::-1]
    return (plain + mirrored) / 2


def _windowed(forward, image, crop=49):
    """Windows of crop x crop at stride crop * 2/3 (the last one flush with the edge), probabilities averaged."""
    _, height, width = image.shape
    stride = int(crop * 2 / 3)

    def starts(length):
        found = list(range(0, length - crop + 1, stride))
        return found if found[-1] == length - crop else found + [length - crop]

    total, count = np.zeros((19, height, width)), np.zeros((height, width))
    for y in starts(height):
        for x in starts(width):
            total[:, y:y + crop, x:x + crop] += _softmax(forward(np.ascontiguousarray(image[None, :, y:y + crop,
                                                                                          x:x + crop]))[0])
            count[y:y + crop, x:x + crop] += 1
    return total / count


def _assert_same_scores(scores, expected):
    assert scores["num_pixels"] == expected["num_pixels"] > 0
    assert scores["pixel_accuracy"] == pytest.approx(expected["pixel_accuracy"], abs=1e-12)
    assert scores["miou"] == pytest.approx(expected["miou"], abs=1e-12)


def test_eval_with_flip_multi_scale_and_sliding_window_scores_what_they_compute(tiny):
    """evaluate_forward with flip and with sliding windows (65x97 image, 49-pixel windows: 2 x 3
    windows) scores what a numpy reimplementation of each computes on the same network; each
    option changes the scores (the network sees context, so windows and mirroring change labels)."""
    from src.model.loading import numpy_forward
    from src.eval.evaluate import evaluate_forward

    cfg = tiny["cfg"].replace(data_path=str(tiny["records"]))
    forward = numpy_forward(tiny["net"])
    plain = evaluate_forward(forward, cfg, progress=False)
    flipped = evaluate_forward(forward, cfg.replace(flip=True), progress=False)
    windows = evaluate_forward(forward, cfg.replace(sliding_window=True, crop_size=49), progress=False)
    _assert_same_scores(plain, _reference_scores(tiny, lambda f, image: f(image[None])[0]))
    _assert_same_scores(flipped, _reference_scores(tiny, _flipped))
    _assert_same_scores(windows, _reference_scores(tiny, _windowed))
    for scores in (flipped, windows):
        assert (scores["miou"], scores["pixel_accuracy"]) != (plain["miou"], plain["pixel_accuracy"])
    multi = evaluate_forward(forward, cfg.replace(flip=True, scales=[0.75, 1.0]), progress=False)
    assert multi["num_pixels"] == plain["num_pixels"]
    assert (multi["miou"], multi["pixel_accuracy"]) != (flipped["miou"], flipped["pixel_accuracy"])


def test_predict_on_a_cityscapes_split_scores_as_eval_py_with_the_official_scorer(tiny, eval_run, tmp_path):
    """predict.py on leftImg8bit/val (city subfolders): cityscapesscripts' scorer on its labelIds equals
    eval.py's single-scale scores; --cityscapes_submission zips exactly one labelIds PNG per image."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "official_scorer_helpers", os.path.join(REPO, "tests", "eval", "test_metrics_official_scorer.py"))
    scorer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(scorer)
    eval_scores = eval_run[1]
    split = tiny["data_root"] / "leftImg8bit" / "val"
    result = run_script("predict.py", "--config_path", tiny["config_path"], "--arch_path", tiny["arch_path"],
                        "--model", tiny["ckpt"], "--input", split, "--output_path", tmp_path / "pred")
    assert result.returncode == 0, result.stderr[-2000:]
    images = sorted(p.relative_to(split) for p in split.rglob("*.png"))
    assert sorted(p.relative_to(tmp_path / "pred" / "labelIds")
                  for p in (tmp_path / "pred" / "labelIds").rglob("*.png")) == images
    official = scorer._official_scores(str(tiny["data_root"]), str(tmp_path / "pred" / "labelIds"))
    for name, iou in eval_scores["class_iou"].items():  # eval_results.json: null for an absent class
        theirs = official["classScores"][name]
        assert (iou is None and np.isnan(theirs)) or iou == pytest.approx(theirs, abs=1e-9), name
    assert eval_scores["miou"] == pytest.approx(official["averageScoreClasses"], abs=1e-9)

    zip_path = tmp_path / "submission" / "results.zip"
    result = run_script("predict.py", "--config_path", tiny["config_path"], "--arch_path", tiny["arch_path"],
                        "--model", tiny["ONNX"], "--input", split, "--output_path", tmp_path / "submission",
                        "--cityscapes_submission", zip_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(os.listdir(tmp_path / "submission")) == ["labelIds", "results.zip"]
    with zipfile.ZipFile(zip_path) as archive:
        assert sorted(archive.namelist()) == sorted(p.name for p in images)
