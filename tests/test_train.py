"""train.py end to end on the demo MindRecord, in graph mode (the default, as users run it): loss
going down with the automatic conv-kernel choice and its real timing probe, msrun data parallel,
bad input. Tiny network (F=2, crop 33 or 65, batch 2).

Kill-and-resume equality (bit-identical, dropout and OHEM on, killed by the kill-point hook) is
tests/test_repeatable_runs.py; interruption and output-folder rules are tests/test_reliability_train.py."""
import csv
import glob
import json
import os
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest

from src.architecture import AUTODEEPLAB, Architecture
from src.kernels.build import CACHE_VAR, HASH_SUFFIX, cache_dir, kernel_library
from src.layers.conv import DENSE_CONV_VAR, SGEMM_VERDICT_SUFFIX

pytestmark = pytest.mark.heavy  # scheduled first (conftest.py)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON = sys.executable
TINY = ["--config_path", os.path.join(ROOT, "config", "autodeeplab_s.yaml"), "--filter_multiplier", "2",
        "--crop_size", "33", "--batch_size", "2", "--min_scale", "0.5", "--max_scale", "1.0",
        "--num_parallel_workers", "1", "--log_interval", "1"]
# 6 demo images, batch 2: 3 steps per epoch, 6 steps; checkpoints after steps 2, 4, 6. Whole
# (half-size, flipped at random) images in 65-px crops so 6 steps show the loss going down (plain
# cross-entropy: OHEM's mean over the hardest pixels need not fall within 6 steps).
RESUMABLE = TINY + ["--crop_size", "65", "--min_scale", "0.5", "--max_scale", "0.5", "--epochs", "2", "--criterion", "ce", "--warmup_iters", "0", "--base_lr", "0.02",
                    "--save_checkpoint_steps", "2", "--keep_checkpoint_max", "5"]


def env(**changes):
    """The environment of a train.py subprocess; a value None removes the variable."""
    result = dict(os.environ, PYTHONPATH=ROOT, PATH=os.path.dirname(PYTHON) + os.pathsep + os.environ["PATH"])
    for name, value in changes.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = value
    return result


def run_train(args, timeout=600, **env_changes):
    return subprocess.run([PYTHON, os.path.join(ROOT, "train.py")] + args, cwd=ROOT, env=env(**env_changes),
                          capture_output=True, text=True, timeout=timeout)


def read_log(output):
    with open(os.path.join(output, "train_log.csv")) as f:
        return list(csv.DictReader(f))


def checkpoint(output, step):
    return os.path.join(output, "checkpoints", "autodeeplab-step%08d.ckpt" % step)


def fresh_kernel_cache(folder):
    """A kernel cache holding this host's built libraries but no probe timings, as on a host where
    the libraries were built (e.g. by an earlier version) and the conv choice was never timed. The
    libraries are copied (not rebuilt) to save the compile; the probe then runs for real."""
    os.makedirs(folder, mode=0o700, exist_ok=True)
    kernel_library("dense_conv")  # built into the suite's cache if it is not there yet
    for path in glob.glob(os.path.join(cache_dir(), "lib*.so")):
        for name in (path, path + HASH_SUFFIX):
            if os.path.exists(name):
                shutil.copy2(name, folder)
    assert not glob.glob(os.path.join(folder, "*" + SGEMM_VERDICT_SUFFIX))
    return folder


@pytest.fixture(scope="module")
def uninterrupted(demo_mindrecord_dir, tmp_path_factory):
    """6 steps of train.py with AUTODEEPLAB_DENSE_CONV unset (the users' "auto") on a kernel cache
    without probe timings: the process times the SGEMM kernel against MindSpore's and keeps the result.
    Validation after each epoch; BN statistics re-estimated on 4 training images at the end."""
    output = str(tmp_path_factory.mktemp("uninterrupted"))
    kernels = fresh_kernel_cache(str(tmp_path_factory.mktemp("kernels")))
    result = run_train(RESUMABLE + ["--data_path", str(demo_mindrecord_dir), "--output_path", output,
                                    "--eval_interval", "1", "--bn_recalibration_images", "4",
                                    "--bn_recalibration_batch", "2"],
                       **{DENSE_CONV_VAR: None, CACHE_VAR: kernels})
    assert result.returncode == 0, result.stderr[-3000:]
    return output, kernels


def test_training_lowers_the_loss(uninterrupted):
    output, _ = uninterrupted
    rows = read_log(output)
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4, 5, 6]
    first = np.mean([float(r["loss"]) for r in rows if r["epoch"] == "1"])
    second = np.mean([float(r["loss"]) for r in rows if r["epoch"] == "2"])
    assert second < 0.75 * first, (first, second)
    assert os.path.getsize(os.path.join(output, "loss_curve.png")) > 1000
    assert all(float(r["samples_per_s"]) > 0 and float(r["lr"]) > 0 for r in rows)


def test_automatic_conv_choice_timed_the_host_and_kept_the_timings(uninterrupted):
    """The training above ran the real probe (both formulations timed) and kept its timings beside
    the dense_conv library, where the next process reads them instead of timing again."""
    _, kernels = uninterrupted
    kept = glob.glob(os.path.join(kernels, "libdense_conv_*.so" + SGEMM_VERDICT_SUFFIX))
    assert len(kept) == 1, os.listdir(kernels)
    with open(kept[0], encoding="utf-8") as f:
        timings = json.load(f)
    assert timings["sgemm_seconds"] > 0 and timings["mindspore_seconds"] > 0


def test_validation_every_epoch_keeps_the_best_checkpoint(uninterrupted, demo_mindrecord_dir, tmp_path):
    """eval_interval 1: a val row after each epoch, and best_miou.ckpt is the network of the best
    row: eval.py (single scale, no flip, as the validation) scores it exactly as logged."""
    from src.checkpoint import read_checkpoint

    output, _ = uninterrupted
    with open(os.path.join(output, "val_log.csv")) as f:
        rows = list(csv.DictReader(f))
    assert [(int(r["step"]), int(r["epoch"])) for r in rows] == [(3, 1), (6, 2)]
    best = max(rows, key=lambda r: float(r["miou"]))
    best_path = os.path.join(output, "best_miou.ckpt")
    assert read_checkpoint(best_path, "best").meta["step"] == int(best["step"])
    scored = subprocess.run([PYTHON, "eval.py", *TINY[:4], "--data_path", str(demo_mindrecord_dir), "--ckpt_path",
                             best_path, "--flip", "false", "--scales", "1.0", "--output_path", str(tmp_path)],
                            cwd=ROOT, env=env(), capture_output=True, text=True, timeout=300)
    assert scored.returncode == 0, scored.stderr[-2000:]
    with open(tmp_path / "eval_results.json") as f:
        assert json.load(f)["miou"] == pytest.approx(float(best["miou"]), abs=1e-6)


def test_the_last_checkpoint_holds_the_re_estimated_statistics(uninterrupted, demo_mindrecord_dir):
    """--bn_recalibration_images 4: the last checkpoint holds the population statistics of its own
    weights on the first 4 training images (batches of 2), to float noise that grows with depth
    (another process); the running statistics of 6 training steps at momentum 0.995 would still
    be about 1 for the variance, 100x the real one."""
    from src.config import load_config
    from src.data.mindrecord_writer import find_mindrecord
    from src.model.loading import load_network
    from src.train.bn_recalibration import batch_norm_layers, image_batches, population_statistics

    output, _ = uninterrupted
    cfg = load_config(TINY[1], {"filter_multiplier": 2, "num_parallel_workers": 1})
    net = load_network(cfg, checkpoint(output, 6))
    stored = {name: cell.moving_variance.asnumpy() for name, cell in batch_norm_layers(net)}
    stats = population_statistics(net, image_batches(find_mindrecord(str(demo_mindrecord_dir), "train"), cfg, 4, 2))
    for name, (_, variance) in stats.items():
        np.testing.assert_allclose(stored[name], variance, rtol=0.05, atol=1e-6)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_msrun_two_workers_share_weights_and_split_data(demo_mindrecord_dir, tmp_path):
    output = str(tmp_path / "out")
    script = os.path.join(ROOT, "scripts", "run_distribute_train_msrun.sh")
    args = TINY[2:] + ["--epochs", "1", "--log_samples", "true"]
    result = subprocess.run(["bash", script, "2", str(demo_mindrecord_dir), TINY[1], output] + args, cwd=ROOT,
                            env=dict(env(), MASTER_PORT=str(free_port())), capture_output=True, text=True,
                            timeout=400)
    logs = {rank: open(os.path.join(output, "msrun_log", "worker_%d.log" % rank)).read() for rank in (0, 1)}
    assert result.returncode == 0, result.stdout[-2000:] + logs[0][-2000:] + logs[1][-2000:]
    digests = [[line.split()[-1] for line in logs[rank].splitlines() if "trainable weights sha1" in line]
               for rank in (0, 1)]
    assert len(digests[0]) == 1 and digests[0] == digests[1]
    assert "2 device(s)" in logs[0]
    samples = {}
    for rank in (0, 1):
        with open(os.path.join(output, "samples_rank%d.txt" % rank)) as f:
            samples[rank] = [line.split("\t") for line in f.read().splitlines()]
    names = [{name for _, _, name in samples[rank]} for rank in (0, 1)]
    assert len(names[0]) == len(names[1]) == 2  # 6 images / 2 ranks = 3 each: one batch of 2
    assert not names[0] & names[1]
    # Only rank 0 writes the checkpoint and the log.
    assert os.listdir(os.path.join(output, "checkpoints")) == ["autodeeplab-step00000001.ckpt"]
    assert os.path.isfile(os.path.join(output, "train_log.csv"))


def assert_clean_error(result, *fragments):
    lines = result.stderr.splitlines()
    errors = [line for line in lines if line.startswith("error:")]
    assert result.returncode == 2, result.stderr[-2000:]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr[-2000:]


def test_missing_data_path(tmp_path):
    result = run_train(TINY + ["--data_path", str(tmp_path / "nowhere"), "--output_path", str(tmp_path / "o")])
    assert_clean_error(result, "does not exist", "build_mindrecord.py")


def test_empty_mindrecord(tmp_path):
    (tmp_path / "cityscapes_train.mindrecord").write_bytes(b"")
    result = run_train(TINY + ["--data_path", str(tmp_path), "--output_path", str(tmp_path / "o")])
    assert_clean_error(result, "empty")


def test_too_few_samples_for_a_batch(demo_mindrecord_dir, tmp_path):
    result = run_train(TINY + ["--data_path", str(demo_mindrecord_dir), "--output_path", str(tmp_path),
                               "--batch_size", "8"])
    assert_clean_error(result, "fewer samples than one global batch", "--batch_size")


def test_output_dir_not_writable(demo_mindrecord_dir, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    result = run_train(TINY + ["--data_path", str(demo_mindrecord_dir), "--output_path", str(blocker / "out")])
    assert_clean_error(result, "lies under", "which is a file", "--output_path")


def test_architecture_not_matching_the_checkpoint(uninterrupted, demo_mindrecord_dir, tmp_path):
    cell = [list(row) for row in AUTODEEPLAB.cell]
    cell[3] = [1, "sep_conv_3x3"]
    arch = tmp_path / "other.json"
    Architecture(AUTODEEPLAB.network_path, cell, {"source": "test"}).save(str(arch))
    result = run_train(RESUMABLE + ["--data_path", str(demo_mindrecord_dir), "--output_path", str(tmp_path / "o"),
                                    "--arch_path", str(arch), "--resume", checkpoint(uninterrupted[0], 6)])
    assert_clean_error(result, "cell row 3", "--arch_path")
