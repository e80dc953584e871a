"""Config schema: files load, the command line overrides them, bad values are all reported clearly."""
import glob
import os
import subprocess
import sys

import pytest

from src.config import CONFIG_DIR, SCHEMA, load_config, parse_config
from src.errors import UserError

S_CONFIG = os.path.join(CONFIG_DIR, "autodeeplab_s.yaml")


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(CONFIG_DIR, "*.yaml"))))
def test_every_shipped_config_validates(path):
    cfg = load_config(path)
    assert cfg.config_path == path
    assert set(cfg.to_dict()) == set(SCHEMA)


def test_sizes_differ_only_in_filter_multiplier():
    f = {name: load_config(os.path.join(CONFIG_DIR, "autodeeplab_%s.yaml" % name)).filter_multiplier
         for name in "sml"}
    assert f == {"s": 20, "m": 32, "l": 48}


def test_command_line_overrides_file_and_converts_types():
    cfg = parse_config(["--batch_size", "4", "--scales", "0.5,1.0,1.5", "--flip", "true",
                        "--aspp_rates", "[3, 6, 9]", "--base_lr", "1e-2"], S_CONFIG)
    assert cfg.batch_size == 4 and isinstance(cfg.batch_size, int)
    assert cfg.scales == [0.5, 1.0, 1.5]
    assert cfg.flip is True
    assert cfg.aspp_rates == [3, 6, 9]
    assert cfg.base_lr == pytest.approx(0.01)
    assert cfg.crop_size == 769  # from the file


def test_every_bad_value_is_reported_at_once():
    with pytest.raises(UserError) as info:
        parse_config(["--batch_size", "0", "--mode", "fast", "--flip", "maybe",
                      "--crop_size", "7.5"], S_CONFIG)
    message = str(info.value)
    assert "batch_size: 0 must be >= 1" in message
    assert "mode: 'fast' must be one of graph, pynative" in message
    assert "flip: 'maybe' is not valid: expected true or false" in message
    assert "crop_size: '7.5' is not valid: expected a whole number" in message


def test_unknown_key_in_file_names_the_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("batch_size: 2\nbatchsize: 4\n")
    with pytest.raises(UserError, match="unknown key 'batchsize'"):
        load_config(str(path))


def test_cross_key_rules():
    with pytest.raises(UserError, match=r"min_scale \(2.0\) must not exceed max_scale \(1.0\)"):
        load_config(S_CONFIG, {"min_scale": 2.0, "max_scale": 1.0})
    with pytest.raises(UserError, match="aspp_rates must list 3 rates"):
        load_config(S_CONFIG, {"aspp_rates": [6, 12]})


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_config(str(tmp_path / "nope.yaml"))
    bad = tmp_path / "broken.yaml"
    bad.write_text("batch_size: [1,\n")
    with pytest.raises(UserError, match="not valid YAML"):
        load_config(str(bad))


def test_replace_validates():
    cfg = load_config(S_CONFIG)
    assert cfg.replace(batch_size=8).batch_size == 8
    with pytest.raises(UserError):
        cfg.replace(ohem_thresh=1.5)


def test_unknown_command_line_option_is_one_clear_line():
    code = "import src; from src.config import parse_config; parse_config(['--bach_size', '2'])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 2
    assert "unrecognized arguments: --bach_size 2" in result.stderr
    assert "Traceback" not in result.stderr
