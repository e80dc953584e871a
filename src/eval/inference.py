"""Test-time inference around any forward function: multi-scale, horizontal flip, sliding window.

The forward function maps a normalised float32 batch (1, 3, h, w) to logits (1, C, h, w) as numpy,
so the same code serves a MindSpore network, a MINDIR graph or an ONNX Runtime session.
Probabilities (softmax) of every scale and flip are resized back to the input size and averaged,
as in DeepLab's multi-scale evaluation.
"""
import cv2
import numpy as np


def softmax(logits, axis=0):
    """Numerically stable softmax (float32)."""
    shifted = logits - logits.max(axis=axis, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=axis, keepdims=True)
    return shifted


def resize_chw(array, height, width):
    """Bilinear resize of a (C, H, W) float array (half-pixel centres, as cv2)."""
    if array.shape[1:] == (height, width):
        return array
    channels = [cv2.resize(np.ascontiguousarray(channel), (width, height), interpolation=cv2.INTER_LINEAR)
                for channel in array]
    return np.stack(channels)


def window_starts(length, window, stride):
    """Start offsets of windows covering 0..length with the last window flush with the end."""
    if length <= window:
        return [0]
    starts = list(range(0, length - window, stride))
    return starts + [length - window]


def sliding_window_probabilities(forward, image, crop_size, overlap=1.0 / 3.0):
    """Class probabilities (C, H, W) of a (3, H, W) image from crop_size x crop_size windows.

    Windows overlap by ``overlap`` of their size; an image smaller than a window is padded with
    zeros (the mean after normalisation) and the padding cut off again.
    """
    _, height, width = image.shape
    stride = max(1, int(crop_size * (1.0 - overlap)))
    padded_h, padded_w = max(height, crop_size), max(width, crop_size)
    padded = np.zeros((3, padded_h, padded_w), np.float32)
    padded[:, :height, :width] = image
    total, counts = None, np.zeros((padded_h, padded_w), np.float32)
    for y in window_starts(padded_h, crop_size, stride):
        for x in window_starts(padded_w, crop_size, stride):
            crop = padded[None, :, y:y + crop_size, x:x + crop_size]
            probabilities = softmax(forward(crop)[0])
            if total is None:
                total = np.zeros((probabilities.shape[0], padded_h, padded_w), np.float32)
            total[:, y:y + crop_size, x:x + crop_size] += probabilities
            counts[y:y + crop_size, x:x + crop_size] += 1.0
    return (total / counts)[:, :height, :width]


class ScaleFlipInference:
    """Averaged class probabilities over scales and flips; optionally windowed.

    ``forward(batch) -> logits`` with batch (1, 3, h, w) float32 numpy.
    """

    def __init__(self, forward, scales=(1.0,), flip=False, sliding_window=False, crop_size=None):
        if sliding_window and not crop_size:
            raise ValueError("sliding_window needs crop_size")
        self.forward = forward
        self.scales = tuple(scales)
        self.flip = flip
        self.sliding_window = sliding_window
        self.crop_size = crop_size

    def _single(self, image):
        if self.sliding_window:
            return sliding_window_probabilities(self.forward, image, self.crop_size)
        return softmax(self.forward(np.ascontiguousarray(image[None]))[0])

    def probabilities(self, image):
        """(C, H, W) float32 class probabilities of one normalised (3, H, W) image."""
        image = np.asarray(image, np.float32)
        _, height, width = image.shape
        total = None
        for scale in self.scales:
            size = (max(1, int(height * scale + 0.5)), max(1, int(width * scale + 0.5)))
            scaled = resize_chw(image, *size)
            views = [(scaled, False)] + ([(scaled[:, :, ::-1], True)] if self.flip else [])
            for view, flipped in views:
                probabilities = self._single(np.ascontiguousarray(view))
                if flipped:
                    probabilities = probabilities[:, :, ::-1]
                probabilities = resize_chw(np.ascontiguousarray(probabilities), height, width)
                total = probabilities if total is None else total + probabilities
        return total / (len(self.scales) * (2 if self.flip else 1))

    def predict(self, image):
        """(H, W) uint8 trainId map of one normalised (3, H, W) image."""
        if len(self.scales) == 1 and self.scales[0] == 1.0 and not self.flip and not self.sliding_window:
            return np.argmax(self.forward(np.ascontiguousarray(np.asarray(image, np.float32)[None]))[0],
                             axis=0).astype(np.uint8)
        return np.argmax(self.probabilities(image), axis=0).astype(np.uint8)
