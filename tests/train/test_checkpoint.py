"""Optimizer groups, loss-scale choice, checkpoint files and load_weights errors (in-process, no training)."""
import json

import numpy as np
import pytest

import src  # noqa: F401  (CPU set-up before mindspore)
import mindspore as ms
import mindspore.nn as nn
from mindspore.amp import DynamicLossScaleManager, FixedLossScaleManager

from src.config import load_config
from src.errors import UserError
from src.model import build_model
from src.model.weights import checkpoint_meta, load_weights
from src.architecture import AUTODEEPLAB, Architecture
from src.train.checkpoint import list_checkpoints, resume_train_state, save_train_checkpoint
from src.train.lr import lr_schedule
from src.train.optimizer import build_optimizer, param_groups
from src.train.precision import loss_scale_manager

TINY = {"filter_multiplier": 2, "num_classes": 5, "crop_size": 33}


@pytest.fixture(scope="module")
def cfg():
    return load_config(None, TINY)


@pytest.fixture(scope="module")
def net(cfg):
    return build_model(cfg)


def other_architecture():
    cell = [list(row) for row in AUTODEEPLAB.cell]
    cell[0] = [0, "sep_conv_5x5"]
    return Architecture(AUTODEEPLAB.network_path, cell, {"source": "test"})


def test_no_weight_decay_on_batch_norm(net):
    decayed, not_decayed = param_groups(net, 1e-4)
    assert decayed["weight_decay"] == 1e-4 and not_decayed["weight_decay"] == 0.0
    decayed_names = {p.name for p in decayed["params"]}
    plain_names = {p.name for p in not_decayed["params"]}
    assert plain_names and all(n.endswith((".gamma", ".beta")) for n in plain_names)
    assert all(n.endswith(".weight") for n in decayed_names)
    assert len(decayed_names) + len(plain_names) == len(net.trainable_params())
    bn_params = {p.name for _, cell in net.cells_and_names() if isinstance(cell, nn.BatchNorm2d)
                 for p in cell.trainable_params()}
    assert bn_params == plain_names


def test_optimizer_applies_decay_per_group(net, cfg):
    optimizer = build_optimizer(net, lr_schedule(cfg, 10), cfg)
    flags = dict(zip((p.name for p in optimizer.parameters), optimizer.decay_flags))
    assert flags["encoder.stem.0.conv.weight"] and not flags["encoder.stem.0.bn.gamma"]
    assert not flags["encoder.stem.0.bn.beta"]


def test_loss_scale_per_device_target(cfg):
    assert loss_scale_manager(cfg) is None
    assert isinstance(loss_scale_manager(cfg.replace(device_target="GPU")), DynamicLossScaleManager)
    fixed = loss_scale_manager(cfg.replace(loss_scale="fixed"))
    assert isinstance(fixed, FixedLossScaleManager) and not fixed.get_drop_overflow_update()
    with pytest.raises(UserError, match="not supported on CPU"):
        loss_scale_manager(cfg.replace(loss_scale="dynamic"))


def _train_network(net, cfg):
    from mindspore.train import Model
    from src.train.loss import build_loss

    model = Model(net, loss_fn=build_loss(cfg), optimizer=build_optimizer(net, lr_schedule(cfg, 10), cfg))
    return model.train_network


def test_checkpoint_holds_state_and_meta_and_keeps_newest(tmp_path, net, cfg):
    train_net = _train_network(net, cfg)
    meta = checkpoint_meta(cfg, net.architecture)
    for step in (1, 2, 3):
        save_train_checkpoint(train_net, str(tmp_path), step, dict(meta, epoch=1, steps_per_epoch=5), keep=2)
    assert [s for s, _ in list_checkpoints(str(tmp_path))] == [2, 3]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["autodeeplab-step00000002.ckpt",
                                                          "autodeeplab-step00000003.ckpt"]
    entries = ms.load_checkpoint(str(tmp_path / "autodeeplab-step00000003.ckpt"))
    assert "global_step" in entries and any(k.startswith("moments.") for k in entries)
    assert "learning_rate" not in entries
    assert json.loads(entries["architecture"])["cell"] == AUTODEEPLAB.cell
    assert json.loads(entries["model_config"])["filter_multiplier"] == 2
    loaded = load_weights(build_model(cfg), str(tmp_path / "autodeeplab-step00000003.ckpt"), expected=meta)
    assert loaded["step"] == 3 and loaded["steps_per_epoch"] == 5


def test_resume_restores_optimizer_state_and_step(tmp_path, cfg):
    net = build_model(cfg)
    train_net = _train_network(net, cfg)
    moments = [p for p in train_net.get_parameters() if p.name.startswith("moments.")]
    moments[0].set_data(ms.Tensor(np.full(moments[0].shape, 0.25, np.float32)))
    step_param = [p for p in train_net.get_parameters() if p.name == "global_step"][0]
    step_param.set_data(ms.Tensor(np.array([7], np.int32)))
    meta = dict(checkpoint_meta(cfg, net.architecture), epoch=2, steps_per_epoch=5)
    path = save_train_checkpoint(train_net, str(tmp_path), 7, meta, keep=1)

    fresh = build_model(cfg)
    fresh_train = _train_network(fresh, cfg)
    assert resume_train_state(fresh_train, fresh, path, checkpoint_meta(cfg, fresh.architecture), 5) == 7
    restored = {p.name: p.asnumpy() for p in fresh_train.get_parameters()}
    assert int(restored["global_step"]) == 7
    assert np.all(restored[moments[0].name] == 0.25)
    with pytest.raises(UserError, match="steps per epoch"):
        resume_train_state(fresh_train, fresh, path, checkpoint_meta(cfg, fresh.architecture), 4)


def test_load_weights_errors(tmp_path, net, cfg):
    with pytest.raises(UserError, match="does not exist"):
        load_weights(net, str(tmp_path / "missing.ckpt"))
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="not a MindSpore checkpoint"):
        load_weights(net, str(junk))
    path = str(tmp_path / "net.ckpt")
    ms.save_checkpoint(net, path, append_dict=checkpoint_meta(cfg, net.architecture))

    with pytest.raises(UserError, match=r"(?s)cell row 0: checkpoint \[0, 'dil_conv_5x5'\], this run \[0, 'sep_conv_5x5'\].*--arch_path"):
        load_weights(net, path, expected=checkpoint_meta(cfg, other_architecture()))
    two_blocks = Architecture(AUTODEEPLAB.network_path, AUTODEEPLAB.cell[:4])  # same first rows
    with pytest.raises(UserError, match=r"(?s)cell: checkpoint 5 blocks, this run 2.*--arch_path"):
        load_weights(net, path, expected=checkpoint_meta(cfg, two_blocks))
    wider = cfg.replace(filter_multiplier=3)
    with pytest.raises(UserError, match="pass --filter_multiplier 2"):
        load_weights(build_model(wider), path, expected=checkpoint_meta(wider, net.architecture))
    # Without stored meta (a bare weights file) the shapes still tell.
    bare = str(tmp_path / "bare.ckpt")
    ms.save_checkpoint(net, bare)
    with pytest.raises(UserError, match="differ in shape"):
        load_weights(build_model(wider), bare)
