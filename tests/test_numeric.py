"""softmax: the definition exp(x_i) / sum_j exp(x_j), stable for large logits, masked entries 0."""
import math

import numpy as np

from src.numeric import softmax


def test_softmax_is_the_definition_along_the_axis():
    logits = np.array([[0.0, 1.0, 2.0], [3.0, 3.0, 3.0]], np.float32)
    by_hand = [[math.exp(v) / sum(math.exp(w) for w in row) for v in row] for row in logits.tolist()]
    np.testing.assert_allclose(softmax(logits, axis=1), by_hand, rtol=1e-6)
    np.testing.assert_allclose(softmax(logits.T, axis=0), np.array(by_hand).T, rtol=1e-6)
    assert softmax(logits).dtype == np.float32  # float32 maps stay float32 (19 x 1024 x 2048)


def test_softmax_of_huge_logits_is_finite():
    out = softmax(np.array([1000.0, 1000.0, -1000.0]))
    np.testing.assert_allclose(out, [0.5, 0.5, 0.0], atol=1e-12)


def test_softmax_of_integers_is_float():
    np.testing.assert_allclose(softmax(np.array([0, 0])), [0.5, 0.5])


def test_masked_softmax_normalises_over_the_true_entries_only():
    logits = np.array([[1.0, 2.0, 50.0], [4.0, 5.0, 6.0]])
    mask = np.array([[True, True, False], [False, False, False]])
    out = softmax(logits, mask=mask)
    e = math.exp(1.0)
    np.testing.assert_allclose(out[0], [1 / (1 + e), e / (1 + e), 0.0])
    assert (out[1] == 0).all()  # no entry takes part: all zero, no nan
