"""ModelArts jobs: OBS inputs copied once per node, outputs mirrored to OBS while the job runs.

A ModelArts job passes OBS paths (``data_url``, ``train_url``, ``checkpoint_url``) and gives each node
a local disk (``/cache``). Every entry point wraps its work in ``modelarts_job`` (or
``modelarts_config`` for the config-driven ones), so the stages themselves know nothing of OBS:

- inputs: the first process of a node to take a folder lock copies ``data_url`` (and the
  ``checkpoint_url`` file); the node's other ranks wait for its "ready" marker and share the copy
  (as ModelZoo's moxing_adapter, one copy per node, not one per rank);
- outputs: rank 0 (RANK_ID 0 or unset) mirrors the local output folder to ``train_url`` every
  ``UPLOAD_INTERVAL`` seconds while the job runs, and once more when it ends (also on an error or an
  interrupt), so a preempted job keeps its checkpoints and logs. Hidden names (the project's
  temporary files) are never uploaded; a file is uploaded again when its size or mtime changes.

ModelArts' ``moxing`` exists only inside ModelArts (the PyPI package of that name is an unrelated
project), so it is imported here, lazily, and only when ``enable_modelarts`` is true.
"""
import hashlib
import os
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Optional

from src.errors import UserError
from src.fileio import folder_lock

CACHE_ENV = "AUTODEEPLAB_MODELARTS_CACHE"  # the node's local disk; ModelArts' is /cache
DEFAULT_CACHE = "/cache"
UPLOAD_INTERVAL = 60.0  # seconds between two uploads of new or changed outputs
QUIET_SECONDS = 2.0  # a file changed more recently is left for the next pass (it may still be written)
READY_MARKER = ".modelarts_ready"
ARGUMENTS = ("enable_modelarts", "data_url", "train_url", "checkpoint_url")


@dataclass(frozen=True)
class LocalPaths:
    """Local copies of a job's OBS inputs and the folder that is mirrored to ``train_url``."""

    data: Optional[str]
    checkpoint: Optional[str]
    output: str


def _moxing():
    try:
        import moxing
    except ImportError:
        raise UserError("enable_modelarts is true but ModelArts' moxing module is not available; "
                        "run inside a ModelArts job, or set enable_modelarts false and use data_path/output_path") from None
    return moxing


def _fetch_once(mox, url, cache, is_file):
    """Copy ``url`` into a folder of ``cache`` named after it, unless this node already did; returns the local path."""
    folder = os.path.join(cache, hashlib.sha1(url.encode()).hexdigest()[:16])
    os.makedirs(folder, exist_ok=True)
    local = os.path.join(folder, os.path.basename(url.rstrip("/")) if is_file else "data")
    marker = os.path.join(folder, READY_MARKER)
    while not os.path.exists(marker):
        try:
            with folder_lock(folder, "ModelArts input folder"):
                if not os.path.exists(marker):
                    if not mox.file.exists(url):
                        raise UserError("%s does not exist on OBS; check data_url / checkpoint_url" % url)
                    print("ModelArts: copying %s -> %s" % (url, local), file=sys.stderr, flush=True)
                    (mox.file.copy if is_file else mox.file.copy_parallel)(url, local)
                    with open(marker, "w") as handle:
                        handle.write(url + "\n")
        except UserError as err:
            if "is in use by process" not in str(err):
                raise
            time.sleep(0.5)  # another rank of this node is copying: wait for its marker
    return local


class _Mirror:
    """Rank 0's background upload of ``local`` to ``url``: new or changed, completed, visible files."""

    def __init__(self, mox, local, url, interval):
        self.mox, self.local, self.url, self.interval = mox, local, url.rstrip("/"), interval
        self.uploaded = {}
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="modelarts-upload", daemon=True)
        self.thread.start()

    def _loop(self):
        while not self.stopped.wait(self.interval):
            try:
                self.sync(QUIET_SECONDS)
            except Exception as exc:  # a network hiccup must not stop training; the next pass retries
                print("warning: ModelArts upload to %s failed (%s); retrying" % (self.url, exc), file=sys.stderr)

    def sync(self, quiet=0.0):
        now = time.time()
        for folder, subfolders, files in os.walk(self.local):
            subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
            for name in sorted(files):
                path = os.path.join(folder, name)
                if name.startswith("."):
                    continue
                try:
                    stat = os.stat(path)
                except FileNotFoundError:  # replaced or removed meanwhile
                    continue
                version = (stat.st_size, stat.st_mtime_ns)
                if self.uploaded.get(path) == version or now - stat.st_mtime < quiet:
                    continue
                relative = os.path.relpath(path, self.local).replace(os.sep, "/")
                self.mox.file.copy(path, self.url + "/" + relative)
                self.uploaded[path] = version

    def close(self):
        self.stopped.set()
        self.thread.join()
        try:
            self.sync()
        except Exception as exc:
            raise UserError("uploading %s to train_url %s failed: %s" % (self.local, self.url, exc)) from None


def _uploads():
    """Rank 0 of the job uploads: RANK_ID is set by rank-table and msrun launches."""
    return os.environ.get("RANK_ID", "0") == "0"


@contextmanager
def modelarts_job(enabled, data_url=None, checkpoint_url=None, train_url=None, upload_interval=UPLOAD_INTERVAL):
    """Yield LocalPaths of this job's inputs and output (None when ``enabled`` is false)."""
    if not enabled:
        yield None
        return
    mox = _moxing()
    cache = os.environ.get(CACHE_ENV, DEFAULT_CACHE)
    data = _fetch_once(mox, data_url, os.path.join(cache, "data"), is_file=False) if data_url else None
    checkpoint = (_fetch_once(mox, checkpoint_url, os.path.join(cache, "checkpoint"), is_file=True)
                  if checkpoint_url else None)
    output = os.path.join(cache, "output")
    os.makedirs(output, exist_ok=True)
    mirror = _Mirror(mox, output, train_url, upload_interval) if train_url and _uploads() else None
    try:
        yield LocalPaths(data, checkpoint, output)
    finally:
        if mirror:
            mirror.close()


@contextmanager
def modelarts_config(cfg, checkpoint_key="ckpt_path"):
    """``modelarts_job`` for a config-driven entry point: yields cfg with data_path, output_path and
    ``checkpoint_key`` (ckpt_path, or resume for the trainers) pointing at the local copies."""
    with modelarts_job(cfg.enable_modelarts, cfg.data_url, cfg.checkpoint_url, cfg.train_url) as local:
        if local is None:
            yield cfg
            return
        changes = {"output_path": local.output}
        if local.data:
            changes["data_path"] = local.data
        if local.checkpoint:
            changes[checkpoint_key] = local.checkpoint
        yield cfg.replace(**changes)


def add_arguments(parser):
    """The ModelArts options, with the schema's help, for the entry points that use argparse."""
    from src.config import SCHEMA

    for name in ARGUMENTS:
        bare = {"nargs": "?", "const": "true"} if SCHEMA[name].kind == "bool" else {}  # --enable_modelarts alone
        parser.add_argument("--" + name, metavar=SCHEMA[name].kind.upper(), help=SCHEMA[name].help, **bare)


def argparse_job(args):
    """``modelarts_job`` of an argparse entry point's ModelArts options, validated by the config schema."""
    from src.config import load_config

    cfg = load_config(None, {name: getattr(args, name) for name in ARGUMENTS if getattr(args, name) is not None})
    return modelarts_job(cfg.enable_modelarts, cfg.data_url, cfg.checkpoint_url, cfg.train_url)


def prepare_inputs(cfg, rank_id=0):
    """src/train/trainer.py's hook; train.py's modelarts_config has already fetched the inputs."""
    return cfg


def upload_outputs(cfg, rank_id=0):
    """src/train/trainer.py's hook; train.py's modelarts_config uploads (during the run and at its end)."""
