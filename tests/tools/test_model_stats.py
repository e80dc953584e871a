"""model_stats: trainable params and conv/dense multiply-accumulates."""
import json

import mindspore as ms
import pytest
from mindspore import nn

from src.errors import run_main
from src.layers.conv import Conv2d, DepthwiseConv
from src.tools import model_stats


def test_multi_adds_convention():
    net = nn.SequentialCell([Conv2d(3, 4, 3, stride=2), DepthwiseConv(4, 5), nn.Flatten(),
                             nn.Dense(4 * 17 * 17, 10, has_bias=False)])
    expected = 17 * 17 * 4 * 3 * 9 + 17 * 17 * 4 * 25 + 4 * 17 * 17 * 10
    assert model_stats.count_multi_adds(net, 33, 33) == expected
    assert model_stats.count_params(net) == 4 * 3 * 9 + 4 * 25 + 4 * 17 * 17 * 10


def test_cli_prints_json(capsys):
    argv = ["--config_path", "config/autodeeplab_m.yaml", "--height", "33", "--width", "49"]
    mode = ms.get_context("mode")
    model_stats.main(argv)
    assert ms.get_context("mode") == mode  # the PyNative run does not leak its mode
    stats = json.loads(capsys.readouterr().out)
    assert stats["params"] == 21_622_432  # Auto-DeepLab-M (docs/retrain_network.md, Size)
    assert stats["multi_adds"] > 0 and (stats["height"], stats["width"]) == (33, 49)


def test_cli_bad_config_is_a_clean_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_main(model_stats.main, ["--config_path", "missing.yaml"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith("error: config file missing.yaml does not exist")


def test_multi_adds_count_the_convs_that_carry_bn_and_act():
    """In eval mode the stem/ASPP/decoder convs run fused with BN + ReLU; they still count."""
    from conftest import default_norm
    from src.layers.blocks import ConvNormAct

    net = nn.SequentialCell([Conv2d(3, 64, 1), ConvNormAct(64, 64, 3, default_norm(), "paper")])
    assert net[1].conv.use_cpu_kernel and net[1].conv.gemm_pays_off(32, 32)
    assert model_stats.count_multi_adds(net, 32, 32) == 32 * 32 * 64 * (3 + 64 * 9)
