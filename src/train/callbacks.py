"""Per-step callbacks of Model.train: step counting, NaN guard, progress log, checkpoints.

They share one ``RunState`` (the global step survives the per-epoch ``Model.train`` calls and a
resume) and must run in the order of ``training_callbacks``: the guard stops a bad step before
the checkpoint callback could save it.
"""
import logging
import math
import time

from mindspore.train.callback import Callback

from src.errors import UserError, reclaim_signals
from src.train.checkpoint import save_train_checkpoint

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
    """Advances the global step, feeds training progress to scheduled drop path, keeps our signal handlers."""

    def __init__(self, state, net):
        super().__init__()
        self.state, self.net = state, net

    def on_train_step_begin(self, run_context):
        reclaim_signals()
        self.net.set_training_step(self.state.step, self.state.total_steps)

    def on_train_step_end(self, run_context):
        reclaim_signals()
        self.state.step += 1


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
                "loss is %s at step %d (epoch %d, lr %.3g); stopped without saving this step. Last good "
                "checkpoint: %s. Lower --base_lr, check the data, or resume with --resume from that checkpoint"
                % (loss, self.state.step, self.state.epoch, self.state.lr(self.state.step - 1), kept))


class ProgressLogger(Callback):
    """Every log_interval steps: loss, lr, step time, samples/s; per epoch: a summary and the curve."""

    def __init__(self, state, log_interval, progress_log):
        super().__init__()
        self.state, self.log_interval = state, log_interval
        self.progress_log = progress_log
        self.last_time = None
        self.epoch_losses, self.epoch_start = [], None
        self.first_step_end, self.steps_timed = None, 0  # the ETA's clock starts after the first (compiling) step

    def on_train_epoch_begin(self, run_context):
        self.epoch_start = self.last_time = time.time()
        self.epoch_losses = []

    def on_train_step_end(self, run_context):
        now = time.time()
        step_time, self.last_time = now - self.last_time, now
        state, loss = self.state, step_loss(run_context.original_args())
        lr = state.lr(state.step - 1)
        self.epoch_losses.append(loss)
        self.progress_log.append(state.step, state.epoch, loss, lr, step_time, state.global_batch / step_time)
        if self.first_step_end is None:
            self.first_step_end = now
        else:
            self.steps_timed += 1
        if state.step % self.log_interval == 0 or state.step == state.total_steps:
            LOG.info("step %d/%d epoch %d loss %.4f lr %.3e step %.3fs %.2f samples/s eta %s", state.step,
                     state.total_steps, state.epoch, loss, lr, step_time, state.global_batch / step_time,
                     self.eta(now))

    def eta(self, now):
        """Time left at the mean step time since the first step of this process (which compiles)."""
        per_step = (now - self.first_step_end) / self.steps_timed if self.steps_timed else now - self.epoch_start
        seconds = int(round((self.state.total_steps - self.state.step) * per_step))
        return "%dh%02dm%02ds" % (seconds // 3600, seconds // 60 % 60, seconds % 60)

    def on_train_epoch_end(self, run_context):
        if not self.epoch_losses:
            return
        elapsed = time.time() - self.epoch_start
        LOG.info("epoch %d done: %d steps, mean loss %.4f, %.1fs, %.2f samples/s", self.state.epoch,
                 len(self.epoch_losses), sum(self.epoch_losses) / len(self.epoch_losses), elapsed,
                 len(self.epoch_losses) * self.state.global_batch / max(elapsed, 1e-9))
        self.progress_log.plot()


class CheckpointSaver(Callback):
    """Saves every ``every_steps`` steps (0: at each epoch end) and after the last step."""

    def __init__(self, state, directory, meta, every_steps, keep):
        super().__init__()
        self.state, self.directory, self.meta = state, directory, meta
        self.every_steps, self.keep = every_steps, keep

    def on_train_step_end(self, run_context):
        state = self.state
        every = self.every_steps or state.steps_per_epoch
        if state.step % every == 0 or state.step == state.total_steps:
            path = save_train_checkpoint(run_context.original_args().train_network, self.directory,
                                         state.step, state.checkpoint_meta(self.meta), self.keep)
            state.last_checkpoint = path
            LOG.info("saved %s", path)


def training_callbacks(state, net, log_interval, progress_log, checkpoint_dir, meta, every_steps, keep, is_writer):
    """The callbacks in their required order; only the writer rank logs and saves."""
    callbacks = [StepCounter(state, net), LossGuard(state)]
    if is_writer:
        callbacks += [ProgressLogger(state, log_interval, progress_log),
                      CheckpointSaver(state, checkpoint_dir, meta, every_steps, keep)]
    return callbacks
