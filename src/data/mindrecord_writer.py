"""Cityscapes split -> MindRecord, written in a temporary directory and moved in only when complete.

MindRecord shards store each other's file names, so the temporary directory holds the files
under their final names; the set is moved into the output directory at the end. On any error,
Ctrl-C or SIGTERM the temporaries (and anything already moved) are removed.
"""
import multiprocessing
import os
import re
import shutil
import signal
import tempfile
import threading
from contextlib import closing, contextmanager

from tqdm import tqdm

from src.data.cityscapes import find_samples
from src.data.record_codec import encode_sample, init_worker
from src.errors import UserError

SCHEMA = {
    "image": {"type": "bytes"},      # PNG bytes of the source image, as in the file
    "label": {"type": "bytes"},      # PNG bytes of the uint8 trainId map (255 = ignore)
    "file_name": {"type": "string"},  # "<city>_<seq>_<frame>"
    "height": {"type": "int32"},
    "width": {"type": "int32"},
}
WRITE_BATCH = 8
MAX_SHARDS = 1000


def mindrecord_name(split):
    return f"cityscapes_{split}.mindrecord"


def _existing_set(directory, split):
    """Files of an existing MindRecord set of `split` in `directory` (data files and .db indexes)."""
    pattern = re.compile(re.escape(mindrecord_name(split)) + r"\d*(\.db)?$")
    if not os.path.isdir(directory):
        return []
    return sorted(os.path.join(directory, f) for f in os.listdir(directory) if pattern.match(f))


def find_mindrecord(data_dir, split):
    """Path of the MindRecord file to open for `split` (the first shard of a sharded set)."""
    hint = f"run: python build_mindrecord.py --data_path CITYSCAPES_ROOT --output_path {data_dir} --split {split}"
    if not os.path.isdir(data_dir):
        raise UserError(f"MindRecord directory '{data_dir}' does not exist; {hint}")
    base = os.path.join(data_dir, mindrecord_name(split))
    for path in (base, base + "0"):
        if os.path.isfile(path):
            if os.path.getsize(path) == 0 or not os.path.isfile(path + ".db"):
                raise UserError(f"MindRecord '{path}' is empty or lacks its index '{path}.db'; rebuild it "
                                f"with --overwrite; {hint}")
            return path
    raise UserError(f"no MindRecord for split '{split}' in '{data_dir}' (expected '{base}' or '{base}0'); {hint}")


@contextmanager
def _sigterm_as_interrupt():
    """Turn SIGTERM into KeyboardInterrupt so the clean-up path also runs on `kill`."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


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


def _prepare_output(output_dir, split, overwrite):
    try:
        os.makedirs(output_dir, exist_ok=True)
    except OSError as err:
        raise UserError(f"cannot create output directory '{output_dir}': {err.strerror}; "
                        "choose a writable --output_path") from err
    existing = _existing_set(output_dir, split)
    if existing and not overwrite:
        raise UserError(f"output '{existing[0]}' already exists: pass --overwrite to replace it or choose "
                        "another --output_path")
    try:
        return tempfile.mkdtemp(prefix=f".{mindrecord_name(split)}.partial-", dir=output_dir)
    except OSError as err:
        raise UserError(f"output directory '{output_dir}' is not writable ({err.strerror}): choose a "
                        "writable --output_path") from err


def convert_samples(samples, output_dir, split, num_shards=1, num_workers=2, overwrite=False, progress=True):
    """Write `samples` (cityscapes.Sample list, in order) as DIR/cityscapes_<split>.mindrecord[0..N-1]."""
    from mindspore.mindrecord import FileWriter

    if not 1 <= num_shards <= MAX_SHARDS:
        raise UserError(f"--num_shards must be in 1..{MAX_SHARDS}, got {num_shards}")
    if num_shards > len(samples):
        raise UserError(f"--num_shards {num_shards} exceeds the {len(samples)} samples of split '{split}'")
    if num_workers < 1:
        raise UserError(f"--num_workers must be >= 1, got {num_workers}")
    partial = _prepare_output(output_dir, split, overwrite)
    moved = []
    try:
        with _sigterm_as_interrupt():
            writer = FileWriter(os.path.join(partial, mindrecord_name(split)), shard_num=num_shards)
            writer.add_schema(SCHEMA, "cityscapes")
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
            for old in _existing_set(output_dir, split):
                os.remove(old)
            for name in sorted(os.listdir(partial), key=lambda f: not f.endswith(".db")):
                moved.append(os.path.join(output_dir, name))
                os.replace(os.path.join(partial, name), moved[-1])
    except BaseException:
        for path in moved:
            if os.path.exists(path):
                os.remove(path)
        raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return sorted(p for p in moved if not p.endswith(".db"))


def build_mindrecord(data_path, output_path, split, num_shards=1, num_workers=2, overwrite=False, progress=True):
    """Convert split `split` of the Cityscapes tree at `data_path`; returns the data files written."""
    samples = find_samples(data_path, split)
    return convert_samples(samples, output_path, split, num_shards, num_workers, overwrite, progress)
