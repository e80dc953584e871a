"""Configuration: one schema for every stage, YAML files under config/, command-line overrides.

Every key is declared once in ``SCHEMA``: type, default, allowed values, help text and the stages
(entry scripts) that read it. A YAML file sets any subset of the keys and may inherit another
file (``base: other.yaml``); ``--key value`` overrides the file; the result is validated and every
bad value is reported at once, each with its fix.

Keys a stage does not read (the rule, also in README, Configuration): on the command line an error (the
option would have no effect); in a YAML file a one-line warning when no stage of the file's
pipeline reads the key (a retrain file serves train, eval, export, predict, preprocess and
postprocess, so eval quietly skips the training keys of autodeeplab_s.yaml, but a search file
setting a key search never reads is reported). An unknown key is always an error.

On the command line a bare boolean option means true (``--flip``), and the MindSpore ModelZoo
port's spellings are taken with a note naming the key here, or refused with what replaced them
(``translate_port_options``).
"""
import argparse
import math
import os
import sys
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, Sequence, Tuple

import yaml

from src.errors import UserError
from src.fileio import read_text

CONFIG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "config")
BASE_KEY = "base"  # a YAML file's ``base: FILE`` (relative to that file) inherits FILE's values

# Stages: the entry scripts that take a config (build_mindrecord.py and decode.py take none).
SEARCH, TRAIN, EVAL, EXPORT, PREDICT = "search", "train", "eval", "export", "predict"
PREPROCESS, POSTPROCESS, MODEL_STATS = "preprocess", "postprocess", "model_stats"
PIPELINES = {"search": (SEARCH,),
             "retrain": (TRAIN, EVAL, EXPORT, PREDICT, PREPROCESS, POSTPROCESS, MODEL_STATS)}
STAGES = tuple(stage for stages in PIPELINES.values() for stage in stages)
DEVICE_STAGES = (SEARCH, TRAIN, EVAL, EXPORT, PREDICT)  # call src.device.init_device
NETWORK_STAGES = (TRAIN, EVAL, EXPORT, PREDICT, MODEL_STATS)  # build the retrain network
# The data sets of src/data/datasets.py (its registry holds their class tables; config may not import
# src.data; tests/data/test_datasets.py checks the two lists are equal).
DATASETS = ("cityscapes", "voc", "ade20k", "custom")
# Coarsest output stride of any network: level 3 (the last of the 4 levels) is stride 4 * 2**3.
MAX_OUTPUT_STRIDE = 4 * 2 ** 3


@dataclass(frozen=True)
class Key:
    """One configuration key: type, default, constraints, help text and the stages that read it."""

    kind: str  # int | float | str | bool | path | ints | floats
    default: Any
    help: str
    group: str
    stages: Tuple[str, ...]
    choices: Optional[Sequence[str]] = None
    minimum: Optional[float] = None
    maximum: Optional[float] = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    length: Optional[int] = None  # lists: exact number of items
    stage_help: Optional[Mapping[str, str]] = None  # help where a stage reads the key differently

    def help_for(self, stage):
        return (self.stage_help or {}).get(stage, self.help)


def _keys(group, stages, **keys):
    """Keys of one --help group; ``stages`` is the group's default, a key may set its own."""
    declared = {}
    for name, spec in keys.items():
        options = dict(spec[3]) if len(spec) > 3 else {}
        declared[name] = Key(*spec[:3], group, tuple(options.pop("stages", stages)), **options)
    return declared


SCHEMA = {
    **_keys(
        "common", DEVICE_STAGES,
        config_path=("path", None, "YAML file with the values of this run (command line overrides it)",
                     {"stages": STAGES}),
        device_target=("str", "auto", "backend; auto: Ascend if this MindSpore can use one, else GPU, else CPU",
                       {"choices": ("auto", "Ascend", "GPU", "CPU")}),
        device_id=("int", 0, "device index on this host (single-device runs)", {"minimum": 0}),
        mode=("str", "graph", "MindSpore execution mode", {"choices": ("graph", "pynative")}),
        seed=("int", 0, "random seed of weights init, data order and augmentation",
              {"minimum": 0, "stages": (SEARCH, TRAIN)}),
        deterministic=("bool", False, "GPU/Ascend: MindSpore's deterministic kernels (mindspore.set_deterministic; "
                       "slower); CPU runs repeat bitwise either way (docs/cpu.md, Reproducibility)",
                       {"stages": (SEARCH, TRAIN)}),
        distribute=("bool", False, "data-parallel run (set by the msrun / rank-table scripts)", {"stages": (TRAIN,)}),
        enable_modelarts=("bool", False, "copy data_url in and output_path out with ModelArts' moxing",
                          {"stages": DEVICE_STAGES}),
        data_url=("path", None, "ModelArts: OBS path of the input data", {"stages": (SEARCH, TRAIN, EVAL, PREDICT)}),
        train_url=("path", None, "ModelArts: OBS path for the outputs", {"stages": DEVICE_STAGES}),
        checkpoint_url=("path", None, "ModelArts: OBS path of a checkpoint (or model) to resume, evaluate, "
                        "export or predict with", {"stages": DEVICE_STAGES}),
        data_path=("path", None, "folder of the MindRecord files (build_mindrecord.py output)",
                   {"stages": (SEARCH, TRAIN, EVAL, PREPROCESS, POSTPROCESS),
                    "stage_help": {PREPROCESS: "a Cityscapes root (its val split) or a folder of images",
                                   POSTPROCESS: "the Cityscapes root (scored) or the folder of images given to "
                                                "preprocess.py"}}),
        output_path=("path", "output", "folder for checkpoints, logs and results",
                     {"stages": tuple(s for s in STAGES if s != MODEL_STATS)}),
    ),
    **_keys(
        "model", NETWORK_STAGES,
        arch_path=("path", None, "architecture file (decode.py output), or a train.py checkpoint (the architecture "
                   "it records); default: the checkpoint's when one is read, else the paper's Auto-DeepLab"),
        variant=("str", "paper", "paper: paper/TF ops; modelzoo: loads MindSpore ModelZoo checkpoints",
                 {"choices": ("paper", "modelzoo")}),
        dataset=("str", "cityscapes", "data set (docs/datasets.md): its class table sets num_classes, the class "
                 "names eval prints and the colours predict paints; must match the MindRecord folder's",
                 {"choices": DATASETS, "stages": (SEARCH, TRAIN, EVAL, EXPORT, PREDICT)}),
        classes_path=("path", None, "dataset custom: its classes.txt, or its MindRecord folder (default: data_path's "
                      "record)", {"stages": (SEARCH, TRAIN, EVAL, EXPORT, PREDICT)}),
        num_classes=("int", 19, "number of training classes (default: the data set's)",
                     {"minimum": 2, "stages": NETWORK_STAGES + (SEARCH, POSTPROCESS)}),
        ignore_label=("int", 255, "label value that is never trained or scored",
                      {"minimum": 0, "maximum": 255, "stages": (SEARCH, TRAIN, EVAL, POSTPROCESS)}),
        filter_multiplier=("int", 20, "F: channels per block at level 0 (S 20, M 32, L 48; search 8)",
                           {"minimum": 1, "stages": NETWORK_STAGES + (SEARCH,)}),
        block_multiplier=("int", 5, "B: blocks per cell of the search supernet (retrain takes B from the "
                          "architecture file's cell: 2 rows per block)", {"minimum": 1, "stages": (SEARCH,)}),
        num_layers=("int", 12, "cells of the search supernet (retrain: one cell per network_path entry of the "
                    "architecture file)", {"minimum": 1, "stages": (SEARCH,)}),
        stem_channels=("int", 64, "stem width C of the 3->C, C->C, C->2C stem convs (paper 64)",
                       {"minimum": 1, "stages": NETWORK_STAGES + (SEARCH,)}),
        decoder_channels=("int", 256, "width of the ASPP branches and the decoder convs (paper 256)",
                          {"minimum": 1}),
        aspp_rates=("ints", [6, 12, 18], "atrous rates of the three 3x3 ASPP branches",
                    {"minimum": 1, "length": 3}),
        bn_momentum=("float", 0.995, "BatchNorm momentum, MindSpore convention (kept fraction)",
                     {"minimum": 0.0, "maximum": 1.0, "exclusive_minimum": True, "stages": (SEARCH, TRAIN)}),
        bn_eps=("float", 1e-5, "BatchNorm epsilon",
                {"minimum": 0.0, "exclusive_minimum": True, "stages": NETWORK_STAGES + (SEARCH,)}),
        affine=("bool", True, "trainable BatchNorm scale/shift in the cells' sep/dil convs (false: frozen, as the "
                "ModelZoo port's affine False; variant modelzoo only)"),
        drop_path_keep_prob=("float", 1.0, "scheduled drop path keep probability (1.0 = off)",
                             {"minimum": 0.0, "maximum": 1.0, "exclusive_minimum": True, "stages": (TRAIN,)}),
    ),
    **_keys(
        "data", (TRAIN,),
        crop_size=("int", 769, "training crop (square)",
                   {"minimum": 1, "stages": (SEARCH, TRAIN, EVAL, PREDICT),
                    "stage_help": {EVAL: "window of sliding_window (square)",
                                   PREDICT: "window of sliding_window (square)",
                                   SEARCH: "random crop of the images at search_scale (square)"}}),
        min_scale=("float", 0.5, "smallest random scale", {"minimum": 0.0, "exclusive_minimum": True}),
        max_scale=("float", 2.0, "largest random scale", {"minimum": 0.0, "exclusive_minimum": True}),
        channel_order=("str", "rgb", "rgb: ImageNet RGB normalisation; bgr: the ModelZoo port's (RGB constants on BGR)",
                       {"choices": ("rgb", "bgr"), "stages": (TRAIN, EVAL, PREDICT, PREPROCESS)}),
        num_parallel_workers=("int", 2, "data-loading workers", {"minimum": 1, "stages": (TRAIN, EVAL)}),
    ),
    **_keys(
        "train", (TRAIN,),
        batch_size=("int", 2, "batch per device", {"minimum": 1, "stages": (SEARCH, TRAIN)}),
        epochs=("int", 4000, "training epochs", {"minimum": 1, "stages": (SEARCH, TRAIN),
                                                 "stage_help": {SEARCH: "search epochs"}}),
        base_lr=("float", 0.05, "peak learning rate of the weights", {
            "minimum": 0.0, "stages": (SEARCH, TRAIN),
            "stage_help": {SEARCH: "initial learning rate of the supernet weights (cosine schedule)"}}),
        min_lr=("float", 0.0, "final learning rate of the poly schedule", {
            "minimum": 0.0, "stages": (SEARCH, TRAIN),
            "stage_help": {SEARCH: "final learning rate of the weights' cosine schedule"}}),
        warmup_start_lr=("float", 5e-6, "learning rate at the first warmup step", {"minimum": 0.0}),
        warmup_iters=("int", 1000, "geometric warmup steps", {"minimum": 0}),
        lr_power=("float", 0.9, "poly schedule power", {"minimum": 0.0}),
        momentum=("float", 0.9, "SGD momentum", {"minimum": 0.0, "maximum": 1.0, "stages": (SEARCH, TRAIN)}),
        weight_decay=("float", 1e-4, "L2 weight decay (not on BatchNorm gamma/beta)",
                      {"minimum": 0.0, "stages": (SEARCH, TRAIN),
                       "stage_help": {SEARCH: "L2 weight decay of the supernet weights (not on BatchNorm gamma/beta)"}}),
        criterion=("str", "ohemce", "loss: OHEM cross-entropy or plain cross-entropy",
                   {"choices": ("ohemce", "ce")}),
        ohem_thresh=("float", 0.7, "OHEM: pixels whose true-class probability is below this are hard",
                     {"minimum": 0.0, "maximum": 1.0, "exclusive_minimum": True}),
        amp_level=("str", "O0", "mixed precision level", {"choices": ("O0", "O1", "O2", "O3")}),
        loss_scale=("str", "auto", "auto: dynamic on GPU/Ascend, none on CPU",
                    {"choices": ("auto", "none", "fixed", "dynamic")}),
        loss_scale_value=("float", 1024.0, "loss scale of loss_scale fixed (initial scale of dynamic)",
                          {"minimum": 1.0}),
        dataset_sink_mode=("str", "auto", "feed the device in sinks of steps (MindSpore's data sink mode; "
                           "auto: on for Ascend and GPU; CPU always runs step by step)",
                           {"choices": ("auto", "true", "false"), "stages": (TRAIN,)}),
        save_checkpoint_steps=("int", 0, "save every N steps (0: once per epoch)", {"minimum": 0}),
        keep_checkpoint_max=("int", 5, "checkpoints kept", {"minimum": 1}),
        eval_interval=("int", 0, "validate on the val MindRecord every N epochs and after the last one (single "
                       "scale, no flip), logging val_log.csv and keeping best_miou.ckpt (0: off)",
                       {"minimum": 0, "stages": (TRAIN,)}),
        resume=("path", None, "checkpoint to continue from (weights, optimizer, step, LR position)",
                {"stages": (SEARCH, TRAIN)}),
        pretrained_ckpt=("path", None, "initial weights (train.py or, with --variant modelzoo, ModelZoo "
                         "checkpoint); starts at step 0", {"stages": (TRAIN,)}),
        overwrite=("bool", False, "start over in an output_path holding another run's checkpoints "
                   "(removes them)", {"stages": (TRAIN,)}),
        log_interval=("int", 10, "steps between progress lines", {"minimum": 1, "stages": (SEARCH, TRAIN)}),
        log_samples=("bool", False, "write the file names each rank reads to samples_rank<R>.txt (data sharding check)"),
        bn_recalibration_images=("int", 0, "after the last step, re-estimate the BN running statistics on this "
                                 "many full training images and rewrite the last checkpoint (0: off; "
                                 "for small batches and crops, see "
                                 "docs/retrain_network.md, BN re-estimation)", {"minimum": 0}),
        bn_recalibration_batch=("int", 4, "images per forward pass of the BN re-estimation (batch statistics "
                                "of each pass normalise the layers above)", {"minimum": 2}),
    ),
    **_keys(
        "eval", (EVAL, PREDICT),
        ckpt_path=("path", None, "checkpoint to evaluate/export (the network it records is used unless given)",
                   {"stages": (EVAL, EXPORT, PREDICT),
                    "stage_help": {PREDICT: "model: a .ckpt checkpoint, a .mindir or an .onnx export (also "
                                            "spelled model)"}}),
        flip=("bool", False, "average with the horizontally flipped prediction"),
        scales=("floats", [1.0], "inference scales whose probabilities are averaged",
                {"minimum": 0.0, "exclusive_minimum": True}),
        sliding_window=("bool", False, "infer in crop_size windows (for inputs too large for memory)"),
    ),
    **_keys(
        "export", (EXPORT,),
        file_format=("str", "MINDIR", "export format (AIR needs Ascend)", {"choices": ("MINDIR", "ONNX", "AIR")}),
        height=("int", 1024, "exported input height", {"minimum": 1, "stages": (EXPORT, PREPROCESS, MODEL_STATS)}),
        width=("int", 2048, "exported input width", {"minimum": 1, "stages": (EXPORT, PREPROCESS, MODEL_STATS)}),
        output=("str", "argmax", "exported output: label map or class probabilities",
                {"choices": ("argmax", "softmax")}),
    ),
    **_keys(
        "search", (SEARCH,),
        search_scale=("float", 0.5, "scale of the train images the search crops from: 0.5 = the paper's half "
                      "resolution; 1.0 where halving loses detail the retrain sees (small images)",
                      {"minimum": 0.0, "exclusive_minimum": True}),
        arch_start_epoch=("int", 20, "epoch from which alpha/beta are updated", {"minimum": 0}),
        arch_lr=("float", 3e-3, "Adam learning rate of alpha/beta", {"minimum": 0.0}),
        arch_weight_decay=("float", 1e-3, "Adam weight decay of alpha/beta", {"minimum": 0.0}),
        arch_betas=("floats", [0.9, 0.999], "Adam betas of alpha/beta",
                    {"minimum": 0.0, "maximum": 1.0, "exclusive_maximum": True, "length": 2}),
        memory_mode=("str", "none", "supernet activation memory saving",
                     {"choices": ("none", "recompute", "partial_channel")}),
        move_mixing=("str", "paper", "how a supernet node weighs its incoming moves: paper = the move's beta "
                     "softmax over its source's moves (the first cell's level then gets no gradient); path = "
                     "the probability that the path came through the move (beta's Markov chain)",
                     {"choices": ("paper", "path")}),
        path_search=("str", "relaxed", "how the network path is searched: relaxed = the paper's beta, learnt by "
                     "gradient and decoded by path_decode; single_path = from arch_start_epoch on, every weight and "
                     "architecture step trains one uniformly drawn valid path (Guo et al. 2020) and each epoch "
                     "end keeps the path of lowest loss on half B of scored_paths scored (beta unused)",
                     {"choices": ("relaxed", "single_path")}),
        scored_paths=("int", 64, "path_search single_path: valid paths scored at an epoch end (all of them "
                      "when there are no more; else this many drawn uniformly)", {"minimum": 1}),
        partial_channel_k=("int", 4, "partial_channel: 1/k of the channels go through the mixed op",
                           {"minimum": 1}),
        path_decode=("str", "rescaled", "score of a network-path move: rescaled = p * k / 3 for a node with k "
                     "moves (no level favoured by uninformative betas); paper = p (favours levels 0 and 3); "
                     "evidence = the move's z in the architecture gradients (not the Adam-moved betas)",
                     {"choices": ("rescaled", "paper", "evidence")}),
        aux_skip_weight=("float", 0.0, "DARTS-: weight of an auxiliary skip connection on every supernet edge, "
                         "kept through the weight-only epochs, then falling linearly to 0 at the last "
                         "architecture step (against the skip-connect collapse; 0: the paper's supernet)",
                         {"minimum": 0.0}),
        alpha_logsumexp_weight=("float", 0.0, "beta-DARTS' Beta-Decay: the architecture step's loss adds this "
                                "weight x the mean over edges of logsumexp(alpha), rising linearly to it at the "
                                "last architecture step (flattens the op weights against the skip-connect "
                                "collapse; 0: the paper's search)", {"minimum": 0.0}),
    ),
}


@dataclass(frozen=True)
class CrossKeyRule:
    """A rule over several keys: ``problem(values)`` is None or the message naming the fix."""

    name: str
    keys: Tuple[str, ...]
    problem: Callable[[dict], Optional[str]]


CROSS_KEY_RULES = (
    CrossKeyRule("scale_range", ("min_scale", "max_scale"), lambda v: v["min_scale"] > v["max_scale"] and (
        "min_scale (%s) must not exceed max_scale (%s)" % (v["min_scale"], v["max_scale"]))),
    CrossKeyRule("warmup_below_peak", ("warmup_iters", "warmup_start_lr", "base_lr"),
                 lambda v: v["warmup_iters"] > 0 and v["warmup_start_lr"] > v["base_lr"] and (
                     "warmup_start_lr (%s) must not exceed base_lr (%s)" % (v["warmup_start_lr"], v["base_lr"]))),
    CrossKeyRule("affine_needs_modelzoo", ("affine", "variant"), lambda v: not v["affine"] and v["variant"] != "modelzoo"
                 and "affine false (the ModelZoo port's frozen BatchNorm scale/shift) needs --variant modelzoo"),
    # A window smaller than the coarsest output stride holds less than one pixel of the deepest
    # feature map (level 3, stride 32): every feature there would come from padding.
    CrossKeyRule("sliding_window_crop", ("sliding_window", "crop_size"),
                 lambda v: v["sliding_window"] and v["crop_size"] < MAX_OUTPUT_STRIDE and (
                     "sliding_window needs crop_size >= %d (the network's coarsest output stride), got %d"
                     % (MAX_OUTPUT_STRIDE, v["crop_size"]))),
)

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def boolean(text):
    """argparse type of the boolean options of the argparse entry points: true/false, yes/no, 1/0, on/off."""
    value = str(text).strip().lower()
    if value not in _TRUE | _FALSE:
        raise ValueError(text)
    return value in _TRUE


class Config:
    """Validated configuration with attribute access (``cfg.batch_size``).

    ``given``: the keys the user set (command line, a --config_path file, ``replace``), as opposed
    to defaults; a checkpoint's recorded network fills in only keys not given
    (``src.model.loading.with_checkpoint_network``).
    """

    def __init__(self, values, given=()):
        self.__dict__.update(values)
        self.given = frozenset(given)

    def to_dict(self):
        return {name: self.__dict__[name] for name in SCHEMA}

    def replace(self, **changes):
        """A validated copy with some values changed (for programmatic use and tests)."""
        return Config(validate({**self.to_dict(), **changes}, source="replace()"), self.given | set(changes))

    def adopt(self, values, source):
        """A validated copy taking ``values`` (e.g. a checkpoint's record) for the keys not given;
        defaults derived from an adopted key follow it (``DERIVED_DEFAULTS``)."""
        taken = {name: value for name, value in values.items() if name not in self.given}
        raw = {**self.to_dict(), **taken}
        for name in taken:
            for derived in DERIVED_DEFAULTS.get(name, ()):
                if derived not in self.given:
                    del raw[derived]
        return Config(validate(raw, source=source), self.given)

    def __repr__(self):
        return "Config(%s)" % ", ".join("%s=%r" % kv for kv in sorted(self.to_dict().items()))


def _convert(name, key, value):
    """Convert one value (YAML scalar/list or command-line string) to the key's type."""
    if value is None:
        return None
    kind = key.kind
    if kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise ValueError("expected true or false")
    if kind in ("int", "float"):
        if isinstance(value, (bool, list, dict)):
            raise ValueError("expected a number")
        return _to_float(value) if kind == "float" else _to_int(value)
    if kind in ("str", "path"):
        if isinstance(value, (list, dict)):
            raise ValueError("expected a single value")
        if key.choices and {"true", "false"} <= set(key.choices):  # a tri-state key: any boolean spelling
            text = str(value).strip().lower()
            if text in _TRUE | _FALSE:
                return "true" if text in _TRUE else "false"
        if kind == "path" and not str(value).strip():
            raise ValueError("an empty path is not a folder or file; omit the key (or set null) for none")
        return str(value)
    if kind in ("ints", "floats"):
        items = value
        if isinstance(value, str):
            items = [v for v in value.strip("[] ").replace(",", " ").split() if v]
        if not isinstance(items, (list, tuple)) or not items:
            raise ValueError("expected a non-empty list such as 1,2,3")
        return [_to_int(v) if kind == "ints" else _to_float(v) for v in items]
    raise AssertionError("unknown kind %s of key %s" % (kind, name))


def _to_float(value):
    if isinstance(value, bool):
        raise ValueError("expected a number")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError("expected a finite number")
    return number


def _to_int(value):
    number = _to_float(value)
    if number != int(number):
        raise ValueError("expected a whole number")
    return int(number)


def _range_problem(key, value):
    if key.length is not None and len(value) != key.length:
        return "must list %d values" % key.length
    for v in value if isinstance(value, list) else [value]:
        if key.choices is not None and v not in key.choices:
            return "must be one of %s" % ", ".join(key.choices)
        if key.minimum is not None and (v < key.minimum or (key.exclusive_minimum and v == key.minimum)):
            return "must be %s %s" % (">" if key.exclusive_minimum else ">=", key.minimum)
        if key.maximum is not None and (v > key.maximum or (key.exclusive_maximum and v == key.maximum)):
            return "must be %s %s" % ("<" if key.exclusive_maximum else "<=", key.maximum)
    return None


# The OBS input each stage cannot run without in ModelArts mode (enable_modelarts true); export
# reads no data, so it asks for the checkpoint (and train_url for its output) only.
MODELARTS_INPUTS = {SEARCH: "data_url", TRAIN: "data_url", EVAL: "data_url", PREDICT: "data_url", EXPORT: "checkpoint_url"}

# Keys whose default depends on another key's value (set in ``validate`` when the raw values lack them).
DERIVED_DEFAULTS = {"variant": ("channel_order",)}


def validate(raw, source):
    """Return a complete, typed dict of all schema keys, or raise UserError listing every problem."""
    problems = []
    values = {name: key.default for name, key in SCHEMA.items()}
    if raw.get("variant") == "modelzoo" and "channel_order" not in raw:
        values["channel_order"] = "bgr"  # the port's normalisation, unless the user chose one
    for name, value in raw.items():
        key = SCHEMA.get(name)
        if key is None:
            problems.append("unknown key '%s' (%s); see --help for the valid keys" % (name, source))
            continue
        try:
            value = _convert(name, key, value)
        except (TypeError, ValueError) as exc:
            problems.append("%s: %r is not valid: %s" % (name, value, exc))
            continue
        problem = value is not None and _range_problem(key, value)
        if problem:
            problems.append("%s: %r %s" % (name, value, problem))
            continue
        values[name] = value
    if not problems:
        problems.extend(filter(None, (rule.problem(values) for rule in CROSS_KEY_RULES)))
    if problems:
        if len(problems) == 1:  # one problem, one line
            raise UserError("invalid configuration: " + problems[0])
        raise UserError("invalid configuration:\n  " + "\n  ".join(problems))
    return values


def _read_yaml_file(path):
    if not os.path.isfile(path):
        raise UserError("config file %s does not exist; pass --config_path with one of the files in %s"
                        % (path, CONFIG_DIR))
    try:
        data = yaml.safe_load(read_text(path, "config file"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = " at line %d, column %d" % (mark.line + 1, mark.column + 1) if mark else ""
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UserError("config file %s is not valid YAML%s: %s" % (path, where, reason)) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError("config file %s must hold a mapping of key: value lines" % path)
    return data


def read_yaml(path, _inheriting=()):
    """The values of a config file: its ``base`` file's values (recursively), then its own."""
    data = _read_yaml_file(path)
    base = data.pop(BASE_KEY, None)
    if base is None:
        return data
    if not isinstance(base, str) or not base.strip():
        raise UserError("config file %s: '%s' must name one YAML file (relative to %s)"
                        % (path, BASE_KEY, os.path.dirname(path) or "."))
    base_path = os.path.join(os.path.dirname(path), base)
    chain = _inheriting + (os.path.realpath(path),)
    if os.path.realpath(base_path) in chain:
        raise UserError("config file %s: its base %s inherits from it again; remove one of the 'base' lines"
                        % (path, base_path))
    if not os.path.isfile(base_path):
        raise UserError("config file %s: base file %s does not exist" % (path, base_path))
    return {**read_yaml(base_path, chain), **data}


def _not_read_by(stage, name):
    return "%s is not read by %s (read by: %s)" % (name, stage, ", ".join(SCHEMA[name].stages))


def pipeline_keys(stage):
    """The keys some stage of ``stage``'s pipeline reads: what a config file for it may set
    without a warning (and what a run should save as its config)."""
    pipeline = next(stages for stages in PIPELINES.values() if stage in stages)
    return {name for name, key in SCHEMA.items() if set(key.stages) & set(pipeline)}


def load_config(config_path=None, overrides=None, stage=None, file_given=True):
    """Load a YAML file (optional) and apply overrides (a dict); returns a validated Config.

    With ``stage``: an override the stage does not read is an error, and a file key no stage of
    the stage's pipeline reads is a warning on stderr (see the module docstring). The overrides,
    and with ``file_given`` the file's keys, are the Config's ``given`` keys (a stage's default
    file is not the user's choice).
    """
    raw = read_yaml(config_path) if config_path else {}
    overrides = dict(overrides or {})
    if stage is not None:
        if stage not in STAGES:
            raise AssertionError("unknown stage %r" % stage)
        ignored = [name for name in overrides if name in SCHEMA and stage not in SCHEMA[name].stages]
        if ignored:
            raise UserError("; ".join(_not_read_by(stage, name) for name in ignored) + ": remove the option")
        readable = pipeline_keys(stage)
        unused = [name for name in raw if name in SCHEMA and name not in readable]
        if unused:
            print("warning: %s sets %s, which %s does not read; it has no effect"
                  % (config_path, ", ".join(unused), stage), file=sys.stderr)
    given = set(overrides) | (set(raw) if file_given else set())
    raw = {**raw, **overrides}
    if config_path:
        raw["config_path"] = config_path
    cfg = Config(validate(raw, source=config_path or "overrides"), given)
    url = MODELARTS_INPUTS.get(stage)
    if url and cfg.enable_modelarts and not getattr(cfg, url):
        raise UserError("enable_modelarts is true but %s is not set; %s reads its input from there: pass --%s"
                        % (url, stage, url))
    return cfg


# The MindSpore ModelZoo port's options (research/cv/Auto-DeepLab) that are spelled otherwise here
# (docs/migration.md): PORT_KEYS, the key that takes the value (a note says so; None for ckpt_name:
# the stage's checkpoint key, ``_port_checkpoint_key``); PORT_REPLACED, refused with what replaced it.
PORT_KEYS = {"modelArts_mode": "enable_modelarts", "modelArts": "enable_modelarts", "workers": "num_parallel_workers",
             "out_path": "output_path", "eval_flip": "flip", "ckpt_url": "checkpoint_url", "net_arch": "arch_path",
             "cell_arch": "arch_path", "ckpt_name": None}
PORT_REPLACED = {
    "save_epochs": "checkpoints are saved every --save_checkpoint_steps steps (0: once per epoch)",
    "start_epoch": "--resume CKPT continues at the checkpoint's own step and learning rate",
    "initial-fm": "the widths are --filter_multiplier, --stem_channels and --decoder_channels",
    "infer_flip": "export writes one forward pass; flip is eval.py's --flip",
    "input_format": "exports take NCHW float32 (docs/migration.md)",
    "filter_weight": "exports keep every layer; --output argmax|softmax chooses the head",
    "img_url": "predict.py reads images from --data_url in ModelArts mode",
}
# Port options with no key here: value -> None (accepted: the note says why it changes nothing)
# or the key/value it becomes; any other value is refused with the note.
PORT_SETTINGS = {
    "parallel": ({"true": None, "false": None}, "SyncBatchNorm is used when distribute is true on Ascend"),
    "use_ABN": ({"true": ("variant", "modelzoo")}, "the port's ABN network is --variant modelzoo; its network "
                "without ABN is not built here (--variant paper is the paper's)"),
    "ms_infer": ({"false": None, "true": None}, "eval.py always infers with MindSpore"),
    "split": ({"val": None}, "eval.py scores the val split; build_mindrecord.py takes --split"),
}


# Earlier spellings of this project's keys, per stage: still taken, without a note.
OLD_SPELLINGS = {PREDICT: {"model": "ckpt_path"}}


def _port_checkpoint_key(stage, argv):
    """Where the port's --ckpt_name goes: ModelArts' checkpoint_url, else the stage's checkpoint."""
    modelarts = any(str(value if value is not None else "true").strip().lower() in _TRUE
                    for name, value in _option_values(argv)
                    if name in ("modelArts_mode", "modelArts", "enable_modelarts"))
    return "checkpoint_url" if modelarts else "resume" if stage in (TRAIN, SEARCH) else "ckpt_path"


def _option_values(argv):
    """[(name, value or None for a bare option)] of ``--name[=value]`` / ``--name value`` items;
    other items are kept as (None, item)."""
    items, index = [], 0
    while index < len(argv):
        item = argv[index]
        index += 1
        if not item.startswith("--") or item == "--":
            items.append((None, item))
            continue
        name, equals, value = item[2:].partition("=")
        if not equals and index < len(argv) and not argv[index].startswith("--"):
            value, equals = argv[index], "="
            index += 1
        items.append((name, value if equals else None))
    return items


def translate_port_options(argv, stage):
    """``argv`` with the ModelZoo port's spellings as this project's keys (one note per option on
    stderr) and bare boolean options (``--flip``) as ``--flip true``; UserError for a port option
    that was replaced."""
    out, notes = [], []
    for name, value in _option_values(list(argv)):
        if name is None:
            out.append(value)
            continue
        if name in PORT_REPLACED:
            raise UserError("--%s is the ModelZoo port's option; here %s (docs/migration.md)" % (name, PORT_REPLACED[name]))
        if name in PORT_SETTINGS:
            accepted, note = PORT_SETTINGS[name]
            value = "true" if value is None else value
            choice = value.strip().lower()
            if choice not in accepted:
                raise UserError("--%s %s (ModelZoo port): %s" % (name, value, note))
            if accepted[choice]:
                notes.append("--%s %s (ModelZoo port) is --%s %s here" % ((name, value) + accepted[choice]))
                out += ["--" + accepted[choice][0], accepted[choice][1]]
            else:
                notes.append("--%s %s (ModelZoo port) has no key here: %s" % (name, value, note))
            continue
        name = OLD_SPELLINGS.get(stage, {}).get(name, name)
        if name in PORT_KEYS:
            key = PORT_KEYS[name] or _port_checkpoint_key(stage, argv)
            notes.append("--%s is the ModelZoo port's spelling of --%s" % (name, key))
            name = key
        if value is None and name in SCHEMA and SCHEMA[name].kind == "bool":
            value = "true"  # a bare boolean option switches it on
        out += ["--" + name] + ([value] if value is not None else [])
    for note in notes:
        print("note: " + note, file=sys.stderr)
    return out


def _argument_parser(stage, description, default_config_path, epilog=None):
    parser = argparse.ArgumentParser(
        description=description, epilog=epilog, argument_default=argparse.SUPPRESS, allow_abbrev=False,
        usage="%(prog)s [--config_path FILE] [--KEY VALUE ...]",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    try:  # the defaults shown are those in force without --config_path: the stage's default file
        defaults = {**read_yaml(default_config_path), "config_path": default_config_path} if default_config_path else {}
    except UserError:
        defaults = {}
    groups = {}
    for name, key in SCHEMA.items():
        if stage is not None and stage not in key.stages:
            continue
        group = groups.get(key.group) or groups.setdefault(
            key.group, parser.add_argument_group("%s options" % key.group))
        default = defaults.get(name, key.default)
        choices = " {%s}" % "|".join(key.choices) if key.choices else ""
        group.add_argument("--" + name, metavar=key.kind.upper(),
                           help="%s%s (default: %s)" % (key.help_for(stage), choices, default))
    return parser


def parse_config(argv=None, default_config_path=None, description=None, epilog=None, stage=None):
    """Parse ``--config_path FILE --key value ...`` into a validated Config.

    Values come from the schema defaults, then the YAML file, then the command line. With
    ``stage``, --help lists only that stage's keys and a key of another stage is refused.
    """
    parser = _argument_parser(stage, description, default_config_path, epilog)
    argv = translate_port_options(sys.argv[1:] if argv is None else argv, stage)
    cli, rest = parser.parse_known_args(argv)
    options = [item[2:].split("=", 1)[0] for item in rest if item.startswith("--")]
    other_stage = [name for name in options if name in SCHEMA]
    if other_stage:
        raise UserError("; ".join("--" + _not_read_by(stage, name) for name in other_stage)
                        + ": remove the option")
    if rest:
        parser.error("unrecognized arguments: %s" % " ".join(rest))
    cli = vars(cli)
    file_given = "config_path" in cli
    config_path = cli.pop("config_path", default_config_path)
    return load_config(config_path, cli, stage=stage, file_given=file_given)
