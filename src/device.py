"""Device set-up: the one place that knows about CPU/GPU/Ascend differences."""
import os

# oneDNN in MindSpore 2.10 picks a reference convolution (~300x slower) on AVX-512/AMX CPUs;
# capping the ISA at AVX2 makes it use the gemm:jit kernels. It must be set before the first
# `import mindspore`, and it has no effect on GPU/Ascend kernels, so it is applied always.
CPU_ISA_VAR = "ONEDNN_MAX_CPU_ISA"
CPU_ISA_CAP = "AVX2"


def apply_cpu_isa_cap():
    """Set ONEDNN_MAX_CPU_ISA=AVX2 unless the user chose a value; returns the value in force."""
    return os.environ.setdefault(CPU_ISA_VAR, CPU_ISA_CAP)
