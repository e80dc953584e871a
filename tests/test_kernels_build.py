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
