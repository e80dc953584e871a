"""The launchers in scripts/ take this project's argument orders and the ModelZoo port's, and pass
--config_path only when the user names a file (so a checkpoint can name its network)."""
import os
import subprocess
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def stub(tmp_path):
    """A PYTHON that records its arguments (one per line) instead of running anything."""
    path = tmp_path / "python_stub"
    path.write_text('#!/usr/bin/env bash\nprintf "%s\\n" "$@" >> "' + str(tmp_path / "argv.txt") + '"\n')
    path.chmod(0o755)
    return path


def launch(stub, tmp_path, script, *args):
    result = subprocess.run(["bash", os.path.join(ROOT, "scripts", script)] + [str(a) for a in args], cwd=tmp_path,
                            env=dict(os.environ, PYTHON=str(stub)), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    argv = tmp_path / "argv.txt"
    for _ in range(600):  # run_distribute_train.sh starts its ranks in the background
        if argv.exists():
            break
        time.sleep(0.05)
    lines = argv.read_text().split("\n")[:-1]
    return lines, result.stderr


def option(lines, name):
    return lines[lines.index(name) + 1] if name in lines else None


def test_run_train_takes_the_ports_device_id_data_epochs(stub, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    lines, err = launch(stub, tmp_path, "run_train.sh", 3, data, 25)
    assert (option(lines, "--device_id"), option(lines, "--data_path"), option(lines, "--epochs")) == ("3", str(data), "25")
    assert "--config_path" not in lines and "ModelZoo port order" in err


def test_run_train_keeps_its_own_order(stub, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    config = os.path.join(ROOT, "config", "demo.yaml")
    lines, _ = launch(stub, tmp_path, "run_train.sh", config, data, tmp_path / "out", "--epochs", 2)
    assert (option(lines, "--config_path"), option(lines, "--output_path"), option(lines, "--epochs")) == (
        config, str(tmp_path / "out"), "2")
    assert "--device_id" not in lines


def test_run_eval_takes_the_ports_output_path_third(stub, tmp_path):
    data, ckpt = tmp_path / "data", tmp_path / "net.ckpt"
    data.mkdir()
    ckpt.write_text("x")
    lines, _ = launch(stub, tmp_path, "run_eval.sh", data, ckpt, tmp_path / "scores")
    assert option(lines, "--output_path") == str(tmp_path / "scores") and "--config_path" not in lines
    assert (tmp_path / "scores" / "eval.log").exists()


def test_run_distribute_train_takes_the_ports_epochs_fourth(stub, tmp_path):
    data, table = tmp_path / "data", tmp_path / "rank_table.json"
    data.mkdir()
    table.write_text("{}")
    lines, _ = launch(stub, tmp_path, "run_distribute_train.sh", 1, table, data, 40)
    assert option(lines, "--epochs") == "40" and option(lines, "--device_target") == "Ascend"
    assert "--config_path" not in lines
