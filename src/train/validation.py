"""Validation during training: every ``eval_interval`` epochs the network is scored on the val
MindRecord and the checkpoint with the best val mIoU is kept (MMSegmentation's EvalHook habit).

Single scale, no flip, whole images (``evaluate_forward`` with those options): a quick signal of
the trend, not the final score, which eval.py gives with the configured scales and flip. Only the
writer rank validates (SyncBN in eval mode uses the running statistics: no collectives), the
others wait for it at their next step's all-reduce.
"""
import logging
import os

from src.train.checkpoint import write_train_checkpoint

LOG = logging.getLogger("autodeeplab.train")
BEST_NAME = "best_miou.ckpt"  # in the output folder, beside checkpoints/ (whose newest N are rotated)


class PeriodicValidation:
    """Scores the network after every ``cfg.eval_interval``-th epoch and after the last one; records
    the scores in the progress log (``val_log.csv``, the curve) and keeps ``best_miou.ckpt``."""

    def __init__(self, cfg, net, output, progress_log, meta):
        self.cfg = cfg.replace(flip=False, scales=[1.0], sliding_window=False)
        self.net, self.progress_log, self.meta = net, progress_log, meta
        self.best_path = os.path.join(output, BEST_NAME)
        self.best = progress_log.best_validation()  # (step, mIoU) of the rows this run keeps
        if progress_log.validations_dropped and os.path.exists(self.best_path):
            # A killed run may have saved it after the checkpoint this run resumes from.
            os.remove(self.best_path)
            self.best = None
            LOG.info("removed %s (it may come from after the resumed step); the next validation writes it "
                     "again", self.best_path)

    def due(self, epoch):
        """Whether validation runs after the 1-based ``epoch``."""
        return epoch % self.cfg.eval_interval == 0 or epoch == self.cfg.epochs

    def run(self, state, train_network):
        """Score the network now (after ``state.step`` steps); save it as the best when it is."""
        from src.eval.evaluate import evaluate_forward
        from src.model.loading import numpy_forward

        self.net.set_train(False)
        try:
            scores = evaluate_forward(numpy_forward(self.net), self.cfg, progress=False)
        finally:
            self.net.set_train(True)
        self.progress_log.append_validation(state.step, state.epoch, scores["miou"], scores["pixel_accuracy"])
        self.progress_log.plot()
        improved = self.best is None or scores["miou"] > self.best[1]
        if improved:
            self.best = (state.step, scores["miou"])
            write_train_checkpoint(train_network, self.best_path, state.step, state.checkpoint_meta(self.meta))
        LOG.info("validation after epoch %d (step %d): mIoU %.4f, pixel accuracy %.4f (single scale); best %.4f "
                 "at step %d%s", state.epoch, state.step, scores["miou"], scores["pixel_accuracy"], self.best[1],
                 self.best[0], ", saved %s" % self.best_path if improved else "")
        return scores
