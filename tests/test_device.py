"""Device set-up: the CPU convolution fix is applied by the package and really selects fast kernels."""
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONV_SCRIPT = """
import src
import numpy as np
import mindspore as ms
ms.set_device("CPU")
ms.set_context(mode=ms.PYNATIVE_MODE)
conv = ms.nn.Conv2d(16, 16, 3, pad_mode="same", has_bias=False)
print("out", conv(ms.Tensor(np.ones((1, 16, 24, 24), np.float32))).shape)
"""


def _run_conv(isa=None):
    env = {k: v for k, v in os.environ.items() if k != "ONEDNN_MAX_CPU_ISA"}
    env.update(ONEDNN_VERBOSE="1", PYTHONPATH=REPO)
    if isa:
        env["ONEDNN_MAX_CPU_ISA"] = isa
    result = subprocess.run([sys.executable, "-c", CONV_SCRIPT], env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return [line for line in result.stdout.splitlines() if ",convolution," in line]


def test_package_import_selects_fast_convolution_kernel():
    lines = _run_conv()
    assert lines, "oneDNN printed no convolution primitive; ONEDNN_VERBOSE output changed?"
    slow = [line for line in lines if "ref" in line.split(",")[6]]
    assert not slow, "convolution fell back to the reference kernel: %s" % slow[0]


def test_user_choice_of_isa_is_kept():
    env = {k: v for k, v in os.environ.items() if k != "ONEDNN_MAX_CPU_ISA"}
    env["ONEDNN_MAX_CPU_ISA"] = "SSE41"
    code = "import os, src; print(os.environ['ONEDNN_MAX_CPU_ISA'])"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         cwd=REPO).stdout.strip()
    assert out == "SSE41"
