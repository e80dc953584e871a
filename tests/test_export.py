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
def test_onnx_export_of_a_pooling_cell_matches_the_network(tmp_path, pool):
    """Pooling cells export to ONNX (stride-1 pools use pad_mode same) and ONNX Runtime agrees."""
    import numpy as np
    import onnxruntime

    import src  # noqa: F401  (CPU set-up before mindspore)
    import mindspore as ms
    from src.config import load_config
    from src.deploy.export import export_network
    from src.model import build_model

    arch_path = tmp_path / "arch.json"
    arch_path.write_text(json.dumps({"network_path": [0], "cell": [[0, pool], [1, pool]],
                                     "provenance": {"source": "test"}}))
    net = build_model(load_config(None, {"filter_multiplier": 2, "arch_path": str(arch_path)}))
    net.set_train(False)
    path = export_network(net, str(tmp_path / "pool.onnx"), "ONNX", 33, 33, "softmax")
    image = np.random.RandomState(0).randn(1, 3, 33, 33).astype(np.float32)
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    exported = session.run(None, {session.get_inputs()[0].name: image})[0]
    expected = ms.ops.softmax(net(ms.Tensor(image)), axis=1).asnumpy()
    assert np.abs(exported - expected).max() < 1e-5
