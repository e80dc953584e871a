"""Architecture file format: validation messages, JSON/YAML/ModelZoo-npy round trips."""
import json
import os

import numpy as np
import pytest

from src.errors import UserError
from src.architecture import AUTODEEPLAB, Architecture, load_architecture

GOOD_CELL = AUTODEEPLAB.cell
GOOD_PATH = AUTODEEPLAB.network_path
TWO_BLOCKS = [[0, "sep_conv_3x3"], [1, "skip_connect"], [2, "dil_conv_3x3"], [1, "avg_pool_3x3"]]


def cell_with(row, value):
    cell = [list(r) for r in GOOD_CELL]
    cell[row] = value
    return cell


@pytest.mark.parametrize("path, cell, message", [
    ([], GOOD_CELL, "network_path must list one level per cell (at least 1 cell), got an empty list"),
    ("0,1", GOOD_CELL, "network_path must list one level per cell"),
    ([2, 1] + [1] * 10, GOOD_CELL, "network_path[0] = 2"),
    ([0, 1, 3] + [3] * 9, GOOD_CELL, "jumps from level 1 to 3 at cell 2"),
    ([0, 1, 2, 3, 4] + [3] * 7, GOOD_CELL, "network_path[4] = 4 is outside the levels 0..3"),
    ([0, -1] + [0] * 10, GOOD_CELL, "network_path[1] = -1 is outside"),
    ([0.5] + [0] * 11, GOOD_CELL, "levels must be integers"),
    (GOOD_PATH, GOOD_CELL[:9], "cell must have an even, non-zero number of rows"),
    (GOOD_PATH, [], "cell must have an even, non-zero number of rows"),
    ([1, 2], TWO_BLOCKS[:3], "got 3 rows"),
    ([0], TWO_BLOCKS[:3] + [[4, "sep_conv_5x5"]], "input state 4 out of range; block 1 may use states 0..2"),
    ([0, 1, 3, 2], TWO_BLOCKS, "jumps from level 1 to 3 at cell 2"),
    (GOOD_PATH, cell_with(3, [1, "conv_7x7"]), "unknown op 'conv_7x7'; valid ops: max_pool_3x3"),
    (GOOD_PATH, cell_with(0, [2, "sep_conv_3x3"]),
     "input state 2 out of range; block 0 may use states 0..1"),
    (GOOD_PATH, cell_with(9, [7, "sep_conv_3x3"]),
     "input state 7 out of range; block 4 may use states 0..5"),
    (GOOD_PATH, cell_with(4, [0, "none"]), "op 'none' is not allowed"),
    (GOOD_PATH, cell_with(2, [0]), "must be a pair [input_state, op_name]"),
    (GOOD_PATH, cell_with(2, ["0", "sep_conv_3x3"]), "input state must be an integer"),
])
def test_validation_messages(path, cell, message):
    with pytest.raises(UserError) as info:
        Architecture(path, cell)
    assert message in str(info.value)


def test_valid_extremes_accepted():
    arch = Architecture([1, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3],
                        [[0, "skip_connect"], [1, "max_pool_3x3"]] * 5)
    assert arch.network_path == [1, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3]
    assert arch.cell == [[0, "skip_connect"], [1, "max_pool_3x3"]] * 5 and arch.num_blocks == 5


@pytest.mark.parametrize("path, cell, blocks", [
    ([1], [[0, "sep_conv_3x3"], [1, "skip_connect"]], 1),
    ([1, 2, 2, 1], TWO_BLOCKS, 2),
    (GOOD_PATH, GOOD_CELL, 5),
])
def test_any_depth_and_block_count_accepted(path, cell, blocks, tmp_path):
    arch = Architecture(path, cell)
    assert arch.num_blocks == blocks and arch.network_path == path
    arch.save_modelzoo_npy(tmp_path / "net.npy", tmp_path / "cell.npy")
    again = Architecture.load_modelzoo_npy(tmp_path / "net.npy", tmp_path / "cell.npy")
    assert (again.network_path, again.cell) == (path, cell)


def test_json_and_yaml_round_trip(tmp_path):
    arch = Architecture([1, 1, 0, 0, 1, 2, 3, 2, 1, 0, 0, 1],
                        cell_with(5, [2, "avg_pool_3x3"]), {"epoch": 40, "note": "x"})
    for name in ("a.json", "a.yaml"):
        arch.save(tmp_path / name)
        assert Architecture.load(tmp_path / name) == arch
    assert json.loads((tmp_path / "a.json").read_text())["cell"][5] == [2, "avg_pool_3x3"]
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]


def test_shipped_file_is_the_builtin():
    assert load_architecture("config/arch/autodeeplab.json") == AUTODEEPLAB
    assert load_architecture(None) == AUTODEEPLAB


def test_file_errors(tmp_path):
    with pytest.raises(UserError, match="architecture file '.*missing.json' does not exist"):
        Architecture.load(tmp_path / "missing.json")
    (tmp_path / "latin1.json").write_bytes('{"provenance": "caf\xe9"}'.encode("latin-1"))
    with pytest.raises(UserError, match="is not UTF-8 text"):
        Architecture.load(tmp_path / "latin1.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(UserError, match="not a valid JSON"):
        Architecture.load(tmp_path / "bad.json")
    (tmp_path / "partial.json").write_text('{"cell": []}')
    with pytest.raises(UserError, match="missing key"):
        Architecture.load(tmp_path / "partial.json")
    (tmp_path / "empty.json").write_text(json.dumps({"network_path": [], "cell": GOOD_CELL}))
    with pytest.raises(UserError, match=r"empty\.json: network_path must list one level per cell"):
        Architecture.load(tmp_path / "empty.json")


def test_arch_path_npy_reads_the_pair_or_says_to_pass_json(tmp_path):
    AUTODEEPLAB.save_modelzoo_npy(tmp_path / "net_arch.npy", tmp_path / "cell_arch.npy")
    for name in ("net_arch.npy", "cell_arch.npy"):
        loaded = load_architecture(str(tmp_path / name))
        assert (loaded.network_path, loaded.cell) == (AUTODEEPLAB.network_path, AUTODEEPLAB.cell)
    os.remove(tmp_path / "cell_arch.npy")
    with pytest.raises(UserError, match="read as the ModelZoo pair net_arch.npy \\+ cell_arch.npy.*architecture.json"):
        load_architecture(str(tmp_path / "net_arch.npy"))


def test_modelzoo_npy_encoding(tmp_path):
    # The ModelZoo port's get_default_arch() rows (op index into its own PRIMITIVES order).
    modelzoo_default = [[0, 7], [1, 4], [0, 4], [1, 6], [0, 4], [3, 4], [2, 5], [4, 5],
                        [5, 7], [3, 5]]
    AUTODEEPLAB.save_modelzoo_npy(tmp_path / "net.npy", tmp_path / "cell.npy")
    assert np.load(tmp_path / "cell.npy").tolist() == modelzoo_default
    assert np.load(tmp_path / "net.npy").tolist() == GOOD_PATH
    # Its pools are ordered avg, max: index 1 is avg_pool_3x3.
    np.save(tmp_path / "cell2.npy", np.array([[0, 1], [1, 2]] + modelzoo_default[2:]))
    arch = Architecture.load_modelzoo_npy(tmp_path / "net.npy", tmp_path / "cell2.npy")
    assert arch.cell[:2] == [[0, "avg_pool_3x3"], [1, "max_pool_3x3"]]
    arch.save_modelzoo_npy(tmp_path / "n3.npy", tmp_path / "c3.npy")
    again = Architecture.load_modelzoo_npy(tmp_path / "n3.npy", tmp_path / "c3.npy")
    assert (again.network_path, again.cell) == (arch.network_path, arch.cell)
    np.save(tmp_path / "bad.npy", np.array([[0, 9]] * 10))
    with pytest.raises(UserError, match="op index 9 outside"):
        Architecture.load_modelzoo_npy(tmp_path / "net.npy", tmp_path / "bad.npy")
