"""The retrain network (Auto-DeepLab-S/M/L and decoded architectures)."""
from src.model.autodeeplab import AutoDeepLab, build_model

__all__ = ["AutoDeepLab", "build_model"]
