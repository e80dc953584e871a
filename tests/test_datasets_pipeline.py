"""Every data set format through the stages (docs/datasets.md): train and eval with --dataset FORMAT on
data generated in that format's public layout, eval naming that data set's classes; for one's own
data the whole walk-through: search, retrain on the searched architecture, export, predict with its
palette; a data set that does not match the MindRecord folder is one line, before any compile.

Tiny networks in PyNative mode keep each stage to seconds (graph mode, the default, runs the same
code and is covered on Cityscapes by tests/test_train.py)."""
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from src.data import datasets
from src.data.mindrecord_writer import build_mindrecord
from src.data.synthetic import generate

pytestmark = pytest.mark.heavy  # scheduled first (conftest.py)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--filter_multiplier", "2", "--crop_size", "33", "--batch_size", "2", "--num_parallel_workers", "1",
        "--log_interval", "1", "--mode", "pynative"]
CONFIGS = {"voc": "config/voc.yaml", "ade20k": "config/ade20k.yaml", "custom": "config/autodeeplab_s.yaml"}


def run(script, *args):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, script), *args], cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True, text=True, timeout=900)
    return proc


def ok(script, *args):
    proc = run(script, *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def records(request, tmp_path_factory):
    """(format, data root, MindRecord folder): 4 train + 2 val scenes of 48x64 in the format's layout."""
    base = tmp_path_factory.mktemp(request.param)
    root, out = base / "data", base / "mindrecord"
    generate(str(root), 4, 2, 48, 64, seed=5, dataset=request.param)
    for split in ("train", "val"):
        build_mindrecord(str(root), str(out), split, num_workers=1, progress=False, dataset=request.param)
    return request.param, root, out


def _train(fmt, data, output, *extra):
    ok("train.py", "--config_path", CONFIGS[fmt], "--dataset", fmt, *TINY, "--epochs", "1",
       "--data_path", str(data), "--output_path", str(output), *extra)
    return os.path.join(output, "checkpoints", "autodeeplab-step00000002.ckpt")


def test_train_and_eval_name_the_data_set_s_classes(records, tmp_path):
    fmt, root, data = records
    ckpt = _train(fmt, data, tmp_path / "train")
    proc = ok("eval.py", "--config_path", CONFIGS[fmt], "--dataset", fmt, "--filter_multiplier", "2", "--mode",
              "pynative", "--num_parallel_workers", "1", "--data_path", str(data), "--ckpt_path", ckpt,
              "--output_path", str(tmp_path / "eval"))
    names = datasets.table_of(fmt, str(root)).names
    with open(tmp_path / "eval" / "eval_results.json") as handle:
        assert list(json.load(handle)["class_iou"]) == list(names)
    table = proc.stdout.splitlines()
    header = next(i for i, line in enumerate(table) if line.split() == ["class", "IoU"])
    assert [line.rsplit(None, 1)[0] for line in table[header + 1:header + 1 + len(names)]] == list(names)
    assert len(names) == {"voc": 21, "ade20k": 150, "custom": 19}[fmt]


def test_data_set_not_matching_the_records_is_one_line(records, tmp_path):
    fmt, _, data = records
    other = "voc" if fmt != "voc" else "ade20k"
    proc = run("train.py", "--config_path", CONFIGS[other], "--dataset", other, *TINY, "--data_path", str(data),
               "--output_path", str(tmp_path))
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        f"error: data_path '{data}' holds {fmt} MindRecords but dataset is {other}: pass --dataset {fmt} (retrain "
        f"config {CONFIGS[fmt]}) or another --data_path")
    proc = run("eval.py", "--config_path", CONFIGS[fmt], "--dataset", fmt, "--num_classes", "7", "--data_path",
               str(data), "--ckpt_path", "x.ckpt", "--output_path", str(tmp_path))
    assert "num_classes is 7 but the %s MindRecords" % fmt in proc.stderr and proc.returncode != 0


def test_own_data_search_retrain_export_predict(tmp_path):
    """docs/datasets.md, Your own data: a folder of images and masks to a searched, retrained, exported model."""
    root, data = tmp_path / "mydata", tmp_path / "mindrecord"
    generate(str(root), 4, 2, 48, 64, seed=6, dataset="custom")
    for split in ("train", "val"):
        ok("build_mindrecord.py", "--dataset", "custom", "--data_path", str(root), "--output_path", str(data),
           "--split", split, "--num_workers", "1")
    ok("search.py", "--config_path", "config/demo_search.yaml", "--dataset", "custom", "--mode", "pynative",
       "--epochs", "1", "--arch_start_epoch", "0", "--batch_size", "2", "--crop_size", "33", "--num_layers", "2", "--filter_multiplier",
       "2", "--stem_channels", "8", "--data_path", str(data), "--output_path", str(tmp_path / "search"))
    arch = tmp_path / "search" / "architecture.json"
    ckpt = _train("custom", data, tmp_path / "train", "--arch_path", str(arch))
    ok("export.py", "--dataset", "custom", "--classes_path",
       str(root / "classes.txt"), "--ckpt_path", ckpt, "--height", "48", "--width", "64",
       "--output_path", str(tmp_path / "export"))
    (model,) = [f for f in os.listdir(tmp_path / "export") if f.endswith(".mindir")]
    ok("predict.py", "--dataset", "custom", "--classes_path", str(data), "--model",
       str(tmp_path / "export" / model), "--input", str(root / "images" / "val"),
       "--output_path", str(tmp_path / "predict"))
    table = datasets.read_classes_file(str(root / "classes.txt"))
    colour = cv2.imread(str(tmp_path / "predict" / "color" / "val_00000.png"))[..., ::-1].reshape(-1, 3)
    classes = cv2.imread(str(tmp_path / "predict" / "labelIds" / "val_00000.png"), cv2.IMREAD_UNCHANGED)
    assert classes.max() < table.num_classes
    assert np.array_equal(colour, np.array(table.colours, np.uint8)[classes.reshape(-1)])
