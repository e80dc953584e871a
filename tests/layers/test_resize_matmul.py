"""The ONNX-exportable MatMul bilinear resize equals ops.interpolate (align_corners=True)."""
import src  # noqa: F401  (CPU set-up before mindspore)

import mindspore as ms
import mindspore.ops as ops
import numpy as np
import pytest

from src.layers.resize import exportable_resize, interpolation_matrix, resize_bilinear, resize_bilinear_matmul


@pytest.mark.parametrize("in_size,out_size", [(1, 5), (5, 1), (4, 7), (7, 4), (9, 17), (17, 9), (6, 6)])
def test_interpolation_matrix_rows_are_convex_weights_hitting_the_corners(in_size, out_size):
    matrix = interpolation_matrix(in_size, out_size)
    assert matrix.shape == (out_size, in_size)
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0, rtol=1e-6)
    assert (np.count_nonzero(matrix, axis=1) <= 2).all()
    if in_size > 1 and out_size > 1:
        assert matrix[0, 0] == 1.0 and matrix[-1, -1] == 1.0


@pytest.mark.parametrize("shape,size", [((2, 3, 9, 17), (17, 33)), ((1, 4, 17, 33), (9, 17)),
                                        ((1, 2, 8, 16), (32, 64)), ((1, 3, 1, 1), (5, 7)),
                                        ((1, 2, 65, 97), (33, 49))])
def test_matmul_resize_equals_interpolate(shape, size, pynative_mode):
    x = ms.Tensor(np.random.default_rng(0).normal(size=shape).astype(np.float32))
    expected = ops.interpolate(x, size=size, mode="bilinear", align_corners=True).asnumpy()
    np.testing.assert_allclose(resize_bilinear_matmul(x, size).asnumpy(), expected, atol=1e-5)
    with exportable_resize():
        np.testing.assert_allclose(resize_bilinear(x, size).asnumpy(), expected, atol=1e-5)


def test_exportable_resize_is_scoped():
    from src.layers import resize

    with exportable_resize():
        assert resize._state["matmul"]
    assert not resize._state["matmul"]
