"""The one place that resizes feature maps bilinearly (align_corners=True), as in DeepLab.

Every bilinear resize of the network goes through ``resize_bilinear``. Two formulations:

- ``ops.interpolate`` (ResizeBilinearV2): the default, 2-5x faster on CPU;
- two MatMuls with precomputed interpolation matrices (rows: output pixels, two non-zero weights
  each): used inside ``exportable_resize()``, because MindSpore 2.10 cannot export
  ResizeBilinearV2 to ONNX. Both give the same values (float rounding only).

The retrain network's cells hold a ``BilinearResize``: on CPU it runs the C++ kernels of
src/kernels/resize_bilinear.cc, 2-3x faster than MindSpore's ResizeBilinearV2 and its gradient.
"""
import contextlib

import mindspore as ms
import mindspore.nn as nn
import mindspore.ops as ops
import numpy as np

from src.kernels import cpu_kernel_library

_state = {"matmul": False}


def scale_dimension(dim, scale):
    """DeepLab's size rule: odd d -> int((d - 1) * s + 1), even d -> int(d * s)."""
    if dim % 2 == 1:
        return int((dim - 1.0) * scale + 1.0)
    return int(dim * scale)


def interpolation_matrix(in_size, out_size):
    """(out_size, in_size) float32 matrix of 1-D linear interpolation with align_corners=True."""
    matrix = np.zeros((out_size, in_size), np.float32)
    if in_size == 1 or out_size == 1:
        matrix[:, 0] = 1.0
        return matrix
    position = np.arange(out_size) * ((in_size - 1.0) / (out_size - 1.0))
    lower = np.minimum(np.floor(position).astype(np.int64), in_size - 1)
    upper = np.minimum(lower + 1, in_size - 1)
    weight = (position - lower).astype(np.float32)
    rows = np.arange(out_size)
    np.add.at(matrix, (rows, lower), 1.0 - weight)
    np.add.at(matrix, (rows, upper), weight)
    return matrix


@contextlib.contextmanager
def exportable_resize():
    """Networks traced (compiled or exported) inside this block resize with MatMuls."""
    previous = _state["matmul"]
    _state["matmul"] = True
    try:
        yield
    finally:
        _state["matmul"] = previous


def resize_bilinear_matmul(x, size):
    """``resize_bilinear`` as A_h @ x @ A_w^T, computed as ((x @ A_w^T)^T @ A_h^T)^T over the last two axes.

    Exports to ONNX as MatMul, Transpose, MatMul, Transpose; the constant matrix is always the
    second MatMul operand, which OpenCV DNN (4.6) requires.
    """
    rows_t = ms.Tensor(np.ascontiguousarray(interpolation_matrix(x.shape[2], size[0]).T))
    columns_t = ms.Tensor(np.ascontiguousarray(interpolation_matrix(x.shape[3], size[1]).T))
    y = ops.matmul(x, columns_t).transpose(0, 1, 3, 2)
    return ops.matmul(y, rows_t).transpose(0, 1, 3, 2)


def same_size(x, size):
    """Whether NCHW ``x`` already has spatial size ``size`` = (H, W)."""
    return x.shape[2] == size[0] and x.shape[3] == size[1]


def resize_bilinear(x, size):
    """Bilinear resize of an NCHW tensor to ``size`` = (H, W), align_corners=True.

    Returns ``x`` itself when it already has that size (an align_corners resize to the same
    size is the identity)."""
    size = (int(size[0]), int(size[1]))
    if same_size(x, size):
        return x
    if _state["matmul"]:
        return resize_bilinear_matmul(x, size)
    return ops.interpolate(x, size=size, mode="bilinear", align_corners=True)


class CpuBilinearResize(nn.Cell):
    """``resize_bilinear`` and its gradient by the C++ kernels of src/kernels/resize_bilinear.cc.

    MindSpore registers a custom op's shape function once per kernel name, so the output size
    reaches the kernel as the shape of a small (H, W) tensor."""

    def __init__(self, library):
        super().__init__()
        self.resize = ops.Custom(library + ":ResizeBilinear",
                                 out_shape=lambda x, size: (x[0], x[1], size[0], size[1]),
                                 out_dtype=lambda x, size: x, func_type="aot")
        self.grad = ops.Custom(library + ":ResizeBilinearGrad", out_shape=lambda dout, x: x,
                               out_dtype=lambda dout, x: x, func_type="aot")

    def construct(self, x, size):
        return self.resize(x, ops.zeros(size, x.dtype))

    def bprop(self, x, size, out, dout):
        return self.grad(dout, x), size


class BilinearResize(nn.Cell):
    """``resize_bilinear`` as a cell, which on CPU (when the C++ kernels build) runs
    ``CpuBilinearResize``: same values, same gradients (tested), 2-3x faster."""

    def __init__(self):
        super().__init__()
        library = cpu_kernel_library("resize_bilinear")
        self.use_cpu_kernel = library is not None
        if self.use_cpu_kernel:
            self.cpu_kernel = CpuBilinearResize(library)

    def construct(self, x, size):
        if self.use_cpu_kernel and not _state["matmul"] and not same_size(x, size):
            return self.cpu_kernel(x, size)
        return resize_bilinear(x, size)
