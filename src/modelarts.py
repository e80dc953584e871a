"""ModelArts adapter: copy inputs from OBS before a run and outputs back after it.

ModelArts' ``moxing`` exists only inside ModelArts (the PyPI package of that name is an unrelated
project), so it is imported here, lazily, and only when ``enable_modelarts`` is true.
"""
import os

from src.errors import UserError

LOCAL_DATA = "/cache/data"
LOCAL_OUTPUT = "/cache/output"


def _moxing():
    try:
        import moxing
    except ImportError:
        raise UserError("enable_modelarts is true but ModelArts' moxing module is not available; "
                        "run inside a ModelArts job, or set enable_modelarts false and use data_path/output_path") from None
    return moxing


def prepare_inputs(cfg, rank_id=0):
    """In ModelArts mode copy data_url to local disk and point data_path/output_path at local folders."""
    if not cfg.enable_modelarts:
        return cfg
    mox = _moxing()
    local_data = "%s_%d" % (LOCAL_DATA, rank_id)
    mox.file.copy_parallel(src_url=cfg.data_url, dst_url=local_data)
    os.makedirs(LOCAL_OUTPUT, exist_ok=True)
    return cfg.replace(data_path=local_data, output_path=LOCAL_OUTPUT)


def upload_outputs(cfg, rank_id=0):
    """In ModelArts mode copy output_path to train_url; only rank 0 uploads."""
    if not cfg.enable_modelarts or rank_id != 0 or not cfg.train_url:
        return
    _moxing().file.copy_parallel(src_url=cfg.output_path, dst_url=cfg.train_url)
