"""Scores as a JSON file, written under a temporary name and renamed when complete."""
import json
import math
import os

from src.fileio import atomic_write


def _json_safe(value):
    """NaN (an undefined IoU) becomes null: JSON has no NaN."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    return value


def save_json(path, data):
    """Write ``data`` to ``path`` as indented JSON, atomically."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_write(path) as f:
        json.dump(_json_safe(data), f, indent=2, allow_nan=False)
    return path
