"""Data sink mode: when training sinks, how many steps a sink is, and how Model.train is called."""
import logging

import pytest

from src.train.sink import SinkPlan, sink_plan, sink_size


@pytest.mark.parametrize("per_epoch,every,start,expected", [
    (10, 0, 0, 10),   # a sink per epoch (the ModelZoo's habit)
    (10, 4, 0, 2),    # ends on every 4th step and every epoch end
    (10, 0, 20, 10),  # resumed at an epoch end
    (10, 0, 7, 1),    # resumed mid-epoch from a step-by-step run's checkpoint
    (12, 8, 6, 2),
])
def test_sink_size_divides_epochs_checkpoints_and_the_resumed_step(per_epoch, every, start, expected):
    size = sink_size(per_epoch, every, start)
    assert size == expected
    assert per_epoch % size == 0 and (every or per_epoch) % size == 0 and start % size == 0


@pytest.mark.parametrize("requested,device,expected", [
    ("auto", "Ascend", SinkPlan(True, 6)), ("auto", "GPU", SinkPlan(True, 6)), ("auto", "CPU", SinkPlan(False, 1)),
    ("false", "Ascend", SinkPlan(False, 1)), ("true", "GPU", SinkPlan(True, 6)),
])
def test_auto_sinks_on_ascend_and_gpu_only(requested, device, expected):
    assert sink_plan(requested, device, 6, 0, 0) == expected


def test_sink_asked_on_cpu_says_it_runs_step_by_step(caplog):
    with caplog.at_level(logging.WARNING, logger="autodeeplab.train"):
        assert sink_plan("true", "CPU", 6, 0, 0) == SinkPlan(False, 1)
    assert "cannot sink" in caplog.text


class RecordingModel:
    def __init__(self):
        self.calls = []

    def train(self, epoch, dataset, **kwargs):
        self.calls.append((epoch, dataset, kwargs))


def test_a_sink_plan_runs_the_whole_dataset_in_sinks():
    model = RecordingModel()
    SinkPlan(True, 4).train(model, "data", 24, ["cb"])
    SinkPlan(False, 1).train(model, "data", 24, ["cb"])
    assert model.calls == [(6, "data", dict(callbacks=["cb"], dataset_sink_mode=True, sink_size=4)),
                           (1, "data", dict(callbacks=["cb"], dataset_sink_mode=False))]
