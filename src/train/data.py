"""Training data of a whole run as one pipeline, in an order fixed by (seed, epoch, rank) alone.

Why an explicit order instead of MindDataset's shuffle: data sink mode (Ascend, GPU) needs one
dataset object for the whole run (MindSpore compiles a sink network per dataset), and a resumed
run must see exactly the batches the uninterrupted run would have, starting mid-run. MindDataset
reshuffles each epoch from its own state, which cannot be started at epoch e; here epoch e's
rows are ``epoch_rows(seed, e, ...)`` and the pipeline reads them in that order
(``src.data.dataset.RowSequence``), so any run (sink or not, resumed or not) is a slice of the
same sequence. Augmentation draws are a function of (seed, rank, position in that sequence).
"""
import os

import mindspore.dataset as ds
import numpy as np

from src.data.dataset import create_train_dataset
from src.errors import UserError
from src.fileio import atomic_write


def record_size(mindrecord_path):
    """Number of samples in the MindRecord."""
    return ds.MindDataset(mindrecord_path, columns_list=["file_name"], shuffle=False).get_dataset_size()


def steps_per_epoch(cfg, mindrecord_path, num_rows, rank_size):
    """Full global batches per epoch (each rank reads ``num_rows // rank_size`` rows, remainders dropped)."""
    steps = num_rows // rank_size // cfg.batch_size
    if steps < 1:
        raise UserError("'%s' holds %d samples, fewer samples than one global batch (batch_size %d x %d device(s)); "
                        "rebuild it with build_mindrecord.py or lower --batch_size"
                        % (mindrecord_path, num_rows, cfg.batch_size, rank_size))
    return steps


def epoch_rows(seed, epoch, num_rows, rank_id, rank_size, steps, batch_size):
    """Row indices this rank trains on in ``epoch`` (0-based): a permutation drawn from (seed, epoch),
    dealt round-robin to the ranks (disjoint shards), cut to ``steps`` full batches."""
    order = np.random.default_rng([seed, epoch]).permutation(num_rows)
    return order[rank_id::rank_size][:steps * batch_size]


class RunOrder:
    """Row indices of global steps [first_step, last_step) on one rank, in training order: iterates
    one array per epoch (made when reached, so a long run holds one epoch's order at a time)."""

    def __init__(self, cfg, num_rows, first_step, last_step, per_epoch, rank_id, rank_size):
        self.seed, self.batch_size, self.num_rows = cfg.seed, cfg.batch_size, num_rows
        self.first_step, self.last_step, self.per_epoch = first_step, last_step, per_epoch
        self.rank_id, self.rank_size = rank_id, rank_size

    def __len__(self):
        return (self.last_step - self.first_step) * self.batch_size

    def __iter__(self):
        for epoch in range(self.first_step // self.per_epoch, (self.last_step - 1) // self.per_epoch + 1):
            rows = epoch_rows(self.seed, epoch, self.num_rows, self.rank_id, self.rank_size, self.per_epoch,
                              self.batch_size)
            start = max(self.first_step - epoch * self.per_epoch, 0) * self.batch_size
            stop = min(self.last_step - epoch * self.per_epoch, self.per_epoch) * self.batch_size
            yield rows[start:stop]


def run_dataset(cfg, mindrecord_path, num_rows, first_step, last_step, per_epoch, rank_id, rank_size):
    """Batches of global steps [first_step, last_step) on this rank: one pipeline, one dataset object."""
    order = RunOrder(cfg, num_rows, first_step, last_step, per_epoch, rank_id, rank_size)
    return create_train_dataset(
        mindrecord_path, order, cfg.batch_size, cfg.crop_size, min_scale=cfg.min_scale, max_scale=cfg.max_scale,
        ignore_label=cfg.ignore_label, channel_order=cfg.channel_order, rank_id=rank_id, seed=cfg.seed,
        num_parallel_workers=cfg.num_parallel_workers, first_position=first_step * cfg.batch_size)


def write_samples_log(path, cfg, mindrecord_path, num_rows, first_step, last_step, per_epoch, rank_id, rank_size):
    """Write ``epoch<TAB>step<TAB>file_name`` lines (1-based epoch and step) for steps [first_step,
    last_step), from the rows the pipeline is given, after the lines of earlier steps already there
    (a resumed run keeps those; a new run passes first_step 0)."""
    reader = ds.MindDataset(mindrecord_path, columns_list=["file_name"], shuffle=False)
    names = [str(row["file_name"]) for row in reader.create_dict_iterator(num_epochs=1, output_numpy=True)]
    kept = []
    if first_step and os.path.exists(path):
        with open(path) as f:
            kept = [line for line in f if int(line.split("\t")[1]) <= first_step]
    rows = np.concatenate(list(RunOrder(cfg, num_rows, first_step, last_step, per_epoch, rank_id, rank_size)))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_write(path) as f:
        f.writelines(kept)
        for position, row in enumerate(rows):
            step = first_step + position // cfg.batch_size
            f.write("%d\t%d\t%s\n" % (step // per_epoch + 1, step + 1, names[row]))
