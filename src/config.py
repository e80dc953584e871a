"""Configuration: one schema for every stage, YAML files under config/, command-line overrides.

Every key a stage reads is declared once in ``SCHEMA`` with its type, default, allowed range and
help text. A YAML file sets any subset of the keys; ``--key value`` on the command line overrides
the file; the result is validated and every bad key/value is reported at once, each with its fix.
"""
import argparse
import os
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import yaml

from src.errors import UserError

CONFIG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "config")


@dataclass(frozen=True)
class Key:
    """One configuration key: its type, default, constraints and help text."""

    kind: str  # int | float | str | bool | path | ints | floats
    default: Any
    help: str
    group: str
    choices: Optional[Sequence[str]] = None
    minimum: Optional[float] = None
    maximum: Optional[float] = None
    exclusive_minimum: bool = False


def _keys(group, **keys):
    return {name: Key(*spec[:2], spec[2], group, **(spec[3] if len(spec) > 3 else {}))
            for name, spec in keys.items()}


SCHEMA = {
    **_keys(
        "common",
        config_path=("path", None, "YAML file with the values of this run (command line overrides it)"),
        device_target=("str", "CPU", "backend", {"choices": ("CPU", "GPU", "Ascend")}),
        device_id=("int", 0, "device index on this host (single-device runs)", {"minimum": 0}),
        mode=("str", "graph", "MindSpore execution mode", {"choices": ("graph", "pynative")}),
        seed=("int", 0, "random seed of weights init, data order and augmentation", {"minimum": 0}),
        distribute=("bool", False, "data-parallel run (set by the msrun / rank-table scripts)"),
        enable_modelarts=("bool", False, "copy data_url in and output_path out with ModelArts' moxing"),
        data_url=("str", None, "ModelArts: OBS path of the input data"),
        train_url=("str", None, "ModelArts: OBS path for the outputs"),
        checkpoint_url=("str", None, "ModelArts: OBS path of a checkpoint (or model) to resume, evaluate, export or predict with"),
        data_path=("path", None, "input folder (MindRecord folder for training/evaluation)"),
        output_path=("path", "output", "folder for checkpoints, logs and results"),
    ),
    **_keys(
        "model",
        arch_path=("path", None, "architecture file (decode.py output); default: the paper's Auto-DeepLab"),
        variant=("str", "paper", "paper: paper/TF ops; modelzoo: loads MindSpore ModelZoo checkpoints",
                 {"choices": ("paper", "modelzoo")}),
        num_classes=("int", 19, "number of training classes", {"minimum": 2}),
        ignore_label=("int", 255, "label value that is never trained or scored", {"minimum": 0, "maximum": 255}),
        filter_multiplier=("int", 20, "F: channels per block at level 0 (S 20, M 32, L 48; search 8)",
                           {"minimum": 1}),
        block_multiplier=("int", 5, "B: blocks per cell of the search supernet (retrain takes B from the "
                          "architecture file's cell: 2 rows per block)", {"minimum": 1}),
        num_layers=("int", 12, "cells of the search supernet (retrain: one cell per network_path entry of the architecture file)", {"minimum": 1}),
        stem_channels=("int", 64, "stem width C of the 3->C, C->C, C->2C stem convs (paper 64)", {"minimum": 1}),
        decoder_channels=("int", 256, "width of the ASPP branches and the decoder convs (paper 256)",
                          {"minimum": 1}),
        aspp_rates=("ints", [6, 12, 18], "atrous rates of the three 3x3 ASPP branches"),
        bn_momentum=("float", 0.995, "BatchNorm momentum, MindSpore convention (kept fraction)",
                     {"minimum": 0.0, "maximum": 1.0, "exclusive_minimum": True}),
        bn_eps=("float", 1e-5, "BatchNorm epsilon", {"minimum": 0.0, "exclusive_minimum": True}),
        drop_path_keep_prob=("float", 1.0, "scheduled drop path keep probability (1.0 = off)",
                             {"minimum": 0.0, "maximum": 1.0, "exclusive_minimum": True}),
    ),
    **_keys(
        "data",
        crop_size=("int", 769, "training crop (square)", {"minimum": 1}),
        min_scale=("float", 0.5, "smallest random scale", {"minimum": 0.0, "exclusive_minimum": True}),
        max_scale=("float", 2.0, "largest random scale", {"minimum": 0.0, "exclusive_minimum": True}),
        channel_order=("str", "rgb", "rgb: ImageNet RGB normalisation; bgr: the ModelZoo port's (RGB constants on BGR)",
                       {"choices": ("rgb", "bgr")}),
        num_parallel_workers=("int", 2, "data-loading workers", {"minimum": 1}),
    ),
    **_keys(
        "train",
        batch_size=("int", 2, "batch per device", {"minimum": 1}),
        epochs=("int", 4000, "training epochs", {"minimum": 1}),
        base_lr=("float", 0.05, "peak learning rate of the weights", {"minimum": 0.0}),
        min_lr=("float", 0.0, "final learning rate of the poly/cosine schedule", {"minimum": 0.0}),
        warmup_start_lr=("float", 5e-6, "learning rate at the first warmup step", {"minimum": 0.0}),
        warmup_iters=("int", 1000, "geometric warmup steps", {"minimum": 0}),
        lr_power=("float", 0.9, "poly schedule power", {"minimum": 0.0}),
        momentum=("float", 0.9, "SGD momentum", {"minimum": 0.0, "maximum": 1.0}),
        weight_decay=("float", 1e-4, "L2 weight decay (not on BatchNorm gamma/beta)", {"minimum": 0.0}),
        criterion=("str", "ohemce", "loss: OHEM cross-entropy or plain cross-entropy",
                   {"choices": ("ohemce", "ce")}),
        ohem_thresh=("float", 0.7, "OHEM: pixels whose true-class probability is below this are hard",
                     {"minimum": 0.0, "maximum": 1.0, "exclusive_minimum": True}),
        amp_level=("str", "O0", "mixed precision level", {"choices": ("O0", "O1", "O2", "O3")}),
        loss_scale=("str", "auto", "auto: dynamic on GPU/Ascend, none on CPU",
                    {"choices": ("auto", "none", "fixed", "dynamic")}),
        loss_scale_value=("float", 1024.0, "loss scale of loss_scale fixed (initial scale of dynamic)",
                          {"minimum": 1.0}),
        save_checkpoint_steps=("int", 0, "save every N steps (0: once per epoch)", {"minimum": 0}),
        keep_checkpoint_max=("int", 5, "checkpoints kept", {"minimum": 1}),
        resume=("path", None, "checkpoint to continue from (weights, optimizer, step, LR position)"),
        log_interval=("int", 10, "steps between progress lines", {"minimum": 1}),
        log_samples=("bool", False, "write the file names each rank reads to samples_rank<R>.txt (data sharding check)"),
    ),
    **_keys(
        "eval",
        ckpt_path=("path", None, "checkpoint to evaluate/export"),
        flip=("bool", False, "average with the horizontally flipped prediction"),
        scales=("floats", [1.0], "inference scales whose probabilities are averaged"),
        sliding_window=("bool", False, "infer in crop_size windows (for inputs too large for memory)"),
    ),
    **_keys(
        "export",
        file_format=("str", "MINDIR", "export format (AIR needs Ascend)", {"choices": ("MINDIR", "ONNX", "AIR")}),
        height=("int", 1024, "exported input height", {"minimum": 1}),
        width=("int", 2048, "exported input width", {"minimum": 1}),
        output=("str", "argmax", "exported output: label map or class probabilities",
                {"choices": ("argmax", "softmax")}),
    ),
    **_keys(
        "search",
        arch_start_epoch=("int", 20, "epoch from which alpha/beta are updated", {"minimum": 0}),
        arch_lr=("float", 3e-3, "Adam learning rate of alpha/beta", {"minimum": 0.0}),
        arch_weight_decay=("float", 1e-3, "Adam weight decay of alpha/beta", {"minimum": 0.0}),
        arch_betas=("floats", [0.9, 0.999], "Adam betas of alpha/beta"),
        memory_mode=("str", "none", "supernet activation memory saving",
                     {"choices": ("none", "recompute", "partial_channel")}),
        partial_channel_k=("int", 4, "partial_channel: 1/k of the channels go through the mixed op",
                           {"minimum": 1}),
    ),
}

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


class Config:
    """Validated configuration with attribute access (``cfg.batch_size``)."""

    def __init__(self, values):
        self.__dict__.update(values)

    def to_dict(self):
        return dict(self.__dict__)

    def replace(self, **changes):
        """A validated copy with some values changed (for programmatic use and tests)."""
        return Config(validate({**self.__dict__, **changes}, source="replace()"))

    def __repr__(self):
        return "Config(%s)" % ", ".join("%s=%r" % kv for kv in sorted(self.__dict__.items()))


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
        if isinstance(value, bool):
            raise ValueError("expected a number")
        number = float(value) if kind == "float" else _to_int(value)
        return number
    if kind in ("str", "path"):
        if isinstance(value, (list, dict)):
            raise ValueError("expected a single value")
        return str(value)
    if kind in ("ints", "floats"):
        items = value
        if isinstance(value, str):
            items = [v for v in value.strip("[] ").replace(",", " ").split() if v]
        if not isinstance(items, (list, tuple)) or not items:
            raise ValueError("expected a non-empty list such as 1,2,3")
        return [_to_int(v) if kind == "ints" else float(v) for v in items]
    raise AssertionError("unknown kind %s of key %s" % (kind, name))


def _to_int(value):
    number = float(value)
    if number != int(number):
        raise ValueError("expected a whole number")
    return int(number)


def _range_problem(key, value):
    values = value if isinstance(value, list) else [value]
    for v in values:
        if key.choices is not None and v not in key.choices:
            return "must be one of %s" % ", ".join(key.choices)
        if key.minimum is not None and (v < key.minimum or (key.exclusive_minimum and v == key.minimum)):
            return "must be %s %s" % (">" if key.exclusive_minimum else ">=", key.minimum)
        if key.maximum is not None and v > key.maximum:
            return "must be <= %s" % key.maximum
    return None


def validate(raw, source):
    """Return a complete, typed dict of all schema keys, or raise UserError listing every problem."""
    problems = []
    values = {name: key.default for name, key in SCHEMA.items()}
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
        problems.extend(_cross_key_problems(values))
    if problems:
        raise UserError("invalid configuration:\n  " + "\n  ".join(problems))
    return values


def _cross_key_problems(values):
    problems = []
    if values["min_scale"] > values["max_scale"]:
        problems.append("min_scale (%s) must not exceed max_scale (%s)" % (values["min_scale"], values["max_scale"]))
    if values["warmup_iters"] and values["warmup_start_lr"] > values["base_lr"]:
        problems.append("warmup_start_lr (%s) must not exceed base_lr (%s)"
                        % (values["warmup_start_lr"], values["base_lr"]))
    if len(values["aspp_rates"]) != 3:
        problems.append("aspp_rates must list 3 rates, got %s" % values["aspp_rates"])
    if len(values["arch_betas"]) != 2 or not all(0 <= b < 1 for b in values["arch_betas"]):
        problems.append("arch_betas must be two numbers in [0, 1), got %s" % values["arch_betas"])
    if values["enable_modelarts"] and not values["data_url"]:
        problems.append("enable_modelarts is true but data_url is not set")
    return problems


def read_yaml(path):
    """Read a config YAML file into a dict, with a clear error for a missing or malformed file."""
    if not os.path.isfile(path):
        raise UserError("config file %s does not exist; pass --config_path with one of the files in %s"
                        % (path, CONFIG_DIR))
    try:
        with open(path) as f:
            data = yaml.safe_load(f) or {}
    except yaml.YAMLError as exc:
        raise UserError("config file %s is not valid YAML: %s" % (path, exc)) from None
    if not isinstance(data, dict):
        raise UserError("config file %s must hold a mapping of key: value lines" % path)
    return data


def load_config(config_path=None, overrides=None):
    """Load a YAML file (optional) and apply overrides (a dict); returns a validated Config."""
    raw = read_yaml(config_path) if config_path else {}
    raw = {**raw, **(overrides or {})}
    if config_path:
        raw["config_path"] = config_path
    return Config(validate(raw, source=config_path or "overrides"))


def _argument_parser(description, default_config_path, epilog=None):
    parser = argparse.ArgumentParser(
        description=description, epilog=epilog, argument_default=argparse.SUPPRESS,
        usage="%(prog)s [--config_path FILE] [--KEY VALUE ...]",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    groups = {}
    for name, key in SCHEMA.items():
        group = groups.get(key.group) or groups.setdefault(
            key.group, parser.add_argument_group("%s options" % key.group))
        default = default_config_path if name == "config_path" else key.default
        choices = " {%s}" % "|".join(key.choices) if key.choices else ""
        group.add_argument("--" + name, metavar=key.kind.upper(),
                           help="%s%s (default: %s)" % (key.help, choices, default))
    return parser


def parse_config(argv=None, default_config_path=None, description=None, epilog=None):
    """Parse ``--config_path FILE --key value ...`` into a validated Config.

    Values come from the schema defaults, then the YAML file, then the command line.
    """
    parser = _argument_parser(description, default_config_path, epilog)
    cli = vars(parser.parse_args(argv))
    config_path = cli.pop("config_path", default_config_path)
    return load_config(config_path, cli)
