"""Build a C++ kernel library of this folder on first use, once per source and CPU.

The library is compiled by the host's g++ (or $CXX) for the host CPU (-march=native) into a cache
folder ($AUTODEEPLAB_KERNEL_CACHE, default ~/.cache/autodeeplab/kernels), named by a hash of the
source and the headers, the flags and the CPU's feature flags: an edited source or another CPU gets its own build.
Some kernels link a library: dense_conv.cc calls the SGEMM of the OpenBLAS that numpy's wheels
bundle (numpy.libs/libopenblas64_*.so), the matmul that numpy itself runs. Without a compiler, without
that library, with an unwritable cache folder, or if the build fails, ``kernel_library`` warns once
and returns None and the callers keep MindSpore's own kernels. AUTODEEPLAB_CPU_KERNELS=0 turns the
kernels off (A/B tests).

Security: a library in the cache runs inside every training process, so the cache folder is
created 0700 and used only when it belongs to the user and no one else may write to it; a
library is loaded only if it is a regular file (not a symlink) whose SHA-256 matches the one
recorded next to it when it was built (else it is rebuilt).
"""
import functools
import glob
import hashlib
import os
import platform
import shutil
import stat
import subprocess
import warnings

from src.fileio import atomic_path, atomic_write

HERE = os.path.dirname(os.path.abspath(__file__))
CXX_FLAGS = ("-O3", "-march=native", "-fopenmp-simd", "-shared", "-fPIC", "-pthread")
CACHE_VAR = "AUTODEEPLAB_KERNEL_CACHE"
SWITCH_VAR = "AUTODEEPLAB_CPU_KERNELS"
HASH_SUFFIX = ".sha256"


def _cpu_signature():
    """The CPU feature flags (Linux), else the processor name: what -march=native depends on."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return line
    except OSError:
        pass
    return platform.processor()


def numpy_openblas():
    """Path of the ILP64 OpenBLAS bundled with numpy's manylinux wheels (symbols ``*64_``), or None."""
    import numpy
    libs = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(numpy.__file__))), "numpy.libs")
    found = sorted(glob.glob(os.path.join(libs, "libopenblas64_*.so")))
    return found[0] if found else None


# Kernel name -> (function returning the library it links, or None when missing; what to install).
LINKED = {"dense_conv": (numpy_openblas, "numpy's PyPI wheel, which bundles OpenBLAS (pip install numpy)")}


def _link_args(name):
    """Extra g++ arguments linking ``name``'s library (with an rpath to it), or None if missing."""
    if name not in LINKED:
        return []
    find, remedy = LINKED[name]
    library = find()
    if library is None:
        warnings.warn(f"the {name} CPU kernel needs {remedy}; MindSpore's slower kernels run instead",
                      stacklevel=3)
        return None
    return [library, "-Wl,-rpath," + os.path.dirname(library)]


def cache_dir():
    return os.environ.get(CACHE_VAR) or os.path.join(os.path.expanduser("~"), ".cache", "autodeeplab",
                                                     "kernels")


@functools.lru_cache(maxsize=None)
def kernel_library(name):
    """Absolute path of the shared library built from ``name``.cc, or None (see module docstring)."""
    if os.environ.get(SWITCH_VAR, "1") == "0":
        return None
    compiler = shutil.which(os.environ.get("CXX", "g++"))
    if compiler is None:
        warnings.warn(f"no C++ compiler found, so the CPU kernels of src/kernels ({name}) are off and "
                      "MindSpore's slower kernels run instead; install g++ (Debian: apt install g++) "
                      "or set CXX", stacklevel=2)
        return None
    link = _link_args(name)
    if link is None:
        return None
    source = os.path.join(HERE, name + ".cc")
    key = hashlib.sha256(" ".join(CXX_FLAGS + tuple(link)).encode() + _cpu_signature().encode())
    for path in [source] + sorted(glob.glob(os.path.join(HERE, "*.h"))):
        with open(path, "rb") as f:
            key.update(f.read())
    folder = cache_dir()
    path = os.path.join(folder, f"lib{name}_{key.hexdigest()[:16]}.so")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
    except OSError as exc:
        warnings.warn(f"cannot write the kernel cache {folder} ({exc.strerror}), so MindSpore's "
                      f"slower kernels run instead; set {CACHE_VAR} to a writable folder", stacklevel=2)
        return None
    problem = insecure_folder(folder)
    if problem:
        warnings.warn(f"the kernel cache {folder} {problem}, so a library planted there could run: it is not used "
                      f"and MindSpore's slower kernels run instead; chmod 700 it or set {CACHE_VAR} to a private "
                      "folder", stacklevel=2)
        return None
    if _verified(path):
        return path
    try:
        with atomic_path(path, keep_suffix=True) as temporary:
            build = subprocess.run([compiler, *CXX_FLAGS, source, *link, "-o", temporary], capture_output=True,
                                   text=True)
            if build.returncode != 0:
                raise _BuildFailed(build.stderr[-2000:])
            os.chmod(temporary, 0o700)
            with atomic_write(path + HASH_SUFFIX) as f:
                f.write(_sha256(temporary) + "\n")
    except _BuildFailed as failed:
        warnings.warn(f"building {source} failed, so MindSpore's slower kernels run instead:\n{failed}", stacklevel=2)
        return None
    except OSError as exc:
        warnings.warn(f"cannot write the kernel cache {folder} ({exc.strerror}), so MindSpore's "
                      f"slower kernels run instead; set {CACHE_VAR} to a writable folder", stacklevel=2)
        return None
    return path


class _BuildFailed(Exception):
    """g++ failed; the message is its stderr."""


def insecure_folder(folder):
    """Why loading libraries from ``folder`` is unsafe (another user owns it or may write to it), or None."""
    info = os.stat(folder)
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        return f"belongs to user id {info.st_uid}, not to you ({os.getuid()})"
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"is writable by other users (mode {stat.S_IMODE(info.st_mode):o})"
    return None


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verified(path):
    """Whether ``path`` is a regular file (no symlink) of ours whose SHA-256 matches the one recorded at build.

    A library without a recorded hash, or with another content, is rebuilt (with a warning for the latter)."""
    try:
        info = os.lstat(path)
        with open(path + HASH_SUFFIX, encoding="utf-8") as f:
            recorded = f.read().strip()
    except OSError:
        return False
    if not stat.S_ISREG(info.st_mode) or (hasattr(os, "getuid") and info.st_uid != os.getuid()):
        warnings.warn(f"{path} is not a regular file of yours (a symlink?); it is rebuilt", stacklevel=3)
        return False
    if _sha256(path) != recorded:
        warnings.warn(f"{path} differs from the library built there (SHA-256 mismatch); it is rebuilt", stacklevel=3)
        return False
    return True
