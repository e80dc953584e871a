"""BN statistics re-estimated on full images: the eval-mode network then is the batch-statistics
network; pooled sums; the image batches. train.py rewriting its last checkpoint with them:
tests/test_train.py (on the suite's one uninterrupted training)."""
import os

import numpy as np
import pytest

import mindspore as ms
from conftest import build_net

from src.architecture import AUTODEEPLAB
from src.config import load_config
from src.data.mindrecord_writer import find_mindrecord
from src.train.bn_recalibration import (batch_norm_layers, batch_statistics_mode, image_batches,
                                        population_statistics, recalibrate_batch_norm)


@pytest.fixture
def net_and_images(global_seed):
    """The 12-cell S network at F 2 and four 49x49 images; a new network for each test (the tests
    change its statistics and its train flag), drawn from the global seed 0: the same network in
    any test order (one drawn after other tests had used the seed missed the 2e-3 bound once)."""
    net = build_net(AUTODEEPLAB, filter_multiplier=2)
    images = np.random.RandomState(0).randn(4, 3, 49, 49).astype(np.float32)
    return net, images


def batch_statistics_output(net, images):
    restore = batch_statistics_mode(net)
    out = net(ms.Tensor(images)).asnumpy()
    restore()
    return out


def test_recalibrated_eval_network_equals_the_batch_statistics_network(net_and_images, pynative_mode):
    """Statistics of one batch of all the images: eval mode on them gives what batch statistics
    give, at every layer of all 12 cells; with the initial statistics (0, 1) it does not."""
    net, images = net_and_images
    wanted = batch_statistics_output(net, images)
    net.set_train(False)
    assert not np.allclose(net(ms.Tensor(images)).asnumpy(), wanted, rtol=1e-2, atol=1e-2)
    recalibrate_batch_norm(net, [images])
    net.set_train(False)
    np.testing.assert_allclose(net(ms.Tensor(images)).asnumpy(), wanted, rtol=2e-3, atol=2e-3)
    assert ms.get_context("mode") == ms.PYNATIVE_MODE and float(net.drop_path_progress.asnumpy()) == 0.0


def test_statistics_pool_over_batches_and_the_mode_is_restored(net_and_images, graph_mode):
    """The stem's first BN reads the conv of the images, which no BN precedes: its statistics over
    two batches of two are those over one batch of four, and those are the numpy mean and variance
    of that conv's output (computed here from its weight)."""
    net, images = net_and_images
    first, bn = batch_norm_layers(net)[0]
    split = population_statistics(net, [images[:2], images[2:]])[first]
    whole = population_statistics(net, [images])[first]
    assert ms.get_context("mode") == ms.GRAPH_MODE
    np.testing.assert_allclose(split[0], whole[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(split[1], whole[1], rtol=1e-5)
    conv = net.encoder.stem[0].conv
    out = ms.ops.conv2d(ms.Tensor(images), conv.weight, pad_mode="pad", padding=conv.padding,
                        stride=2).asnumpy().astype(np.float64)
    np.testing.assert_allclose(whole[0], out.mean(axis=(0, 2, 3)), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(whole[1], out.var(axis=(0, 2, 3)), rtol=1e-4)


def test_image_batches_take_the_first_full_images(demo_mindrecord_dir):
    cfg = load_config(None, {"num_parallel_workers": 1})
    batches = list(image_batches(find_mindrecord(str(demo_mindrecord_dir), "train"), cfg, 5, 2))
    assert [b.shape for b in batches] == [(2, 3, 64, 128)] * 2 + [(1, 3, 64, 128)]
