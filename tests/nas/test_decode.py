"""Decode of beta (network path) and alpha (cell genotype): src/nas/decode.py."""
from fractions import Fraction

import numpy as np
import pytest

from src.config import SCHEMA
from src.nas.decode import (PATH_DECODES, best_paths, decode_cell, decode_path, encode_architecture,
                            move_log_scores, normalize_betas, path_log_probability, path_score,
                            uniform_move_frequencies, uniform_random_path)

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


def exhaustive_scores(betas, path_decode):
    """(paths, scores) of every valid path (vectorised)."""
    scores = move_log_scores(betas, path_decode)
    paths = all_valid_paths(len(betas))
    sources = np.concatenate([np.zeros((len(paths), 1), dtype=int), paths[:, :-1]], axis=1)
    layers = np.arange(len(betas))[None, :]
    return paths, scores[layers, sources, paths - sources + 1].sum(axis=1)


def trellis_counts(num_layers, num_levels=4):
    """(forward, backward) integer path counts per (layer, level): paths from the stem reaching the
    node, and continuations from the node to the last layer."""
    forward = [[1, 1] + [0] * (num_levels - 2)]
    for _ in range(num_layers - 1):
        forward.append([sum(forward[-1][s] for s in (t - 1, t, t + 1) if 0 <= s < num_levels)
                        for t in range(num_levels)])
    backward = [[1] * num_levels]
    for _ in range(num_layers - 1):
        backward.insert(0, [sum(backward[0][t] for t in (s - 1, s, s + 1) if 0 <= t < num_levels)
                            for s in range(num_levels)])
    return forward, backward


def uniform_path_mean_level(num_layers):
    """Exact mean level (over layers) of a path drawn uniformly from all valid paths."""
    forward, backward = trellis_counts(num_layers)
    total = sum(forward[-1])
    weighted = sum(level * forward[layer][level] * backward[layer][level]
                   for layer in range(num_layers) for level in range(4))
    return Fraction(weighted, total * num_layers)


def mean_decoded_level(num_layers, path_decode, draws=600):
    """Mean level of the paths decoded from betas uniform in +-0.05 (seeded)."""
    rng = np.random.default_rng(num_layers)
    return float(np.mean([decode_path(rng.uniform(-0.05, 0.05, (num_layers, 4, 3)), path_decode)
                          for _ in range(draws)]))


def test_valid_path_count_matches_trellis():
    forward, backward = trellis_counts(12)
    assert len(all_valid_paths(12)) == sum(forward[-1]) == backward[0][0] + backward[0][1]
    paths = all_valid_paths(5)
    assert uniform_path_mean_level(5) == Fraction(int(paths.sum()), paths.size)


@pytest.mark.parametrize("num_layers", [1, 4, 12])
def test_uniform_move_frequencies_count_the_valid_paths_through_each_move(num_layers):
    paths = all_valid_paths(num_layers)
    expected = np.zeros((num_layers, 4, 3))
    for path in paths:
        for layer, (source, target) in enumerate(zip([0] + list(path[:-1]), path)):
            expected[layer, source, target - source + 1] += 1
    frequencies, count = uniform_move_frequencies(num_layers)
    assert count == len(paths)
    np.testing.assert_allclose(frequencies, expected / len(paths))


def test_random_paths_are_drawn_uniformly_from_the_valid_ones():
    """The chance baseline of the search-quality benchmark: every valid path equally likely (a
    random walk from level 0 would give the all-0 path 1/16 instead of 1/34 at 4 layers)."""
    valid = {tuple(path) for path in all_valid_paths(4).tolist()}
    rng = np.random.default_rng(0)
    draws = 34 * 600
    counts = {}
    for _ in range(draws):
        path = tuple(uniform_random_path(4, rng))
        counts[path] = counts.get(path, 0) + 1
    assert set(counts) == valid and len(valid) == 34
    assert max(abs(count - 600) for count in counts.values()) < 5 * 600 ** 0.5  # binomial sd ~24
    mean_level = np.mean([np.mean(uniform_random_path(12, rng)) for _ in range(3000)])
    assert mean_level == pytest.approx(float(uniform_path_mean_level(12)), abs=0.03)


@pytest.mark.parametrize("path_decode", list(PATH_DECODES))
@pytest.mark.parametrize("scale", [1e-3, 1.0, 10.0])
def test_best_paths_equal_exhaustive_search(scale, path_decode):
    rng = np.random.default_rng(int(scale * 1000))
    for trial in range(60):
        num_layers = 12 if trial < 10 else int(rng.integers(1, 9))
        betas = scale * rng.standard_normal((num_layers, 4, 3))
        paths, scores = exhaustive_scores(betas, path_decode)
        order = np.argsort(-scores, kind="stable")
        found = best_paths(betas, path_decode, count=2)
        assert [score for _, score in found] == pytest.approx(scores[order[:2]].tolist())
        if len(scores) > 1 and scores[order[0]] - scores[order[1]] < 1e-12:
            continue  # tie: either answer is right
        assert decode_path(betas, path_decode) == paths[order[0]].tolist() == found[0][0]
        assert path_score(betas, found[0][0], path_decode) == pytest.approx(scores[order[0]])
        assert path_log_probability(betas, found[0][0]) == path_score(betas, found[0][0], "paper")


@pytest.mark.parametrize("num_layers", [4, 12])
def test_uninformative_betas_decode_like_uniform_paths(num_layers):
    """README, Decode: near-zero betas must not favour a level. 600 draws in +-0.05; the mean decoded
    level is within 10% of a uniformly drawn valid path's (4 layers 0.985, 12 layers 1.306)."""
    expected = float(uniform_path_mean_level(num_layers))
    assert mean_decoded_level(num_layers, "rescaled") == pytest.approx(expected, rel=0.10)


@pytest.mark.parametrize("num_layers", [4, 12])
def test_paper_decode_has_a_prior_towards_level_0(num_layers):
    """The paper-literal decode fails the test above: its normalisation gives a boundary move 1/2
    against 1/3, so uninformative betas decode near level 0 (issue 31: 0.13 and 0.04)."""
    expected = float(uniform_path_mean_level(num_layers))
    assert mean_decoded_level(num_layers, "paper") < 0.2 * expected


def test_rescaled_scores_every_path_alike_for_equal_betas():
    """Equal betas: every move scores exactly 1/3, so all valid paths tie."""
    paths, scores = exhaustive_scores(np.zeros((6, 4, 3)), "rescaled")
    assert np.all(scores == scores[0])
    assert len(paths) > 1


@pytest.mark.parametrize("num_layers", [1, 4, 12])
def test_rescaled_ties_resolve_to_the_lower_level(num_layers):
    """Equal betas: every path ties exactly, so the documented rule alone picks all level 0 (both
    the end level and every back-pointer are ties)."""
    assert decode_path(np.zeros((num_layers, 4, 3)), "rescaled") == [0] * num_layers


@pytest.mark.parametrize("num_layers", [4, 12])
def test_paper_ties_resolve_to_the_lower_level(num_layers):
    """Exact ties under the paper score: layer 0 goes to level 0 or 1 (1/2 each), both reach level 1
    with probability 1.0 at layer 1, stay there, and the last layer moves to 0 or stays (1/2 each).
    The lower level wins both the back-pointer tie and the end tie."""
    betas = np.zeros((num_layers, 4, 3))
    betas[1, 0] = [0.0, -50.0, 50.0]
    betas[1:, 1] = [-50.0, 50.0, -50.0]
    betas[-1, 1] = [50.0, 50.0, -50.0]
    assert decode_path(betas, "paper") == [0] + [1] * (num_layers - 2) + [0]


def test_path_decode_choices_match_the_config_key():
    """The config key's choices (src/config.py may not import src.nas) are the decodes here."""
    key = SCHEMA["path_decode"]
    assert tuple(key.choices) == tuple(PATH_DECODES) and key.default == "rescaled"


def test_unknown_path_decode_is_refused():
    with pytest.raises(ValueError, match="path_decode"):
        decode_path(np.zeros((2, 4, 3)), "viterbi")


def test_decode_path_follows_a_planted_path():
    path = [0, 0, 0, 1, 2, 1, 2, 2, 3, 3, 2, 1]
    betas = np.zeros((12, 4, 3))
    source = 0
    for layer, target in enumerate(path):
        betas[layer, source, target - source + 1] = 5.0
        source = target
    for path_decode in PATH_DECODES:
        assert decode_path(betas, path_decode) == path


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


@pytest.mark.parametrize("num_layers,num_blocks", [(4, 2), (12, 5)])
def test_encoded_architecture_decodes_to_itself_and_isolates_its_path(num_layers, num_blocks):
    """encode_architecture is the decode's inverse (both path decodes), its softmaxes are one-hot,
    and no node off the path moves into the path's next node (the supernet as that architecture)."""
    rng = np.random.default_rng(7)
    for _ in range(20):
        path = uniform_random_path(num_layers, rng)
        cell = [[int(state), str(rng.choice(PRIMITIVES[1:]))] for block in range(num_blocks)
                for state in sorted(rng.choice(block + 2, size=2, replace=False))]
        alphas, betas = encode_architecture(path, cell, primitives=PRIMITIVES)
        assert decode_cell(alphas, PRIMITIVES) == cell
        for path_decode in PATH_DECODES:
            assert decode_path(betas, path_decode) == path
        weights = np.exp(alphas) / np.exp(alphas).sum(axis=1, keepdims=True)
        assert np.allclose(weights.max(axis=1), 1.0) and np.allclose(weights.sum(axis=1), 1.0)
        probabilities = normalize_betas(betas)
        for layer, target in enumerate(path):
            previous = path[layer - 1] if layer else 0
            into_target = [probabilities[layer, source, target - source + 1]
                           for source in range(max(target - 1, 0), min(target + 2, 4))
                           if source <= layer]
            assert np.isclose(probabilities[layer, previous, target - previous + 1], 1.0)
            assert np.isclose(sum(into_target), 1.0), (path, layer)
