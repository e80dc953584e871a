"""Dropout and drop-path noise: a function of (seed, stream, step), in both modes, with the right gradient."""
import subprocess
import sys

import mindspore as ms
import numpy as np
import pytest
from mindspore import Tensor

from src.layers.dropout import Dropout, StepNoise

pytestmark = pytest.mark.usefixtures("global_seed")  # the masks' bounds below hold for seed 0


def noise(stream, step, shape=(3, 64, 33, 33)):
    return StepNoise(stream)(Tensor(np.zeros(shape, np.float32)), Tensor(step, ms.int32)).asnumpy()


def test_noise_is_uniform_and_a_function_of_stream_and_step():
    first = noise(1, 7)
    assert first.dtype == np.float32 and first.shape == (3, 64, 33, 33)
    assert 0.0 <= first.min() and first.max() < 1.0
    assert abs(first.mean() - 0.5) < 0.01 and abs(first.var() - 1 / 12) < 0.005
    np.testing.assert_array_equal(noise(1, 7), first)
    assert (noise(1, 8) != first).mean() > 0.99
    assert (noise(2, 7) != first).mean() > 0.99


def test_noise_repeats_across_processes():
    """What MindSpore's CPU Dropout does not: a new process draws the same numbers (its masks
    differ run to run from the second call on; docs/cpu.md, Reproducibility)."""
    code = ("import numpy as np, mindspore as ms, src.layers.dropout as d;"
            "n = d.StepNoise(3);"
            "x = ms.Tensor(np.zeros((2, 8, 40, 40), np.float32));"
            "print(sum(float(n(x, ms.Tensor(s, ms.int32)).asnumpy().astype(np.float64).sum()) for s in range(5)))")
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
            for _ in range(2)}
    expected = sum(noise(3, s, (2, 8, 40, 40)).astype(np.float64).sum() for s in range(5))
    assert runs == {f"{expected}\n"}


@pytest.mark.parametrize("mode", ["pynative_mode", "graph_mode"])
def test_dropout_masks_scales_and_passes_the_gradient_through_the_mask(mode, request):
    request.getfixturevalue(mode)
    drop = Dropout(0.5, stream=1)
    drop.set_train(True)
    x = Tensor(np.ones((4, 32, 20, 20), np.float32))
    step = Tensor(3, ms.int32)
    out = drop(x, step).asnumpy()
    assert set(np.unique(out)) == {0.0, 2.0} and abs((out > 0).mean() - 0.5) < 0.02
    np.testing.assert_array_equal(out, (noise(1, 3, x.shape) < 0.5) * 2.0)

    def loss(v):
        return (drop(v, step) * 3.0).sum()

    grad = ms.grad(loss)(x).asnumpy()
    np.testing.assert_array_equal(grad, out * 3.0)
    drop.set_train(False)
    np.testing.assert_array_equal(drop(x, step).asnumpy(), x.asnumpy())
