"""src/checkpoint.py, the one checkpoint reader (named test_checkpoint_reader.py: tests/train has a
test_checkpoint.py, and pytest needs distinct basenames): each kind of file is told apart and its meta
decoded; a missing, garbage or wrong-kind file is one UserError line naming what to pass. Small
hand-made checkpoints, no network is built."""
import json

import numpy as np
import pytest

import src  # noqa: F401  (CPU set-up before mindspore)
import mindspore as ms

from src.checkpoint import MODELZOO, RETRAIN, SEARCH, SEARCH_META_KEY, checkpoint_kind, read_checkpoint
from src.errors import UserError

ARCHITECTURE = {"network_path": [0, 0, 1], "cell": [[0, "skip_connect"], [1, "sep_conv_3x3"]], "provenance": {}}
MODEL_CONFIG = {"variant": "paper", "num_classes": 19}
SEARCH_META = {"epoch": 3, "steps_per_epoch": 12, "seed": 0}


def tensor_entry(name, shape):
    return {"name": name, "data": ms.Tensor(np.zeros(shape, np.float32))}


def save(path, entries, append_dict=None):
    ms.save_checkpoint(entries, str(path), append_dict=append_dict)
    return str(path)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ckpts")
    garbage = folder / "garbage.ckpt"
    garbage.write_bytes(b"not a checkpoint at all")
    return {
        "retrain": save(folder / "autodeeplab-step00000007.ckpt",
                        [tensor_entry("encoder.stem.0.conv.weight", (4, 3, 3, 3)), tensor_entry("moments.x", (2,))],
                        {"architecture": json.dumps(ARCHITECTURE), "model_config": json.dumps(MODEL_CONFIG),
                         "step": 7, "epoch": 1, "steps_per_epoch": 7}),
        "search": save(folder / "search_epoch3.ckpt",
                       [tensor_entry("alphas", (20, 8)), tensor_entry("betas", (12, 4, 3)),
                        tensor_entry("weight_optimizer/moments.stem0.conv.weight", (4, 3, 3, 3))],
                       {SEARCH_META_KEY: json.dumps(SEARCH_META)}),
        "search_without_meta": save(folder / "search_no_meta.ckpt",
                                    [tensor_entry("alphas", (20, 8)), tensor_entry("betas", (12, 4, 3))]),
        "modelzoo": save(folder / "modelzoo.ckpt", [tensor_entry("encoder.stem0.0.weight", (4, 3, 3, 3))]),
        "broken_meta": save(folder / "broken.ckpt", [tensor_entry("w", (2,))], {"architecture": "{not json"}),
        "garbage": str(garbage),
        "missing": str(folder / "missing.ckpt"),
    }


def one_line_error(call):
    with pytest.raises(UserError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message
    return message


def test_kinds_by_entry_names():
    assert checkpoint_kind(["alphas", "betas", "stem0.conv.weight"]) == SEARCH
    assert checkpoint_kind(["alphas", "stem0.conv.weight"]) == RETRAIN
    assert checkpoint_kind(["encoder.NASCells.0.ops.0.weight"]) == MODELZOO
    assert checkpoint_kind(["encoder.stem.0.conv.weight", "global_step"]) == RETRAIN


def test_search_checkpoint_kind_and_meta(files):
    ckpt = read_checkpoint(files["search"], expect=SEARCH).require(SEARCH, purpose="decode.py")
    assert ckpt.kind == SEARCH and ckpt.meta == SEARCH_META
    assert sorted(ckpt.params) == ["alphas", "betas", "weight_optimizer/moments.stem0.conv.weight"]
    assert all(hasattr(value, "shape") for value in ckpt.params.values()) and ckpt.strings == {}


def test_retrain_checkpoint_kind_and_meta(files):
    ckpt = read_checkpoint(files["retrain"]).require(RETRAIN, purpose="eval.py")
    assert ckpt.kind == RETRAIN
    assert ckpt.meta == {"architecture": ARCHITECTURE, "model_config": MODEL_CONFIG, "step": 7, "epoch": 1,
                         "steps_per_epoch": 7}
    assert sorted(ckpt.params) == ["encoder.stem.0.conv.weight", "moments.x"]


def test_modelzoo_checkpoint_kind(files):
    assert read_checkpoint(files["modelzoo"]).kind == MODELZOO


@pytest.mark.parametrize("expect, wanted", [(RETRAIN, "a .ckpt written by train.py"),
                                            (SEARCH, "a search_epoch<N>.ckpt written by search.py")])
def test_garbage_file_is_one_line(files, expect, wanted):
    message = one_line_error(lambda: read_checkpoint(files["garbage"], "--resume", expect=expect))
    assert message.startswith("'%s' is not a MindSpore checkpoint (" % files["garbage"])
    assert message.endswith("; pass --resume with %s" % wanted)


@pytest.mark.parametrize("expect, wanted", [(RETRAIN, "a .ckpt written by train.py"),
                                            (SEARCH, "a search_epoch<N>.ckpt written by search.py")])
def test_missing_file_is_one_line(files, expect, wanted):
    message = one_line_error(lambda: read_checkpoint(files["missing"], expect=expect))
    assert message == "checkpoint file '%s' does not exist; pass --ckpt_path with %s" % (files["missing"], wanted)
    assert "does not exist" in one_line_error(lambda: read_checkpoint(None))


def test_broken_meta_is_one_line(files):
    assert "has a broken architecture entry (not JSON" in one_line_error(lambda: read_checkpoint(files["broken_meta"]))


def test_retrain_checkpoint_where_a_search_one_is_expected(files):
    message = one_line_error(lambda: read_checkpoint(files["retrain"]).require(SEARCH, purpose="search --resume"))
    assert ("is a checkpoint written by train.py, which search --resume cannot use; pass a search_epoch<N>.ckpt "
            "written by search.py; evaluate this one with eval.py --ckpt_path") in message


def test_modelzoo_checkpoint_where_a_search_one_is_expected(files):
    message = one_line_error(lambda: read_checkpoint(files["modelzoo"]).require(SEARCH, purpose="decode.py"))
    assert "ModelZoo port" in message and "which decode.py cannot use; pass a search_epoch<N>.ckpt" in message
    assert message.endswith("evaluate this one with eval.py --variant modelzoo --ckpt_path")


def test_search_checkpoint_where_weights_are_expected(files):
    message = one_line_error(lambda: read_checkpoint(files["search"]).require(RETRAIN, MODELZOO, purpose="eval.py"))
    assert "is a search_epoch<N>.ckpt written by search.py, which eval.py cannot use; decode it first" in message


def test_search_checkpoint_without_its_meta_entry(files):
    ckpt = read_checkpoint(files["search_without_meta"], expect=SEARCH)
    assert ckpt.kind == SEARCH and ckpt.meta == {}
    message = one_line_error(lambda: ckpt.require(SEARCH, purpose="search.py --resume"))
    assert "is not a search checkpoint (alphas and betas but no search_meta entry)" in message
