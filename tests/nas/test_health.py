"""Search health (src/nas/health.py) on synthetic architecture-gradient streams: noise pushed by a
large Adam lr into confident-looking logits is not determined; a consistent signal is decided."""
import re

import numpy as np
import pytest

from src.nas.decode import best_paths, decode_cell, decode_path, move_mask
from src.nas.health import (DECIDED, NOT_DETERMINED, GradientMoments, architecture_change, move_evidence,
                            op_evidence, op_margins, parameter_free_ops, path_decode_input, path_margin,
                            scored_path_z, verdict)

LAYERS, EDGES, OPS = 12, 20, 8
GENOTYPE = [[0, "dil_conv_5x5"], [1, "sep_conv_3x3"], [0, "sep_conv_3x3"], [1, "dil_conv_3x3"],
            [0, "sep_conv_3x3"], [3, "sep_conv_3x3"], [2, "sep_conv_5x5"], [4, "sep_conv_5x5"],
            [3, "sep_conv_5x5"], [5, "dil_conv_5x5"]]
PRIMITIVES = ["none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3",
              "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"]
STARTS = [0, 2, 5, 9, 14]
PATH = [0, 0, 0, 1, 2, 1, 2, 2, 3, 3, 2, 1]


def planted_directions():
    """Unit pushes (gradient descent raises them): the genotype's ops and the path's moves."""
    alpha = np.zeros((EDGES, OPS))
    for row, (state, op) in enumerate(GENOTYPE):
        alpha[STARTS[row // 2] + state, PRIMITIVES.index(op)] = 1.0
    beta = np.zeros((LAYERS, 4, 3))
    source = 0
    for layer, target in enumerate(PATH):
        beta[layer, source, target - source + 1] = 1.0
        source = target
    return alpha, beta


def adam_search(gradient, steps, lr, seed, weight_decay=0.0):
    """Adam (betas 0.9/0.999) on alpha/beta from 1e-3 * N(0, 1), recording the gradient moments
    as the trainer would; ``gradient(rng)`` -> (alpha grad, beta grad) of one step.
    ``weight_decay`` is added to the gradient before Adam, as MindSpore's nn.Adam does."""
    rng = np.random.default_rng(seed)
    params = [1e-3 * rng.standard_normal((EDGES, OPS)), 1e-3 * rng.standard_normal((LAYERS, 4, 3))]
    moments = [GradientMoments.zeros(p.shape) for p in params]
    first, second = [np.zeros_like(p) for p in params], [np.zeros_like(p) for p in params]
    for step in range(1, steps + 1):
        grads = gradient(rng)
        for i, grad in enumerate(grads):
            moments[i].add(grad)
            grad = grad + weight_decay * params[i]
            first[i] = 0.9 * first[i] + 0.1 * grad
            second[i] = 0.999 * second[i] + 0.001 * grad ** 2
            params[i] = params[i] - lr * (first[i] / (1 - 0.9 ** step)) / (
                np.sqrt(second[i] / (1 - 0.999 ** step)) + 1e-8)
    return params, moments


def noise(rng):
    return rng.standard_normal((EDGES, OPS)), rng.standard_normal((LAYERS, 4, 3))


def signal(strength, alpha_push, beta_push):
    return lambda rng: (-strength * alpha_push + rng.standard_normal((EDGES, OPS)),
                        -strength * beta_push + rng.standard_normal((LAYERS, 4, 3)))


@pytest.mark.parametrize("seed", range(8))
def test_noise_with_a_large_lr_is_not_determined(seed):
    """Adam at lr 0.1 turns zero-mean noise into confident-looking logits: op probability margins
    and a path margin a fixed threshold would accept; the verdict must not."""
    (alphas, betas), (alpha_stats, beta_stats) = adam_search(noise, steps=300, lr=0.1, seed=seed)
    margins = op_margins(alphas)
    assert np.median([m["prob_margin"] for m in margins]) > 0.1
    assert min(architecture_change(np.zeros_like(alphas), alphas, np.zeros_like(betas), betas)) > 1.0
    result = verdict(alphas, betas, alpha_stats, beta_stats)
    assert result["verdict"] == NOT_DETERMINED and not result["decided"], result
    assert "search longer" in result["advice"] and "paper's architecture" in result["advice"]
    assert "more pixels per architecture step (batch_size, crop_size" in result["advice"]


@pytest.mark.parametrize("seed", range(4))
def test_consistent_signal_is_decided(seed):
    """A push of one per-step standard deviation towards a planted architecture, at the paper's
    lr 3e-3 (logits move far less than under the noise above): decided, decoding to the plant."""
    alpha_push, beta_push = planted_directions()
    (alphas, betas), (alpha_stats, beta_stats) = adam_search(
        signal(1.0, alpha_push, beta_push), steps=300, lr=3e-3, seed=seed)
    assert decode_cell(alphas) == GENOTYPE and decode_path(betas) == PATH
    result = verdict(alphas, betas, alpha_stats, beta_stats)
    assert result["verdict"] == DECIDED, result
    assert min(result["op_z"]) >= result["z_bound"] and result["path_z"] >= result["z_bound"]


def test_a_short_search_is_not_determined_and_says_how_long_to_search():
    """30 steps of a real push: not determined; the advice's step count (z grows as sqrt(steps))
    then decides a fresh run."""
    alpha_push, beta_push = planted_directions()
    (alphas, betas), (alpha_stats, beta_stats) = adam_search(
        signal(1.0, alpha_push, beta_push), steps=30, lr=3e-3, seed=0)
    result = verdict(alphas, betas, alpha_stats, beta_stats)
    assert result["verdict"] == NOT_DETERMINED
    needed = int(re.search(r"about (\d+) architecture steps would be needed", result["advice"]).group(1))
    assert 30 < needed < 1000
    (alphas, betas), (alpha_stats, beta_stats) = adam_search(
        signal(1.0, alpha_push, beta_push), steps=needed, lr=3e-3, seed=1)
    assert verdict(alphas, betas, alpha_stats, beta_stats)["verdict"] == DECIDED


def test_too_few_steps_are_never_decided():
    alpha_push, beta_push = planted_directions()
    (alphas, betas), (alpha_stats, beta_stats) = adam_search(
        signal(3.0, alpha_push, beta_push), steps=10, lr=3e-3, seed=0)
    result = verdict(alphas, betas, alpha_stats, beta_stats)
    assert result["path_z"] > result["z_bound"]  # a strong push, but 10 steps do not estimate its spread
    assert result["verdict"] == NOT_DETERMINED and "fewer than 20 architecture steps" in result["advice"]


def test_gradient_moments_match_numpy():
    grads = np.random.default_rng(0).standard_normal((30, 4, 3))
    stats = GradientMoments.zeros((4, 3))
    for grad in grads:
        stats.add(grad)
    np.testing.assert_allclose(stats.mean(), grads.mean(axis=0))
    np.testing.assert_allclose(stats.std(), grads.std(axis=0, ddof=1))
    np.testing.assert_allclose(stats.covariance(), np.cov(grads.reshape(30, 12), rowvar=False), atol=1e-12)


def test_moments_since_an_earlier_count_are_the_later_steps_own():
    grads = np.random.default_rng(1).standard_normal((30, 4, 3))
    stats, earlier, later = (GradientMoments.zeros((4, 3)) for _ in range(3))
    for step, grad in enumerate(grads):
        stats.add(grad)
        (earlier if step < 12 else later).add(grad)
    since = stats.since(earlier)
    assert since.count == later.count == 18
    np.testing.assert_allclose(since.mean(), later.mean())
    np.testing.assert_allclose(since.covariance(), later.covariance(), atol=1e-12)


def moments_of(pushes, seed):
    """(first half's, whole run's) alpha and beta moments of one unit-noise step per push
    strength in ``pushes``, towards the planted architecture."""
    alpha_push, beta_push = planted_directions()
    rng = np.random.default_rng(seed)
    whole = [GradientMoments.zeros(alpha_push.shape), GradientMoments.zeros(beta_push.shape)]
    first = None
    for step, strength in enumerate(pushes):
        if step == len(pushes) // 2:
            first = [GradientMoments(m.count, m.total, m.total_outer) for m in whole]
        for moments, push in zip(whole, (alpha_push, beta_push)):
            moments.add(-strength * push + rng.standard_normal(push.shape))
    return first, whole


def test_the_advice_tells_a_signal_that_stopped_from_a_steady_one():
    """The weakest decision's z over each half of the steps: a push that stops halfway has its
    evidence in the first half only; a steady push of the same total has it in both."""
    alphas, betas = planted_directions()
    first, whole = moments_of([0.5] * 100 + [0.0] * 100, seed=0)
    stopped = verdict(alphas, betas, *whole, earlier=first)
    steps_then, z_then, steps_since, z_since = stopped["weakest_halves"]
    assert (steps_then, steps_since) == (100, 100) and z_then - z_since > 3, stopped
    assert f"z is {z_then:.2f} over the first 100 architecture steps and {z_since:.2f} over the 100 since" \
        in stopped["advice"]
    first, whole = moments_of([0.25] * 200, seed=0)
    steady = verdict(alphas, betas, *whole, earlier=first)
    _, z_then, _, z_since = steady["weakest_halves"]
    assert z_then > 0 and z_since > 0 and abs(z_then - z_since) < 2, steady
    assert verdict(alphas, betas, *whole)["weakest_halves"] is None  # no earlier moments given


def test_noise_shared_by_two_ops_does_not_hide_the_difference_between_them():
    """Softmax couples an edge's logit gradients: noise common to two ops cancels in the vote
    between them, so a small steady difference decides (per-logit spreads alone would say z ~ 1)."""
    rng = np.random.default_rng(0)
    alphas = np.zeros((EDGES, OPS))
    for row, (state, op) in enumerate(GENOTYPE):
        alphas[STARTS[row // 2] + state, PRIMITIVES.index(op)] = 1.0
    moments = GradientMoments.zeros(alphas.shape)
    for _ in range(40):
        grad = np.zeros_like(alphas) + rng.standard_normal()  # shared by every logit
        grad -= 0.2 * (alphas > 0)  # the kept ops are favoured by a steady 0.2
        moments.add(grad + 0.01 * rng.standard_normal(alphas.shape))
    assert min(op_evidence(alphas, moments)) > 10


def test_margins_and_parameter_free_count():
    alphas = np.zeros((EDGES, OPS))
    for row, (state, op) in enumerate(GENOTYPE):
        alphas[STARTS[row // 2] + state, PRIMITIVES.index(op)] = 2.0
    edge = STARTS[0]  # block 0, state 0: dil_conv_5x5; make skip_connect the runner-up
    alphas[edge, PRIMITIVES.index("skip_connect")] = 0.5
    alphas[edge, 0] = 9.0  # `none` is never the runner-up
    first = op_margins(alphas)[0]
    assert (first["edge"], first["op"], first["runner_up"]) == (0, "dil_conv_5x5", "skip_connect")
    assert first["logit_margin"] == pytest.approx(1.5)
    probs = np.exp(alphas[edge]) / np.exp(alphas[edge]).sum()
    assert first["prob_margin"] == pytest.approx(probs[7] - probs[3])
    assert parameter_free_ops(alphas) == 0
    for row, op in ((0, "skip_connect"), (3, "max_pool_3x3"), (9, "avg_pool_3x3")):
        state = GENOTYPE[row][0]
        alphas[STARTS[row // 2] + state, PRIMITIVES.index(op)] = 5.0
    assert parameter_free_ops(alphas) == 3


def test_path_margin_is_the_gap_to_the_runner_up():
    betas = np.zeros((1, 4, 3))
    betas[0, 0, 2] = 1.0  # stem -> level 1 preferred by 1 logit
    assert path_margin(betas, "rescaled") == ([1], [0], pytest.approx(1.0))
    betas = np.random.default_rng(0).standard_normal((LAYERS, 4, 3))
    (best, first), (second, runner) = best_paths(betas, "paper", count=2)
    assert path_margin(betas, "paper") == (best, second, pytest.approx(first - runner))


def test_architecture_change_ignores_moves_that_do_not_exist():
    alphas0, betas0 = np.zeros((EDGES, OPS)), np.zeros((LAYERS, 4, 3))
    alphas, betas = alphas0.copy(), betas0.copy()
    alphas[3, 2] = -0.4
    betas[0, 3, 1] = 7.0  # level 3 does not exist at the stem
    betas[5, 2, 0] = 0.25
    assert not move_mask(LAYERS)[0, 3, 1]
    assert architecture_change(alphas0, alphas, betas0, betas) == (pytest.approx(0.4), pytest.approx(0.25))


def test_a_real_push_at_a_large_lr_is_decided():
    """The other side of the noise test: at the same lr 0.1 (logits beyond 10, softmax saturated)
    a real push is decided, since the evidence does not depend on the lr or the logits' size."""
    alpha_push, beta_push = planted_directions()
    (alphas, betas), (alpha_stats, beta_stats) = adam_search(
        signal(1.0, alpha_push, beta_push), steps=300, lr=0.1, seed=0)
    assert decode_path(betas) == PATH and np.abs(betas).max() > 10
    assert verdict(alphas, betas, alpha_stats, beta_stats)["verdict"] == DECIDED


def test_on_noise_a_single_decision_is_rarely_supported_whichever_candidate_the_search_picked():
    """The search picks each decision's best-looking candidate, so a bound over the decisions alone
    would let noise through (the picked op's z is the largest of 7); over every candidate, no
    decision of a noise search is supported in more than 5% of the runs."""
    supported = 0
    for seed in range(100):
        (alphas, betas), (alpha_stats, beta_stats) = adam_search(noise, steps=100, lr=0.1, seed=seed)
        result = verdict(alphas, betas, alpha_stats, beta_stats)
        supported += max(result["op_z"] + [result["path_z"]]) >= result["z_bound"]
    assert supported <= 5


def test_the_evidence_decode_keeps_a_weak_path_signal_that_weight_decay_erases_from_the_logits():
    """Beta's gradients are small (about 1e-5 per move here); nn.Adam adds the weight decay to the
    gradient and then normalises, so at that scale the decay pulls every logit back by about the
    lr per step and the logits forget the path the gradients favour. The z of each move (``path_decode:
    evidence``) does not depend on the gradient's scale: it decodes the planted path."""
    alpha_push, beta_push = planted_directions()
    push = lambda rng: (1e-5 * (-0.3 * alpha_push + rng.standard_normal((EDGES, OPS))),
                        1e-5 * (-0.3 * beta_push + rng.standard_normal((LAYERS, 4, 3))))
    for seed in range(4):
        (alphas, betas), (alpha_stats, beta_stats) = adam_search(push, steps=120, lr=0.02, seed=seed,
                                                                 weight_decay=1e-3)
        assert decode_path(betas) != PATH
        assert decode_path(path_decode_input(betas, beta_stats, "evidence"), "evidence") == PATH
        # The logit decode's verdict points at the path the gradients favour.
        result = verdict(alphas, betas, alpha_stats, beta_stats)
        assert result["evidence_path"] == PATH and f"the architecture gradients favour path {PATH}" in result["advice"]


def test_move_evidence_is_each_moves_z_against_its_nodes_mean_move():
    rng = np.random.default_rng(0)
    moments = GradientMoments.zeros((3, 4, 3))
    np.testing.assert_array_equal(move_evidence(moments)[move_mask(3)], 0.0)  # no step: no evidence
    recorded = []
    for _ in range(50):
        grad = 0.1 * rng.standard_normal((3, 4, 3))
        grad[0, 0, 1] -= 0.2  # descent raises the stem's move to level 0
        grad[0, 0, 2] += 0.2  # (a softmax's logit gradients sum to zero over the node's moves)
        recorded.append(grad * move_mask(3))
        moments.add(recorded[-1])
    scores = move_evidence(moments)
    assert np.all(np.isneginf(scores[~move_mask(3)]))
    assert scores[0, 0, 1] > 5 and scores[0, 0, 2] == pytest.approx(-scores[0, 0, 1])  # a node of two moves
    # A node of three moves: the move's vote against the mean of the three, per step, as a z.
    direction = np.zeros((3, 4, 3))
    direction[1, 1, :] = -1 / 3
    direction[1, 1, 0] += 1
    votes = [-(direction * grad).sum() for grad in recorded]
    assert scores[1, 1, 0] == pytest.approx(np.mean(votes) / (np.std(votes, ddof=1) / np.sqrt(len(votes))))
    assert decode_path(path_decode_input(np.zeros((3, 4, 3)), moments, "evidence"), "evidence")[0] == 0
    assert path_decode_input("logits", moments, "rescaled") == "logits"


def test_scored_path_z_is_the_paired_t_test_as_a_normal_quantile():
    """Per-batch differences 1, 2, 3: t = 2 / (1 / sqrt 3) with 2 degrees of freedom, whose upper
    tail has the closed form 1/2 - t / (2 sqrt(2 + t^2)); z is the normal quantile of that tail."""
    from statistics import NormalDist
    t = 2 * np.sqrt(3)
    expected = NormalDist().inv_cdf(1 - (0.5 - t / (2 * np.sqrt(2 + t * t))))
    assert scored_path_z([1.5, 2.5, 3.5], [0.5, 0.5, 0.5]) == pytest.approx(expected, rel=1e-9)
    assert scored_path_z([0.5, 0.5, 0.5], [1.5, 2.5, 3.5]) == pytest.approx(-expected, rel=1e-9)
    assert scored_path_z([0.3, 0.3], [0.3, 0.3]) == 0.0


def test_a_scored_path_z_replaces_the_gradients_path_decision():
    """path_search single_path: the path's decision is its scored z; the gradients' evidence path
    is not offered (beta was not searched)."""
    alpha_push, beta_push = planted_directions()
    (alphas, betas), (alpha_stats, beta_stats) = adam_search(
        signal(1.0, alpha_push, beta_push), steps=300, lr=3e-3, seed=0)
    decided = verdict(alphas, betas, alpha_stats, beta_stats)
    assert decided["verdict"] == DECIDED
    for z, outcome in ((decided["z_bound"] + 0.1, DECIDED), (decided["z_bound"] - 0.1, NOT_DETERMINED)):
        result = verdict(alphas, betas, alpha_stats, beta_stats, scored_path_z=z)
        assert result["path_z"] == z and result["verdict"] == outcome and result["evidence_path"] is None
