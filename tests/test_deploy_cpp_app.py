"""The C++ inference app: the MindSpore Lite backend compiles and links against the mindspore-lite wheel's
C++ API, and the app refuses bad inputs with one line, before writing anything.

The Lite backend cannot run here: Lite 2.0 (the only Lite on PyPI for x86 Linux) reads MINDIR version 1
and MindSpore 2.10 writes version 3, so this test compiles and links it only. The bad-input table runs
the OpenCV DNN build on a one-node ONNX model (Identity: the label map is the argmax over the input's
three channels, an outside derivation of what the app must write).
"""
import os
import shutil
import subprocess

import numpy as np
import pytest

from test_deploy_bad_inputs import write_identity_onnx

pytestmark = pytest.mark.heavy  # scheduled first (conftest.py)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APP_SOURCE = os.path.join(REPO, "ascend310_infer")
LITE_HOME = os.path.join(os.environ.get("AUTODEEPLAB_CACHE", os.path.expanduser("~/.cache/autodeeplab")),
                         "mindspore-lite-2.0.0")
HEIGHT, WIDTH = 4, 6


def need_build_tools():
    if shutil.which("cmake") is None or shutil.which("g++") is None:
        pytest.fail("cmake and g++ are needed: run bash scripts/setup_tests.sh (as root it installs them)")


def build(build_dir, *cmake_args):
    build_dir.mkdir()
    configure = subprocess.run(["cmake", APP_SOURCE, *cmake_args], cwd=build_dir, capture_output=True, text=True,
                               timeout=300)
    assert configure.returncode == 0, configure.stdout[-3000:] + configure.stderr[-3000:]
    make = subprocess.run(["make", "-j2"], cwd=build_dir, capture_output=True, text=True, timeout=600)
    assert make.returncode == 0, make.stdout[-3000:] + make.stderr[-3000:]
    return configure.stdout, str(build_dir / "main")


def lite_home():
    if not os.path.isfile(os.path.join(LITE_HOME, "lib", "libmindspore-extendrt_python.so")):
        message = "MindSpore Lite C++ API not installed in %s: run bash scripts/setup_tests.sh" % LITE_HOME
        if os.environ.get("AUTODEEPLAB_CI"):
            pytest.fail(message)
        pytest.skip(message)
    return LITE_HOME


def test_mindspore_lite_backend_compiles_and_links_against_the_wheel_api(tmp_path):
    need_build_tools()
    log, app = build(tmp_path / "lite", "-DMINDSPORE_PATH=" + lite_home())
    assert "mindspore=" + LITE_HOME in log and "opencv=1" in log
    symbols = subprocess.run(["nm", "-DC", app], capture_output=True, text=True, check=True).stdout
    # The Lite route: Model::Build(model path, kMindIR, context), no Serialization::Load / GraphCell.
    assert "U mindspore::Model::Build(std::vector<char, std::allocator<char> > const&, mindspore::ModelType" in symbols
    assert "Serialization" not in symbols and "GraphCell" not in symbols
    assert "U mindspore::AscendDeviceInfo::SetDeviceID" in symbols and "CPUDeviceInfo" in symbols


def test_legacy_api_option_builds_the_serialization_load_route(tmp_path):
    """-DMINDSPORE_LEGACY_API=ON (old ABI by default, so without the OpenCV backend); Lite 2.0 ships that API too."""
    need_build_tools()
    log, app = build(tmp_path / "legacy", "-DMINDSPORE_PATH=" + lite_home(), "-DMINDSPORE_LEGACY_API=ON")
    assert "opencv=FALSE" in log
    symbols = subprocess.run(["nm", "-DC", app], capture_output=True, text=True, check=True).stdout
    assert "U mindspore::Serialization::Load(" in symbols and "U mindspore::GraphCell::GraphCell(" in symbols


@pytest.fixture(scope="module")
def opencv_app(tmp_path_factory):
    need_build_tools()
    log, app = build(tmp_path_factory.mktemp("app") / "opencv")
    assert "opencv=1" in log, "OpenCV not found: run bash scripts/setup_tests.sh (libopencv-dev)\n" + log
    return app


@pytest.fixture(scope="module")
def identity_onnx(tmp_path_factory):
    return write_identity_onnx(tmp_path_factory.mktemp("model") / "identity.onnx", HEIGHT, WIDTH)


def run_app(app, model, input_path, output_path, *extra):
    return subprocess.run([app, "--model_path", model, "--input_path", str(input_path), "--output_path",
                           str(output_path), "--backend", "opencv", "--height", str(HEIGHT), "--width", str(WIDTH),
                           *map(str, extra)], capture_output=True, text=True, timeout=120)


def tensor(seed, size=3 * HEIGHT * WIDTH):
    return np.random.default_rng(seed).standard_normal(size).astype(np.float32)


def test_app_writes_the_argmax_label_map_of_each_tensor(opencv_app, identity_onnx, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name, seed in (("a", 1), ("b", 2)):
        tensor(seed).tofile(inputs / (name + ".bin"))
    result = run_app(opencv_app, identity_onnx, inputs, tmp_path / "out")
    assert result.returncode == 0, result.stderr
    for name, seed in (("a", 1), ("b", 2)):
        expected = tensor(seed).reshape(3, HEIGHT, WIDTH).argmax(axis=0)
        assert np.array_equal(np.fromfile(tmp_path / "out" / (name + ".bin"), np.uint8).reshape(HEIGHT, WIDTH),
                              expected)


def _same_folder(tmp):
    return tmp / "in", tmp / "in", (), "is the input folder"


def _stem_collision(tmp):
    (tmp / "in" / "a.png").write_bytes(b"")
    return tmp / "in", tmp / "out", (), "would both write a.bin"


def _stale_tensor(tmp):
    tensor(4, 3 * 8 * 8).tofile(tmp / "in" / "z_old.bin")
    return tmp / "in", tmp / "out", (), "left from another run"


def _unknown_option(tmp):
    return tmp / "in", tmp / "out", ("--devcie_id", "1"), "unknown option '--devcie_id'"


def _long_name(tmp):
    return tmp / "in" / ("x" * 300), tmp / "out", (), "File name too long"


def _symlink_loop(tmp):
    os.symlink("loop", tmp / "in" / "loop")
    return tmp / "in" / "loop", tmp / "out", (), "Too many levels of symbolic links"


BAD_INPUTS = {"output folder = input folder": _same_folder, "two inputs, one output name": _stem_collision,
              "stale tensor of another size": _stale_tensor, "unknown option": _unknown_option,
              "300-character file name": _long_name, "symlink loop": _symlink_loop}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_is_one_line_and_nothing_is_written(opencv_app, identity_onnx, tmp_path, case):
    (tmp_path / "in").mkdir()
    tensor(0).tofile(tmp_path / "in" / "a.bin")
    input_path, output_path, extra, message = BAD_INPUTS[case](tmp_path)
    before = sorted(os.listdir(tmp_path / "in"))
    result = run_app(opencv_app, identity_onnx, input_path, output_path, *extra)
    assert result.returncode == 2, result.stdout + result.stderr
    first = result.stderr.splitlines()[0]
    assert first.startswith("error: ") and message in first, result.stderr
    assert "terminate called" not in result.stderr
    assert sorted(os.listdir(tmp_path / "in")) == before
    assert not os.path.exists(tmp_path / "out") or os.listdir(tmp_path / "out") == []
