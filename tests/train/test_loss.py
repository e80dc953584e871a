"""OHEM and plain cross-entropy (README, Retrain) against NumPy references, run in graph mode."""
import math

import numpy as np
import pytest

import src  # noqa: F401  (CPU set-up before mindspore)
import mindspore as ms
from mindspore import Tensor

from src.config import load_config
from src.train.loss import CrossEntropyLoss, OhemCrossEntropyLoss, build_loss, ohem_min_kept

IGNORE = 255




def pixel_losses(logits, labels):
    """-log softmax(logits)[label] of the non-ignored pixels (float64)."""
    logits = logits.astype(np.float64).transpose(0, 2, 3, 1).reshape(-1, logits.shape[1])
    labels = labels.reshape(-1)
    valid = labels != IGNORE
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_prob = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -log_prob[valid, labels[valid]]


def ohem_reference(logits, labels, thresh, n_min):
    loss = pixel_losses(logits, labels)
    hard = np.exp(-loss) < thresh
    if hard.sum() >= n_min:
        return loss[hard].mean(), "hard"
    return np.sort(loss)[::-1][:n_min].mean(), "top-k"


def random_batch(rng, confident, ignored_fraction=0.3, shape=(2, 5, 12, 12)):
    """Random logits; ``confident`` pushes the true class up so most pixels become easy."""
    n, c, h, w = shape
    labels = rng.integers(0, c, size=(n, h, w))
    logits = rng.normal(size=shape)
    if confident:
        onehot = np.eye(c)[labels].transpose(0, 3, 1, 2)
        logits = logits + 4.0 * onehot
    labels = np.where(rng.random((n, h, w)) < ignored_fraction, IGNORE, labels)
    return logits.astype(np.float32), labels.astype(np.int32)


def run(loss, logits, labels):
    return float(loss(Tensor(logits), Tensor(labels)).asnumpy())


@pytest.mark.parametrize("confident,branch", [(False, "hard"), (True, "top-k")])
def test_ohem_matches_numpy_on_both_branches(graph_mode, confident, branch):
    rng = np.random.default_rng(1 if confident else 2)
    logits, labels = random_batch(rng, confident)
    n_min = ohem_min_kept(2, 12) * 2  # 36 pixels of the ~200 valid ones
    expected, used = ohem_reference(logits, labels, 0.7, n_min)
    assert used == branch
    assert run(OhemCrossEntropyLoss(n_min, 0.7, IGNORE), logits, labels) == pytest.approx(expected, rel=1e-5)


def test_ohem_ignored_pixels_never_count(graph_mode):
    rng = np.random.default_rng(3)
    logits, labels = random_batch(rng, confident=True, ignored_fraction=0.9)
    valid = int((labels != IGNORE).sum())
    n_min = valid + 20  # more than the valid pixels: the mean runs over the valid ones only
    loss = OhemCrossEntropyLoss(n_min, 0.7, IGNORE)
    assert run(loss, logits, labels) == pytest.approx(pixel_losses(logits, labels).mean(), rel=1e-5)
    # Garbage logits at ignored pixels change nothing.
    noisy = np.where((labels == IGNORE)[:, None], 50.0 * rng.normal(size=logits.shape), logits).astype(np.float32)
    assert run(loss, noisy, labels) == pytest.approx(run(loss, logits, labels), rel=1e-6)


def test_ohem_threshold_is_probability_not_loss(graph_mode):
    """thresh 0.7 is a true-class probability: pixels at p 0.6 and 0.45 are hard (losses 0.51 and
    0.80), the one at p 0.8 is not. With min_kept 1 the loss is the mean of the two hard ones; read
    as a loss (0.7) only the 0.80 one would be hard, and with no pixel hard the top-1 loss would be."""
    probabilities = [0.6, 0.45, 0.8]
    logits = np.zeros((1, 2, 1, 3), np.float32)
    logits[0, 0, 0, :] = [math.log(p / (1 - p)) for p in probabilities]  # class 0 (true) vs class 1 at 0
    labels = np.zeros((1, 1, 3), np.int32)
    value = run(OhemCrossEntropyLoss(1, 0.7, IGNORE), logits, labels)
    assert value == pytest.approx((-math.log(0.6) - math.log(0.45)) / 2, rel=1e-5)
    # Below the threshold only: at thresh 0.5 the 0.45 pixel alone is hard.
    assert run(OhemCrossEntropyLoss(1, 0.5, IGNORE), logits, labels) == pytest.approx(-math.log(0.45), rel=1e-5)


def test_plain_cross_entropy_ignores_label(graph_mode):
    rng = np.random.default_rng(4)
    logits, labels = random_batch(rng, confident=False)
    expected = pixel_losses(logits, labels).mean()
    assert run(CrossEntropyLoss(IGNORE), logits, labels) == pytest.approx(expected, rel=1e-5)


def test_ohem_gradient_flows_in_graph_mode(graph_mode):
    rng = np.random.default_rng(5)
    logits, labels = random_batch(rng, confident=True)
    grad = ms.grad(OhemCrossEntropyLoss(30, 0.7, IGNORE))(Tensor(logits), Tensor(labels)).asnumpy()
    assert np.isfinite(grad).all() and np.abs(grad).sum() > 0
    assert np.abs(grad.transpose(0, 2, 3, 1)[labels == IGNORE]).max() == 0.0


def test_build_loss_uses_per_device_batch_and_crop():
    cfg = load_config(None, {"batch_size": 2, "crop_size": 769})
    loss = build_loss(cfg)
    assert isinstance(loss, OhemCrossEntropyLoss)
    assert loss.min_kept == 2 * 769 * 769 // 16
    assert isinstance(build_loss(cfg.replace(criterion="ce")), CrossEntropyLoss)
