"""Repeatable training (docs/cpu.md, Reproducibility). With one config and seed and the defaults
otherwise (graph mode, the C++ CPU kernels, the default data workers, dropout and OHEM on), two
trainings reach bit-identical checkpoints, and a training killed after a checkpoint and resumed
from it ends bit-identical to the uninterrupted one (one test, so that the suite trains three
times, not four).

The demo's widths (F 32, decoder 96, crop 129) so that the SGEMM dense conv kernel, whose
OpenBLAS threading once made runs drift, runs in the decoder; the paper's cell on a 4-cell path (a
short compile); 6 images, batch 2, 8 epochs: 24 steps."""
import csv
import os
import subprocess
import sys

import numpy as np
import pytest

import src  # noqa: F401  (CPU set-up before mindspore)
import mindspore as ms

from src.architecture import AUTODEEPLAB, Architecture

pytestmark = pytest.mark.heavy  # scheduled first (conftest.py)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARGS = ["--config_path", os.path.join(ROOT, "config", "demo.yaml"), "--batch_size", "2", "--epochs", "8",
        "--log_interval", "4", "--save_checkpoint_steps", "12", "--keep_checkpoint_max", "3"]
KILL_VAR = "AUTODEEPLAB_TEST_KILL_AT"


@pytest.fixture(scope="module")
def arch_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("arch") / "architecture.json"
    Architecture([0, 0, 1, 1], AUTODEEPLAB.cell).save(str(path))
    return str(path)


def train(data, output, arch, *extra, kill_at=None):
    env = {k: v for k, v in os.environ.items() if k != KILL_VAR}
    env["PYTHONPATH"] = ROOT
    if kill_at:
        env[KILL_VAR] = kill_at
    return subprocess.run([sys.executable, os.path.join(ROOT, "train.py"), *ARGS, "--data_path", str(data),
                           "--output_path", str(output), "--arch_path", arch, *extra], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def last_checkpoint(output, step=24):
    return ms.load_checkpoint(os.path.join(output, "checkpoints", "autodeeplab-step%08d.ckpt" % step))


def read_log(output):
    with open(os.path.join(output, "train_log.csv"), newline="") as f:
        return list(csv.DictReader(f))


def assert_identical(a, b):
    assert set(a) == set(b)
    for name, value in a.items():
        if isinstance(value, str):
            assert b[name] == value, name
        else:
            assert np.array_equal(b[name].asnumpy(), value.asnumpy()), name


@pytest.fixture(scope="module")
def first_run(demo_mindrecord_dir, arch_path, tmp_path_factory):
    output = tmp_path_factory.mktemp("first")
    result = train(demo_mindrecord_dir, output, arch_path)
    assert result.returncode == 0, result.stderr[-3000:]
    return output


def test_a_second_training_killed_and_resumed_ends_identical(first_run, demo_mindrecord_dir, arch_path,
                                                             tmp_path):
    """A second training from scratch (another process) reaches the first run's step-12 checkpoint
    bit for bit; killed there and resumed, it ends at the first run's step-24 checkpoint."""
    killed = train(demo_mindrecord_dir, tmp_path, arch_path, kill_at="checkpoint_saved:1")
    assert killed.returncode != 0
    resume_from = os.path.join(tmp_path, "checkpoints", "autodeeplab-step%08d.ckpt" % 12)
    assert os.path.exists(resume_from) and not os.path.exists(resume_from.replace("00000012", "00000024"))
    assert_identical(last_checkpoint(first_run, 12), last_checkpoint(tmp_path, 12))
    result = train(demo_mindrecord_dir, tmp_path, arch_path, "--resume", resume_from)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "at step 12" in result.stdout
    assert_identical(last_checkpoint(first_run), last_checkpoint(tmp_path))
    # Same batches, masks and learning rates step by step: the logged steps after the resume match.
    resumed, uninterrupted = read_log(tmp_path), read_log(first_run)
    after = [row for row in uninterrupted if int(row["step"]) > 12]
    assert after and [row["step"] for row in resumed][-len(after):] == [row["step"] for row in after]
    for mine, theirs in zip(resumed[-len(after):], after):
        assert (mine["loss"], mine["lr"]) == (theirs["loss"], theirs["lr"]), mine["step"]
