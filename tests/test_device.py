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


# --- device_target auto: the detection is stubbed for each case ---------------------------------

import glob  # noqa: E402

import pytest  # noqa: E402

from src import device  # noqa: E402
from src.config import CONFIG_DIR, SCHEMA, load_config, read_yaml  # noqa: E402


def _usable(monkeypatch, *targets):
    """Pretend this MindSpore can use exactly ``targets`` (and CPU)."""
    monkeypatch.setattr(device, "backend_usable", lambda target: target in targets + ("CPU",))


@pytest.mark.parametrize("usable, chosen", [(("Ascend", "GPU"), "Ascend"), (("Ascend",), "Ascend"),
                                            (("GPU",), "GPU"), ((), "CPU")])
def test_auto_prefers_ascend_then_gpu_then_cpu(monkeypatch, usable, chosen):
    _usable(monkeypatch, *usable)
    target, reason = device.choose_device("auto")
    assert target == chosen and "auto" in reason


@pytest.mark.parametrize("requested", ["CPU", "GPU", "Ascend"])
def test_a_named_device_is_taken_as_named(monkeypatch, requested):
    _usable(monkeypatch, "Ascend", "GPU")
    assert device.choose_device(requested) == (requested, "device_target %s" % requested)


def test_auto_is_the_default_and_no_shipped_config_pins_a_device():
    assert SCHEMA["device_target"].default == "auto"
    for path in glob.glob(os.path.join(CONFIG_DIR, "*.yaml")):
        assert read_yaml(path).get("device_target", "auto") == "auto", path


def test_this_install_is_probed_for_real():
    """The unstubbed probe answers (CPU is in every MindSpore package)."""
    assert device.backend_usable("CPU") is True


@pytest.mark.parametrize("usable, manager", [((), None), (("GPU",), "DynamicLossScaleManager"),
                                             (("Ascend",), "DynamicLossScaleManager")])
def test_per_device_choices_follow_the_auto_choice(monkeypatch, usable, manager):
    """Loss scaling and SyncBatchNorm key on the device auto chose, not on the word 'auto'."""
    from src.train.precision import loss_scale_manager

    _usable(monkeypatch, *usable)
    cfg = load_config(None, {"device_target": "auto"})
    assert type(loss_scale_manager(cfg)).__name__ == (manager or "NoneType")
    assert device.use_sync_bn(cfg.replace(distribute=True)) == ("Ascend" in usable)


def test_export_refuses_air_unless_auto_chose_ascend(monkeypatch):
    from src.deploy.export import check_format
    from src.errors import UserError

    _usable(monkeypatch)
    with pytest.raises(UserError, match="AIR export needs an Ascend device"):
        check_format("AIR", device.device_of(load_config(None, {})))
    _usable(monkeypatch, "Ascend")
    check_format("AIR", device.device_of(load_config(None, {})))


@pytest.mark.parametrize("script, args", [
    ("train.py", ["--data_path", "{tmp}"]),
    ("eval.py", ["--data_path", "{tmp}", "--ckpt_path", "{tmp}/missing.ckpt"]),
    ("export.py", ["--ckpt_path", "{tmp}/missing.ckpt"]),
    ("search.py", ["--config_path", "config/demo_search.yaml", "--data_path", "{tmp}"]),
])
def test_every_stage_names_the_device_on_its_first_line(tmp_path, script, args):
    """On this CPU-only machine each stage says first that auto chose the CPU (then fails on the
    missing input, which is enough: the device line comes before any input is read)."""
    args = [a.format(tmp=tmp_path) for a in args] + ["--output_path", str(tmp_path / "out")]
    result = subprocess.run([sys.executable, script] + args, cwd=REPO, env=dict(os.environ, PYTHONPATH=REPO),
                            capture_output=True, text=True, timeout=300)
    lines = result.stdout.splitlines()
    assert lines and lines[0].startswith("device: CPU (device_target auto"), (result.stdout, result.stderr[-800:])


# --- quiet by default: MindSpore's own warnings only when the user asks (GLOG_v) ----------------

WARNING_SCRIPT = "import src, mindspore as ms; ms.device_context.gpu.is_available() or ms.device_context.ascend.is_available()"


@pytest.mark.parametrize("level, shown", [(None, False), ("2", True)])
def test_mindspore_warnings_are_hidden_unless_glog_v_asks(level, shown):
    """is_available() of a missing backend logs MindSpore warnings (2 lines each here, unless this
    install has that backend, when the test cannot tell and is skipped)."""
    if device.backend_usable("GPU") and device.backend_usable("Ascend"):
        pytest.skip("both backends present: nothing warns")
    env = {k: v for k, v in os.environ.items() if k != "GLOG_v"}
    if level:
        env["GLOG_v"] = level
    result = subprocess.run([sys.executable, "-c", WARNING_SCRIPT], cwd=REPO, env=dict(env, PYTHONPATH=REPO),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert ("[WARNING]" in result.stderr) == shown, result.stderr[-2000:]


@pytest.mark.parametrize("deterministic", [False, True])
def test_deterministic_key_sets_mindspore_deterministic(monkeypatch, deterministic):
    """deterministic: true turns on MindSpore's deterministic kernels (GPU/Ascend); false leaves
    MindSpore's default alone."""
    import mindspore as ms

    from src.config import load_config

    calls = []
    monkeypatch.setattr(ms, "set_device", lambda *args: None)
    monkeypatch.setattr(ms, "set_context", lambda **kwargs: None)
    monkeypatch.setattr(ms, "set_seed", lambda seed: None)
    monkeypatch.setattr(ms, "set_deterministic", lambda value: calls.append(value))
    device.init_device(load_config(None, {"deterministic": deterministic, "device_target": "CPU"}))
    assert calls == ([True] if deterministic else [])
