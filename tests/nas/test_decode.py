"""Decode of beta (network path) and alpha (cell genotype): src/nas/decode.py."""
import numpy as np
import pytest

from src.nas.decode import decode_cell, decode_path, normalize_betas, path_log_probability

PRIMITIVES = ["none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3",
              "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"]


def all_valid_paths(num_layers, num_levels=4):
    """Every path from the stem (level 0): layer 0 at level 0 or 1, then moves of at most 1."""
    paths = np.array([[0], [1]])
    for _ in range(num_layers - 1):
        steps = paths[:, -1:, None] + np.array([-1, 0, 1])[None, None, :]
        steps = steps.reshape(len(paths), 3).T.reshape(-1, 1)
        grown = np.concatenate([np.tile(paths, (3, 1)), steps], axis=1)
        paths = grown[(grown[:, -1] >= 0) & (grown[:, -1] < num_levels)]
    return paths


def exhaustive_best(betas):
    """Best path by scoring every valid path (vectorised)."""
    probs = normalize_betas(betas)
    paths = all_valid_paths(len(betas))
    sources = np.concatenate([np.zeros((len(paths), 1), dtype=int), paths[:, :-1]], axis=1)
    layers = np.arange(len(betas))[None, :]
    scores = np.log(probs[layers, sources, paths - sources + 1]).sum(axis=1)
    return paths[int(np.argmax(scores))].tolist(), np.sort(scores)


def test_valid_path_count_matches_trellis():
    # Counting paths by dynamic programming gives the same number as the enumeration.
    counts = np.array([1, 0, 0, 0])
    for layer in range(12):
        counts = np.array([sum(counts[s] for s in (t - 1, t, t + 1) if 0 <= s < 4)
                           for t in range(4)])
    assert len(all_valid_paths(12)) == counts.sum()


@pytest.mark.parametrize("scale", [1e-3, 1.0, 10.0])
def test_decode_path_equals_exhaustive_search(scale):
    rng = np.random.default_rng(int(scale * 1000))
    for trial in range(60):
        num_layers = 12 if trial < 10 else int(rng.integers(1, 9))
        betas = scale * rng.standard_normal((num_layers, 4, 3))
        best, scores = exhaustive_best(betas)
        if len(scores) > 1 and scores[-1] - scores[-2] < 1e-12:
            continue  # tie: either answer is right
        assert decode_path(betas) == best
        assert path_log_probability(betas, best) == pytest.approx(scores[-1])


def test_decode_path_follows_a_planted_path():
    path = [0, 0, 0, 1, 2, 1, 2, 2, 3, 3, 2, 1]
    betas = np.zeros((12, 4, 3))
    source = 0
    for layer, target in enumerate(path):
        betas[layer, source, target - source + 1] = 5.0
        source = target
    assert decode_path(betas) == path


def test_decode_path_stays_in_the_trellis():
    # Strong pushes towards nonexistent moves (finer from 0, coarser from 3) must be ignored.
    betas = np.zeros((6, 4, 3))
    betas[:, 0, 0] = 100.0
    betas[:, 3, 2] = 100.0
    betas[:, :, 2] += 1.0
    betas[:, 3, 1] += 1.0
    path = decode_path(betas)
    assert path[0] in (0, 1)
    assert all(0 <= level <= 3 for level in path)
    assert all(abs(a - b) <= 1 for a, b in zip([0] + path[:-1], path))
    assert path == [1, 2, 3, 3, 3, 3]


def test_normalize_betas_sums_over_existing_moves_only():
    betas = np.random.default_rng(0).standard_normal((12, 4, 3)) * 3
    probs = normalize_betas(betas)
    for layer in range(12):
        for source in range(4):
            row = probs[layer, source]
            if source > layer:  # source node does not exist at layer-1 (or the stem is level 0)
                assert np.all(row == 0)
                continue
            assert row.sum() == pytest.approx(1.0)
            if source == 0:
                assert row[0] == 0
            if source == 3:
                assert row[2] == 0
            assert np.all(row[(row != 0)] > 0)


def test_normalize_betas_is_plain_softmax_without_rescaling():
    betas = np.zeros((3, 4, 3))
    betas[2, 1] = [0.0, 1.0, 2.0]
    probs = normalize_betas(betas)
    expected = np.exp([0.0, 1.0, 2.0]) / np.exp([0.0, 1.0, 2.0]).sum()
    np.testing.assert_allclose(probs[2, 1], expected)
    np.testing.assert_allclose(probs[2, 0], [0, 0.5, 0.5])
    np.testing.assert_allclose(probs[0, 0], [0, 0.5, 0.5])
    np.testing.assert_allclose(probs[0, 1], [0, 0, 0])


def _alphas_for(genotype, none_everywhere=False):
    """Alphas whose decode is ``genotype``: kept edges get their op high, others stay low."""
    alphas = np.zeros((20, 8))
    if none_everywhere:
        alphas[:, 0] = 10.0
    starts = [0, 2, 5, 9, 14]
    for index, (state, op) in enumerate(genotype):
        alphas[starts[index // 2] + state, PRIMITIVES.index(op)] = 3.0
    return alphas


PAPER_GENOTYPE = [[0, "dil_conv_5x5"], [1, "sep_conv_3x3"], [0, "sep_conv_3x3"],
                  [1, "dil_conv_3x3"], [0, "sep_conv_3x3"], [3, "sep_conv_3x3"],
                  [2, "sep_conv_5x5"], [4, "sep_conv_5x5"], [3, "sep_conv_5x5"],
                  [5, "dil_conv_5x5"]]


def test_decode_cell_recovers_planted_genotype():
    assert decode_cell(_alphas_for(PAPER_GENOTYPE), PRIMITIVES) == PAPER_GENOTYPE


def test_decode_cell_ignores_none_even_when_it_dominates():
    alphas = _alphas_for(PAPER_GENOTYPE, none_everywhere=True)
    assert decode_cell(alphas, PRIMITIVES) == PAPER_GENOTYPE
    # An edge whose only strong entry is `none` must not be chosen over weaker real ops.
    alphas = np.zeros((20, 8))
    alphas[0, 0] = 50.0  # block 0, state 0: none dominates
    alphas[1, PRIMITIVES.index("skip_connect")] = 1.0
    genotype = decode_cell(alphas, PRIMITIVES)
    assert genotype[0] == [0, "max_pool_3x3"]  # ties among real ops: first in table order
    assert genotype[1] == [1, "skip_connect"]
    # Block 1: state 0 has none dominating, states 1 and 2 have modest real ops -> 1 and 2 kept.
    alphas[2, 0] = 50.0
    alphas[3, PRIMITIVES.index("sep_conv_5x5")] = 0.5
    alphas[4, PRIMITIVES.index("avg_pool_3x3")] = 0.5
    assert decode_cell(alphas, PRIMITIVES)[2:4] == [[1, "sep_conv_5x5"], [2, "avg_pool_3x3"]]


def test_decode_cell_rows_ordered_by_input_state():
    alphas = np.zeros((20, 8))
    alphas[14 + 5, PRIMITIVES.index("sep_conv_3x3")] = 4.0  # block 4, state 5: strongest
    alphas[14 + 1, PRIMITIVES.index("dil_conv_3x3")] = 2.0  # block 4, state 1: second
    assert decode_cell(alphas, PRIMITIVES)[8:] == [[1, "dil_conv_3x3"], [5, "sep_conv_3x3"]]


def test_decode_cell_rejects_wrong_shape():
    with pytest.raises(ValueError):
        decode_cell(np.zeros((19, 8)), PRIMITIVES)
    with pytest.raises(ValueError):
        decode_cell(np.zeros((20, 7)), PRIMITIVES)
