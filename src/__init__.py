"""Auto-DeepLab on MindSpore.

Importing the package applies the CPU convolution fix (see ``src.device.apply_cpu_isa_cap``) and
hides MindSpore's internal warnings (``src.device.quiet_mindspore_logs``) before any submodule can
import mindspore.
"""
from src.device import apply_cpu_isa_cap, quiet_mindspore_logs

apply_cpu_isa_cap()
quiet_mindspore_logs()
