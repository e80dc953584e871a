"""ModelArts mode with a stand-in moxing (tests/fake_moxing: obs://bucket/... is a local folder).

One data copy per node however many ranks start at once; rank 0 mirrors the outputs to train_url while
the job runs and once more at its end (also after an error); and every entry point (build_mindrecord,
search, decode, train, eval, export, predict) reads data_url / checkpoint_url and writes under train_url.
"""
import json
import os
import shutil
import subprocess
import sys
import threading
import time

import pytest

from src.errors import UserError

pytestmark = pytest.mark.heavy  # scheduled first (conftest.py)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAKE_MOXING = os.path.join(REPO, "tests", "fake_moxing")
BUCKET = "obs://bucket"


def obs_env(tmp_path, cache_name="cache", **extra):
    return {**os.environ, "PYTHONPATH": os.pathsep.join([REPO, FAKE_MOXING]), "FAKE_OBS_ROOT": str(tmp_path / "obs"),
            "AUTODEEPLAB_MODELARTS_CACHE": str(tmp_path / cache_name), **extra}


def obs_path(tmp_path, url):
    return tmp_path / "obs" / url[len("obs://"):]


@pytest.fixture
def fake_moxing(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(FAKE_MOXING)
    for name, value in obs_env(tmp_path).items():
        if name != "PYTHONPATH":
            monkeypatch.setenv(name, value)
    monkeypatch.delenv("RANK_ID", raising=False)
    yield
    sys.modules.pop("moxing", None)


FETCH = """
import os, sys
from src.modelarts import modelarts_job
with modelarts_job(True, data_url=sys.argv[1], checkpoint_url=sys.argv[2]) as local:
    print(sorted(os.listdir(local.data)), open(local.checkpoint).read())
"""


def test_ranks_of_one_node_share_one_copy_of_the_inputs(tmp_path):
    data = obs_path(tmp_path, BUCKET + "/data")
    data.mkdir(parents=True)
    (data / "a.txt").write_text("a")
    (tmp_path / "obs" / "bucket" / "model.ckpt").write_text("weights")
    ranks = [subprocess.Popen([sys.executable, "-c", FETCH, BUCKET + "/data", BUCKET + "/model.ckpt"], cwd=REPO,
                              env=obs_env(tmp_path, FAKE_OBS_DELAY="1", RANK_ID=str(rank)),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for rank in range(3)]
    outputs = [rank.communicate(timeout=120) for rank in ranks]
    for rank, (out, err) in zip(ranks, outputs):
        assert rank.returncode == 0, err
        assert out.strip() == "['a.txt'] weights"
    downloads = (tmp_path / "obs" / ".downloads").read_text().splitlines()
    assert sorted(line.split()[1] for line in downloads) == [BUCKET + "/data", BUCKET + "/model.ckpt"], downloads


def test_rank0_uploads_outputs_while_running_and_at_the_end_even_after_an_error(tmp_path, fake_moxing, monkeypatch):
    """The background mirror uploads complete files while the job runs (the test waits for those
    uploads to be reported, not for a time); a file changed just now waits for the final pass, which
    runs even when the job fails."""
    import moxing
    from src.modelarts import modelarts_job

    train_url = BUCKET + "/out"
    uploaded = obs_path(tmp_path, train_url)
    wanted = {train_url + "/epoch1.ckpt", train_url + "/logs/train.log"}
    copied, both_uploaded = [], threading.Event()
    copy = moxing.file.copy

    def reporting_copy(src_url, dst_url):
        copy(src_url, dst_url)
        copied.append(dst_url)
        if wanted <= set(copied):
            both_uploaded.set()

    monkeypatch.setattr(moxing.file, "copy", reporting_copy)
    with pytest.raises(RuntimeError, match="preempted"):
        with modelarts_job(True, train_url=train_url, upload_interval=0.05) as local:
            os.makedirs(os.path.join(local.output, "logs"))
            checkpoint = os.path.join(local.output, "epoch1.ckpt")
            for path, text in ((checkpoint, "one"), (os.path.join(local.output, "logs", "train.log"), "step 1"),
                               (os.path.join(local.output, ".epoch2.ckpt.123.ab.tmp"), "partial")):
                with open(path, "w") as handle:
                    handle.write(text)
                os.utime(path, (time.time() - 10, time.time() - 10))  # complete for a while: due for upload
            assert both_uploaded.wait(60), "nothing uploaded while the job runs: %s" % copied
            assert (uploaded / "epoch1.ckpt").read_text() == "one"
            with open(checkpoint, "w") as handle:
                handle.write("two")  # changed just now: left for the final pass
            raise RuntimeError("preempted")
    assert (uploaded / "epoch1.ckpt").read_text() == "two"
    assert (uploaded / "logs" / "train.log").read_text() == "step 1"
    assert not list(uploaded.glob(".*")), "hidden temporaries are never uploaded"
    assert not any("/." in url for url in copied)


def test_other_ranks_do_not_upload(tmp_path, fake_moxing, monkeypatch):
    from src.modelarts import modelarts_job

    monkeypatch.setenv("RANK_ID", "1")
    with modelarts_job(True, train_url=BUCKET + "/out", upload_interval=0.05) as local:
        open(os.path.join(local.output, "rank1.log"), "w").close()
    assert not obs_path(tmp_path, BUCKET + "/out").exists()


def test_missing_obs_input_and_missing_moxing_are_one_line(tmp_path, fake_moxing):
    from src.modelarts import modelarts_job

    with pytest.raises(UserError, match="obs://bucket/nothing does not exist on OBS"):
        with modelarts_job(True, data_url=BUCKET + "/nothing"):
            pass
    result = subprocess.run([sys.executable, "eval.py", "--enable_modelarts", "true", "--data_url", BUCKET + "/x"],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "moxing module is not available" in result.stderr


# A two-cell network of cheap ops: these tests check where files come from and go, not the network.
# Train, eval and export run in graph mode (the default); the search runs PyNative (a 1-layer
# supernet: a graph compile would cost more than the rest of this file).
ARCHITECTURE = {"network_path": [0, 0], "cell": [[0, "skip_connect"], [1, "sep_conv_3x3"], [0, "skip_connect"],
                                                  [1, "skip_connect"]]}
TINY = ["--config_path", os.path.join(REPO, "config", "autodeeplab_s.yaml"), "--filter_multiplier", 2,
        "--stem_channels", 8, "--decoder_channels", 8]
TRAIN_TINY = ["--crop_size", 33, "--batch_size", 2, "--min_scale", 0.5, "--max_scale", 1.0,
              "--num_parallel_workers", 1, "--log_interval", 1]


def run_job(tmp_path, stage, script, *args):
    """One ModelArts job (its own node cache) running ``script``; returns the CompletedProcess."""
    result = subprocess.run([sys.executable, script, "--enable_modelarts", "true", *map(str, args)], cwd=REPO,
                            env=obs_env(tmp_path, "cache_" + stage), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def obs(tmp_path_factory, demo_cityscapes_root):
    """OBS holding the demo Cityscapes tree and its MindRecord, converted by build_mindrecord.py in ModelArts mode."""
    tmp_path = tmp_path_factory.mktemp("modelarts")
    (tmp_path / "arch.json").write_text(json.dumps(ARCHITECTURE))
    shutil.copytree(demo_cityscapes_root, obs_path(tmp_path, BUCKET + "/cityscapes"))
    for split in ("train", "val"):
        run_job(tmp_path, "mindrecord_" + split, "build_mindrecord.py", "--data_url", BUCKET + "/cityscapes",
                "--train_url", BUCKET + "/mindrecord", "--split", split, "--num_workers", 1)
    return tmp_path


@pytest.fixture(scope="module")
def obs_checkpoint(obs):
    """The OBS url of a checkpoint that train.py (ModelArts mode, 1 tiny epoch) uploaded."""
    run_job(obs, "train", "train.py", *TINY, *TRAIN_TINY, "--arch_path", obs / "arch.json", "--epochs", 1, "--data_url", BUCKET + "/mindrecord",
            "--train_url", BUCKET + "/train")
    checkpoints = sorted(obs_path(obs, BUCKET + "/train").rglob("*.ckpt"))
    assert checkpoints, "train.py uploaded no checkpoint"
    return BUCKET + "/" + str(checkpoints[-1].relative_to(obs_path(obs, BUCKET)))


def test_build_mindrecord_reads_data_url_and_writes_train_url(obs):
    names = sorted(os.listdir(obs_path(obs, BUCKET + "/mindrecord")))
    assert names == ["cityscapes_train.mindrecord", "cityscapes_train.mindrecord.db", "cityscapes_val.mindrecord",
                     "cityscapes_val.mindrecord.db"]


def test_train_eval_export_predict_read_checkpoint_url_and_write_train_url(obs, obs_checkpoint):
    tiny = [*TINY, "--arch_path", obs / "arch.json"]
    run_job(obs, "eval", "eval.py", *tiny, "--data_url", BUCKET + "/mindrecord", "--checkpoint_url", obs_checkpoint,
            "--train_url", BUCKET + "/eval")
    assert (obs_path(obs, BUCKET + "/eval") / "eval_results.json").is_file()
    # export reads no data: the checkpoint (which names its network) and where to write are enough
    run_job(obs, "export", "export.py", "--checkpoint_url", obs_checkpoint, "--file_format", "ONNX",
            "--height", 64, "--width", 128, "--train_url", BUCKET + "/export")
    exported = [p.name for p in obs_path(obs, BUCKET + "/export").glob("*.onnx")]
    assert exported == ["autodeeplab_64x128_argmax.onnx"], exported
    run_job(obs, "predict", "predict.py", *tiny, "--data_url", BUCKET + "/cityscapes/leftImg8bit/val",
            "--checkpoint_url", BUCKET + "/export/" + exported[0], "--train_url", BUCKET + "/predict")
    images = sorted(p.relative_to(obs_path(obs, BUCKET + "/cityscapes/leftImg8bit/val"))
                    for p in obs_path(obs, BUCKET + "/cityscapes/leftImg8bit/val").rglob("*.png"))
    predicted = sorted(p.relative_to(obs_path(obs, BUCKET + "/predict/labelIds"))
                       for p in obs_path(obs, BUCKET + "/predict/labelIds").rglob("*.png"))
    assert predicted == images and len(images) == 3


SEARCH_TINY = ["--config_path", os.path.join(REPO, "config", "search.yaml"), "--num_layers", 1, "--filter_multiplier",
               2, "--block_multiplier", 1, "--crop_size", 33, "--batch_size", 2, "--epochs", 1, "--arch_start_epoch", 0,
               "--stem_channels", 8, "--mode", "pynative"]


def test_search_and_decode_read_obs_and_write_train_url(obs):
    run_job(obs, "search", "search.py", *SEARCH_TINY, "--data_url", BUCKET + "/mindrecord",
            "--train_url", BUCKET + "/search")
    assert (obs_path(obs, BUCKET + "/search") / "search_epoch1.ckpt").is_file()
    run_job(obs, "decode", "decode.py", "--data_url", BUCKET + "/mindrecord", "--checkpoint_url",
            BUCKET + "/search/search_epoch1.ckpt", "--train_url", BUCKET + "/arch")
    assert (obs_path(obs, BUCKET + "/arch") / "architecture.json").is_file()
