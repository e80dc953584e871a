"""Which cells run the C++ CPU kernels: the device check at build time and the export switch.

A cell that can run a kernel of this folder holds ``use_cpu_kernel`` (set from
``cpu_kernel_library``) and falls back to MindSpore's own operator when it is False."""
import contextlib

import mindspore as ms

from src.kernels.build import kernel_library


def cpu_kernel_library(name):
    """The kernel library ``name`` when the device target is CPU and it builds, else None."""
    if ms.get_context("device_target") != "CPU":
        return None
    return kernel_library(name)


@contextlib.contextmanager
def portable_ops(net):
    """Inside the block every cell of ``net`` runs MindSpore's own operators, which MINDIR, ONNX,
    AIR and every backend know (the C++ kernels are CPU-only custom ops). It applies to graphs
    compiled inside the block (as ``ms.export`` does): a graph compiled before keeps its kernels."""
    cells = [cell for _, cell in net.cells_and_names() if getattr(cell, "use_cpu_kernel", False)]
    for cell in cells:
        cell.use_cpu_kernel = False
    try:
        yield net
    finally:
        for cell in cells:
            cell.use_cpu_kernel = True
