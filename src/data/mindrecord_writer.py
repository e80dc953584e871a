"""A data set split -> MindRecord, written in a hidden temporary folder and moved in only when complete.

MindRecord shards store each other's file names, so the temporary folder holds the files under
their final names; the set is moved into the output folder at the end, data files before .db
indexes, and an old set (--overwrite) is deleted only once the new one is in place. On any
error, Ctrl-C or SIGTERM the temporaries (and anything already moved) are removed; after a
SIGKILL the next build removes them. The folder's dataset.json names the data set and its class
table (``src.data.datasets``; a folder without one holds Cityscapes); one folder holds one data set.
"""
import multiprocessing
import os
import re
from contextlib import closing

from tqdm import tqdm

from src.data import datasets
from src.data.record_codec import encode_sample, init_worker
from src.errors import UserError, signals_raise_interrupted
from src.fileio import (check_output_location, folder_lock, remove_stale_temporaries, replace_files,
                        temporary_folder)

SCHEMA = {
    "image": {"type": "bytes"},      # PNG or JPEG bytes of the source image, as in the file
    "label": {"type": "bytes"},      # PNG bytes of the uint8 trainId map (255 = ignore)
    "file_name": {"type": "string"},  # image name without extension, e.g. "<city>_<seq>_<frame>"
    "height": {"type": "int32"},
    "width": {"type": "int32"},
}
WRITE_BATCH = 8
MAX_SHARDS = 1000


def mindrecord_name(split, dataset="cityscapes"):
    return f"{dataset}_{split}.mindrecord"


def _existing_set(directory, split, dataset="cityscapes"):
    """Files of an existing MindRecord set of `split` in `directory` (data files and .db indexes)."""
    pattern = re.compile(re.escape(mindrecord_name(split, dataset)) + r"\d*(\.db)?$")
    if not os.path.isdir(directory):
        return []
    return sorted(os.path.join(directory, f) for f in os.listdir(directory) if pattern.match(f))


def find_mindrecord(data_dir, split):
    """Path of the MindRecord file to open for `split` (the first shard of a sharded set).

    The whole set is checked first: every shard 0..N-1 present, non-empty and with its .db index,
    and no index without its shard (what a build cut short between two renames would leave). The set
    is the one of the data set the folder records (dataset.json).
    """
    hint = f"run: python build_mindrecord.py --data_path CITYSCAPES_ROOT --output_path {data_dir} --split {split}"
    if not data_dir or not os.path.isdir(data_dir):
        raise UserError(f"MindRecord directory '{data_dir}' does not exist; {hint}")
    dataset, _ = datasets.read_record_info(data_dir)
    if dataset != "cityscapes":
        hint = hint.replace("CITYSCAPES_ROOT", "ROOT --dataset " + dataset)
    name = mindrecord_name(split, dataset)
    base = os.path.join(data_dir, name)
    files = [os.path.basename(path) for path in _existing_set(data_dir, split, dataset)]
    if not files:
        raise UserError(f"no MindRecord for split '{split}' in '{data_dir}' (expected '{base}' or '{base}0'); {hint}")
    data = sorted(f for f in files if not f.endswith(".db"))
    indexes = sorted(f[:-len(".db")] for f in files if f.endswith(".db"))
    shards = [name] if name in data else [f"{name}{i}" for i in range(len(data))]
    problems = [f"'{f}' lacks its index '{f}.db'" for f in shards if f not in indexes]
    problems += [f"'{f}' is missing" for f in sorted(set(indexes) | set(shards)) if f not in data]
    problems += [f"'{f}' is not part of a set {', '.join(shards)}" for f in data if f not in shards]
    problems += [f"'{f}' is empty" for f in data if os.path.getsize(os.path.join(data_dir, f)) == 0]
    if problems:
        raise UserError(f"MindRecord set of split '{split}' in '{data_dir}' is incomplete ({'; '.join(problems)}); "
                        f"rebuild it with --overwrite; {hint}")
    return os.path.join(data_dir, shards[0])


def _encoded_rows(samples, num_workers):
    """Rows in sample order; decoding/verifying/encoding runs in `num_workers` processes."""
    if num_workers == 1:
        for sample in samples:
            yield encode_sample(sample)
        return
    # spawn, not fork: forking a process that has imported mindspore can deadlock the children.
    # Spawned workers import the caller's main module, so keep mindspore imports out of its top level.
    pool = multiprocessing.get_context("spawn").Pool(num_workers, initializer=init_worker)
    try:
        yield from pool.imap(encode_sample, samples, chunksize=1)
        pool.close()
    finally:
        pool.terminate()
        pool.join()


def _check_no_set(output_dir, split, dataset, overwrite):
    existing = _existing_set(output_dir, split, dataset)
    if existing and not overwrite:
        raise UserError(f"output '{existing[0]}' already exists: pass --overwrite to replace it or choose "
                        "another --output_path")


def convert_samples(samples, output_dir, split, num_shards=1, num_workers=2, overwrite=False, progress=True,
                    dataset="cityscapes", table=datasets.CITYSCAPES_TABLE):
    """Write `samples` (in order) as DIR/<dataset>_<split>.mindrecord[0..N-1] and DIR/dataset.json.

    One build per split and folder at a time (a lock file); leftovers of killed builds are removed
    first; the set is written in a hidden folder and moved in only when complete; a folder holding
    another data set's records is refused."""
    if not 1 <= num_shards <= MAX_SHARDS:
        raise UserError(f"--num_shards must be in 1..{MAX_SHARDS}, got {num_shards}")
    if num_shards > len(samples):
        raise UserError(f"--num_shards {num_shards} exceeds the {len(samples)} samples of split '{split}'")
    if num_workers < 1:
        raise UserError(f"--num_workers must be >= 1, got {num_workers}")
    output_dir = check_output_location(output_dir, "folder", "--output_path")
    os.makedirs(output_dir, exist_ok=True)
    name = mindrecord_name(split, dataset)
    with folder_lock(output_dir, "MindRecord output of split '%s' in" % split, name=f".{name}.lock"):
        datasets.check_record_info(output_dir, dataset, table)
        _check_no_set(output_dir, split, dataset, overwrite)
        remove_stale_temporaries(output_dir, name)
        with signals_raise_interrupted(), temporary_folder(os.path.join(output_dir, name)) as partial:
            _write_set(samples, partial, name, num_shards, num_workers, split, progress, dataset)
            # data files before their .db indexes: a set cut short lacks an index, which find_mindrecord refuses
            written = sorted(os.listdir(partial), key=lambda f: (f.endswith(".db"), f))
            # first in: it names the files after it. A Cityscapes folder needs none (no record means
            # Cityscapes), so its output stays what it was before data sets were recorded.
            recorded = os.path.exists(datasets.record_info_path(output_dir))
            if (dataset != "cityscapes" or recorded) and not datasets.holds_record_info(output_dir, dataset, table):
                datasets.write_record_info(partial, dataset, table)
                written.insert(0, datasets.RECORD_INFO)
            replace_files([(os.path.join(partial, f), os.path.join(output_dir, f)) for f in written],
                          _existing_set(output_dir, split, dataset))
    return sorted(os.path.join(output_dir, f) for f in written if f.startswith(name) and not f.endswith(".db"))


def _write_set(samples, folder, name, num_shards, num_workers, split, progress, dataset):
    """The MindRecord set of ``samples`` in ``folder`` (the shards store each other's names: final names)."""
    from mindspore.mindrecord import FileWriter

    writer = FileWriter(os.path.join(folder, name), shard_num=num_shards)
    writer.add_schema(SCHEMA, dataset)
    batch = []
    bar = tqdm(total=len(samples), desc=f"MindRecord {split}", unit="img", disable=not progress)
    with bar, closing(_encoded_rows(samples, num_workers)) as rows:
        for row in rows:
            batch.append(row)
            bar.update()
            if len(batch) == WRITE_BATCH:
                writer.write_raw_data(batch)
                batch = []
        if batch:
            writer.write_raw_data(batch)
    writer.commit()


def build_mindrecord(data_path, output_path, split, num_shards=1, num_workers=2, overwrite=False, progress=True,
                     dataset="cityscapes"):
    """Convert split `split` of data set `dataset` stored at `data_path`; returns the data files written."""
    table, samples = datasets.find_samples(dataset, data_path, split)
    return convert_samples(samples, output_path, split, num_shards, num_workers, overwrite, progress, dataset, table)
