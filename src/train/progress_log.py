"""The training log in the output folder: one CSV row per step and a PNG of the loss and lr curves.

A resumed run keeps the rows up to its starting step and drops the ones a killed run wrote
after its last checkpoint, so the CSV always describes one consistent run.
"""
import csv
import os

import numpy as np

from src.fileio import atomic_path, atomic_write

COLUMNS = ("step", "epoch", "loss", "lr", "step_time_s", "samples_per_s")
CSV_NAME = "train_log.csv"
PNG_NAME = "loss_curve.png"


class ProgressLog:
    """Appends rows to ``<directory>/train_log.csv``; ``plot`` redraws ``loss_curve.png`` (loss and lr)."""

    def __init__(self, directory, start_step):
        self.csv_path = os.path.join(directory, CSV_NAME)
        self.png_path = os.path.join(directory, PNG_NAME)
        self.steps, self.losses, self.lrs = [], [], []
        kept = [row for row in self._read() if int(row["step"]) <= start_step]
        with atomic_write(self.csv_path, newline="") as f:
            writer = csv.DictWriter(f, COLUMNS)
            writer.writeheader()
            writer.writerows(kept)
        for row in kept:
            self.steps.append(int(row["step"]))
            self.losses.append(float(row["loss"]))
            self.lrs.append(float(row["lr"]))

    def _read(self):
        if not os.path.isfile(self.csv_path):
            return []
        with open(self.csv_path, newline="") as f:
            return [row for row in csv.DictReader(f) if row.get("step", "").isdigit()]

    def append(self, step, epoch, loss, lr, step_time, samples_per_s):
        self.steps.append(step)
        self.losses.append(loss)
        self.lrs.append(lr)
        with open(self.csv_path, "a", newline="") as f:
            csv.writer(f).writerow([step, epoch, "%.6f" % loss, "%.6e" % lr, "%.4f" % step_time,
                                    "%.3f" % samples_per_s])

    def plot(self):
        """Write the loss (per step and a moving average) and lr curves to loss_curve.png, atomically."""
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
        """The matplotlib figure of ``plot``: loss on the left axis, learning rate on the right."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        window = max(1, len(self.losses) // 50)
        cumulative = np.concatenate([[0.0], np.cumsum(self.losses)])
        end = np.arange(1, len(self.losses) + 1)
        start = np.maximum(end - window, 0)
        smooth = (cumulative[end] - cumulative[start]) / (end - start)
        fig, ax = plt.subplots(figsize=(8, 4.5))
        ax.plot(self.steps, self.losses, lw=0.6, alpha=0.4, label="loss")
        ax.plot(self.steps, smooth, lw=1.5, label="moving average (%d steps)" % window)
        ax.set_xlabel("step")
        ax.set_ylabel("training loss")
        ax.grid(alpha=0.3)
        lr_axis = ax.twinx()
        lr_axis.plot(self.steps, self.lrs, lw=1.0, color="tab:green", label="learning rate")
        lr_axis.set_ylabel("learning rate")
        lines = ax.get_lines() + lr_axis.get_lines()
        ax.legend(lines, [line.get_label() for line in lines])
        return fig
