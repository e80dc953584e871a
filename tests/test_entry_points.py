"""Each entry point's --help lists only what its stage reads, with a usage example; one spelling per
idea across entry points (old spellings still taken); bare boolean options work everywhere."""
import os
import subprocess
import sys

import pytest

from src.config import CONFIG_DIR, SCHEMA, parse_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG_STAGES = {"train.py": "train", "eval.py": "eval", "export.py": "export", "predict.py": "predict",
                 "search.py": "search"}


def help_text(script):
    result = subprocess.run([sys.executable, script, "--help"], cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("script", sorted(CONFIG_STAGES) + ["decode.py", "build_mindrecord.py"])
def test_help_has_a_usage_example(script):
    assert "python %s --" % script in help_text(script)


@pytest.mark.parametrize("script, stage", sorted(CONFIG_STAGES.items()))
def test_help_lists_exactly_the_keys_the_stage_reads(script, stage):
    listed = {word[2:] for word in help_text(script).split() if word.startswith("--") and word[2:] in SCHEMA}
    assert listed == {name for name, key in SCHEMA.items() if stage in key.stages}


def test_options_a_stage_ignores_are_gone_from_its_help():
    for stage in ("eval", "export", "predict", "search"):
        assert stage not in SCHEMA["distribute"].stages
    for stage in ("eval", "export", "predict"):
        assert stage not in SCHEMA["seed"].stages
    assert "predict" not in SCHEMA["data_path"].stages  # predict reads --input (data_url in ModelArts)


def test_one_spelling_of_the_model_file_with_the_old_one_kept():
    s_config = os.path.join(CONFIG_DIR, "autodeeplab_s.yaml")
    assert parse_config(["--ckpt_path", "m.onnx"], s_config, stage="predict").ckpt_path == "m.onnx"
    assert parse_config(["--model", "m.onnx"], s_config, stage="predict").ckpt_path == "m.onnx"


def test_bare_boolean_options_in_argparse_entry_points():
    import build_mindrecord

    assert build_mindrecord.parse_args(["--split", "val", "--overwrite"]).overwrite is True
    assert build_mindrecord.parse_args(["--split", "val", "--overwrite", "false"]).overwrite is False
    assert build_mindrecord.parse_args(["--split", "val"]).overwrite is False
    result = subprocess.run([sys.executable, "decode.py", "--enable_modelarts", "--checkpoint_url", "obs://b/c.ckpt"],
                            cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True, text=True, timeout=120)
    assert "moxing module is not available" in result.stderr  # taken as true, so ModelArts mode started
