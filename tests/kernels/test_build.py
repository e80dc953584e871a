"""The C++ kernel library is built once per source and CPU, and its absence is handled."""
import os
import stat

import pytest

from src.kernels import build


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    cache = tmp_path / "kernels"
    monkeypatch.setenv(build.CACHE_VAR, str(cache))
    build.kernel_library.cache_clear()
    yield cache
    build.kernel_library.cache_clear()


def test_built_once_into_the_cache(fresh_cache):
    path = build.kernel_library("depthwise_conv")
    assert os.path.dirname(path) == str(fresh_cache) and os.path.getsize(path) > 0
    built_at = os.path.getmtime(path)
    build.kernel_library.cache_clear()
    assert build.kernel_library("depthwise_conv") == path
    assert os.path.getmtime(path) == built_at
    # no temporaries left; the hash recorded at build time sits beside the library
    assert sorted(os.listdir(fresh_cache)) == [os.path.basename(path), os.path.basename(path) + ".sha256"]


def test_no_compiler_warns_and_returns_none(fresh_cache, monkeypatch):
    monkeypatch.setenv("CXX", "no-such-compiler")
    with pytest.warns(UserWarning, match="no C\\+\\+ compiler"):
        assert build.kernel_library("depthwise_conv") is None


def test_switched_off_by_the_environment(fresh_cache, monkeypatch):
    monkeypatch.setenv(build.SWITCH_VAR, "0")
    assert build.kernel_library("depthwise_conv") is None
    assert not fresh_cache.exists() or os.listdir(fresh_cache) == []


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
    assert not fresh_cache.exists() or os.listdir(fresh_cache) == []


def test_unwritable_cache_warns_and_returns_none(fresh_cache, monkeypatch):
    fresh_cache.mkdir()
    blocker = fresh_cache / "not_a_folder"
    blocker.write_text("")
    monkeypatch.setenv(build.CACHE_VAR, str(blocker / "kernels"))
    with pytest.warns(UserWarning, match="cannot write the kernel cache .*set AUTODEEPLAB_KERNEL_CACHE"):
        assert build.kernel_library("depthwise_conv") is None


def test_cache_folder_is_private(fresh_cache):
    build.kernel_library("depthwise_conv")
    assert stat.S_IMODE(os.stat(fresh_cache).st_mode) == 0o700


@pytest.mark.parametrize("mode, message", [(0o777, "writable by other users"), (0o1777, "writable by other users"),
                                           (0o775, "writable by other users")])
def test_shared_cache_folder_is_refused(fresh_cache, mode, message):
    fresh_cache.mkdir()
    fresh_cache.chmod(mode)
    with pytest.warns(UserWarning, match=message + ".*not used.*chmod 700"):
        assert build.kernel_library("depthwise_conv") is None
    assert os.listdir(fresh_cache) == []


def test_cache_folder_of_another_user_is_refused(fresh_cache):
    if os.getuid() != 0:
        pytest.skip("changing a folder's owner needs root")
    fresh_cache.mkdir(mode=0o700)
    os.chown(fresh_cache, 65534, -1)
    with pytest.warns(UserWarning, match="belongs to user id 65534"):
        assert build.kernel_library("depthwise_conv") is None


def test_default_cache_mode_is_accepted(tmp_path):
    """A 0755 folder of the user (how ~/.cache/autodeeplab/kernels was made before) stays usable."""
    folder = tmp_path / "cache"
    folder.mkdir(mode=0o755)
    assert build.insecure_folder(str(folder)) is None


def test_planted_symlink_or_changed_library_is_rebuilt(fresh_cache, tmp_path):
    path = build.kernel_library("depthwise_conv")
    built = open(path, "rb").read()
    planted = tmp_path / "evil.so"
    planted.write_bytes(b"not the library")
    os.remove(path)
    os.symlink(planted, path)
    build.kernel_library.cache_clear()
    with pytest.warns(UserWarning, match="not a regular file of yours"):
        assert build.kernel_library("depthwise_conv") == path
    assert not os.path.islink(path) and open(path, "rb").read() == built
    assert planted.read_bytes() == b"not the library"
    with open(path, "r+b") as f:
        f.seek(100)
        f.write(b"\0patched")
    build.kernel_library.cache_clear()
    with pytest.warns(UserWarning, match="SHA-256 mismatch"):
        assert build.kernel_library("depthwise_conv") == path
    assert open(path, "rb").read() == built
