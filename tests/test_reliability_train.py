"""train.py under interruption and contention: SIGINT/SIGTERM name the last good checkpoint, a kill at
any write leaves no final-named partial file, one run owns an output folder at a time.

Kill points are chosen with src.fileio.kill_point ($AUTODEEPLAB_TEST_KILL_AT), never by sleeping.
Tiny network (F=2, crop 33, batch 2) in graph mode (the default) on the demo MindRecord: 3 steps per epoch.
"""
import csv
import os
import signal
import subprocess
import sys

import pytest
import yaml

import src  # noqa: F401  (CPU set-up before mindspore)
import mindspore as ms

from src.fileio import KILL_VAR, LOCK_NAME

pytestmark = pytest.mark.heavy  # scheduled first (conftest.py)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--config_path", os.path.join(ROOT, "config", "autodeeplab_s.yaml"), "--filter_multiplier", "2",
        "--crop_size", "33", "--batch_size", "2", "--min_scale", "0.5", "--max_scale", "1.0",
        "--num_parallel_workers", "1", "--log_interval", "1", "--epochs", "2", "--save_checkpoint_steps", "1"]


def run_train(args, kill_at=None, timeout=300):
    env = dict(os.environ, PYTHONPATH=ROOT)
    env.pop(KILL_VAR, None)
    if kill_at:
        env[KILL_VAR] = kill_at
    return subprocess.run([sys.executable, os.path.join(ROOT, "train.py")] + TINY + args, cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def checkpoint(output, step):
    return os.path.join(output, "checkpoints", "autodeeplab-step%08d.ckpt" % step)


def one_error_line(result, code=2):
    assert result.returncode == code, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith(("error:", "interrupted"))]
    assert len(lines) == 1, result.stderr[-3000:]
    return lines[0]


@pytest.mark.parametrize("signame, code", [("INT", 130)])
def test_signal_names_the_last_good_checkpoint(demo_mindrecord_dir, tmp_path, signame, code):
    """The signal arrives right after the 2nd checkpoint is renamed into place. SIGINT, because
    MindSpore's runtime replaces its handler during a step (``reclaim_signals``); SIGTERM's 143
    goes through the same ``run_main`` path, tested with a real signal in
    tests/data/test_mindrecord_writer.py (one training run less for the suite's time)."""
    output = str(tmp_path)
    result = run_train(["--data_path", str(demo_mindrecord_dir), "--output_path", output],
                       kill_at="checkpoint_saved:2:" + signame)
    line = one_error_line(result, code)
    assert line == "interrupted by SIG%s; last good checkpoint %s; continue with --resume %s" % (
        signame, checkpoint(output, 2), checkpoint(output, 2)), line
    assert not os.path.exists(os.path.join(output, LOCK_NAME))  # the lock went with the run
    assert sorted(os.listdir(os.path.join(output, "checkpoints"))) == [os.path.basename(checkpoint(output, s))
                                                                       for s in (1, 2)]


def _complete(path):
    """A visible output file can be read whole."""
    name = os.path.basename(path)
    if name.endswith(".ckpt"):
        ms.load_checkpoint(path)
    elif name.endswith(".csv"):
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        assert all(row["samples_per_s"] for row in rows)
    elif name.endswith(".yaml"):
        assert yaml.safe_load(open(path))["filter_multiplier"] == 2
    elif name.endswith(".png"):
        with open(path, "rb") as f:
            data = f.read()
        assert data.startswith(b"\x89PNG") and data.endswith(b"IEND\xaeB`\x82")
    return True


@pytest.mark.parametrize("nth", [2, 3])
def test_sigkill_at_a_write_leaves_only_whole_files_and_the_next_run_cleans_up(demo_mindrecord_dir, tmp_path, nth):
    """SIGKILL just before the nth atomic rename (2: train_config.yaml, 3: the first checkpoint)."""
    output = str(tmp_path)
    result = run_train(["--data_path", str(demo_mindrecord_dir), "--output_path", output], kill_at="atomic_path:%d" % nth)
    assert result.returncode == -signal.SIGKILL, result.stderr[-3000:]
    visible = [os.path.join(folder, name) for folder, _, names in os.walk(output) for name in names
               if not name.startswith(".")]
    assert visible and all(_complete(path) for path in visible)
    cut_off = {2: "train_config", 3: "autodeeplab-step"}[nth]
    assert not any(name.startswith(cut_off) for name in map(os.path.basename, visible))
    hidden = [name for _, _, names in os.walk(output) for name in names if name.startswith(".")]
    assert LOCK_NAME in hidden and any(".tmp" in name for name in hidden)  # the cut-off write stayed hidden
    # The next run takes over the dead run's lock and removes its temporaries before it stops at bad input.
    again = run_train(["--data_path", str(demo_mindrecord_dir), "--output_path", output, "--batch_size", "8"])
    assert "fewer samples than one global batch" in one_error_line(again)
    assert "taking over the lock" in again.stderr
    assert [name for _, _, names in os.walk(output) for name in names if name.startswith(".")] == []


def test_folder_of_another_run_needs_resume_or_overwrite(demo_mindrecord_dir, tmp_path):
    output = str(tmp_path)
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    for step in (2, 3):
        (folder / ("autodeeplab-step%08d.ckpt" % step)).write_bytes(b"another run")
    base = ["--data_path", str(demo_mindrecord_dir), "--output_path", output]
    line = one_error_line(run_train(base))
    assert "holds checkpoints of another run (newest autodeeplab-step00000003.ckpt)" in line
    assert "--resume %s" % checkpoint(output, 3) in line and "--overwrite true" in line
    assert len(os.listdir(folder)) == 2
    # --overwrite removes them (then this run stops at its bad batch size before training)
    line = one_error_line(run_train(base + ["--overwrite", "true", "--batch_size", "8"]))
    assert "fewer samples than one global batch" in line and os.listdir(folder) == []


def test_second_run_into_a_busy_folder_is_refused(demo_mindrecord_dir, tmp_path):
    """A live run's lock (this test process holds it) keeps a second train.py out, before any write."""
    from src.fileio import folder_lock

    output = str(tmp_path)
    with folder_lock(output):
        result = run_train(["--data_path", str(demo_mindrecord_dir), "--output_path", output])
    line = one_error_line(result)
    assert "is in use by process %d" % os.getpid() in line and "choose another output_path" in line
    assert os.listdir(output) == []
