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
    cfg = load_config(None, {**TINY, "mode": "graph", "output_path": str(root / "out")})
    ms.set_context(mode=ms.GRAPH_MODE)
    ms.set_seed(0)
    net = build_model(cfg)
    net.set_train(False)
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
    import mindspore as ms
    import onnxruntime as ort

    x = np.random.default_rng(1).normal(size=(1, 3, HEIGHT, WIDTH)).astype(np.float32)
    reference = tiny["net"](ms.Tensor(x)).asnumpy()
    mindir = ms.nn.GraphCell(ms.load(tiny["MINDIR"]))(ms.Tensor(x)).asnumpy()
    session = ort.InferenceSession(tiny["ONNX"], providers=["CPUExecutionProvider"])
    onnx = session.run(None, {session.get_inputs()[0].name: x})[0]
    assert reference.shape == (1, 19, HEIGHT, WIDTH)
    assert np.abs(reference).max() > 1.0, "a degenerate network would make the comparison vacuous"
    assert np.abs(mindir - reference).max() <= 1e-4
    assert np.abs(onnx - reference).max() <= 1e-4
