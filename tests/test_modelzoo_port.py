"""The MindSpore ModelZoo port's habits: its option spellings are taken with a note naming this
project's key (or refused with what replaced them), bare boolean options work, ModelArts mode asks
each stage only for the OBS inputs it reads, and the port's affine=False is honoured."""
import glob
import os
import re
import subprocess
import sys

import pytest

from src.config import CONFIG_DIR, load_config, parse_config
from src.errors import UserError

pytestmark = pytest.mark.heavy  # scheduled first (conftest.py)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
S_CONFIG = os.path.join(CONFIG_DIR, "autodeeplab_s.yaml")
# The port's single-device training flags (its README), then a network small enough for the test.
PORT_TRAIN = ["--modelArts_mode=False", "--epochs=1", "--batch_size=2", "--bn_momentum=0.995",
              "--drop_path_keep_prob=1.0", "--workers=2"]
TINY = ["--filter_multiplier", "2", "--stem_channels", "8", "--decoder_channels", "8", "--crop_size", "33",
        "--min_scale", "0.5", "--max_scale", "0.5", "--mode", "pynative"]


def run(script, *args):
    return subprocess.run([sys.executable, os.path.join(ROOT, script)] + [str(a) for a in args], cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True, text=True, timeout=900)


def test_port_spellings_become_project_keys_with_a_note(capsys):
    cfg = parse_config(PORT_TRAIN + ["--ckpt_name=run.ckpt", "--use_ABN=True", "--parallel=False"], S_CONFIG,
                       stage="train")
    assert (cfg.enable_modelarts, cfg.epochs, cfg.num_parallel_workers, cfg.resume, cfg.variant) == (
        False, 1, 2, "run.ckpt", "modelzoo")
    err = capsys.readouterr().err
    for note in ("--modelArts_mode is the ModelZoo port's spelling of --enable_modelarts",
                 "--workers is the ModelZoo port's spelling of --num_parallel_workers",
                 "--ckpt_name is the ModelZoo port's spelling of --resume",
                 "--use_ABN True (ModelZoo port) is --variant modelzoo here",
                 "--parallel False (ModelZoo port) has no key here"):
        assert note in err, err
    assert parse_config(["--ckpt_name", "a.ckpt", "--eval_flip=True", "--split=val"], S_CONFIG, stage="eval").ckpt_path == "a.ckpt"
    assert parse_config(["--ckpt_name=a.ckpt"], S_CONFIG, stage="export").ckpt_path == "a.ckpt"
    modelarts = parse_config(["--modelArts_mode=True", "--data_url", "obs://b/d", "--ckpt_name", "obs://b/c.ckpt"],
                             S_CONFIG, stage="eval")
    assert modelarts.checkpoint_url == "obs://b/c.ckpt" and modelarts.ckpt_path is None
    spaced = parse_config(["--modelArts_mode", "True", "--data_url", "obs://b/d", "--ckpt_name", "obs://b/c.ckpt"],
                          S_CONFIG, stage="eval")
    assert spaced.checkpoint_url == "obs://b/c.ckpt"


@pytest.mark.parametrize("args, stage, message", [
    (["--save_epochs=100"], "train", "--save_checkpoint_steps"),
    (["--start_epoch", "3"], "train", "--resume CKPT"),
    (["--use_ABN=False"], "train", "--variant modelzoo"),
    (["--split=train"], "eval", "scores the val split"),
])
def test_replaced_port_options_are_refused_with_what_replaced_them(args, stage, message):
    with pytest.raises(UserError, match=re.escape(message)) as info:
        parse_config(args, S_CONFIG, stage=stage)
    assert "\n" not in str(info.value) and "ModelZoo port" in str(info.value)


def test_bare_boolean_options_switch_on():
    cfg = parse_config(["--flip", "--sliding_window", "--crop_size", "64"], S_CONFIG, stage="eval")
    assert cfg.flip and cfg.sliding_window and cfg.crop_size == 64
    assert parse_config(["--overwrite"], S_CONFIG, stage="train").overwrite is True
    assert parse_config(["--overwrite", "false"], S_CONFIG, stage="train").overwrite is False


@pytest.mark.parametrize("stage, given, missing", [
    ("export", {"checkpoint_url": "obs://b/c.ckpt", "train_url": "obs://b/o"}, None),
    ("export", {"train_url": "obs://b/o"}, "checkpoint_url"),
    ("train", {"train_url": "obs://b/o"}, "data_url"),
    ("eval", {"checkpoint_url": "obs://b/c.ckpt"}, "data_url"),
])
def test_modelarts_asks_each_stage_only_for_the_inputs_it_reads(stage, given, missing):
    values = dict(given, enable_modelarts=True)
    if missing is None:
        load_config(None, values, stage=stage)
        return
    with pytest.raises(UserError, match="enable_modelarts is true but %s is not set" % missing):
        load_config(None, values, stage=stage)


def test_export_does_not_take_data_url():
    with pytest.raises(UserError, match="data_url is not read by export"):
        parse_config(["--enable_modelarts", "true", "--data_url", "obs://b/d", "--checkpoint_url", "obs://b/c.ckpt"],
                     S_CONFIG, stage="export")


def test_affine_false_freezes_the_ports_27880_scale_and_shift_values_of_auto_deeplab_s():
    """The port freezes BatchNorm scale/shift in the sep/dil convs only (17 such BNs per
    cell of the default genotype, sum of F * 2**level over the path = 820 channels for S)."""
    from src.model import build_model

    def frozen(cfg):
        net = build_model(cfg)
        return sum(p.size for p in net.get_parameters() if not p.requires_grad and p.name.endswith((".gamma", ".beta")))

    base = load_config(S_CONFIG, {"variant": "modelzoo"})
    assert frozen(base.replace(affine=False)) - frozen(base) == 27880


def test_affine_is_recorded_in_the_checkpoint_and_taken_from_it(tmp_path):
    import mindspore as ms

    from src.model import build_model
    from src.model.loading import with_checkpoint_network
    from src.model.weights import checkpoint_meta

    cfg = load_config(None, {"variant": "modelzoo", "affine": False, "filter_multiplier": 2, "stem_channels": 8,
                             "decoder_channels": 8})
    net = build_model(cfg)
    path = str(tmp_path / "frozen.ckpt")
    ms.save_checkpoint(net, path, append_dict=checkpoint_meta(cfg, net.architecture))
    adopted = with_checkpoint_network(load_config(None, {"ckpt_path": path}))
    assert (adopted.affine, adopted.variant, adopted.channel_order) == (False, "modelzoo", "bgr")


def test_train_runs_with_the_ports_flags_and_eval_scores_its_checkpoint_alone(demo_mindrecord_dir, tmp_path):
    result = run("train.py", *PORT_TRAIN, *TINY, "--data_path", demo_mindrecord_dir, "--output_path", tmp_path / "t")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines()[0].startswith("device: CPU")
    ckpt = sorted(glob.glob(str(tmp_path / "t" / "checkpoints" / "*.ckpt")))[-1]
    alone = run("eval.py", "--ckpt_name=%s" % ckpt, "--data_path", demo_mindrecord_dir, "--mode", "pynative",
                "--output_path", tmp_path / "a")
    full = run("eval.py", "--ckpt_path", ckpt, *TINY[:6], "--data_path", demo_mindrecord_dir, "--mode", "pynative",
               "--output_path", tmp_path / "b")
    for result in (alone, full):
        assert result.returncode == 0, result.stderr[-3000:]
    assert re.findall(r"mIoU.*", alone.stdout) == re.findall(r"mIoU.*", full.stdout) != []
    export = run("export.py", "--ckpt_name=%s" % ckpt, "--parallel=False", "--file_format=MINDIR", "--height", "64",
                 "--width", "64", "--output_path", tmp_path / "e")
    assert export.returncode == 0, export.stderr[-3000:]
    assert glob.glob(str(tmp_path / "e" / "*.mindir"))
