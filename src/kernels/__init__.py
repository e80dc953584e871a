"""C++ CPU kernels for operations whose MindSpore 2.10 CPU kernels are slow (built on first use)."""
from src.kernels.build import kernel_library
from src.kernels.dispatch import cpu_kernel_library, portable_ops

__all__ = ["cpu_kernel_library", "kernel_library", "portable_ops"]
