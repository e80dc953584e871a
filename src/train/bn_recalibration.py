"""BatchNorm running statistics re-estimated on full training images once training ends.

Why: the running statistics are averages of batch statistics of small, zoomed-in training crops.
With few values per channel at the deep levels (a 129 crop at batch 4 gives stride-32 cells
5x5x4 = 100), they describe neither what a layer sees on a full image nor the network whose
upstream layers were normalised with batch statistics, and the eval-mode network drifts further
from the trained one at every cell (docs/retrain_network.md, Auto-DeepLab-S on the demo data).
Here each layer's statistics are the population mean and variance of its inputs over ``images``
full training images, forwarded in batches of ``batch`` with batch statistics (so every layer sees inputs
normalised as its upstream layers will be), as in "precise BN" (Wu & Johnson, Rethinking "Batch"
in BatchNorm, 2021). Runs on a network without SyncBN, in PyNative mode (forward hooks).
"""
import logging

import mindspore as ms
import mindspore.nn as nn
import numpy as np

from src.layers.dropout import Dropout

LOG = logging.getLogger("autodeeplab.train")


def batch_norm_layers(net):
    return [(name, cell) for name, cell in net.cells_and_names() if isinstance(cell, nn.BatchNorm2d)]


def batch_statistics_mode(net):
    """BN on batch statistics, dropout off, drop path off; returns a function that undoes it."""
    progress = net.drop_path_progress.asnumpy().copy()
    net.set_train(True)
    for _, cell in net.cells_and_names():
        if isinstance(cell, Dropout):
            cell.set_train(False)
    net.drop_path_progress.set_data(ms.Tensor(np.zeros_like(progress)))

    def restore():
        net.drop_path_progress.set_data(ms.Tensor(progress))
        net.set_train(False)
    return restore


def population_statistics(net, batches):
    """{BN layer name: (mean, variance)} of each BN layer's input over ``batches`` (NCHW float32
    arrays) run through ``net`` in batch-statistics mode; float64 sums, variance E[x^2] - E[x]^2."""
    sums, handles = {}, []
    for name, cell in batch_norm_layers(net):
        def record(bn, inputs, name=name):
            x = inputs[0].asnumpy().astype(np.float64)
            count, total, squares = sums.get(name, (0, 0.0, 0.0))
            pixels = x.shape[0] * x.shape[2] * x.shape[3]
            sums[name] = (count + pixels, total + x.sum(axis=(0, 2, 3)), squares + (x ** 2).sum(axis=(0, 2, 3)))
        handles.append(cell.register_forward_pre_hook(record))
    mode = ms.get_context("mode")
    ms.set_context(mode=ms.PYNATIVE_MODE)
    restore = batch_statistics_mode(net)
    try:
        for batch in batches:
            net(ms.Tensor(batch))
    finally:
        restore()
        for handle in handles:
            handle.remove()
        ms.set_context(mode=mode)
    stats = {}
    for name, (count, total, squares) in sums.items():
        mean = total / count
        stats[name] = (mean, np.maximum(squares / count - mean ** 2, 0.0))
    return stats


def image_batches(mindrecord, cfg, images, batch):
    """The first ``images`` full images of ``mindrecord``, normalised, in batches of ``batch``."""
    from src.data.dataset import create_eval_dataset

    data = create_eval_dataset(mindrecord, batch_size=batch, channel_order=cfg.channel_order,
                               num_parallel_workers=cfg.num_parallel_workers)
    taken = 0
    for row in data.create_dict_iterator(num_epochs=1, output_numpy=True):
        if taken >= images:
            break
        yield row["image"][:images - taken]
        taken += len(row["image"])


def recalibrate_as_configured(net, cfg, mindrecord):
    """``recalibrate_batch_norm`` on the first ``cfg.bn_recalibration_images`` images of
    ``mindrecord`` in batches of ``cfg.bn_recalibration_batch``."""
    return recalibrate_batch_norm(net, image_batches(mindrecord, cfg, cfg.bn_recalibration_images,
                                                     cfg.bn_recalibration_batch))


def recalibrate_batch_norm(net, batches):
    """Replace every BN layer's running statistics of ``net`` by ``population_statistics``; log
    how far they moved (median and largest |log(new variance / old variance)| over the layers)."""
    layers = batch_norm_layers(net)
    stats = population_statistics(net, batches)
    moved = []
    for name, cell in layers:
        mean, variance = stats[name]
        old = cell.moving_variance.asnumpy().astype(np.float64)
        moved.append(float(np.median(np.abs(np.log((variance + cell.eps) / (old + cell.eps))))))
        cell.moving_mean.set_data(ms.Tensor(mean.astype(np.float32)))
        cell.moving_variance.set_data(ms.Tensor(variance.astype(np.float32)))
    LOG.info("BN statistics re-estimated on full training images for %d layers: median |log(new / old "
             "variance)| %.2f, largest %.2f (%s)", len(layers), float(np.median(moved)), max(moved),
             layers[int(np.argmax(moved))][0])
    return stats
