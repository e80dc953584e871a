"""Checkpoint reading for train/eval/export/predict, with clear errors for the wrong file.

Training checkpoints (``src.train.checkpoint``) hold the network weights, the optimizer state and
these extra entries (``CheckpointMeta``), so a consumer can tell whether a checkpoint fits the
network it built:

- ``architecture``: the architecture file's content (JSON string: network_path, cell, provenance);
- ``model_config``: JSON string of the config keys that shape the network (``MODEL_CONFIG_KEYS``;
  cells and blocks per cell are the architecture's);
- ``step``, ``epoch``, ``steps_per_epoch``: where training stood.
"""
import json
import os

from src.errors import UserError

MODEL_CONFIG_KEYS = ("variant", "num_classes", "filter_multiplier", "aspp_rates", "stem_channels",
                     "decoder_channels")
META_KEYS = ("architecture", "model_config", "step", "epoch", "steps_per_epoch")
# Entries of a training checkpoint that are optimizer / loss-scale state, not network weights.
TRAIN_STATE_NAMES = ("global_step", "momentum", "learning_rate", "scale_sense", "current_iterator_step",
                     "last_overflow_iterator_step", "epoch_num", "step_num")
TRAIN_STATE_PREFIXES = ("moments.", "accum.", "moment1.", "moment2.")
_LISTED = 5


def checkpoint_meta(cfg, architecture):
    """The extra entries describing the network of ``cfg`` built with ``architecture``."""
    return {"architecture": json.dumps(architecture.to_dict(), sort_keys=True),
            "model_config": json.dumps({key: getattr(cfg, key) for key in MODEL_CONFIG_KEYS}, sort_keys=True)}


def is_train_state(name):
    """Whether a checkpoint entry is optimizer / loss-scale state rather than a network weight."""
    return name in TRAIN_STATE_NAMES or name.startswith(TRAIN_STATE_PREFIXES)


def read_checkpoint(ckpt_path):
    """(parameters, meta) of a checkpoint file; meta has the ``META_KEYS`` found (JSON decoded)."""
    import mindspore as ms

    if not ckpt_path or not os.path.isfile(ckpt_path):
        raise UserError("checkpoint file '%s' does not exist; pass --ckpt_path (or --resume) with a .ckpt "
                        "written by train.py" % ckpt_path)
    try:
        entries = ms.load_checkpoint(ckpt_path)
    except (ValueError, RuntimeError, TypeError) as exc:
        raise UserError("'%s' is not a MindSpore checkpoint (%s); pass a .ckpt written by train.py"
                        % (ckpt_path, str(exc).splitlines()[0])) from None
    meta = {}
    for key in META_KEYS:
        if key in entries:
            value = entries.pop(key)
            value = value if isinstance(value, str) else value.asnumpy().item()
            meta[key] = json.loads(value) if key in ("architecture", "model_config") else int(value)
    return entries, meta


def _describe(values):
    shown = ", ".join(values[:_LISTED])
    return shown + (" and %d more" % (len(values) - _LISTED) if len(values) > _LISTED else "")


def check_meta(ckpt_path, meta, expected):
    """Raise UserError naming every difference between the checkpoint's and this run's network."""
    problems = []
    stored_arch = meta.get("architecture")
    if stored_arch is not None and expected.get("architecture") is not None:
        mine = json.loads(expected["architecture"])
        if stored_arch.get("network_path") != mine.get("network_path"):
            problems.append("network_path: checkpoint %s, this run %s"
                            % (stored_arch.get("network_path"), mine.get("network_path")))
        stored_cell, my_cell = stored_arch.get("cell") or [], mine.get("cell") or []
        if len(stored_cell) != len(my_cell):
            problems.append("cell: checkpoint %d blocks, this run %d" % (len(stored_cell) // 2, len(my_cell) // 2))
        problems.extend("cell row %d: checkpoint %s, this run %s" % (row, theirs, ours)
                        for row, (theirs, ours) in enumerate(zip(stored_cell, my_cell)) if theirs != ours)
        if problems:
            problems.append("pass --arch_path with the architecture file the checkpoint was trained with "
                            "(checkpoint provenance: %s)" % json.dumps(stored_arch.get("provenance", {})))
    stored_cfg = meta.get("model_config")
    if stored_cfg is not None and expected.get("model_config") is not None:
        mine = json.loads(expected["model_config"])
        for key in MODEL_CONFIG_KEYS:
            if key in stored_cfg and stored_cfg[key] != mine.get(key):
                value = stored_cfg[key]
                value = ",".join(str(v) for v in value) if isinstance(value, list) else value
                problems.append("%s: checkpoint %s, this run %s; pass --%s %s"
                                % (key, stored_cfg[key], mine.get(key), key, value))
    if problems:
        raise UserError("checkpoint '%s' was trained with another network:\n  %s" % (ckpt_path, "\n  ".join(problems)))


def check_parameters(ckpt_path, net, params, strict):
    """Raise UserError when names or shapes of ``net`` and the checkpoint's weights differ."""
    mine = {p.name: tuple(p.shape) for p in net.get_parameters()}
    theirs = {name: tuple(p.shape) for name, p in params.items() if not is_train_state(name)}
    mismatched = ["%s %s (this network %s)" % (n, theirs[n], mine[n])
                  for n in sorted(mine) if n in theirs and theirs[n] != mine[n]]
    missing = sorted(n for n in mine if n not in theirs)
    unexpected = sorted(n for n in theirs if n not in mine)
    problems = []
    if mismatched:
        problems.append("%d parameter(s) differ in shape: %s" % (len(mismatched), _describe(mismatched)))
    if strict and missing:
        problems.append("%d parameter(s) of this network are missing: %s" % (len(missing), _describe(missing)))
    if strict and unexpected:
        problems.append("%d checkpoint parameter(s) are not in this network: %s"
                        % (len(unexpected), _describe(unexpected)))
    if problems:
        raise UserError("checkpoint '%s' does not fit this network (another architecture or config; check "
                        "--arch_path, --filter_multiplier, --num_classes, --variant):\n  %s"
                        % (ckpt_path, "\n  ".join(problems)))


def load_weights(net, ckpt_path, strict=True, expected=None):
    """Load the network weights of ``ckpt_path`` into ``net``; returns the checkpoint's meta dict.

    ``expected`` (from ``checkpoint_meta``) names the architecture and config this run built;
    a checkpoint that stored different ones is refused with the option to pass. Then names and
    shapes are compared (all of them when ``strict``; shapes only otherwise). Optimizer state in a
    training checkpoint is skipped.
    """
    import mindspore as ms

    params, meta = read_checkpoint(ckpt_path)
    if expected:
        check_meta(ckpt_path, meta, expected)
    check_parameters(ckpt_path, net, params, strict)
    weights = {name: value for name, value in params.items() if not is_train_state(name)}
    ms.load_param_into_net(net, weights, strict_load=strict)
    return meta
