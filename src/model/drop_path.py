"""Scheduled drop path (NASNet): drop a whole op output per sample during training.

keep = 1 - (cell_index + 1) / num_cells * (1 - keep_prob)  (deeper cells drop more)
keep = 1 - progress * (1 - keep)                           (progress = min(step / total, 1))
out  = x / keep * Bernoulli(keep) per sample.

``progress`` and the training ``step`` arrive as tensor arguments (the network holds them in
non-trainable Parameters that the training loop updates), so a compiled graph never bakes in a stale
value; the Bernoulli draws are a function of the step (``src.layers.dropout.StepNoise``).
"""
import mindspore as ms
import mindspore.nn as nn
import mindspore.ops as ops

from src.layers.dropout import StepNoise


class DropPath(nn.Cell):
    """Identity when keep_prob == 1.0 or in eval mode."""

    def __init__(self, keep_prob, cell_index, num_cells, stream):
        super().__init__()
        if not 0.0 < keep_prob <= 1.0:
            raise ValueError(f"drop_path_keep_prob must be in (0, 1], got {keep_prob}")
        self.active = keep_prob < 1.0
        layer_ratio = (cell_index + 1) / num_cells
        self.layer_keep = 1.0 - layer_ratio * (1.0 - keep_prob)
        if self.active:
            self.noise = StepNoise(stream)

    def construct(self, x, progress, step):
        if not self.training or not self.active:
            return x
        ratio = ops.clip_by_value(progress.astype(ms.float32), 0.0, 1.0)
        keep = 1.0 - ratio * (1.0 - self.layer_keep)
        noise = self.noise(x[:, :1, :1, :1], step)
        mask = ops.floor(keep + noise)
        return x / keep * mask
