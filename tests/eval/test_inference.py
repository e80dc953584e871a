"""Flip, multi-scale and sliding-window inference with numpy stand-ins for the network."""
import numpy as np
import pytest

from src.eval.inference import ScaleFlipInference, window_starts

RNG = np.random.default_rng(0)
PIXEL_WEIGHTS = RNG.normal(size=(5, 3)).astype(np.float32)


def per_pixel_forward(batch):
    """A 1x1 convolution: each pixel's logits depend on that pixel only."""
    return np.einsum("kc,nchw->nkhw", PIXEL_WEIGHTS, batch)


def left_right_forward(batch):
    """Class 0 on the left half, class 1 on the right half, whatever the image."""
    n, _, h, w = batch.shape
    logits = np.zeros((n, 2, h, w), np.float32)
    logits[:, 0, :, : w // 2] = 10.0
    logits[:, 1, :, w // 2:] = 10.0
    return logits


def test_window_starts_cover_the_length_with_the_last_window_flush():
    assert window_starts(10, 4, 3) == [0, 3, 6]
    assert window_starts(11, 4, 3) == [0, 3, 6, 7]
    assert window_starts(3, 4, 3) == [0]


@pytest.mark.parametrize("height,width,crop", [(37, 53, 16), (9, 70, 16), (10, 10, 16)])
def test_sliding_window_equals_whole_image_for_a_per_pixel_network(height, width, crop):
    image = RNG.normal(size=(3, height, width)).astype(np.float32)
    whole = ScaleFlipInference(per_pixel_forward).probabilities(image)
    windowed = ScaleFlipInference(per_pixel_forward, sliding_window=True, crop_size=crop).probabilities(image)
    assert windowed.shape == (5, height, width)
    np.testing.assert_allclose(windowed, whole, atol=1e-6)


def test_flip_averages_the_mirrored_prediction():
    image = np.zeros((3, 4, 6), np.float32)
    plain = ScaleFlipInference(left_right_forward).probabilities(image)
    flipped = ScaleFlipInference(left_right_forward, flip=True).probabilities(image)
    assert plain[0, 0, 0] > 0.99
    np.testing.assert_allclose(flipped, 0.5, atol=1e-4)


def test_multi_scale_keeps_a_per_pixel_prediction_on_a_smooth_image():
    yy, xx = np.mgrid[0:40, 0:60].astype(np.float32)
    image = np.stack([yy / 40, xx / 60, (yy + xx) / 100]).astype(np.float32)
    single = ScaleFlipInference(per_pixel_forward).probabilities(image)
    multi = ScaleFlipInference(per_pixel_forward, scales=(0.5, 1.0, 1.5)).probabilities(image)
    assert multi.shape == single.shape
    np.testing.assert_allclose(multi, single, atol=0.02)
    np.testing.assert_allclose(multi.sum(axis=0), 1.0, atol=1e-5)


def asymmetric_forward(batch):
    """Class 0 at logit 10 on the left half, class 1 at logit 6 on the right half, whatever the image:
    alone it labels the halves 0 and 1; averaged with its mirror image, class 0 wins everywhere
    (p0 = (1.0000 + 0.0025) / 2 > 1/2 on either half)."""
    n, _, h, w = batch.shape
    logits = np.zeros((n, 2, h, w), np.float32)
    logits[:, 0, :, : w // 2] = 10.0
    logits[:, 1, :, w // 2:] = 6.0
    return logits


def test_predict_is_the_argmax_of_the_probabilities():
    """Labels against hand-computed ones: plain, and flip (which only the averaged probabilities get
    right: the plain forward's argmax would keep the right half at class 1)."""
    image = np.zeros((3, 4, 6), np.float32)
    halves = np.repeat([[0, 0, 0, 1, 1, 1]], 4, axis=0)
    plain = ScaleFlipInference(asymmetric_forward).predict(image)
    assert plain.dtype == np.uint8 and plain.shape == (4, 6)
    assert np.array_equal(plain, halves)
    assert np.array_equal(ScaleFlipInference(asymmetric_forward, flip=True).predict(image), np.zeros((4, 6)))
    assert np.array_equal(ScaleFlipInference(asymmetric_forward, sliding_window=True, crop_size=6).predict(image),
                          halves)
    # A per-pixel network: the labels are numpy's argmax of its logits, whatever the options.
    image = RNG.normal(size=(3, 12, 20)).astype(np.float32)
    expected = np.einsum("kc,chw->khw", PIXEL_WEIGHTS, image).argmax(axis=0)
    assert np.array_equal(ScaleFlipInference(per_pixel_forward).predict(image), expected)
    assert np.array_equal(ScaleFlipInference(per_pixel_forward, flip=True).predict(image), expected)