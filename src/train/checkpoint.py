"""Training checkpoints: atomic writes, step-numbered names, keep the newest N, resume.

A checkpoint is the whole train network (weights, optimizer moments, ``global_step`` and any
loss-scale state) plus the entries of ``src.model.weights.checkpoint_meta`` and the position
(step, epoch, steps_per_epoch). The per-step learning-rate array is not stored: it follows from
the config, and ``global_step`` says where in it to continue.
"""
import os
import re

import mindspore as ms

from src.checkpoint import MODELZOO, RETRAIN, read_checkpoint
from src.errors import UserError
from src.model.checkpoint_compat import convert_modelzoo_params, modelzoo_name
from src.fileio import atomic_path, kill_point
from src.model.weights import LOOP_STATE_NAMES, TRAIN_STATE_NAMES, check_meta, check_parameters, is_train_state

PREFIX = "autodeeplab"
CKPT_DIR = "checkpoints"
_NAME = re.compile(r"^%s-step(\d+)\.ckpt$" % PREFIX)


def checkpoint_name(step):
    """File name of the checkpoint written after ``step`` training steps."""
    return "%s-step%08d.ckpt" % (PREFIX, step)


def list_checkpoints(directory):
    """Checkpoints in ``directory`` as (step, path), oldest first."""
    if not os.path.isdir(directory):
        return []
    found = [(int(m.group(1)), os.path.join(directory, name))
             for name in os.listdir(directory) for m in [_NAME.match(name)] if m]
    return sorted(found)


def write_train_checkpoint(train_network, path, step, meta):
    """Write the train network's state after ``step`` steps to ``path`` (temp name + rename);
    the learning-rate array is left out (it follows from the config)."""
    return write_checkpoint_atomic(train_network, path, append_dict=dict(meta, step=step),
                                   choice_func=lambda name: name != "learning_rate")


def save_train_checkpoint(train_network, directory, step, meta, keep):
    """``write_train_checkpoint`` under the step's name in ``directory``; keep the newest ``keep``."""
    os.makedirs(directory, exist_ok=True)
    path = write_train_checkpoint(train_network, os.path.join(directory, checkpoint_name(step)), step, meta)
    kill_point("checkpoint_saved")
    for _, old in list_checkpoints(directory)[:-keep]:
        os.remove(old)
    return path


def resume_train_state(train_network, net, ckpt_path, expected_meta, steps_per_epoch):
    """Load weights and optimizer state of ``ckpt_path`` into the train network; returns the step.

    The optimizer's ``global_step`` comes back with the rest, so the learning-rate array and
    the data position continue from that step. A ModelZoo-port training checkpoint (``--variant
    modelzoo``) resumes at its ``global_step`` with its weights and momentum renamed.
    """
    ckpt = read_checkpoint(ckpt_path, "--resume").require(RETRAIN, MODELZOO, purpose="train.py --resume")
    if ckpt.kind == MODELZOO:
        params, meta = modelzoo_train_state(ckpt, net), {}
    else:
        params, meta = ckpt.params, ckpt.meta
        check_meta(ckpt_path, meta, expected_meta)
        check_parameters(ckpt_path, net, params, strict=True)
    if "global_step" not in params or ("step" not in meta and ckpt.kind == RETRAIN):
        raise UserError("'%s' holds weights only (no optimizer state or step), so training cannot resume from "
                        "it; pass it as --pretrained_ckpt to start from its weights, or pass a checkpoint "
                        "written by train.py to --resume" % ckpt_path)
    stored_steps = meta.get("steps_per_epoch")
    if stored_steps is not None and stored_steps != steps_per_epoch:
        raise UserError("'%s' was written with %d steps per epoch but this run has %d (batch_size, number of "
                        "devices or data set changed); resume with the same data and batch_size"
                        % (ckpt_path, stored_steps, steps_per_epoch))
    state = {name: value for name, value in params.items() if name != "learning_rate"}
    ms.load_param_into_net(train_network, state, strict_load=False)
    not_needed = ("learning_rate",) + LOOP_STATE_NAMES
    missing = [p.name for p in train_network.get_parameters()
               if is_train_state(p.name) and p.name not in state and p.name not in not_needed]
    if missing:
        raise UserError("'%s' lacks optimizer state %s of this run (was it written with another optimizer or "
                        "loss_scale?)" % (ckpt_path, ", ".join(missing)))
    return meta["step"] if "step" in meta else int(params["global_step"].asnumpy().reshape(-1)[0])


def modelzoo_train_state(ckpt, net):
    """A ModelZoo-port training checkpoint's weights, momentum and global_step under this project's names."""
    weights = convert_modelzoo_params(ckpt.params, net)
    state = dict(weights)
    for name in weights:
        moment = ckpt.params.get("moments." + modelzoo_name(name))
        if moment is not None:
            state["moments." + name] = moment
    state.update((name, value) for name, value in ckpt.params.items() if name in TRAIN_STATE_NAMES)
    return state


def write_checkpoint_atomic(save_obj, path, **save_args):
    """``ms.save_checkpoint(save_obj, path, **save_args)`` under a hidden temporary name renamed
    when complete (``src.fileio.atomic_path``), so an interrupted write never leaves a
    valid-looking ``path``; ``save_obj`` is a Cell or a list of {"name", "data"} entries."""
    with atomic_path(path, keep_suffix=True) as temporary:
        ms.save_checkpoint(save_obj, temporary, **save_args)
    return path
