"""Data sink mode: whether training feeds the device in sinks of steps, and how many steps a sink is.

In sink mode (Ascend, GPU) MindSpore runs ``sink_size`` steps on the device per call from the
host, with the data arriving through a device queue; the ModelZoo's DeepLabV3 trains this way on
every device but CPU. The step callbacks then run once per sink (``src.train.callbacks``), so the
sink size divides everything that happens at a step: the epoch, the checkpoint interval, and the
step a resumed run starts from.
"""
import logging
import math
from typing import NamedTuple

LOG = logging.getLogger("autodeeplab.train")
SINK_DEVICES = ("Ascend", "GPU")  # MindSpore's CPU backend runs step by step even when asked to sink


class SinkPlan(NamedTuple):
    """How the run calls Model.train: ``sink`` or step by step, ``size`` steps per sink."""

    sink: bool
    size: int

    def train(self, model, dataset, steps, callbacks):
        """Run ``steps`` steps of ``dataset`` (a dataset of exactly that many batches)."""
        if self.sink:
            model.train(steps // self.size, dataset, callbacks=callbacks, dataset_sink_mode=True,
                        sink_size=self.size)
        else:
            model.train(1, dataset, callbacks=callbacks, dataset_sink_mode=False)


def sink_size(steps_per_epoch, save_checkpoint_steps, start_step):
    """The largest sink that ends on every epoch end, every checkpoint step and the resumed step."""
    return math.gcd(math.gcd(steps_per_epoch, save_checkpoint_steps or steps_per_epoch), start_step)


def sink_plan(requested, device, steps_per_epoch, save_checkpoint_steps, start_step):
    """The plan for ``dataset_sink_mode`` ``requested`` (auto | true | false) on ``device``."""
    if requested == "false":
        LOG.info("data sink mode off (dataset_sink_mode false): training step by step")
        return SinkPlan(False, 1)
    if device not in SINK_DEVICES:
        log = LOG.warning if requested == "true" else LOG.info
        log("data sink mode off: MindSpore's %s backend cannot sink; training step by step", device)
        return SinkPlan(False, 1)
    size = sink_size(steps_per_epoch, save_checkpoint_steps, start_step)
    LOG.info("data sink mode: %d step(s) per sink (%d per epoch%s)", size, steps_per_epoch,
             ", resumed at step %d" % start_step if start_step else "")
    if size < steps_per_epoch:
        LOG.info("sinks are shorter than an epoch to end on every checkpoint step (save_checkpoint_steps %d)%s",
                 save_checkpoint_steps, " and the resumed step" if start_step % steps_per_epoch else "")
    return SinkPlan(True, size)
