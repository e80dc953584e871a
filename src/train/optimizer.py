"""Momentum SGD with weight decay on every trainable parameter except BatchNorm gamma/beta."""
import mindspore.nn as nn
from mindspore import Tensor


def is_batch_norm_param(cell_types, name):
    """Whether parameter ``name`` belongs to a BatchNorm cell (its gamma or beta)."""
    owner = name.rsplit(".", 1)[0] if "." in name else ""
    return isinstance(cell_types.get(owner), (nn.BatchNorm2d, nn.SyncBatchNorm, nn.BatchNorm1d))


def param_groups(net, weight_decay):
    """Two optimizer groups: decayed (convs, ...) and not decayed (BatchNorm gamma/beta)."""
    cell_types = dict(net.cells_and_names())
    decayed, not_decayed = [], []
    for name, param in net.parameters_and_names():
        if param.requires_grad:
            (not_decayed if is_batch_norm_param(cell_types, name) else decayed).append(param)
    groups = [{"params": decayed, "weight_decay": weight_decay}]
    if not_decayed:
        groups.append({"params": not_decayed, "weight_decay": 0.0})
    return groups


def build_optimizer(net, learning_rates, cfg):
    """nn.Momentum over ``param_groups`` with the per-step learning-rate array."""
    return nn.Momentum(param_groups(net, cfg.weight_decay), Tensor(learning_rates), cfg.momentum)
