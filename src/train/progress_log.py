"""The training log in the output folder: one CSV row per step, one per validation, and a PNG of
the loss, lr and val mIoU curves; the ETA format the logs share.

A resumed run keeps the rows up to its starting step and drops the ones a killed run wrote
after its last checkpoint, so the CSVs always describe one consistent run.
"""
import csv
import os

import numpy as np

from src.fileio import atomic_path, atomic_write

COLUMNS = ("step", "epoch", "loss", "lr", "step_time_s", "samples_per_s")
VAL_COLUMNS = ("step", "epoch", "miou", "pixel_accuracy")
CSV_NAME = "train_log.csv"
VAL_CSV_NAME = "val_log.csv"
PNG_NAME = "loss_curve.png"


def format_duration(seconds):
    """``seconds`` as 1h02m03s: the ETA of the training and search logs."""
    seconds = int(round(seconds))
    return "%dh%02dm%02ds" % (seconds // 3600, seconds // 60 % 60, seconds % 60)


def _keep_rows(path, columns, start_step):
    """Rewrite the CSV ``path`` with its rows up to ``start_step``; returns (kept rows, rows dropped)."""
    rows = []
    if os.path.isfile(path):
        with open(path, newline="") as f:
            rows = [row for row in csv.DictReader(f) if row.get("step", "").isdigit()]
    kept = [row for row in rows if int(row["step"]) <= start_step]
    with atomic_write(path, newline="") as f:
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        writer.writerows(kept)
    return kept, len(rows) - len(kept)


class ProgressLog:
    """Appends rows to ``<directory>/train_log.csv`` and ``val_log.csv``; ``plot`` redraws
    ``loss_curve.png`` (loss and lr, and val mIoU once there is any)."""

    def __init__(self, directory, start_step):
        self.csv_path = os.path.join(directory, CSV_NAME)
        self.val_csv_path = os.path.join(directory, VAL_CSV_NAME)
        self.png_path = os.path.join(directory, PNG_NAME)
        kept, _ = _keep_rows(self.csv_path, COLUMNS, start_step)
        self.steps = [int(row["step"]) for row in kept]
        self.losses = [float(row["loss"]) for row in kept]
        self.lrs = [float(row["lr"]) for row in kept]
        kept, self.validations_dropped = _keep_rows(self.val_csv_path, VAL_COLUMNS, start_step)
        self.val_steps = [int(row["step"]) for row in kept]
        self.val_mious = [float(row["miou"]) for row in kept]

    def best_validation(self):
        """(step, mIoU) of the best validation so far (the earliest of equals), None before any."""
        if not self.val_mious:
            return None
        best = max(range(len(self.val_mious)), key=lambda i: (self.val_mious[i], -i))
        return self.val_steps[best], self.val_mious[best]

    def append_validation(self, step, epoch, miou, pixel_accuracy):
        self.val_steps.append(step)
        self.val_mious.append(miou)
        with open(self.val_csv_path, "a", newline="") as f:
            csv.writer(f).writerow([step, epoch, "%.6f" % miou, "%.6f" % pixel_accuracy])

    def append(self, step, epoch, loss, lr, step_time, samples_per_s):
        self.steps.append(step)
        self.losses.append(loss)
        self.lrs.append(lr)
        with open(self.csv_path, "a", newline="") as f:
            csv.writer(f).writerow([step, epoch, "%.6f" % loss, "%.6e" % lr, "%.4f" % step_time,
                                    "%.3f" % samples_per_s])

    def plot(self):
        """Write the curves of ``figure`` to loss_curve.png, atomically."""
        if not self.steps:
            return
        import matplotlib.pyplot as plt

        fig = self.figure()
        try:
            with atomic_path(self.png_path, keep_suffix=True) as temporary:
                fig.savefig(temporary, dpi=100, bbox_inches="tight")
        finally:
            plt.close(fig)

    def figure(self):
        """The matplotlib figure of ``plot``: loss on the left axis, learning rate on the right, and
        below them the val mIoU when validation ran."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        window = max(1, len(self.losses) // 50)
        cumulative = np.concatenate([[0.0], np.cumsum(self.losses)])
        end = np.arange(1, len(self.losses) + 1)
        start = np.maximum(end - window, 0)
        smooth = (cumulative[end] - cumulative[start]) / (end - start)
        if self.val_steps:
            fig, (ax, val_axis) = plt.subplots(2, 1, figsize=(8, 7), sharex=True,
                                               gridspec_kw={"height_ratios": [3, 2]})
            val_axis.plot(self.val_steps, [100 * m for m in self.val_mious], marker="o", color="tab:red")
            val_axis.set_xlabel("step")
            val_axis.set_ylabel("val mIoU (%, single scale)")
            val_axis.grid(alpha=0.3)
        else:
            fig, ax = plt.subplots(figsize=(8, 4.5))
            ax.set_xlabel("step")
        ax.plot(self.steps, self.losses, lw=0.6, alpha=0.4, label="loss")
        ax.plot(self.steps, smooth, lw=1.5, label="moving average (%d steps)" % window)
        ax.set_ylabel("training loss")
        ax.grid(alpha=0.3)
        lr_axis = ax.twinx()
        lr_axis.plot(self.steps, self.lrs, lw=1.0, color="tab:green", label="learning rate")
        lr_axis.set_ylabel("learning rate")
        lines = ax.get_lines() + lr_axis.get_lines()
        ax.legend(lines, [line.get_label() for line in lines])
        return fig
