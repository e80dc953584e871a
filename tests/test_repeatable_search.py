"""Repeatable search (docs/cpu.md, Reproducibility): with one config and seed, defaults otherwise
(graph mode, the CPU kernels, the default data workers), two 2-epoch searches write identical
checkpoints, and a search killed after its epoch-1 checkpoint and resumed from it ends with the
uninterrupted one's arch_history.npz and checkpoint (one test: the suite searches three times, not
four). The demo's search config (F 4, B 2) at 2 layers (the same code as 4, with fewer shapes to
compile: the suite's time) on the test images: epoch 1 weights only, epoch 2 also alpha and beta."""
import os
import subprocess
import sys

import numpy as np
import pytest

import src  # noqa: F401  (CPU set-up before mindspore)
import mindspore as ms

pytestmark = pytest.mark.heavy  # scheduled first (conftest.py)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARGS = ["--config_path", os.path.join(ROOT, "config", "demo_search.yaml"), "--epochs", "2",
        "--arch_start_epoch", "1", "--batch_size", "2", "--crop_size", "33", "--num_layers", "2", "--log_interval", "1"]
KILL_VAR = "AUTODEEPLAB_TEST_KILL_AT"


def search(data, output, *extra, kill_at=None):
    env = {k: v for k, v in os.environ.items() if k != KILL_VAR}
    env["PYTHONPATH"] = ROOT
    if kill_at:
        env[KILL_VAR] = kill_at
    return subprocess.run([sys.executable, os.path.join(ROOT, "search.py"), *ARGS, "--data_path", str(data),
                           "--output_path", str(output), *extra], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=900)


def assert_same_history(a, b):
    with np.load(os.path.join(a, "arch_history.npz")) as first, np.load(os.path.join(b, "arch_history.npz")) as again:
        assert sorted(first.files) == sorted(again.files)
        for key in first.files:
            assert np.array_equal(first[key], again[key]), key


def assert_same_checkpoint(a, b, epoch=2):
    first, again = (ms.load_checkpoint(os.path.join(folder, "search_epoch%d.ckpt" % epoch)) for folder in (a, b))
    assert set(first) == set(again)
    for name, value in first.items():
        if isinstance(value, str):
            assert again[name] == value, name
        else:
            assert np.array_equal(again[name].asnumpy(), value.asnumpy()), name


@pytest.fixture(scope="module")
def first_search(demo_mindrecord_dir, tmp_path_factory):
    output = tmp_path_factory.mktemp("first_search")
    result = search(demo_mindrecord_dir, output)
    assert result.returncode == 0, result.stderr[-3000:]
    return output


def test_a_second_search_killed_and_resumed_ends_identical(first_search, demo_mindrecord_dir, tmp_path):
    """A second search (another process) writes the first one's epoch-1 checkpoint bit for bit;
    killed there and resumed, it ends with the first one's history and epoch-2 checkpoint."""
    killed = search(demo_mindrecord_dir, tmp_path, kill_at="search_checkpoint_saved:1")
    assert killed.returncode != 0
    epoch1 = os.path.join(tmp_path, "search_epoch1.ckpt")
    assert os.path.exists(epoch1) and not os.path.exists(os.path.join(tmp_path, "search_epoch2.ckpt"))
    assert_same_checkpoint(first_search, tmp_path, epoch=1)
    result = search(demo_mindrecord_dir, tmp_path, "--resume", epoch1)
    assert result.returncode == 0, result.stderr[-3000:]
    assert_same_history(first_search, tmp_path)
    assert_same_checkpoint(first_search, tmp_path)
