"""export.py refuses what it cannot do with one clear message (no traceback, exit code 2)."""
import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_export(*args):
    return subprocess.run([sys.executable, os.path.join(REPO, "export.py"), *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


def test_air_export_off_ascend_says_which_formats_work_here(tmp_path):
    result = run_export("--file_format", "AIR", "--device_target", "CPU", "--ckpt_path", tmp_path / "x.ckpt")
    assert result.returncode == 2
    assert "AIR export needs an Ascend device" in result.stderr and "MINDIR or ONNX" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_checkpoint_is_named(tmp_path):
    result = run_export("--file_format", "ONNX", "--ckpt_path", tmp_path / "missing.ckpt",
                        "--output_path", tmp_path)
    assert result.returncode == 2
    assert "missing.ckpt" in result.stderr and "does not exist" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("pool", ["max_pool_3x3", "avg_pool_3x3"])
def test_onnx_export_of_a_pooling_cell_names_the_operator_and_the_alternative(tmp_path, pool):
    import src  # noqa: F401  (CPU set-up before mindspore)
    from src.config import load_config
    from src.deploy.export import export_network
    from src.errors import UserError
    from src.model import build_model

    arch_path = tmp_path / "arch.json"
    arch_path.write_text(json.dumps({"network_path": [0], "cell": [[0, pool], [1, "sep_conv_3x3"]],
                                     "provenance": {"source": "test"}}))
    net = build_model(load_config(None, {"filter_multiplier": 2, "arch_path": str(arch_path)}))
    with pytest.raises(UserError, match=r"cannot export the operator (MaxPool3DWithArgmax|AvgPool3D) to ONNX.*MINDIR"):
        export_network(net, str(tmp_path / "pool.onnx"), "ONNX", 33, 33, "logits")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["arch.json"], "no partial export left behind"
