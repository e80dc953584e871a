"""A checkpoint knows its network: eval, export, predict and train --resume take the architecture and
the network keys a train.py checkpoint records when the user gives none, and refuse a given value
that differs. Checked on a checkpoint of a non-default architecture and widths."""
import glob
import json
import os
import re
import subprocess
import sys

import pytest

from src.config import CONFIG_DIR, load_config, parse_config

pytestmark = pytest.mark.heavy  # scheduled first (conftest.py)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARCHITECTURE = {"network_path": [0, 1, 1, 0],
                "cell": [[0, "sep_conv_3x3"], [1, "dil_conv_3x3"], [1, "skip_connect"], [0, "sep_conv_5x5"]],
                "provenance": {"source": "tests/test_checkpoint_network.py"}}
# Not the defaults of config/autodeeplab_s.yaml (20, 64, 256, 6/12/18).
NETWORK = ["--filter_multiplier", "2", "--stem_channels", "8", "--decoder_channels", "16", "--aspp_rates", "2,4,6"]
TRAINING = ["--crop_size", "33", "--batch_size", "2", "--min_scale", "0.5", "--max_scale", "0.5", "--criterion", "ce",
            "--warmup_iters", "0", "--mode", "pynative", "--num_parallel_workers", "1"]


def run(script, *args):
    return subprocess.run([sys.executable, os.path.join(ROOT, script)] + [str(a) for a in args], cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def trained(demo_mindrecord_dir, tmp_path_factory):
    """(architecture file, output folder, last checkpoint) of one epoch of train.py on that network."""
    folder = tmp_path_factory.mktemp("checkpoint_network")
    arch = folder / "architecture.json"
    arch.write_text(json.dumps(ARCHITECTURE))
    output = folder / "run"
    result = run("train.py", "--arch_path", arch, *NETWORK, *TRAINING, "--epochs", "1",
                 "--data_path", demo_mindrecord_dir, "--output_path", output)
    assert result.returncode == 0, result.stderr[-3000:]
    return arch, output, sorted(glob.glob(str(output / "checkpoints" / "*.ckpt")))[-1]


def miou(result):
    assert result.returncode == 0, result.stderr[-3000:]
    return float(re.search(r"mIoU\D*([0-9.]+)", result.stdout).group(1))


def test_eval_given_only_the_checkpoint_scores_it_as_the_full_flags_do(trained, demo_mindrecord_dir, tmp_path):
    arch, _, ckpt = trained
    alone = run("eval.py", "--ckpt_path", ckpt, "--data_path", demo_mindrecord_dir, "--mode", "pynative",
                "--output_path", tmp_path / "a")
    assert "network from the checkpoint:" in alone.stdout and "filter_multiplier 2" in alone.stdout, alone.stdout
    full = run("eval.py", "--ckpt_path", ckpt, "--data_path", demo_mindrecord_dir, "--mode", "pynative",
               "--arch_path", arch, *NETWORK, "--output_path", tmp_path / "b")
    assert "network from the checkpoint" not in full.stdout
    assert miou(alone) == miou(full)


def test_a_given_value_that_differs_is_refused(trained, demo_mindrecord_dir, tmp_path):
    _, _, ckpt = trained
    result = run("eval.py", "--ckpt_path", ckpt, "--data_path", demo_mindrecord_dir, "--filter_multiplier", "4",
                 "--output_path", tmp_path)
    assert result.returncode == 2
    assert "trained with another network" in result.stderr and "pass --filter_multiplier 2" in result.stderr


def test_a_config_file_the_user_passes_counts_as_given(trained, tmp_path):
    _, _, ckpt = trained
    result = run("export.py", "--config_path", os.path.join(CONFIG_DIR, "autodeeplab_s.yaml"), "--ckpt_path", ckpt,
                 "--output_path", tmp_path)
    assert result.returncode == 2 and "trained with another network" in result.stderr, result.stderr[-2000:]


def test_export_and_predict_given_only_the_checkpoint(trained, demo_cityscapes_root, tmp_path):
    _, _, ckpt = trained
    result = run("export.py", "--ckpt_path", ckpt, "--height", "64", "--width", "128", "--output_path", tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert glob.glob(str(tmp_path / "*.mindir"))
    image = sorted(glob.glob(str(demo_cityscapes_root / "leftImg8bit" / "val" / "*" / "*.png")))[0]
    result = run("predict.py", "--model", ckpt, "--input", image, "--mode", "pynative", "--output_path", tmp_path / "p")
    assert result.returncode == 0, result.stderr[-3000:]
    assert glob.glob(str(tmp_path / "p" / "labelIds" / "*.png"))


def test_resume_given_only_the_checkpoint(trained, demo_mindrecord_dir):
    _, output, ckpt = trained
    result = run("train.py", "--resume", ckpt, *TRAINING, "--epochs", "2", "--data_path", demo_mindrecord_dir,
                 "--output_path", output)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "network from the checkpoint:" in result.stdout and "resumed from" in result.stdout


def test_only_keys_the_user_sets_are_given(tmp_path):
    assert parse_config(["--num_classes", "5"], os.path.join(CONFIG_DIR, "autodeeplab_s.yaml")).given == {"num_classes"}
    mine = tmp_path / "mine.yaml"
    mine.write_text("filter_multiplier: 32\n")
    assert parse_config(["--config_path", str(mine)]).given == {"filter_multiplier"}
    assert load_config(None, {"variant": "paper"}).replace(stem_channels=8).given == {"variant", "stem_channels"}


def test_adopting_a_variant_brings_its_normalisation_unless_given():
    cfg = load_config(None, {})
    assert cfg.adopt({"variant": "modelzoo"}, "ckpt").channel_order == "bgr"
    assert load_config(None, {"channel_order": "rgb"}).adopt({"variant": "modelzoo"}, "ckpt").channel_order == "rgb"
    assert load_config(None, {"filter_multiplier": 8}).adopt({"filter_multiplier": 2}, "ckpt").filter_multiplier == 8
