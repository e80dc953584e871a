"""BilinearResize with the CPU kernels equals ops.interpolate, values and gradients."""
import numpy as np
import pytest

import mindspore as ms
import mindspore.ops as ops

from src.layers.resize import BilinearResize


@pytest.mark.parametrize("in_size,out_size", [((5, 7), (17, 9)), ((9, 9), (4, 6)), ((1, 3), (6, 5))])
def test_cpu_kernels_equal_interpolate(in_size, out_size, pynative_mode):
    resize = BilinearResize()
    assert resize.use_cpu_kernel
    rng = np.random.RandomState(sum(out_size))
    x = ms.Tensor(rng.randn(2, 3, *in_size).astype(np.float32))
    target = ms.Tensor(rng.randn(2, 3, *out_size).astype(np.float32))

    def reference(x):
        return (ops.interpolate(x, size=out_size, mode="bilinear", align_corners=True) * target).sum()

    def with_kernel(x):
        return (resize(x, out_size) * target).sum()

    expected = ops.interpolate(x, size=out_size, mode="bilinear", align_corners=True).asnumpy()
    np.testing.assert_allclose(resize(x, out_size).asnumpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ms.jit(resize.construct)(x, out_size).asnumpy(), expected, rtol=1e-5,
                               atol=1e-6)
    expected_loss, expected_grad = ms.value_and_grad(reference)(x)
    for run in (lambda fn: fn, ms.jit):
        loss, grad = run(ms.value_and_grad(with_kernel))(x)
        np.testing.assert_allclose(loss.asnumpy(), expected_loss.asnumpy(), rtol=1e-5)
        np.testing.assert_allclose(grad.asnumpy(), expected_grad.asnumpy(), rtol=1e-5, atol=1e-5)
    assert resize(x, in_size) is x
