"""Flip, multi-scale and sliding-window inference with numpy stand-ins for the network."""
import numpy as np
import pytest

from src.eval.inference import ScaleFlipInference, softmax, window_starts

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


def test_predict_is_the_argmax_of_the_probabilities():
    image = RNG.normal(size=(3, 12, 20)).astype(np.float32)
    tti = ScaleFlipInference(per_pixel_forward, scales=(0.75, 1.0), flip=True)
    labels = tti.predict(image)
    assert labels.dtype == np.uint8 and labels.shape == (12, 20)
    assert np.array_equal(labels, tti.probabilities(image).argmax(axis=0))
    assert np.array_equal(ScaleFlipInference(per_pixel_forward).predict(image),
                          softmax(per_pixel_forward(image[None])[0]).argmax(axis=0))
