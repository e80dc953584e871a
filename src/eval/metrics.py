"""Segmentation scores from a confusion matrix, with the conventions of the official Cityscapes scorer.

Rows are ground-truth classes, columns predicted classes; pixels whose label is the ignore label
are not counted. A prediction outside 0..num_classes-1 on a scored pixel (e.g. a labelId map
with an ignored id converted to trainIds) lands in an extra "no class" column: it is a false
negative of the true class and a false positive of nothing, as in ``evalPixelLevelSemanticLabeling``.
IoU is NaN for a class that is absent from both ground truth and prediction, and mIoU averages
the classes whose IoU is defined (the official ``getScoreAverage``).
"""
import numpy as np


class ConfusionMatrix:
    """Accumulates a (num_classes, num_classes + 1) pixel count matrix; last column = no class."""

    def __init__(self, num_classes, ignore_label):
        self.num_classes = num_classes
        self.ignore_label = ignore_label
        self.matrix = np.zeros((num_classes, num_classes + 1), dtype=np.int64)

    def update(self, prediction, label):
        """Add one or more label maps (any shape, same for both) to the counts."""
        prediction = np.asarray(prediction).reshape(-1).astype(np.int64)
        label = np.asarray(label).reshape(-1).astype(np.int64)
        if prediction.shape != label.shape:
            raise ValueError("prediction has %d pixels but the label has %d" % (prediction.size, label.size))
        scored = (label != self.ignore_label) & (label >= 0) & (label < self.num_classes)
        prediction, label = prediction[scored], label[scored]
        prediction = np.where((prediction >= 0) & (prediction < self.num_classes), prediction, self.num_classes)
        width = self.num_classes + 1
        self.matrix += np.bincount(label * width + prediction, minlength=self.num_classes * width).reshape(
            self.num_classes, width)

    def scores(self, class_names=None):
        """Scores dict (see ``scores_from_matrix``)."""
        return scores_from_matrix(self.matrix, class_names)


def scores_from_matrix(matrix, class_names=None):
    """mIoU, per-class IoU (NaN when undefined), pixel accuracy and counts of a confusion matrix.

    ``matrix`` is (C, C) or (C, C + 1) with a trailing "no class" prediction column.
    """
    matrix = np.asarray(matrix, dtype=np.int64)
    num_classes = matrix.shape[0]
    true_positive = np.diag(matrix[:, :num_classes]).astype(np.float64)
    ground_truth = matrix.sum(axis=1).astype(np.float64)
    predicted = matrix[:, :num_classes].sum(axis=0).astype(np.float64)
    union = ground_truth + predicted - true_positive
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, true_positive / union, np.nan)
    total = ground_truth.sum()
    names = list(class_names) if class_names is not None else [str(c) for c in range(num_classes)]
    return {
        "miou": float(np.nanmean(iou)) if np.any(union > 0) else float("nan"),
        "pixel_accuracy": float(true_positive.sum() / total) if total else float("nan"),
        "class_iou": {name: float(value) for name, value in zip(names, iou)},
        "num_pixels": int(total),
    }


def format_scores(scores):
    """A printable table: one line per class, then mIoU and pixel accuracy (percent)."""
    width = max(len(name) for name in [*scores["class_iou"], "pixel acc"])
    lines = ["%-*s  IoU" % (width, "class")]
    for name, value in scores["class_iou"].items():
        lines.append("%-*s  %s" % (width, name, "  n/a" if np.isnan(value) else "%5.2f" % (100 * value)))
    lines.append("%-*s  %5.2f" % (width, "mIoU", 100 * scores["miou"]))
    lines.append("%-*s  %5.2f" % (width, "pixel acc", 100 * scores["pixel_accuracy"]))
    return "\n".join(lines)
