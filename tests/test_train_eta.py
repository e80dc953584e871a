"""Training progress: an ETA in the progress lines from the mean step time after the first (compiling)
step (the clock is stubbed, so nothing depends on this machine's speed), and the learning rate in
the curve picture."""
import logging
from types import SimpleNamespace

import numpy as np

from src.train import callbacks
from src.train.callbacks import ProgressLogger, RunState
from src.train.progress_log import ProgressLog


class _Loss:
    def asnumpy(self):
        return np.float32(0.5)


class _Context:
    def original_args(self):
        return type("CallbackParams", (), {"net_outputs": _Loss()})()


def test_eta_uses_the_steps_after_the_compiling_one(tmp_path, monkeypatch, caplog):
    clock = iter([0.0, 100.0, 102.0, 104.0])  # training start; step 1 took 100 s (compile), then 2 s per step
    monkeypatch.setattr(callbacks, "time", SimpleNamespace(time=lambda: next(clock)))  # logging keeps the real one
    state = RunState(0, 1003, 1003, np.full(1003, 0.01, np.float32), 2)
    logger = ProgressLogger(state, 1, ProgressLog(str(tmp_path), 0))
    logger.on_train_begin(None)
    with caplog.at_level(logging.INFO, logger="autodeeplab.train"):
        for _ in range(3):
            state.sink_start, state.step = state.step, state.step + 1  # StepCounter's part
            logger.on_train_step_end(_Context())
    assert caplog.records[-1].getMessage().endswith("eta 0h33m20s")  # 1000 steps x 2 s
    assert caplog.records[0].getMessage().endswith("eta 27h50m00s")  # 1002 x 100 s: only the first step known


def test_in_sink_mode_step_time_and_eta_are_per_step(tmp_path, monkeypatch, caplog):
    clock = iter([0.0, 100.0, 120.0])  # the first sink of 10 steps compiles, the second takes 2 s per step
    monkeypatch.setattr(callbacks, "time", SimpleNamespace(time=lambda: next(clock)))
    state = RunState(0, 1000, 100, np.full(1000, 0.01, np.float32), 2)
    logger = ProgressLogger(state, 1, ProgressLog(str(tmp_path), 0))
    logger.on_train_begin(None)
    with caplog.at_level(logging.INFO, logger="autodeeplab.train"):
        for _ in range(2):
            state.sink_start, state.step = state.step, state.step + 10  # StepCounter's part, in sinks of 10
            logger.on_train_step_end(_Context())
    assert "step 2.000s 1.00 samples/s eta 0h32m40s" in caplog.records[-1].getMessage()  # 980 steps x 2 s
    assert "step 20/1000" in caplog.records[-1].getMessage()


def test_the_curve_picture_shows_the_learning_rate_also_after_a_resume(tmp_path):
    import matplotlib.pyplot as plt

    log = ProgressLog(str(tmp_path), 0)
    for step, lr in ((1, 0.01), (2, 0.02), (3, 0.03)):
        log.append(step, 1, 1.0 / step, lr, 0.1, 20.0)
    resumed = ProgressLog(str(tmp_path), 2)  # a resume at step 2 keeps rows 1 and 2
    resumed.append(3, 1, 0.4, 0.025, 0.1, 20.0)
    fig = resumed.figure()
    lines = {line.get_label(): list(line.get_ydata()) for axis in fig.axes for line in axis.get_lines()}
    plt.close(fig)
    assert lines["learning rate"] == [0.01, 0.02, 0.025]
    resumed.plot()
    assert (tmp_path / "loss_curve.png").stat().st_size > 1000
