"""The dense conv kernel gives bitwise the same result whatever runs beside it.

The library is called directly (ctypes releases the GIL), from several threads at once: then the
calls compete for the kernel's worker pool and for the cores, as MindSpore's concurrent kernel
launches and the data workers make them do in training. OpenBLAS's own threading gave results that
depended on such timing; the kernel's fixed split of its GEMMs must not."""
import ctypes
import threading

import numpy as np
import pytest

from src.kernels import cpu_kernel_library

# (x or dy shape, weight shape, dilation): blocks of pixels, of summed pixels, the few-pixels path
SHAPES = [((2, 64, 70, 66), (64, 64, 3, 3), 1), ((2, 128, 66, 70), (128, 128, 1, 1), 1),
          ((2, 64, 30, 30), (64, 64, 3, 3), 12)]


class DenseConvLibrary:
    """The kernel's C entry points on numpy arrays, in MindSpore's AOT calling convention."""

    def __init__(self):
        self.lib = ctypes.CDLL(cpu_kernel_library("dense_conv"))

    def call(self, name, inputs, output):
        arrays = [np.ascontiguousarray(a) for a in inputs] + [output]
        params = (ctypes.c_void_p * len(arrays))(*[a.ctypes.data for a in arrays])
        shape_arrays = [(ctypes.c_int64 * max(a.ndim, 1))(*(a.shape or (1,))) for a in arrays]
        shapes = (ctypes.POINTER(ctypes.c_int64) * len(arrays))(
            *[ctypes.cast(s, ctypes.POINTER(ctypes.c_int64)) for s in shape_arrays])
        ndims = (ctypes.c_int * len(arrays))(*[max(a.ndim, 1) for a in arrays])
        status = getattr(self.lib, name)(len(arrays), params, ndims, shapes, None, None, None)
        assert status == 0
        return output

    def all_outputs(self, x, weight, dilation, dy):
        """Forward, input gradient and weight gradient of one conv."""
        d = np.array([dilation], np.int64)
        forward = self.call("DenseConvForward", [x, weight, d], np.empty(dy.shape, np.float32))
        input_grad = self.call("DenseConvInputGrad", [dy, weight, d], np.empty(x.shape, np.float32))
        weight_grad = self.call("DenseConvWeightGrad", [dy, x, weight, d], np.empty(weight.shape, np.float32))
        return forward, input_grad, weight_grad


@pytest.mark.parametrize("x_shape, w_shape, dilation", SHAPES)
def test_same_bits_alone_and_under_concurrent_calls(x_shape, w_shape, dilation):
    library = DenseConvLibrary()
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape, dtype=np.float32)
    weight = rng.standard_normal(w_shape, dtype=np.float32)
    dy = rng.standard_normal((x_shape[0], w_shape[0]) + x_shape[2:], dtype=np.float32)
    alone = library.all_outputs(x, weight, dilation, dy)
    results, errors = [], []

    def worker():
        try:
            for _ in range(3):
                results.append(library.all_outputs(x, weight, dilation, dy))
        except Exception as exc:  # reported below: an assertion in a thread would be lost
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(results) == 9
    for outputs in results:
        for got, want in zip(outputs, alone):
            assert np.array_equal(got, want)
