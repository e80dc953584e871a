"""The predictor names the problem with a model file before any inference."""
import pytest

import src  # noqa: F401  (CPU set-up before mindspore)
from src.config import load_config
from src.deploy.predictor import Predictor, backend_kind
from src.errors import UserError


@pytest.mark.parametrize("name,kind", [("a.ckpt", "checkpoint"), ("b.MINDIR", "MINDIR"), ("c.onnx", "ONNX")])
def test_backend_follows_the_extension(tmp_path, name, kind):
    (tmp_path / name).write_bytes(b"x")
    assert backend_kind(str(tmp_path / name)) == kind


def test_unknown_extension_and_missing_file_are_named(tmp_path):
    (tmp_path / "model.pb").write_bytes(b"x")
    with pytest.raises(UserError, match=r"model\.pb.*\.ckpt.*\.mindir.*\.onnx"):
        backend_kind(str(tmp_path / "model.pb"))
    with pytest.raises(UserError, match="gone.onnx' does not exist"):
        backend_kind(str(tmp_path / "gone.onnx"))


@pytest.mark.parametrize("name,what", [("bad.onnx", "not an ONNX model"), ("bad.mindir", "not a MINDIR file")])
def test_a_corrupt_export_is_named(tmp_path, name, what):
    (tmp_path / name).write_text("this is not a model")
    with pytest.raises(UserError, match=what) as error:
        Predictor(str(tmp_path / name), load_config(None, {}))
    assert name in str(error.value)


def test_test_time_options_need_a_checkpoint(tmp_path):
    (tmp_path / "m.onnx").write_text("x")
    with pytest.raises(UserError, match="need a checkpoint"):
        Predictor(str(tmp_path / "m.onnx"), load_config(None, {"flip": True}))
