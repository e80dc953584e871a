"""Build a C++ kernel library of this folder on first use, once per source and CPU.

The library is compiled by the host's g++ (or $CXX) for the host CPU (-march=native) into a cache
folder ($AUTODEEPLAB_KERNEL_CACHE, default ~/.cache/autodeeplab/kernels), named by a hash of the
source and the headers, the flags and the CPU's feature flags: an edited source or another CPU gets its own build.
Some kernels link a library: dense_conv.cc calls the SGEMM of the OpenBLAS that numpy's wheels
bundle (numpy.libs/libopenblas64_*.so), the matmul that numpy itself runs. Without a compiler, without
that library, with an unwritable cache folder, or if the build fails, ``kernel_library`` warns once
and returns None and the callers keep MindSpore's own kernels. AUTODEEPLAB_CPU_KERNELS=0 turns the
kernels off (A/B tests).
"""
import functools
import glob
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
CXX_FLAGS = ("-O3", "-march=native", "-fopenmp-simd", "-shared", "-fPIC", "-pthread")
CACHE_VAR = "AUTODEEPLAB_KERNEL_CACHE"
SWITCH_VAR = "AUTODEEPLAB_CPU_KERNELS"


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
    path = os.path.join(cache_dir(), f"lib{name}_{key.hexdigest()[:16]}.so")
    if os.path.isfile(path):
        return path
    try:
        os.makedirs(cache_dir(), exist_ok=True)
        handle, temporary = tempfile.mkstemp(suffix=".so", dir=cache_dir())
    except OSError as exc:
        warnings.warn(f"cannot write the kernel cache {cache_dir()} ({exc.strerror}), so MindSpore's "
                      f"slower kernels run instead; set {CACHE_VAR} to a writable folder", stacklevel=2)
        return None
    os.close(handle)
    build = subprocess.run([compiler, *CXX_FLAGS, source, *link, "-o", temporary], capture_output=True, text=True)
    if build.returncode != 0:
        os.remove(temporary)
        warnings.warn(f"building {source} failed, so MindSpore's slower kernels run instead:\n"
                      f"{build.stderr[-2000:]}", stacklevel=2)
        return None
    os.replace(temporary, path)
    return path
