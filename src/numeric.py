"""Numpy helpers shared by several stages (no MindSpore import)."""
import numpy as np


def softmax(logits, axis=-1, mask=None):
    """Numerically stable softmax along ``axis`` (float inputs keep their dtype).

    With ``mask`` (broadcastable boolean), only the entries where it is true take part; the others
    get 0, and a slice with no true entry is all 0.
    """
    logits = np.asarray(logits)
    if not np.issubdtype(logits.dtype, np.floating):
        logits = logits.astype(np.float64)
    if mask is None:
        shifted = logits - logits.max(axis=axis, keepdims=True)
        np.exp(shifted, out=shifted)
        shifted /= shifted.sum(axis=axis, keepdims=True)
        return shifted
    masked = np.where(mask, logits, -np.inf)
    peak = masked.max(axis=axis, keepdims=True)
    peak = np.where(np.isfinite(peak), peak, 0.0)
    exp = np.where(mask, np.exp(masked - peak), 0.0)
    total = exp.sum(axis=axis, keepdims=True)
    return np.divide(exp, total, out=np.zeros_like(exp), where=total > 0)
