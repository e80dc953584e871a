"""Auto-DeepLab on MindSpore.

Importing the package applies the CPU convolution fix (see ``src.device.apply_cpu_isa_cap``)
before any submodule can import mindspore.
"""
from src.device import apply_cpu_isa_cap

apply_cpu_isa_cap()
