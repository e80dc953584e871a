"""The one place that resizes feature maps bilinearly (align_corners=True), as in DeepLab.

Every bilinear resize of the network goes through ``resize_bilinear`` so that an alternative
formulation (e.g. one that exports to ONNX) can be swapped in here alone.
"""
import mindspore.ops as ops


def scale_dimension(dim, scale):
    """DeepLab's size rule: odd d -> int((d - 1) * s + 1), even d -> int(d * s)."""
    if dim % 2 == 1:
        return int((dim - 1.0) * scale + 1.0)
    return int(dim * scale)


def resize_bilinear(x, size):
    """Bilinear resize of an NCHW tensor to ``size`` = (H, W), align_corners=True.

    Returns ``x`` itself when it already has that size (an align_corners resize to the same
    size is the identity)."""
    size = (int(size[0]), int(size[1]))
    if x.shape[2] == size[0] and x.shape[3] == size[1]:
        return x
    return ops.interpolate(x, size=size, mode="bilinear", align_corners=True)
