"""The demo's own search, as shipped (config/demo_search.yaml on the demo's generated data, graph
mode, search.py as the demo runs it), decides from the data: its verdict is "decided" and alpha's
entropy falls by at least 1% of its maximum (docs/search_decisions.md). The suite's other search
tests run shrunken searches; this one pays the demo's search (about 4 minutes) once, on its own
xdist worker. Its counterpart, the same search on shuffled labels coming out "not determined",
is benchmarks/search_verdict.py (docs/search_decisions.md)."""
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import src  # noqa: F401  (CPU set-up before mindspore)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENTROPY_FALL = 0.01  # of its maximum, ln 8


def demo_data_size():
    """(train, val, height, width) of the demo's data set: scripts/run_demo.sh's default."""
    with open(os.path.join(ROOT, "scripts", "run_demo.sh")) as f:
        return tuple(int(v) for v in re.search(r'DEMO_DATA:-(\d+) (\d+) (\d+) (\d+)', f.read()).groups())


@pytest.fixture(scope="module")
def demo_search(tmp_path_factory):
    from src.data.mindrecord_writer import build_mindrecord
    from src.data.synthetic import generate

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
    return work / "search", result.stdout + result.stderr


def test_the_demo_search_is_decided(demo_search):
    output, log = demo_search
    provenance = json.loads((output / "architecture.json").read_text())["provenance"]
    assert provenance["verdict"] == "decided", provenance
    from src.config import load_config

    epochs = load_config(os.path.join(ROOT, "config", "demo_search.yaml"), {}).epochs
    assert f"epoch {epochs} verdict: decided" in log, log[-2000:]


def test_the_demo_search_moves_alpha_entropy_by_a_percent(demo_search):
    output, _ = demo_search
    history = np.load(output / "arch_history.npz")
    fall = (np.log(8) - history["alpha_entropy"][-1]) / np.log(8)
    assert fall >= ENTROPY_FALL, fall
