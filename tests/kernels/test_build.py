"""The C++ kernel library is built once per source and CPU, and its absence is handled."""
import os

import pytest

from src.kernels import build


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(build.CACHE_VAR, str(tmp_path))
    build.kernel_library.cache_clear()
    yield tmp_path
    build.kernel_library.cache_clear()


def test_built_once_into_the_cache(fresh_cache):
    path = build.kernel_library("depthwise_conv")
    assert os.path.dirname(path) == str(fresh_cache) and os.path.getsize(path) > 0
    built_at = os.path.getmtime(path)
    build.kernel_library.cache_clear()
    assert build.kernel_library("depthwise_conv") == path
    assert os.path.getmtime(path) == built_at
    assert [name for name in os.listdir(fresh_cache)] == [os.path.basename(path)]  # no temporaries left


def test_no_compiler_warns_and_returns_none(fresh_cache, monkeypatch):
    monkeypatch.setenv("CXX", "no-such-compiler")
    with pytest.warns(UserWarning, match="no C\\+\\+ compiler"):
        assert build.kernel_library("depthwise_conv") is None


def test_switched_off_by_the_environment(fresh_cache, monkeypatch):
    monkeypatch.setenv(build.SWITCH_VAR, "0")
    assert build.kernel_library("depthwise_conv") is None
    assert os.listdir(fresh_cache) == []


def test_dense_conv_links_numpys_openblas(fresh_cache):
    """The SGEMM kernel links the OpenBLAS of numpy's wheel, found by rpath at load time."""
    import ctypes

    path = build.kernel_library("dense_conv")
    openblas = build.numpy_openblas()
    assert path is not None and os.path.basename(openblas).startswith("libopenblas64_")
    with open(path, "rb") as f:
        assert os.path.basename(openblas).encode() in f.read()  # DT_NEEDED entry
    assert ctypes.CDLL(path).DenseConvForward


def test_missing_linked_library_warns_and_returns_none(fresh_cache, monkeypatch):
    monkeypatch.setitem(build.LINKED, "dense_conv", (lambda: None, "numpy's PyPI wheel"))
    with pytest.warns(UserWarning, match="dense_conv CPU kernel needs numpy's PyPI wheel"):
        assert build.kernel_library("dense_conv") is None
    assert os.listdir(fresh_cache) == []


def test_unwritable_cache_warns_and_returns_none(fresh_cache, monkeypatch):
    blocker = fresh_cache / "not_a_folder"
    blocker.write_text("")
    monkeypatch.setenv(build.CACHE_VAR, str(blocker / "kernels"))
    with pytest.warns(UserWarning, match="cannot write the kernel cache .*set AUTODEEPLAB_KERNEL_CACHE"):
        assert build.kernel_library("depthwise_conv") is None
