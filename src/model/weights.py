"""Network weights of a checkpoint for train/eval/export/predict, with clear errors for the wrong file.

The file is read by ``src.checkpoint.read_checkpoint`` (the one reader, shared with the search);
this module checks what a retrain checkpoint says against the network built and loads it.
Training checkpoints (``src.train.checkpoint``) hold the network weights, the optimizer state and
these extra entries (``src.checkpoint.META_KEYS``), so a consumer can tell whether a checkpoint fits the
network it built:

- ``architecture``: the architecture file's content (JSON string: network_path, cell, provenance);
- ``model_config``: JSON string of the config keys that shape the network (``MODEL_CONFIG_KEYS``;
  cells and blocks per cell are the architecture's);
- ``step``, ``epoch``, ``steps_per_epoch``: where training stood.
"""
import json

from src.checkpoint import MODELZOO, Checkpoint, read_checkpoint
from src.errors import UserError

MODEL_CONFIG_KEYS = ("variant", "num_classes", "filter_multiplier", "aspp_rates", "stem_channels",
                     "decoder_channels", "affine")
# Set by the training loop before every step (``set_training_step``), so never needed from a
# checkpoint (older ones and the ModelZoo port's lack it).
LOOP_STATE_NAMES = ("training_step",)
# Entries of a training checkpoint that are optimizer / loss-scale / training-loop state, not network weights.
TRAIN_STATE_NAMES = LOOP_STATE_NAMES + ("global_step", "momentum", "learning_rate", "scale_sense",
                                        "current_iterator_step", "last_overflow_iterator_step", "epoch_num",
                                        "step_num")
TRAIN_STATE_PREFIXES = ("moments.", "accum.", "moment1.", "moment2.")
_LISTED = 5


def checkpoint_meta(cfg, architecture):
    """The extra entries describing the network of ``cfg`` built with ``architecture``."""
    return {"architecture": json.dumps(architecture.to_dict(), sort_keys=True),
            "model_config": json.dumps({key: getattr(cfg, key) for key in MODEL_CONFIG_KEYS}, sort_keys=True)}


def is_train_state(name):
    """Whether a checkpoint entry is optimizer / loss-scale state rather than a network weight."""
    return name in TRAIN_STATE_NAMES or name.startswith(TRAIN_STATE_PREFIXES)


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
    mine = {p.name: tuple(p.shape) for p in net.get_parameters() if not is_train_state(p.name)}
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


def load_weights(net, checkpoint, strict=True, expected=None, variant=None):
    """Load the network weights of ``checkpoint`` (a path or a ``Checkpoint``) into ``net``; returns its meta.

    A retrain checkpoint: ``expected`` (from ``checkpoint_meta``) names the architecture and config
    this run built; a checkpoint that stored different ones is refused with the option to pass.
    Then names and shapes are compared (all of them when ``strict``; shapes only otherwise).
    Optimizer state is skipped. A ModelZoo-port checkpoint is renamed for ``net`` (variant
    ``modelzoo`` only); a search checkpoint is refused with the commands that turn it into one.
    """
    import mindspore as ms

    from src.model.checkpoint_compat import convert_modelzoo_params

    ckpt = checkpoint if isinstance(checkpoint, Checkpoint) else read_checkpoint(checkpoint)
    ckpt.require_weights_for(variant or getattr(net, "variant", "paper"))
    if ckpt.kind == MODELZOO:
        weights = convert_modelzoo_params(ckpt.params, net)
    else:
        if expected:
            check_meta(ckpt.path, ckpt.meta, expected)
        check_parameters(ckpt.path, net, ckpt.params, strict)
        weights = {name: value for name, value in ckpt.params.items() if not is_train_state(name)}
    ms.load_param_into_net(net, weights, strict_load=strict)
    return ckpt.meta
