"""C++ CPU kernels for operations whose MindSpore 2.10 CPU kernels are slow (built on first use)."""
from src.kernels.build import kernel_library

__all__ = ["kernel_library"]
