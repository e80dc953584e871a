"""The one checkpoint reader: any .ckpt file read once, its kind told apart, its meta decoded.

Below both the retrain side (``src.model.weights``: checking the meta against the network and
loading the weights) and the search (``src.nas``: resume and decode), so neither reads a
checkpoint on its own. Kinds:

- ``retrain`` (train.py): network weights under the project's names, optionally optimizer state
  and the entries ``META_KEYS`` (``architecture`` and ``model_config`` as JSON strings; ``step``,
  ``epoch``, ``steps_per_epoch`` as numbers);
- ``search`` (search.py): ``alphas`` and ``betas`` and the JSON string ``SEARCH_META_KEY``
  (``search_meta``: epoch, steps per epoch and the settings a resume must match);
- ``modelzoo``: a checkpoint of the MindSpore ModelZoo port (its names, ``encoder.NASCells.*``).
"""
import json
import os

from src.errors import UserError

RETRAIN, SEARCH, MODELZOO = "retrain", "search", "modelzoo"
META_KEYS = ("architecture", "model_config", "step", "epoch", "steps_per_epoch")
_JSON_META_KEYS = ("architecture", "model_config")
SEARCH_META_KEY = "search_meta"
_MODELZOO_MARKS = ("encoder.stem0.", "encoder.NASCells.")
_SEARCH_MARKS = ("alphas", "betas")
_MAKE = {RETRAIN: "a checkpoint written by train.py",
         SEARCH: "a search_epoch<N>.ckpt written by search.py",
         MODELZOO: "a checkpoint of the MindSpore ModelZoo port (research/cv/Auto-DeepLab)"}
# What to pass instead of a missing or unreadable file, by the kind the caller wants.
_PASS = {RETRAIN: "a .ckpt written by train.py", SEARCH: _MAKE[SEARCH], MODELZOO: _MAKE[MODELZOO]}


def checkpoint_kind(names):
    """``search``, ``modelzoo`` or ``retrain`` for a checkpoint with these entry names."""
    names = set(names)
    if all(mark in names for mark in _SEARCH_MARKS):
        return SEARCH
    if any(mark in name for name in names for mark in _MODELZOO_MARKS):
        return MODELZOO
    return RETRAIN


class Checkpoint:
    """One checkpoint file, read once: its parameters (tensors only), its meta entries and its kind.

    ``meta``: a retrain checkpoint's ``META_KEYS`` (decoded), or a search checkpoint's
    ``search_meta`` JSON (decoded; empty when the entry is missing); neither is in ``params``.
    Other string entries are kept apart in ``strings``, so ``params`` only holds tensors.
    """

    def __init__(self, path, kind, params, meta, strings):
        self.path, self.kind, self.params, self.meta, self.strings = path, kind, params, meta, strings

    def require(self, *kinds, purpose="this command"):
        """Raise UserError naming what this file is and what to run when its kind is not one of ``kinds``."""
        if self.kind in kinds:
            if self.kind == SEARCH and not self.meta:
                raise UserError("'%s' is not a search checkpoint (alphas and betas but no %s entry), so %s "
                                "cannot use it; pass %s" % (self.path, SEARCH_META_KEY, purpose, _MAKE[SEARCH]))
            return self
        if self.kind == SEARCH:
            fix = ("decode it first: python decode.py --ckpt_path %s --output_path ARCH_DIR, then retrain "
                   "with: python train.py --arch_path ARCH_DIR/architecture.json" % self.path)
        elif SEARCH in kinds:
            fix = "pass %s; evaluate this one with eval.py %s--ckpt_path" % (
                _MAKE[SEARCH], "--variant modelzoo " if self.kind == MODELZOO else "")
        elif self.kind == MODELZOO:
            fix = "pass --variant modelzoo (with the port's --arch_path) to use it"
        else:
            fix = "pass %s" % " or ".join(_MAKE[kind] for kind in kinds)
        raise UserError("'%s' is %s, which %s cannot use; %s" % (self.path, _MAKE[self.kind], purpose, fix))

    def require_weights_for(self, variant):
        """Network weights for a network of ``variant``: retrain, or ModelZoo-port with variant modelzoo."""
        self.require(RETRAIN, MODELZOO, purpose="loading network weights")
        if self.kind == MODELZOO and variant != "modelzoo":
            self.require(RETRAIN, purpose="the '%s' variant" % variant)
        return self


def _decode_json(ckpt_path, key, value):
    try:
        return json.loads(value)
    except ValueError as exc:
        raise UserError("'%s' has a broken %s entry (not JSON: %s); pass a checkpoint written by this project"
                        % (ckpt_path, key, exc)) from None


def read_checkpoint(ckpt_path, what="--ckpt_path", expect=RETRAIN):
    """Read ``ckpt_path`` once into a ``Checkpoint`` (meta entries decoded), or raise UserError.

    ``what`` is the option that named the file and ``expect`` the kind the caller wants; both
    only word the error for a missing or unreadable file (``Checkpoint.require`` checks the kind).
    """
    import mindspore as ms

    wanted = "pass %s with %s" % (what, _PASS[expect])
    if not ckpt_path or not os.path.isfile(ckpt_path):
        raise UserError("checkpoint file '%s' does not exist; %s" % (ckpt_path, wanted))
    try:
        entries = ms.load_checkpoint(ckpt_path)
    except (ValueError, RuntimeError, TypeError, OSError) as exc:
        raise UserError("'%s' is not a MindSpore checkpoint (%s); %s"
                        % (ckpt_path, (str(exc).splitlines() or [type(exc).__name__])[0], wanted)) from None
    strings = {name: value for name, value in entries.items() if isinstance(value, str)}
    params = {name: value for name, value in entries.items() if name not in strings}
    kind = checkpoint_kind(params)
    meta = {}
    if kind == SEARCH:
        if SEARCH_META_KEY in strings:
            meta = _decode_json(ckpt_path, SEARCH_META_KEY, strings.pop(SEARCH_META_KEY))
    else:
        for key in META_KEYS:
            if key in entries:
                value = strings.pop(key) if key in strings else params.pop(key).asnumpy().item()
                meta[key] = _decode_json(ckpt_path, key, value) if key in _JSON_META_KEYS else int(value)
    return Checkpoint(ckpt_path, kind, params, meta, strings)
