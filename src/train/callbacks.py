"""Per-step callbacks of Model.train: step counting, NaN guard, progress log, checkpoints, validation.

They share one ``RunState`` (the global step survives a resume) and must run in the order of
``training_callbacks``: the guard stops a bad step before the checkpoint callback could save it.
In data sink mode MindSpore calls them once per sink of ``sink_size`` steps (its step count
jumps by the sink size), so everything here counts steps from that count, not from the number of
calls: checkpoints, epoch ends and validations fall on sink ends (``src.train.sink`` picks a sink
size that divides them), and the loss seen is the sink's last.
"""
import logging
import math
import time

from mindspore.train.callback import Callback

from src.errors import UserError, reclaim_signals
from src.train.checkpoint import save_train_checkpoint
from src.train.progress_log import format_duration

LOG = logging.getLogger("autodeeplab.train")


class NonFiniteLossError(UserError):
    """The loss became NaN or Inf: training stops, the last good checkpoint stays."""


class RunState:
    """Where training stands; ``step`` counts completed steps over the whole run."""

    def __init__(self, step, total_steps, steps_per_epoch, learning_rates, global_batch):
        self.step = step
        self.total_steps = total_steps
        self.steps_per_epoch = steps_per_epoch
        self.learning_rates = learning_rates
        self.global_batch = global_batch
        self.last_checkpoint = None
        self.sink_start = step  # the step count when the steps of the current callback began

    @property
    def sink_steps(self):
        """Steps run since the previous callback: 1, or the sink size in sink mode."""
        return self.step - self.sink_start

    @property
    def steps_text(self):
        """The 1-based step (or steps of a sink) just run, for messages."""
        first = self.sink_start + 1
        return "step %d" % self.step if self.step <= first else "steps %d-%d" % (first, self.step)

    @property
    def at_epoch_end(self):
        """Whether the steps just run ended an epoch (or the run)."""
        return self.passed_multiple_of(self.steps_per_epoch)

    def passed_multiple_of(self, every):
        """Whether the steps just run reached a multiple of ``every`` (or the last step)."""
        return self.step // every > self.sink_start // every or self.step == self.total_steps

    @property
    def epoch(self):
        """1-based epoch of the step being run (or just finished)."""
        return max(self.step - 1, 0) // self.steps_per_epoch + 1

    def checkpoint_meta(self, meta):
        """``meta`` with the position a checkpoint written now records (the step is added on write)."""
        return dict(meta, epoch=self.epoch, steps_per_epoch=self.steps_per_epoch)

    def lr(self, step):
        return float(self.learning_rates[min(step, len(self.learning_rates) - 1)])


def step_loss(cb_params):
    """The loss of the last step (loss-scaled train cells return (loss, overflow, scale))."""
    outputs = cb_params.net_outputs
    loss = outputs[0] if isinstance(outputs, (tuple, list)) else outputs
    return float(loss.asnumpy())


class StepCounter(Callback):
    """Keeps the global step (MindSpore's step count of this Model.train call, plus where it started),
    feeds it to the network (scheduled drop path, dropout noise) and keeps our signal handlers.

    In sink mode the network is told the sink's first step: scheduled drop path then advances once
    per sink (docs/devices.md, Data sink mode)."""

    def __init__(self, state, net):
        super().__init__()
        self.state, self.net = state, net
        self.offset = None

    def on_train_begin(self, run_context):
        self.offset = self.state.step - run_context.original_args().cur_step_num

    def on_train_step_begin(self, run_context):
        reclaim_signals()
        self.state.sink_start = self.state.step
        self.net.set_training_step(self.state.step, self.state.total_steps)

    def on_train_step_end(self, run_context):
        reclaim_signals()
        self.state.step = self.offset + run_context.original_args().cur_step_num


class LossGuard(Callback):
    """Stops at the first NaN/Inf loss, naming the step and the last good checkpoint."""

    def __init__(self, state):
        super().__init__()
        self.state = state

    def on_train_step_end(self, run_context):
        loss = step_loss(run_context.original_args())
        if not math.isfinite(loss):
            kept = self.state.last_checkpoint or "none written yet"
            raise NonFiniteLossError(
                "loss is %s at %s (epoch %d, lr %.3g); stopped without saving this step. Last good "
                "checkpoint: %s. Lower --base_lr, check the data, or resume with --resume from that checkpoint"
                % (loss, self.state.steps_text, self.state.epoch, self.state.lr(self.state.step - 1), kept))


class ProgressLogger(Callback):
    """Every log_interval steps: loss, lr, step time, samples/s, ETA; per epoch: a summary and the curve."""

    def __init__(self, state, log_interval, progress_log):
        super().__init__()
        self.state, self.log_interval = state, log_interval
        self.progress_log = progress_log
        self.last_time = self.epoch_start = None
        self.epoch_losses, self.epoch_steps = [], 0
        self.first_call_end, self.steps_timed = None, 0  # the ETA's clock starts after the first (compiling) call

    def on_train_begin(self, run_context):
        self.epoch_start = self.last_time = time.time()

    def on_train_step_end(self, run_context):
        now = time.time()
        state, loss = self.state, step_loss(run_context.original_args())
        steps = max(state.sink_steps, 1)
        step_time, self.last_time = (now - self.last_time) / steps, now
        lr = state.lr(state.step - 1)
        self.epoch_losses.append(loss)
        self.epoch_steps += steps
        self.progress_log.append(state.step, state.epoch, loss, lr, step_time, state.global_batch / step_time)
        if self.first_call_end is None:
            self.first_call_end = now
        else:
            self.steps_timed += steps
        if state.passed_multiple_of(self.log_interval):
            LOG.info("step %d/%d epoch %d loss %.4f lr %.3e step %.3fs %.2f samples/s eta %s", state.step,
                     state.total_steps, state.epoch, loss, lr, step_time, state.global_batch / step_time,
                     self.eta(now))
        if state.at_epoch_end:
            self.end_epoch(now)

    def eta(self, now):
        """Time left at the mean step time since the first call of this process (which compiles)."""
        if self.steps_timed:
            per_step = (now - self.first_call_end) / self.steps_timed
        else:
            per_step = (now - self.epoch_start) / max(self.state.sink_steps, 1)
        return format_duration((self.state.total_steps - self.state.step) * per_step)

    def end_epoch(self, now):
        elapsed = now - self.epoch_start
        LOG.info("epoch %d done: %d steps, mean loss %.4f, %.1fs, %.2f samples/s", self.state.epoch,
                 self.epoch_steps, sum(self.epoch_losses) / len(self.epoch_losses), elapsed,
                 self.epoch_steps * self.state.global_batch / max(elapsed, 1e-9))
        self.progress_log.plot()
        self.epoch_start, self.epoch_losses, self.epoch_steps = now, [], 0


class CheckpointSaver(Callback):
    """Saves every ``every_steps`` steps (0: at each epoch end) and after the last step."""

    def __init__(self, state, directory, meta, every_steps, keep):
        super().__init__()
        self.state, self.directory, self.meta = state, directory, meta
        self.every_steps, self.keep = every_steps, keep

    def on_train_step_end(self, run_context):
        state = self.state
        every = self.every_steps or state.steps_per_epoch
        if state.passed_multiple_of(every):
            path = save_train_checkpoint(run_context.original_args().train_network, self.directory,
                                         state.step, state.checkpoint_meta(self.meta), self.keep)
            state.last_checkpoint = path
            LOG.info("saved %s", path)


class EpochValidation(Callback):
    """Runs a ``PeriodicValidation`` (src.train.validation) at the epoch ends it is due, except after
    the last step when ``final_later`` (the trainer validates after re-estimating BN)."""

    def __init__(self, state, validation, final_later):
        super().__init__()
        self.state, self.validation, self.final_later = state, validation, final_later

    def on_train_step_end(self, run_context):
        state = self.state
        last = state.step == state.total_steps
        if state.at_epoch_end and self.validation.due(state.epoch) and not (last and self.final_later):
            self.validation.run(state, run_context.original_args().train_network)


def training_callbacks(state, net, log_interval, progress_log, checkpoint_dir, meta, every_steps, keep, is_writer,
                       validation=None, final_validation_later=False):
    """The callbacks in their required order; only the writer rank logs, saves and validates."""
    callbacks = [StepCounter(state, net), LossGuard(state)]
    if is_writer:
        callbacks += [ProgressLogger(state, log_interval, progress_log),
                      CheckpointSaver(state, checkpoint_dir, meta, every_steps, keep)]
        if validation is not None:
            callbacks.append(EpochValidation(state, validation, final_validation_later))
    return callbacks
