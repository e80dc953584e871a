"""The run's training data: one pipeline whose order depends on (seed, epoch, rank) only, so a
resumed run, a sink-mode run and a step-by-step run read the same batches."""
import numpy as np
import pytest

from src.config import validate
from src.data.mindrecord_writer import find_mindrecord
from src.train.data import RunOrder, epoch_rows, record_size, run_dataset, steps_per_epoch
from src.errors import UserError

ROWS = 48


def config(**values):
    from src.config import Config

    return Config(validate(dict(dict(batch_size=2, seed=3, crop_size=33, num_parallel_workers=1), **values), "test"))


def test_ranks_read_disjoint_shards_of_every_epoch():
    shards = [epoch_rows(3, 5, ROWS, rank, 4, steps=6, batch_size=2) for rank in range(4)]
    assert all(len(shard) == 12 for shard in shards)
    together = np.concatenate(shards)
    assert len(set(together.tolist())) == 48 and set(together.tolist()) == set(range(ROWS))


def test_epochs_are_reshuffled_and_the_order_is_fixed_by_the_seed():
    first, second = (epoch_rows(3, epoch, ROWS, 0, 1, 24, 2) for epoch in (0, 1))
    assert not np.array_equal(first, second) and sorted(first) == sorted(second)
    np.testing.assert_array_equal(first, epoch_rows(3, 0, ROWS, 0, 1, 24, 2))
    assert not np.array_equal(first, epoch_rows(4, 0, ROWS, 0, 1, 24, 2))


def run_rows(*args):
    order = RunOrder(config(), ROWS, *args)
    rows = np.concatenate(list(order))
    assert len(rows) == len(order)
    return rows


def test_a_run_started_mid_way_is_the_tail_of_the_whole_run():
    whole = run_rows(0, 60, 24, 0, 1)
    assert len(whole) == 120
    np.testing.assert_array_equal(run_rows(31, 60, 24, 0, 1), whole[62:])
    np.testing.assert_array_equal(run_rows(24, 48, 24, 0, 1), whole[48:96])
    assert len(list(RunOrder(config(), ROWS, 31, 60, 24, 0, 1))) == 2  # one array per epoch reached


def test_too_few_rows_for_one_global_batch_is_refused():
    with pytest.raises(UserError, match="'x.mindrecord' holds 6 samples, fewer samples than one global batch"):
        steps_per_epoch(config(batch_size=4), "x.mindrecord", 6, 2)


def test_resumed_pipeline_gives_the_same_batches(demo_mindrecord_dir):
    record = find_mindrecord(str(demo_mindrecord_dir), "train")
    rows = record_size(record)
    cfg = config(batch_size=1)
    per_epoch = steps_per_epoch(cfg, record, rows, 1)

    def batches(first, last):
        data = run_dataset(cfg, record, rows, first, last, per_epoch, 0, 1)
        return [b["image"] for b in data.create_dict_iterator(num_epochs=1, output_numpy=True)]

    whole = batches(0, 2 * per_epoch)
    assert len(whole) == 2 * per_epoch
    tail = batches(per_epoch - 1, 2 * per_epoch)
    for a, b in zip(whole[per_epoch - 1:], tail):
        np.testing.assert_array_equal(a, b)
    # the same image in the second epoch gets other augmentation draws
    assert not any(np.array_equal(whole[0], b) for b in whole[per_epoch:])
