"""Training data per epoch: a fresh, seeded pipeline for every epoch, so any step can be resumed.

The pipeline of ``src.data.dataset`` is deterministic for a given seed (shuffle order and
per-row augmentation draws). Building epoch e with ``epoch_seed(seed, e)`` and skipping the
batches a checkpoint already consumed gives a resumed run exactly the batches an uninterrupted
run sees. All ranks use the same seed, so their shards of the shuffled order are disjoint.
"""
import os

import mindspore.dataset as ds

from src.data.dataset import create_train_dataset
from src.errors import UserError

_SEED_RANGE = 2 ** 32


def epoch_seed(seed, epoch):
    """Seed of epoch ``epoch`` (0-based) of a run with ``seed``."""
    return (seed * 1000003 + epoch) % _SEED_RANGE


def epoch_dataset(cfg, mindrecord_path, epoch, rank_id, rank_size, skip_steps=0):
    """Batches of epoch ``epoch`` on this rank, after skipping ``skip_steps`` already trained."""
    data = create_train_dataset(
        mindrecord_path, cfg.batch_size, cfg.crop_size, min_scale=cfg.min_scale, max_scale=cfg.max_scale,
        ignore_label=cfg.ignore_label, channel_order=cfg.channel_order, rank_id=rank_id, rank_size=rank_size,
        seed=epoch_seed(cfg.seed, epoch), num_parallel_workers=cfg.num_parallel_workers)
    return data.skip(skip_steps) if skip_steps else data


def steps_per_epoch(cfg, mindrecord_path, rank_id, rank_size):
    """Batches per epoch on each rank; refuses a data set too small for one global batch."""
    steps = epoch_dataset(cfg, mindrecord_path, 0, rank_id, rank_size).get_dataset_size()
    if steps < 1:
        raise UserError("'%s' holds fewer samples than one global batch (batch_size %d x %d device(s)); "
                        "rebuild the MindRecord with build_mindrecord.py or lower --batch_size"
                        % (mindrecord_path, cfg.batch_size, rank_size))
    return steps


def epoch_file_names(cfg, mindrecord_path, epoch, rank_id, rank_size, steps):
    """File names of the samples this rank trains on in ``epoch``, in order (``steps`` full batches).

    Reads only the file_name column with the training pipeline's sampler settings (same seed,
    shuffle and shard), which fix the row order; the map operations keep that order.
    """
    ds.config.set_seed(epoch_seed(cfg.seed, epoch))
    shard = {"num_shards": rank_size, "shard_id": rank_id} if rank_size > 1 else {}
    names = ds.MindDataset(mindrecord_path, columns_list=["file_name"], shuffle=True, **shard)
    found = [str(row["file_name"]) for row in names.create_dict_iterator(num_epochs=1, output_numpy=True)]
    return found[:steps * cfg.batch_size]


def write_samples_log(path, epoch, names, batch_size, first_step):
    """Append ``epoch<TAB>step<TAB>file_name`` lines (step = global step of the batch, 1-based)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "a") as f:
        for index, name in enumerate(names):
            f.write("%d\t%d\t%s\n" % (epoch + 1, first_step + index // batch_size + 1, name))
