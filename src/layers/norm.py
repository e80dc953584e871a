"""Batch norm and the activations of the networks, with the settings every BN layer shares."""
import collections

import mindspore.nn as nn

LEAKY_SLOPE = 0.01  # the ModelZoo port's ABN activation
ACTIVATIONS = ("relu", "leaky_relu")

BatchNormSettings = collections.namedtuple("BatchNormSettings", ("momentum", "eps", "use_sync_bn"))
BatchNormSettings.__doc__ = """What every BN layer of a network shares: ``momentum`` (MindSpore's
convention: 0.995 keeps 99.5% of the running statistics at each step), ``eps``, and
``use_sync_bn`` (SyncBatchNorm; set only on Ascend in a distributed run)."""


def norm_settings(cfg, use_sync_bn=False):
    """The BatchNormSettings of a config's ``bn_momentum`` and ``bn_eps`` keys."""
    return BatchNormSettings(cfg.bn_momentum, cfg.bn_eps, use_sync_bn)


def batch_norm(channels, norm, affine=True):
    """BatchNorm2d of ``norm`` (BatchNormSettings), or SyncBatchNorm when ``norm.use_sync_bn``."""
    cell = nn.SyncBatchNorm if norm.use_sync_bn else nn.BatchNorm2d
    return cell(channels, eps=norm.eps, momentum=norm.momentum, affine=affine)


def activation(name):
    """'relu' or 'leaky_relu' (slope LEAKY_SLOPE)."""
    if name == "relu":
        return nn.ReLU()
    if name == "leaky_relu":
        return nn.LeakyReLU(LEAKY_SLOPE)
    raise ValueError(f"unknown activation {name!r}; valid: {', '.join(ACTIVATIONS)}")
