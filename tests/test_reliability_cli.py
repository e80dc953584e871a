"""Every entry point checks its output location up front: one line, exit 2, no traceback, nothing written.
Plus files read as UTF-8 with one clear line. In-process (run_main), no network is built."""
import importlib
import os

import pytest

from src.errors import run_main

SCRIPTS = {
    "train": lambda t: ["--data_path", str(t)],
    "search": lambda t: ["--data_path", str(t)],
    "eval": lambda t: ["--ckpt_path", str(t / "x.ckpt")],
    "export": lambda t: ["--ckpt_path", str(t / "x.ckpt")],
    "predict": lambda t: ["--model", str(t / "x.ckpt"), "--input", str(t)],
    "preprocess": lambda t: ["--data_path", str(t)],
    "postprocess": lambda t: ["--data_path", str(t), "--result_path", str(t)],
    "decode": lambda t: ["--ckpt_path", str(t / "x.ckpt")],
    "build_mindrecord": None,  # needs a Cityscapes tree: see the fixture below
}
CASES = {
    # the schema refuses an empty path key; build_mindrecord/decode (argparse) check it in fileio
    "empty": (lambda t: "", "empty"),
    "a_file": (lambda t: str(t / "a_file"), "is a file, not a folder; pass --output_path with a writable folder"),
    "under_a_file": (lambda t: str(t / "a_file" / "out"), "which is a file; pass --output_path with a writable folder"),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_bad_output_location_is_one_line(script, case, tmp_path, capsys, demo_cityscapes_root):
    (tmp_path / "a_file").write_text("keep")
    make_path, message = CASES[case]
    args = SCRIPTS[script](tmp_path) if SCRIPTS[script] else ["--data_path", str(demo_cityscapes_root),
                                                                "--split", "val", "--num_workers", "1"]
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(SystemExit) as exit_info:
        run_main(importlib.import_module(script).main, args + ["--output_path", make_path(tmp_path)])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, err
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err, err
    assert sorted(os.listdir(tmp_path)) == before and (tmp_path / "a_file").read_text() == "keep"


@pytest.mark.parametrize("content", [b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "base_lr: 0.05  # d\xe9j\xe0\n".encode("latin-1")])
def test_binary_or_latin1_config_is_one_line(tmp_path, capsys, content):
    path = tmp_path / "cfg.yaml"
    path.write_bytes(content)
    with pytest.raises(SystemExit) as exit_info:
        run_main(importlib.import_module("eval").main, ["--config_path", str(path)])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err.count("\n") == 1 and "config file '%s' is not UTF-8 text" % path in err, err


@pytest.mark.parametrize("args, message", [
    (["eval.py", "--device_target", "GPU"], "device_target GPU is not available in this MindSpore install"),
    (["train.py", "--distribute", "true"], "distribute is true but no launcher started this process"),
])
def test_device_and_launcher_errors_are_one_line(tmp_path, args, message):
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    checkpoint_key = "--resume" if args[0] == "train.py" else "--ckpt_path"
    result = subprocess.run([sys.executable] + args + ["--data_path", str(tmp_path), "--output_path", str(tmp_path / "o"),
                                                       checkpoint_key, str(tmp_path / "x.ckpt")],
                            cwd=root, env=dict(os.environ, PYTHONPATH=root), capture_output=True, text=True, timeout=300)
    if "GPU" in args and message not in result.stderr and "does not exist" in result.stderr:
        pytest.skip("this MindSpore install has a GPU backend")
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert len(lines) == 1 and message in lines[0] and "C++" not in lines[0], result.stderr[-2000:]
