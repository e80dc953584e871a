"""Shared fixtures: a tiny synthetic Cityscapes tree and its MindRecord files.

`import src` comes first so the CPU set-up (ONEDNN_MAX_CPU_ISA) is in force before any test
module imports mindspore; pytest.ini puts the repository root on sys.path.
"""
import src  # noqa: F401  (must precede every mindspore import)

import os

import pytest

# Tests pin the dense convs' formulation (both are tested equal): "auto" would time the host and
# could pick either (src/layers/conv.py, dense_conv_library; tested in tests/layers/test_conv.py).
os.environ["AUTODEEPLAB_DENSE_CONV"] = "sgemm"


def pytest_collection_modifyitems(items):
    """Files marked ``heavy`` (entry scripts end to end, compiled networks: tens of seconds to
    minutes each) first, the rest after them in collection order. With pytest.ini's ``--dist
    loadfile --no-loadscope-reorder`` the workers take files in this order, so the light files
    fill the end of the run instead of one heavy file running alone on one worker."""
    items.sort(key=lambda item: item.get_closest_marker("heavy") is None)


DEMO_TRAIN, DEMO_VAL = 6, 3
DEMO_HEIGHT, DEMO_WIDTH = 64, 128


@pytest.fixture(scope="session")
def demo_cityscapes_root(tmp_path_factory):
    """Path of a synthetic Cityscapes tree: 6 train + 3 val images of 64x128 (labelIds), seed 0."""
    from src.data.synthetic import generate

    root = tmp_path_factory.mktemp("demo") / "cityscapes"
    generate(str(root), DEMO_TRAIN, DEMO_VAL, DEMO_HEIGHT, DEMO_WIDTH, seed=0)
    return root


@pytest.fixture(scope="session")
def demo_mindrecord_dir(demo_cityscapes_root, tmp_path_factory):
    """Directory with cityscapes_train.mindrecord and cityscapes_val.mindrecord of the demo tree.

    Open them with src.data.mindrecord_writer.find_mindrecord(str(dir), split).
    """
    from src.data.mindrecord_writer import build_mindrecord

    out = tmp_path_factory.mktemp("demo_mindrecord")
    for split in ("train", "val"):
        build_mindrecord(str(demo_cityscapes_root), str(out), split, num_workers=1, progress=False)
    return out


@pytest.fixture(autouse=True)
def _restore_execution_mode():
    """Every test ends in the MindSpore execution mode it started in, whatever it set: no test
    depends on the order the tests run in (use ``pynative_mode`` / ``graph_mode`` to choose one)."""
    import mindspore as ms

    previous = ms.get_context("mode")
    yield
    if ms.get_context("mode") != previous:
        ms.set_context(mode=previous)


@pytest.fixture
def global_seed():
    """MindSpore's global seed set to 0 for one test (the dropout and drop-path masks are drawn from
    it: a statistical bound on them then holds or fails the same way in any test order); the global
    seed, numpy's global generator and the dataset seed are restored afterwards."""
    import importlib

    import mindspore as ms
    import mindspore.dataset as ds
    import numpy as np

    seed_module = importlib.import_module("mindspore.common.seed")

    saved = seed_module._GLOBAL_SEED, np.random.get_state(), ds.config.get_seed()
    ms.set_seed(0)
    yield 0
    seed_module._GLOBAL_SEED = saved[0]
    np.random.set_state(saved[1])
    ds.config.set_seed(saved[2])


def _run_in_mode(mode_name):
    """Run a test in MindSpore execution mode ``mode_name``; restore the caller's mode afterwards."""
    import mindspore as ms

    previous = ms.get_context("mode")
    ms.set_context(mode=getattr(ms, mode_name))
    yield
    ms.set_context(mode=previous)


@pytest.fixture
def pynative_mode():
    """Run a test in PyNative mode (no graph compile)."""
    yield from _run_in_mode("PYNATIVE_MODE")


@pytest.fixture
def graph_mode():
    """Run a test in graph mode."""
    yield from _run_in_mode("GRAPH_MODE")


def build_net(architecture, **keys):
    """The retrain network of ``architecture`` (an Architecture) built as the CLIs build it
    (``src.model.build_model``), from the schema's defaults with ``keys`` changed."""
    from src.config import load_config
    from src.model import build_model

    return build_model(load_config(None, keys), architecture=architecture)


def build_search_net(compiled, **keys):
    """The search supernet built as search.py builds it (``src.nas.supernet.build_supernet``),
    from the schema's defaults with ``keys`` changed; ``compiled`` is ``mode: graph``."""
    from src.config import load_config
    from src.nas.supernet import build_supernet

    return build_supernet(load_config(None, {**keys, "mode": "graph" if compiled else "pynative"}))


def default_norm():
    """The BatchNormSettings of the schema's defaults (bn_momentum, bn_eps), as the CLIs read them."""
    from src.config import load_config
    from src.layers.norm import norm_settings

    return norm_settings(load_config(None, {}))
