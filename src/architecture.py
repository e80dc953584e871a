"""The architecture file: network-level path plus cell genotype, written by decode, read by retrain.

File format (JSON, or YAML when the name ends in .yaml/.yml)::

    {"network_path": [0, 0, 0, 1, 2, 1, 2, 2, 3, 3, 2, 1],
     "cell": [[0, "dil_conv_5x5"], [1, "sep_conv_3x3"], ...10 rows...],
     "provenance": {...free-form: where the architecture came from...}}

- ``network_path[i]`` is the level of cell i (level l = output stride 4 * 2**l); the path has
  one entry per cell, any number >= 1 (the paper's network: 12).
- ``cell`` rows come in pairs, one pair per block: block b = op(state i) + op(state j) where
  states are [prev-prev, prev, block 0, block 1, ...], so block b may read states 0..b+1.
  2*B rows give B blocks, any B >= 1 (the paper's cell: 5); ``num_blocks`` is derived from them.

The ModelZoo port stores the same information as two ``.npy`` files: ``net_arch`` (the levels)
and ``cell_arch`` (rows [input_state, op_index]) where op_index indexes ITS primitive list,
which orders the two pools differently from ``PRIMITIVES`` (see ``MODELZOO_PRIMITIVES``).
"""
import dataclasses
import json
import os

import numpy as np
import yaml

from src.errors import UserError
from src.fileio import atomic_write, read_text
from src.layers.operations import PRIMITIVES

NUM_LEVELS = 4
MODELZOO_PRIMITIVES = ["none", "avg_pool_3x3", "max_pool_3x3", "skip_connect",
                       "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"]
YAML_SUFFIXES = (".yaml", ".yml")


@dataclasses.dataclass
class Architecture:
    """A retrainable architecture; construction validates it (raises UserError)."""

    network_path: list
    cell: list
    provenance: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        self.network_path = validate_network_path(self.network_path)
        self.cell = validate_cell(self.cell)
        if not isinstance(self.provenance, dict):
            raise UserError("architecture 'provenance' must be a mapping (JSON object), "
                            f"got {type(self.provenance).__name__}")

    @property
    def num_blocks(self):
        """Blocks per cell (B): two cell rows per block."""
        return len(self.cell) // 2

    def to_dict(self):
        return {"network_path": list(self.network_path),
                "cell": [list(row) for row in self.cell],
                "provenance": dict(self.provenance)}

    @classmethod
    def from_dict(cls, data, source="architecture"):
        if not isinstance(data, dict):
            raise UserError(f"{source}: expected a mapping with keys 'network_path' and 'cell'")
        missing = [key for key in ("network_path", "cell") if key not in data]
        if missing:
            raise UserError(f"{source}: missing key(s) {', '.join(missing)}; an architecture "
                            "file needs 'network_path' (one level per cell) and 'cell' (2 rows per block)")
        unknown = sorted(set(data) - {"network_path", "cell", "provenance"})
        if unknown:
            raise UserError(f"{source}: unknown key(s) {', '.join(unknown)}; valid keys are "
                            "network_path, cell, provenance")
        try:
            return cls(data["network_path"], data["cell"], data.get("provenance") or {})
        except UserError as err:
            raise UserError(f"{source}: {err}") from None

    def save(self, path):
        """Write JSON (or YAML for .yaml/.yml) atomically."""
        if str(path).endswith(YAML_SUFFIXES):
            text = yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None)
        else:
            text = _format_json(self.to_dict())
        _write_bytes(path, lambda f: f.write(text.encode("utf-8")))

    @classmethod
    def load(cls, path):
        text = read_text(path, "architecture file")
        try:
            data = yaml.safe_load(text) if str(path).endswith(YAML_SUFFIXES) else json.loads(text)
        except (ValueError, yaml.YAMLError) as err:
            raise UserError(f"{path}: not a valid {'YAML' if str(path).endswith(YAML_SUFFIXES) else 'JSON'} "
                            f"architecture file ({err})") from None
        return cls.from_dict(data, source=str(path))

    def save_modelzoo_npy(self, net_arch_path, cell_arch_path):
        """Write the ModelZoo pair: net_arch (levels) and cell_arch ([state, ModelZoo op index])."""
        net = np.array(self.network_path, dtype=np.int64)
        cell = np.array([[state, MODELZOO_PRIMITIVES.index(op)] for state, op in self.cell],
                        dtype=np.int64)
        _write_bytes(net_arch_path, lambda f: np.save(f, net))
        _write_bytes(cell_arch_path, lambda f: np.save(f, cell))

    @classmethod
    def load_modelzoo_npy(cls, net_arch_path, cell_arch_path):
        arrays = []
        for path in (net_arch_path, cell_arch_path):
            if not os.path.isfile(path):
                raise UserError(f"ModelZoo architecture file not found: {path}")
            try:
                arrays.append(np.load(path, allow_pickle=False))
            except ValueError as err:
                raise UserError(f"{path}: not a numpy .npy array ({err})") from None
        net, cell = arrays
        if cell.ndim != 2 or cell.shape[1] != 2:
            raise UserError(f"{cell_arch_path}: cell_arch must have shape (2 * blocks, 2) "
                            f"[input_state, op_index], got {cell.shape}")
        rows = []
        for state, index in cell.tolist():
            if not 0 <= index < len(MODELZOO_PRIMITIVES):
                raise UserError(f"{cell_arch_path}: op index {index} outside 0.."
                                f"{len(MODELZOO_PRIMITIVES) - 1} (ModelZoo order "
                                f"{MODELZOO_PRIMITIVES})")
            rows.append([state, MODELZOO_PRIMITIVES[index]])
        provenance = {"source": "modelzoo_npy", "net_arch": str(net_arch_path),
                      "cell_arch": str(cell_arch_path)}
        try:
            return cls(net.reshape(-1).tolist(), rows, provenance)
        except UserError as err:
            raise UserError(f"{net_arch_path} / {cell_arch_path}: {err}") from None


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def validate_network_path(path):
    """Return the path as a list of ints or raise UserError naming the first problem."""
    if not isinstance(path, (list, tuple)) or not path:
        got = "an empty list" if isinstance(path, (list, tuple)) else type(path).__name__
        raise UserError(f"network_path must list one level per cell (at least 1 cell), got {got}")
    if not all(_is_int(level) for level in path):
        raise UserError(f"network_path levels must be integers 0..{NUM_LEVELS - 1}, got {path}")
    path = [int(level) for level in path]
    for i, level in enumerate(path):
        if not 0 <= level < NUM_LEVELS:
            raise UserError(f"network_path[{i}] = {level} is outside the levels "
                            f"0..{NUM_LEVELS - 1} (output stride 4..32)")
    if path[0] not in (0, 1):
        raise UserError(f"network_path[0] = {path[0]}: the first cell follows the stride-4 stem, "
                        "so its level must be 0 or 1")
    for i in range(1, len(path)):
        if abs(path[i] - path[i - 1]) > 1:
            raise UserError(f"network_path jumps from level {path[i - 1]} to {path[i]} at cell "
                            f"{i}; consecutive cells may change level by at most 1")
    return path


def validate_cell(cell):
    """Return the genotype as [[state, op], ...] or raise UserError naming the first problem."""
    if not isinstance(cell, (list, tuple)) or not cell or len(cell) % 2:
        size = f"{len(cell)} rows" if isinstance(cell, (list, tuple)) else type(cell).__name__
        raise UserError(f"cell must have an even, non-zero number of rows [input_state, op_name] "
                        f"(2 per block: 10 rows for 5 blocks), got {size}")
    checked = []
    for i, row in enumerate(cell):
        block = i // 2
        if not isinstance(row, (list, tuple)) or len(row) != 2:
            raise UserError(f"cell row {i} must be a pair [input_state, op_name], got {row!r}")
        state, op = row
        if not _is_int(state):
            raise UserError(f"cell row {i}: input state must be an integer, got {state!r}")
        if not 0 <= state <= block + 1:
            raise UserError(f"cell row {i} (block {block}): input state {state} out of range; "
                            f"block {block} may use states 0..{block + 1} (0 = prev-prev, "
                            "1 = prev, 2.. = earlier blocks)")
        if op == "none":
            raise UserError(f"cell row {i} (block {block}): op 'none' is not allowed in a "
                            "retrained cell; choose one of "
                            f"{', '.join(p for p in PRIMITIVES if p != 'none')}")
        if op not in PRIMITIVES:
            raise UserError(f"cell row {i} (block {block}): unknown op {op!r}; valid ops: "
                            f"{', '.join(p for p in PRIMITIVES if p != 'none')}")
        checked.append([int(state), op])
    return checked


def _format_json(data):
    """JSON with the path on one line and one cell row per line, for people to read."""
    rows = ",\n    ".join(json.dumps(row) for row in data["cell"])
    provenance = json.dumps(data["provenance"], indent=2).replace("\n", "\n  ")
    return ("{\n"
            f'  "network_path": {json.dumps(data["network_path"])},\n'
            f'  "cell": [\n    {rows}\n  ],\n'
            f'  "provenance": {provenance}\n'
            "}\n")


def _write_bytes(path, write):
    """Write through ``write(file)`` atomically (``src.fileio.atomic_write``), creating the folder."""
    os.makedirs(os.path.dirname(os.path.abspath(str(path))), exist_ok=True)
    with atomic_write(str(path), "wb") as handle:
        write(handle)


AUTODEEPLAB = Architecture(
    network_path=[0, 0, 0, 1, 2, 1, 2, 2, 3, 3, 2, 1],
    cell=[[0, "dil_conv_5x5"], [1, "sep_conv_3x3"],
          [0, "sep_conv_3x3"], [1, "dil_conv_3x3"],
          [0, "sep_conv_3x3"], [3, "sep_conv_3x3"],
          [2, "sep_conv_5x5"], [4, "sep_conv_5x5"],
          [5, "dil_conv_5x5"], [3, "sep_conv_5x5"]],
    provenance={"source": "Auto-DeepLab paper (CVPR 2019) / official TF hnasnet cell"},
)


def load_architecture(path=None):
    """The architecture in ``path`` (.json/.yaml/.yml), or the built-in AUTODEEPLAB for None."""
    if path is None:
        return Architecture(**AUTODEEPLAB.to_dict())
    if str(path).endswith(".npy"):
        folder = os.path.dirname(str(path))
        pair = [os.path.join(folder, name) for name in ("net_arch.npy", "cell_arch.npy")]
        if os.path.basename(str(path)) not in ("net_arch.npy", "cell_arch.npy") or not all(map(os.path.isfile, pair)):
            raise UserError(f"--arch_path {path}: a .npy architecture is read as the ModelZoo pair net_arch.npy + "
                            "cell_arch.npy in one folder; put both there, or pass the architecture.json of decode.py")
        return Architecture.load_modelzoo_npy(*pair)
    return Architecture.load(path)
