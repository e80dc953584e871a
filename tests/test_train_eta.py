"""Training progress lines carry an ETA from the mean step time after the first (compiling) step;
the clock is stubbed, so nothing here depends on how fast this machine is."""
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
    clock = iter([0.0, 100.0, 102.0, 104.0])  # epoch start; step 1 took 100 s (compile), then 2 s per step
    monkeypatch.setattr(callbacks, "time", SimpleNamespace(time=lambda: next(clock)))  # logging keeps the real one
    state = RunState(0, 1003, 1003, np.full(1003, 0.01, np.float32), 2)
    logger = ProgressLogger(state, 1, ProgressLog(str(tmp_path), 0))
    logger.on_train_epoch_begin(None)
    with caplog.at_level(logging.INFO, logger="autodeeplab.train"):
        for _ in range(3):
            state.step += 1  # StepCounter's part
            logger.on_train_step_end(_Context())
    assert caplog.records[-1].getMessage().endswith("eta 0h33m20s")  # 1000 steps x 2 s
    assert caplog.records[0].getMessage().endswith("eta 27h50m00s")  # 1002 x 100 s: only the first step known
