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


class FakeValidation:
    """Records when the epoch-end validation runs."""

    def __init__(self):
        self.steps = []

    @staticmethod
    def due(epoch):
        return True

    def run(self, state, train_network):
        self.steps.append(state.step)


def run_in_sinks(tmp_path, losses, sink_size, per_epoch, every_steps=0, start_step=0, validation=None):
    """Call the callbacks as Model's sink loop does on Ascend/GPU: once per sink, MindSpore's step count
    advanced by the sink size before the sink runs (mindspore/train/model.py, _train_dataset_sink_process)."""
    from mindspore.train.callback import RunContext
    from mindspore.train.callback._callback import InternalCallbackParam

    net = TinyNet()
    total = start_step + len(losses) * sink_size
    state = RunState(start_step, total, per_epoch, np.full(total, 0.01, np.float32), 2)
    callbacks = training_callbacks(state, net, 1, ProgressLog(str(tmp_path), start_step), str(tmp_path / "ckpt"),
                                   {"architecture": "{}"}, every_steps, keep=10, is_writer=True,
                                   validation=validation)
    params = InternalCallbackParam()
    params.cur_step_num, params.train_network = 0, net
    context = RunContext(params)
    for callback in callbacks:
        callback.on_train_begin(context)
    for loss in losses:
        params.cur_step_num += sink_size
        for callback in callbacks:
            callback.on_train_step_begin(context)
        params.net_outputs = ms.Tensor(np.float32(loss))
        for callback in callbacks:
            callback.on_train_step_end(context)
    return net, state


def test_sinks_count_steps_save_and_validate_at_their_ends(tmp_path):
    validation = FakeValidation()
    net, state = run_in_sinks(tmp_path, [1.0, 0.9, 0.8, 0.7], sink_size=3, per_epoch=6, every_steps=3,
                              validation=validation)
    assert state.step == 12
    assert net.progress == [(0, 12), (3, 12), (6, 12), (9, 12)]  # each sink starts at its first step
    assert [step for step, _ in list_checkpoints(str(tmp_path / "ckpt"))] == [3, 6, 9, 12]
    assert validation.steps == [6, 12]  # the epoch ends
    with open(tmp_path / "train_log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [row["step"] for row in rows] == ["3", "6", "9", "12"]
    assert [row["epoch"] for row in rows] == ["1", "1", "2", "2"]


def test_sinks_of_a_resumed_run_continue_its_step_count(tmp_path):
    net, state = run_in_sinks(tmp_path, [1.0, 0.9], sink_size=3, per_epoch=6, start_step=6)
    assert state.step == 12 and net.progress == [(6, 12), (9, 12)]
    assert [step for step, _ in list_checkpoints(str(tmp_path / "ckpt"))] == [12]  # once per epoch


def test_nan_in_a_sink_names_its_steps(tmp_path):
    with pytest.raises(NonFiniteLossError, match=r"loss is nan at steps 7-9 .*autodeeplab-step00000006\.ckpt"):
        run_in_sinks(tmp_path, [1.0, 0.9, float("nan")], sink_size=3, per_epoch=6, every_steps=3)
    assert [step for step, _ in list_checkpoints(str(tmp_path / "ckpt"))] == [3, 6]
