"""The demo's own search, as shipped (config/demo_search.yaml on the demo's generated data, graph
mode, search.py as the demo runs it), decides from the data: its verdict is "decided" and alpha's
entropy falls by at least 1% of its maximum (docs/search_decisions.md). The suite's other search
tests run shrunken searches; this one checks the demo's search (about 5 minutes): the output of
the demo (README, Quick start) when the demo made it after its sources last changed (a fresh
clone's CI runs the demo first; searches are repeatable, tests/test_repeatable_search.py), else a
search of its own. Its counterpart, the same search on shuffled labels coming out "not
determined", is benchmarks/search_verdict.py (docs/search_decisions.md)."""
import glob
import json
import os
import pathlib
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest

import src  # noqa: F401  (CPU set-up before mindspore)

pytestmark = pytest.mark.heavy  # scheduled first (conftest.py)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENTROPY_FALL = 0.01  # of its maximum, ln 8


def demo_data_size():
    """(train, val, height, width) of the demo's data set: scripts/run_demo.sh's default."""
    with open(os.path.join(ROOT, "scripts", "run_demo.sh")) as f:
        return tuple(int(v) for v in re.search(r'DEMO_DATA:-(\d+) (\d+) (\d+) (\d+)', f.read()).groups())


DEMO_OUTPUT = os.path.join(ROOT, "demo_output")  # the demo of README, Quick start
MADE_FROM = ("src", "search.py", "build_mindrecord.py", "config/demo_search.yaml", "scripts/run_demo.sh")


def newest_source_time():
    """The last modification time of the files the demo's search is made from."""
    times = []
    for entry in MADE_FROM:
        path = os.path.join(ROOT, entry)
        if os.path.isdir(path):
            times += [os.path.getmtime(os.path.join(folder, name)) for folder, _, names in os.walk(path)
                      for name in names if name.endswith(".py")]
        else:
            times.append(os.path.getmtime(path))
    return max(times)


def demo_images(root, split):
    return sorted(glob.glob(os.path.join(root, "leftImg8bit", split, "*", "*.png")))


def the_demo_s_search():
    """demo_output/search if the demo made it, at its default data size, after every source it
    depends on last changed; else None."""
    done = os.path.join(DEMO_OUTPUT, "search", "done")
    if not os.path.isfile(done) or os.path.getmtime(done) < newest_source_time():
        return None
    num_train, num_val, height, width = demo_data_size()
    data = os.path.join(DEMO_OUTPUT, "cityscapes")
    train, val = demo_images(data, "train"), demo_images(data, "val")
    if (len(train), len(val)) != (num_train, num_val) or cv2.imread(train[0]).shape[:2] != (height, width):
        return None
    return pathlib.Path(DEMO_OUTPUT, "search")


@pytest.fixture(scope="module")
def demo_search(tmp_path_factory):
    from src.data.mindrecord_writer import build_mindrecord
    from src.data.synthetic import generate

    reused = the_demo_s_search()
    if reused is not None:
        return reused
    work = tmp_path_factory.mktemp("demo_search")
    num_train, num_val, height, width = demo_data_size()
    generate(str(work / "cityscapes"), num_train, num_val, height, width, seed=0)
    for split in ("train", "val"):
        build_mindrecord(str(work / "cityscapes"), str(work / "mindrecord"), split, num_workers=1,
                         progress=False)
    result = subprocess.run([sys.executable, "search.py", "--config_path", "config/demo_search.yaml",
                             "--data_path", str(work / "mindrecord"), "--output_path", str(work / "search")],
                            cwd=ROOT, capture_output=True, text=True, timeout=1500)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return work / "search"


def test_the_demo_search_is_decided(demo_search):
    from src.checkpoint import SEARCH, read_checkpoint
    from src.config import load_config

    provenance = json.loads((demo_search / "architecture.json").read_text())["provenance"]
    assert provenance["verdict"] == "decided", provenance
    cfg = load_config(os.path.join(ROOT, "config", "demo_search.yaml"), {})
    assert provenance["epoch"] == cfg.epochs, provenance  # the verdict of the search's last epoch
    meta = read_checkpoint(str(demo_search / ("search_epoch%d.ckpt" % cfg.epochs)), expect=SEARCH).meta
    for key in ("seed", "num_layers", "filter_multiplier", "block_multiplier", "batch_size", "crop_size"):
        assert meta[key] == getattr(cfg, key), (key, meta)  # the shipped configuration's search


def test_the_demo_search_moves_alpha_entropy_by_a_percent(demo_search):
    history = np.load(demo_search / "arch_history.npz")
    fall = (np.log(8) - history["alpha_entropy"][-1]) / np.log(8)
    assert fall >= ENTROPY_FALL, fall
