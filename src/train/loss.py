"""Segmentation losses: OHEM cross-entropy (README, Retrain) and plain cross-entropy, both ignoring a label.

Both are graph-mode cells with static shapes: the data-dependent choice of OHEM (all hard pixels
or the n_min hardest) is computed both ways and selected with ``ops.select``.
"""
import math

import mindspore as ms
import mindspore.nn as nn
import mindspore.ops as ops


def ohem_min_kept(batch_size, crop_size):
    """n_min (README, Retrain): per-device batch * crop^2 / 16 pixels are always kept."""
    return max(1, batch_size * crop_size * crop_size // 16)


class _PixelCrossEntropy(nn.Cell):
    """Per-pixel cross-entropy (flattened) and the mask of pixels whose label is not ignored."""

    def __init__(self, ignore_label):
        super().__init__()
        self.ignore_label = ignore_label

    def construct(self, logits, labels):
        logits = ops.cast(logits, ms.float32)
        num_classes = logits.shape[1]
        logits = ops.transpose(logits, (0, 2, 3, 1)).reshape(-1, num_classes)
        labels = ops.cast(labels, ms.int32).reshape(-1)
        valid = ops.not_equal(labels, self.ignore_label)
        safe_labels = ops.select(valid, labels, ops.zeros_like(labels))
        log_prob = ops.log_softmax(logits, axis=-1)
        picked = ops.gather_elements(log_prob, 1, safe_labels.reshape(-1, 1)).reshape(-1)
        loss = ops.select(valid, -picked, ops.zeros_like(picked))
        return loss, ops.cast(valid, ms.float32)


class CrossEntropyLoss(nn.Cell):
    """Mean cross-entropy over the pixels whose label is not ``ignore_label``."""

    def __init__(self, ignore_label):
        super().__init__()
        self.pixel_ce = _PixelCrossEntropy(ignore_label)

    def construct(self, logits, labels):
        loss, valid = self.pixel_ce(logits, labels)
        return loss.sum() / ops.maximum(valid.sum(), 1.0)


class OhemCrossEntropyLoss(nn.Cell):
    """OHEM cross-entropy (README, Retrain).

    Hard pixels are those whose true-class probability is below ``thresh`` (loss > -ln thresh).
    If at least ``min_kept`` pixels are hard, the loss is the mean over all hard pixels;
    otherwise it is the mean over the ``min_kept`` largest losses. Ignored pixels are never
    hard, never among the kept ones and never counted in the denominator (so with fewer than
    ``min_kept`` valid pixels the mean runs over the valid ones).
    """

    def __init__(self, min_kept, thresh, ignore_label):
        super().__init__()
        self.pixel_ce = _PixelCrossEntropy(ignore_label)
        self.min_kept = int(min_kept)
        self.loss_thresh = -math.log(thresh)
        self.topk = ops.TopK(sorted=False)

    def construct(self, logits, labels):
        loss, valid = self.pixel_ce(logits, labels)
        hard = ops.cast(loss > self.loss_thresh, ms.float32) * valid
        num_hard = hard.sum()
        hard_mean = (loss * hard).sum() / ops.maximum(num_hard, 1.0)
        # Ignored pixels get -1 (any real loss is >= 0), so they sort after every valid pixel;
        # the gathered mask drops them if there are fewer than min_kept valid pixels.
        ranked = ops.select(valid > 0, loss, ops.full_like(loss, -1.0))
        top_loss, top_index = self.topk(ranked, self.min_kept)
        top_valid = ops.gather(valid, top_index, 0)
        top_mean = (top_loss * top_valid).sum() / ops.maximum(top_valid.sum(), 1.0)
        return ops.select(num_hard >= self.min_kept, hard_mean, top_mean)


def build_loss(cfg):
    """The criterion named by ``cfg.criterion`` for per-device batches of ``cfg.crop_size`` crops."""
    if cfg.criterion == "ce":
        return CrossEntropyLoss(cfg.ignore_label)
    return OhemCrossEntropyLoss(ohem_min_kept(cfg.batch_size, cfg.crop_size), cfg.ohem_thresh,
                                cfg.ignore_label)
