"""Callbacks inside a real Model.train on a tiny dense net: NaN stop, checkpoints, progress log."""
import csv
import os

import numpy as np
import pytest

import src  # noqa: F401  (CPU set-up before mindspore)
import mindspore as ms
import mindspore.dataset as ds
import mindspore.nn as nn
from mindspore.train import Model

from src.train.callbacks import NonFiniteLossError, RunState, training_callbacks
from src.train.checkpoint import list_checkpoints
from src.train.progress_log import ProgressLog


pytestmark = pytest.mark.usefixtures("pynative_mode")


class TinyNet(nn.Cell):
    """A dense layer with the training-step hook the training loop calls."""

    def __init__(self):
        super().__init__()
        self.dense = nn.Dense(4, 1)
        self.progress = []

    def set_training_step(self, step, total_steps):
        self.progress.append((step, total_steps))

    def construct(self, x):
        return self.dense(x)


def fit(tmp_path, features, every_steps=1, start_step=0):
    ms.set_seed(0)
    net = TinyNet()
    steps = len(features) // 2
    targets = np.zeros((len(features), 1), np.float32)
    data = ds.NumpySlicesDataset({"x": features, "y": targets}, shuffle=False).batch(2)
    lrs = np.full(steps, 0.01, np.float32)
    model = Model(net, loss_fn=nn.MSELoss(), optimizer=nn.Momentum(net.trainable_params(), ms.Tensor(lrs), 0.9))
    state = RunState(start_step, steps, steps, lrs, 2)
    log = ProgressLog(str(tmp_path), start_step)
    callbacks = training_callbacks(state, net, 1, log, str(tmp_path / "ckpt"), {"architecture": "{}"},
                                   every_steps, keep=10, is_writer=True)
    model.train(1, data, callbacks=callbacks, dataset_sink_mode=False)
    return net, state


def test_nan_loss_stops_naming_the_step_and_keeps_last_good_checkpoint(tmp_path):
    features = np.ones((8, 4), np.float32)
    features[4] = np.nan  # batch 3
    with pytest.raises(NonFiniteLossError, match=r"loss is nan at step 3 .*autodeeplab-step00000002\.ckpt"):
        fit(tmp_path, features)
    assert [step for step, _ in list_checkpoints(str(tmp_path / "ckpt"))] == [1, 2]
    with open(tmp_path / "train_log.csv") as f:
        assert [row["step"] for row in csv.DictReader(f)] == ["1", "2"]


def test_checkpoints_progress_and_log(tmp_path):
    net, state = fit(tmp_path, np.ones((8, 4), np.float32), every_steps=3)
    assert state.step == 4
    assert net.progress == [(0, 4), (1, 4), (2, 4), (3, 4)]
    # every 3 steps plus the last one
    assert [step for step, _ in list_checkpoints(str(tmp_path / "ckpt"))] == [3, 4]
    assert os.path.getsize(tmp_path / "loss_curve.png") > 1000
    # A resumed run drops rows the killed run wrote after its checkpoint.
    ProgressLog(str(tmp_path), 3)
    with open(tmp_path / "train_log.csv") as f:
        assert [row["step"] for row in csv.DictReader(f)] == ["1", "2", "3"]
