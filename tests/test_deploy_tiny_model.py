"""Export, predictor, eval.py and the 310 flow on one tiny randomly initialised network.

One module so the expensive steps (graph compiles, exports) run once: a F=2 network at 65x97
(odd sizes exercise the align_corners size rule), a synthetic val split of two 65x97 images.
"""
import json
import os
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

import src  # noqa: F401  (CPU set-up before mindspore)
from src.config import load_config
from src.data.labels import TRAIN_CLASS_NAMES as TRAIN_NAMES
from src.data.labels import TRAIN_ID_PALETTE, TRAIN_ID_TO_ID

HEIGHT, WIDTH = 65, 97
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON = sys.executable
TINY = {"filter_multiplier": 2, "aspp_rates": [2, 4, 6], "height": HEIGHT, "width": WIDTH,
        "num_parallel_workers": 1}


def run_script(script, *args):
    """Run an entry script; returns the CompletedProcess (text output)."""
    return subprocess.run([PYTHON, os.path.join(REPO, script), *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=600)


def calibrate_batch_norm(net, data_root):
    """Set BatchNorm statistics from one batch of the images (a stand-in for training), so that the
    logits have the scale of a trained network instead of growing through 12 unnormalised cells."""
    import mindspore as ms
    from src.deploy.images import normalise, read_image

    images = [normalise(read_image(str(p))) for p in sorted(data_root.rglob("*_leftImg8bit.png"))]
    net.set_train(True)
    net(ms.Tensor(np.stack(images)))
    net.set_train(False)


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
    cfg = load_config(None, {**TINY, "mode": "pynative", "output_path": str(root / "out")})
    ms.set_context(mode=ms.PYNATIVE_MODE)
    ms.set_seed(0)
    net = build_model(cfg.replace(bn_momentum=0.01))
    calibrate_batch_norm(net, data_root)
    ckpt = str(root / "tiny.ckpt")
    ms.save_checkpoint(net, ckpt, append_dict=checkpoint_meta(cfg, net.architecture))
    exports = {fmt: export_network(net, str(root / ("tiny_logits." + fmt.lower())), fmt, HEIGHT, WIDTH, "logits")
               for fmt in ("MINDIR", "ONNX")}
    return {"root": root, "data_root": data_root, "records": records, "cfg": cfg.replace(ckpt_path=ckpt),
            "net": net, "ckpt": ckpt, **exports}


def val_images(tiny):
    folder = tiny["root"] / "val_images"
    if not folder.exists():
        folder.mkdir()
        for path in sorted((tiny["data_root"] / "leftImg8bit" / "val").rglob("*.png")):
            shutil.copy(path, folder / path.name)
    return folder


def test_checkpoint_mindir_and_onnx_give_the_same_logits(tiny):
    """MINDIR runs MindSpore's own kernels: identical to 1e-4. ONNX Runtime's convolutions round
    differently; through 12 cells and ~240 BatchNorms that reaches about 1e-3 at |logits| ~ 50
    (2.5e-5 relative), so ONNX is held to 1e-4 of the logit range."""
    import mindspore as ms
    import onnx as onnx_format
    import onnxruntime as ort

    x = np.random.default_rng(1).normal(size=(1, 3, HEIGHT, WIDTH)).astype(np.float32)
    reference = tiny["net"](ms.Tensor(x)).asnumpy()
    mindir = ms.nn.GraphCell(ms.load(tiny["MINDIR"]))(ms.Tensor(x)).asnumpy()
    session = ort.InferenceSession(tiny["ONNX"], providers=["CPUExecutionProvider"])
    onnx = session.run(None, {session.get_inputs()[0].name: x})[0]
    scale = np.abs(reference).max()
    assert reference.shape == (1, 19, HEIGHT, WIDTH)
    assert 1.0 < scale < 100.0, "logits should have the scale of a trained network"
    assert np.abs(mindir - reference).max() <= 1e-4
    assert np.abs(onnx - reference).max() <= 1e-4 * scale
    assert (onnx.argmax(axis=1) == reference.argmax(axis=1)).mean() > 0.999
    ops = [node.op_type for node in onnx_format.load(tiny["ONNX"]).graph.node]
    assert "Resize" in ops and "MatMul" not in ops, "the MatMul resizes should be Resize nodes"


def test_eval_py_scores_the_checkpoint_and_saves_json(tiny):
    out = tiny["root"] / "eval"
    result = run_script("eval.py", "--config_path", os.path.join(REPO, "config", "demo.yaml"),
                        "--filter_multiplier", 2, "--mode", "pynative", "--num_parallel_workers", 1,
                        "--data_path", tiny["records"], "--ckpt_path", tiny["ckpt"], "--output_path", out)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "mIoU" in result.stdout and "traffic light" in result.stdout
    scores = json.loads((out / "eval_results.json").read_text())
    assert set(scores["class_iou"]) == set(TRAIN_NAMES)
    assert 0.0 <= scores["miou"] <= 1.0
    assert scores["num_pixels"] > 0
    tiny["eval_scores"] = scores


def test_cpp_app_and_postprocess_reproduce_eval_py(tiny, tmp_path):
    """scripts/run_infer_310.sh with the ONNX export: build, preprocess, C++ app, postprocess."""
    if shutil.which("cmake") is None or shutil.which("g++") is None:
        pytest.fail("cmake and g++ are needed (apt-get install cmake g++ libopencv-dev; .ci/run installs them)")
    if "eval_scores" not in tiny:
        pytest.skip("needs test_eval_py_scores_the_checkpoint_and_saves_json")
    env = {**os.environ, "PYTHON": PYTHON}
    result = subprocess.run(["bash", os.path.join(REPO, "scripts", "run_infer_310.sh"), tiny["ONNX"],
                             str(tiny["data_root"]), "0", os.path.join(REPO, "config", "demo.yaml")],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    inputs = sorted((tmp_path / "preprocess_Result").glob("*.bin"))
    labels = sorted((tmp_path / "result_Files").glob("*.bin"))
    assert [p.name for p in inputs] == [p.name for p in labels] and len(labels) == 2
    assert all(p.stat().st_size == 3 * HEIGHT * WIDTH * 4 for p in inputs)
    assert all(p.stat().st_size == HEIGHT * WIDTH for p in labels)
    timing = (tmp_path / "result_Files" / "inference_time.txt").read_text().splitlines()
    assert timing[-1].startswith("mean_ms_per_image") and float(timing[-1].split()[1]) > 0
    # Same images, labels and metric; the app runs the ONNX export, whose float rounding differs from
    # MindSpore's, so a few near-tie pixels may take the other class (one pixel moves mIoU ~1e-4 here).
    scores = json.loads((tmp_path / "postprocess_Result" / "postprocess_results.json").read_text())
    assert scores["num_pixels"] == tiny["eval_scores"]["num_pixels"]
    assert scores["miou"] == pytest.approx(tiny["eval_scores"]["miou"], abs=1e-3)
    for name, iou in tiny["eval_scores"]["class_iou"].items():
        assert (scores["class_iou"][name] is None) == (iou is None), name
        assert iou is None or scores["class_iou"][name] == pytest.approx(iou, abs=5e-3), name
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
    for kind in ("MINDIR", "ONNX"):
        assert (label_maps[kind] == label_maps["checkpoint"]).mean() > 0.999, kind


def test_wrong_input_size_for_a_fixed_shape_export_names_the_sizes_and_the_fix(tiny, tmp_path):
    from src.deploy.predictor import Predictor
    from src.errors import UserError

    cv2.imwrite(str(tmp_path / "small.png"), np.zeros((40, 50, 3), np.uint8))
    for model in (tiny["ONNX"], tiny["MINDIR"]):
        with pytest.raises(UserError) as error:
            Predictor(model, tiny["cfg"]).predict_paths(str(tmp_path), str(tmp_path / "out"), progress=False)
        message = str(error.value)
        assert "small.png" in message and "40x50" in message and "65x97" in message
        assert "export.py" in message and "--height 40 --width 50" in message


def test_a_file_that_is_not_an_image_is_named(tiny, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    shutil.copy(next(val_images(tiny).iterdir()), folder / "good.png")
    (folder / "notes.png").write_text("not a picture")
    result = run_script("predict.py", "--model", tiny["ONNX"], "--input", folder, "--output_path", tmp_path / "out",
                        "--config_path", os.path.join(REPO, "config", "demo.yaml"))
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
    from src.nas.architecture import load_architecture

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
    from src.deploy.images import normalise, read_image

    result = run_script("export.py", "--config_path", os.path.join(REPO, "config", "demo.yaml"),
                        "--filter_multiplier", 2, "--ckpt_path", tiny["ckpt"], "--file_format", "ONNX",
                        "--output", "argmax", "--height", HEIGHT, "--width", WIDTH, "--output_path", tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    exported = tmp_path / ("autodeeplab_%dx%d_argmax.onnx" % (HEIGHT, WIDTH))
    assert sorted(p.name for p in tmp_path.iterdir()) == [exported.name], "no temporary files left behind"

    image_path = sorted(val_images(tiny).iterdir())[0]
    batch = normalise(read_image(str(image_path)))[None]
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


def test_eval_with_flip_multi_scale_and_sliding_window_runs_on_the_network(tiny):
    from src.deploy.network import numpy_forward
    from src.eval.evaluate import evaluate_forward

    cfg = tiny["cfg"].replace(data_path=str(tiny["records"]))
    plain = evaluate_forward(numpy_forward(tiny["net"]), cfg, progress=False)
    options = evaluate_forward(numpy_forward(tiny["net"]), cfg.replace(flip=True, scales=[0.75, 1.0]), progress=False)
    windows = evaluate_forward(numpy_forward(tiny["net"]), cfg.replace(sliding_window=True, crop_size=49),
                               progress=False)
    for scores in (plain, options, windows):
        assert scores["num_pixels"] == plain["num_pixels"] > 0
        assert 0.0 <= scores["miou"] <= 1.0
    assert options["miou"] != plain["miou"] or options["pixel_accuracy"] != plain["pixel_accuracy"]
