"""export.py refuses what it cannot do with one clear message (no traceback, exit code 2)."""
import os
import subprocess
import sys

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
