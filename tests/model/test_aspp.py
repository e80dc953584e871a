"""ASPP: the feature size it sees at a crop, and the rates whose taps never reach data there."""
import logging

import numpy as np
import pytest
from mindspore import Tensor

from conftest import build_net
from src.architecture import Architecture
from src.config import load_config
from src.model.aspp import aspp_input_size, rates_without_data
from src.train.trainer import _warn_untrained_aspp_taps

pytestmark = pytest.mark.usefixtures("pynative_mode")

PATH = [0, 1, 2, 3, 2]  # down to stride 32, then up once: both size rules


@pytest.mark.parametrize("height, width", [(65, 65), (64, 96), (129, 257)])
def test_the_size_is_that_of_the_last_cell_output(height, width):
    cell = [[0, "skip_connect"], [1, "sep_conv_3x3"]]
    net = build_net(Architecture(PATH, cell), filter_multiplier=4, stem_channels=4,
                    decoder_channels=8, num_classes=3)
    high_level, _ = net.encoder(Tensor(np.zeros((1, 3, height, width), np.float32)),
                                net.drop_path_progress, net.training_step)
    assert aspp_input_size(PATH, height, width) == tuple(high_level.shape[2:])


def test_rates_at_or_above_the_smaller_side_get_no_data():
    # On a 17 x 40 map a tap 17 rows away is outside for every row; 16 rows away is inside for row 0.
    assert rates_without_data([6, 12, 16, 17, 18], (17, 40)) == [17, 18]


def test_training_warns_about_the_paper_rates_on_a_small_crop(caplog):
    paper_path = [0, 0, 0, 1, 2, 1, 2, 2, 3, 3, 2, 1]  # ends at stride 8: crop 129 -> 17 x 17
    with caplog.at_level(logging.WARNING, logger="autodeeplab.train"):
        _warn_untrained_aspp_taps(load_config(None, {"crop_size": 129, "aspp_rates": [6, 12, 18]}), paper_path)
        assert "rate(s) [18]" in caplog.text and "below 17" in caplog.text
        caplog.clear()
        _warn_untrained_aspp_taps(load_config(None, {"crop_size": 769, "aspp_rates": [6, 12, 18]}), paper_path)
        assert caplog.text == ""
