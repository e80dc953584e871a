"""Scheduled drop path (NASNet): drop a whole op output per sample during training.

keep = 1 - (cell_index + 1) / num_cells * (1 - keep_prob)  (deeper cells drop more)
keep = 1 - progress * (1 - keep)                           (progress = min(step / total, 1))
out  = x / keep * Bernoulli(keep) per sample.

``progress`` arrives as a tensor argument (the network holds it in a non-trainable Parameter
that the training loop updates), so a compiled graph never bakes in a stale value.
"""
import mindspore as ms
import mindspore.nn as nn
import mindspore.ops as ops


class DropPath(nn.Cell):
    """Identity when keep_prob == 1.0 or in eval mode."""

    def __init__(self, keep_prob, cell_index, num_cells):
        super().__init__()
        if not 0.0 < keep_prob <= 1.0:
            raise ValueError(f"drop_path_keep_prob must be in (0, 1], got {keep_prob}")
        self.active = keep_prob < 1.0
        layer_ratio = (cell_index + 1) / num_cells
        self.layer_keep = 1.0 - layer_ratio * (1.0 - keep_prob)

    def construct(self, x, progress):
        if not self.training or not self.active:
            return x
        ratio = ops.clip_by_value(progress.astype(ms.float32), 0.0, 1.0)
        keep = 1.0 - ratio * (1.0 - self.layer_keep)
        noise = ops.rand(x.shape[0], 1, 1, 1, dtype=x.dtype)
        mask = ops.floor(keep + noise)
        return x / keep * mask
