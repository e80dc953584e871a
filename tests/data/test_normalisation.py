"""normalise: (x/255 - mean) / std per channel with the ImageNet statistics, CHW float32."""
import numpy as np
import pytest

from src.data.normalisation import normalise

# ImageNet statistics as published with torchvision's pretrained models (RGB order).
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def test_rgb_is_imagenet_normalisation_in_chw():
    image = np.zeros((2, 3, 3), np.uint8)
    image[..., 0], image[..., 1], image[..., 2] = 255, 128, 0  # R, G, B
    out = normalise(image, "rgb")
    assert out.shape == (3, 2, 3) and out.dtype == np.float32 and out.flags.c_contiguous
    expected = [(255 / 255 - MEAN[0]) / STD[0], (128 / 255 - MEAN[1]) / STD[1], (0 - MEAN[2]) / STD[2]]
    np.testing.assert_allclose(out[:, 0, 0], expected, rtol=1e-5)


def test_bgr_applies_the_rgb_constants_to_bgr_pixels_as_the_modelzoo_port():
    image = np.zeros((1, 1, 3), np.uint8)
    image[..., 0] = 255  # pure red
    out = normalise(image, "bgr")[:, 0, 0]
    # channel 0 now holds blue (0) but is normalised with the red constants, channel 2 holds red.
    np.testing.assert_allclose(out, [(0 - MEAN[0]) / STD[0], (0 - MEAN[1]) / STD[1], (1 - MEAN[2]) / STD[2]],
                               rtol=1e-5)


def test_unknown_channel_order_is_refused():
    with pytest.raises(ValueError, match="channel_order"):
        normalise(np.zeros((1, 1, 3), np.uint8), "rbg")


def test_module_does_not_import_mindspore():
    import os
    import subprocess
    import sys

    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    code = "import sys; import src.data.normalisation, src.numeric; print('mindspore' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"
