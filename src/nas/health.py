"""Search health: did the data decide the architecture, or did the search's own dynamics? (numpy)

Why not the logits alone: Adam moves every logit by about its lr per step whatever the gradient's
sign consistency, so after n steps pure noise gives margins of order lr * sqrt(n) or more, and a
large architecture lr makes them look confident. Evidence is the gradient itself: over n steps the
mean per-step gradient of a decision against its per-step spread, a z statistic that does not
depend on the lr. A decision is the decoded choice against chance: the kept op of an edge against
the mean of the edge's other non-``none`` ops (a uniformly drawn op), the decoded path against the
mean move of a uniformly drawn valid path. It is supported when z clears a bound that holds
whichever candidate the search picked: Bonferroni over every candidate of every decision (7 ops
per kept edge, every valid path). The architecture is "decided" when every decision is supported
(``verdict``); how close the runner-up is, is the margins' business (``op_margins``,
``path_margin``).

What the trainer records (``GradientMoments``; docs/search_decisions.md):

* per architecture step: the data loss's gradient of alpha (edges, ops) and of beta (L, 4, 3) on
  that step's batch of half B, before weight decay, any regulariser and Adam (a deterministic
  term has no spread and would count as evidence), added with
  ``alpha_moments.add(grad)`` / ``beta_moments.add(grad)``: a step count, the sum and the sum of
  outer products of the flattened gradients, since the first architecture step (not reset per
  epoch): a decision's per-step vote is a linear function of the gradient, so its mean and its
  step-to-step variance follow exactly (a one-sample z test of the votes; the logits' gradients
  are strongly correlated through the softmax, so per-logit spreads alone would overstate it);
* per epoch, into arch_history.npz: each moments' ``count``, ``total``, ``total_outer`` (the
  verdict can be recomputed from the file), and the figures of ``epoch_figures`` (the alpha and
  beta the architecture steps started from are the reference of "since the start").
"""
import dataclasses
from statistics import NormalDist

import numpy as np

from src.nas.decode import (DEFAULT_PATH_DECODE, EVIDENCE_DECODES, best_paths, decode_cell, decode_path,
                             edge_block_ranges, move_mask, uniform_move_frequencies)

# Op kinds of the op table (src.layers.operations.OP_TABLE) with no trainable weight: zero,
# identity, and pools (whose BN in search is non-affine).
PARAMETER_FREE_KINDS = ("zero", "identity", "max_pool", "avg_pool")
SIGNIFICANCE = 0.05  # family-wise, over every candidate of every decision (Bonferroni)
MIN_STEPS = 20  # fewer architecture steps: the per-step spread itself is not yet known
DECIDED, NOT_DETERMINED = "decided", "not determined by the data"


@dataclasses.dataclass
class GradientMoments:
    """Running count, sum (gradient shape) and sum of outer products (size x size, flattened
    gradients) of per-step gradients."""

    count: int
    total: np.ndarray
    total_outer: np.ndarray

    @classmethod
    def zeros(cls, shape):
        size = int(np.prod(shape))
        return cls(0, np.zeros(shape), np.zeros((size, size)))

    def add(self, grad):
        grad = np.asarray(grad, dtype=np.float64)
        self.count += 1
        self.total = self.total + grad
        self.total_outer = self.total_outer + np.outer(grad, grad)

    def mean(self):
        return self.total / max(self.count, 1)

    def covariance(self):
        """Per-step covariance of the flattened gradients (n - 1 in the denominator; 0 for fewer
        than 2 steps)."""
        if self.count < 2:
            return np.zeros_like(self.total_outer)
        total = self.total.ravel()
        return (self.total_outer - np.outer(total, total) / self.count) / (self.count - 1)

    def since(self, earlier):
        """The moments of the steps after ``earlier`` (the same run's moments at fewer steps)."""
        return GradientMoments(self.count - earlier.count, self.total - earlier.total,
                               self.total_outer - earlier.total_outer)

    def copy(self):
        return GradientMoments(self.count, self.total.copy(), self.total_outer.copy())

    def std(self):
        """Per-step standard deviation of each logit's gradient."""
        return np.sqrt(np.maximum(np.diag(self.covariance()), 0.0)).reshape(np.shape(self.total))


def architecture_change(alphas0, alphas, betas0, betas):
    """(largest |change| of alpha, of beta over existing moves) since the reference alpha0/beta0."""
    alpha_change = float(np.abs(np.asarray(alphas) - alphas0).max())
    betas = np.asarray(betas)
    moved = np.abs(betas - betas0)[move_mask(*betas.shape[:2])]
    return alpha_change, float(moved.max())


def _kept_edges(alphas):
    """[(edge index, chosen op column)] of the cell ``decode_cell`` keeps, and the op names."""
    from src.layers.operations import PRIMITIVES
    cell = decode_cell(alphas)
    starts = [start for start, _ in edge_block_ranges(len(cell) // 2)]
    return [(starts[row // 2] + state, PRIMITIVES.index(op)) for row, (state, op) in enumerate(cell)], PRIMITIVES


def op_margins(alphas):
    """Per kept edge: chosen op, runner-up (best other non-``none`` op), and the margin between them
    in softmax probability (over all ops, as in the supernet) and in logit."""
    alphas = np.asarray(alphas, dtype=np.float64)
    kept, primitives = _kept_edges(alphas)
    probs = np.exp(alphas - alphas.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    margins = []
    for edge, op in kept:
        others = [j for j in range(1, alphas.shape[1]) if j != op]
        runner_up = max(others, key=lambda j: alphas[edge, j])
        margins.append({"edge": edge, "op": primitives[op], "runner_up": primitives[runner_up],
                        "prob_margin": float(probs[edge, op] - probs[edge, runner_up]),
                        "logit_margin": float(alphas[edge, op] - alphas[edge, runner_up])})
    return margins


def path_margin(betas, path_decode=DEFAULT_PATH_DECODE):
    """(decoded path, runner-up path, score difference): the Viterbi margin to the best path with
    another level sequence (inf when there is only one valid path)."""
    ranked = best_paths(betas, path_decode, count=2)
    if len(ranked) < 2:
        return ranked[0][0], None, float("inf")
    (best, best_score), (runner_up, runner_score) = ranked
    return best, runner_up, best_score - runner_score


def count_parameter_free(cell):
    """Number of a cell's ``(input, op)`` edges whose op has no trainable weight (kinds
    ``PARAMETER_FREE_KINDS``)."""
    from src.layers.operations import OP_TABLE
    return sum(OP_TABLE[op].kind in PARAMETER_FREE_KINDS for _, op in cell)


def parameter_free_ops(alphas):
    """Number of kept edges of the cell ``alphas`` decode to whose op has no trainable weight."""
    return count_parameter_free(decode_cell(alphas))


def _z(weights, moments):
    """z of the descent along ``weights`` (a direction in logit space that favours the decision):
    mean per-step vote -weights . grad over its standard error."""
    weights = np.ravel(weights)
    variance = max(float(weights @ moments.covariance() @ weights), 0.0)
    error = np.sqrt(variance / max(moments.count, 1))
    effect = -weights @ moments.mean().ravel()
    if error == 0:
        return float(np.sign(effect) * np.inf) if effect else 0.0
    return float(effect / error)


def _op_directions(alphas):
    """Per kept edge, the decision's direction in alpha's logit space: +1 on the chosen op, minus
    the mean of the edge's other non-``none`` ops."""
    alphas = np.asarray(alphas, dtype=np.float64)
    kept, _ = _kept_edges(alphas)
    directions = []
    for edge, op in kept:
        others = [other for other in range(1, alphas.shape[1]) if other != op]
        weights = np.zeros_like(alphas)
        weights[edge, others] = -1.0 / len(others)
        weights[edge, op] = 1.0
        directions.append(weights)
    return directions


def _path_direction(betas, path_decode=DEFAULT_PATH_DECODE):
    """The decoded path's direction in beta's logit space: +1 on its moves, minus each move's share
    of all valid paths."""
    best = decode_path(betas, path_decode)
    weights, _ = uniform_move_frequencies(*np.shape(betas)[:2])
    weights = -weights
    for layer, (source, target) in enumerate(zip([0] + best[:-1], best)):
        weights[layer, source, target - source + 1] += 1.0
    return weights


def scored_path_z(best_scores, mean_scores):
    """z of a path's supernet scores against the mean scored path's (higher is better: pass losses
    the other way round), paired per batch of crops:
    the one-sided t statistic over the batches (n - 1 degrees of freedom) as the normal quantile
    of the same p-value, comparable with the verdict's bound (which counts every valid path, so
    picking the best of them is covered)."""
    differences = np.asarray(best_scores, dtype=np.float64) - np.asarray(mean_scores, dtype=np.float64)
    effect, count = differences.mean(), len(differences)
    error = differences.std(ddof=1) / np.sqrt(count) if count > 1 else 0.0
    if error == 0:
        return float(np.sign(effect) * np.inf) if effect else 0.0
    from scipy.stats import norm, t  # a dependency of MindSpore
    return float(norm.isf(t.sf(effect / error, count - 1)))


def move_evidence(beta_moments):
    """(L, levels, 3) z of every move against the mean of its source node's moves (-inf where no
    move exists; 0 before any architecture step): the per-move scores of ``path_decode:
    evidence``. Why: nn.Adam adds the weight decay to the gradient before normalising it, so
    where the data's gradient is as small as beta's the decay pulls every logit back by about the
    lr per step and the logits forget what the gradients said; the z does not depend on the
    gradient's scale."""
    shape = np.shape(beta_moments.total)
    mask = move_mask(*shape[:2])
    scores = np.full(shape, -np.inf)
    for layer, source, move in zip(*np.nonzero(mask)):
        weights = np.zeros(shape)
        moves = np.nonzero(mask[layer, source])[0]
        weights[layer, source, moves] = -1.0 / len(moves)
        weights[layer, source, move] += 1.0
        scores[layer, source, move] = _z(weights, beta_moments) if beta_moments.count else 0.0
    return scores


def path_decode_input(betas, beta_moments, path_decode):
    """What the path decode ``path_decode`` reads: the per-move evidence for the evidence decodes,
    else the beta logits."""
    return move_evidence(beta_moments) if path_decode in EVIDENCE_DECODES else betas


def op_evidence(alphas, moments):
    """Per kept edge: z of the chosen op against the mean of the edge's other non-``none`` ops."""
    return [_z(weights, moments) for weights in _op_directions(alphas)]


def candidates(alphas, betas):
    """How many choices the decisions were picked from: the non-``none`` ops of each kept edge and
    the valid paths (the verdict's bound covers whichever the search picked)."""
    kept, primitives = _kept_edges(np.asarray(alphas))
    return len(kept) * (len(primitives) - 1) + uniform_move_frequencies(*np.shape(betas)[:2])[1]


def epoch_figures(alphas0, alphas, betas0, betas, path_decode=DEFAULT_PATH_DECODE, path_input=None):
    """The per-epoch health figures (log and arch_history.npz): changes since the start, op
    margins of the kept edges, the path margin (of ``path_input``, ``path_decode_input``'s, default
    the betas), and the parameter-free ops among the kept edges."""
    alpha_change, beta_change = architecture_change(alphas0, alphas, betas0, betas)
    margins = op_margins(alphas)
    _, _, margin = path_margin(betas if path_input is None else path_input, path_decode)
    return {"alpha_change": alpha_change, "beta_change": beta_change,
            "op_prob_margin": np.array([m["prob_margin"] for m in margins]),
            "op_logit_margin": np.array([m["logit_margin"] for m in margins]),
            "path_margin": margin, "parameter_free_ops": parameter_free_ops(alphas)}


def verdict(alphas, betas, alpha_moments, beta_moments, path_decode=DEFAULT_PATH_DECODE,
            significance=SIGNIFICANCE, min_steps=MIN_STEPS, earlier=None, scored_path_z=None):
    """Decided, or not determined by the data with what to do. ``betas``: the path decode's input
    (``path_decode_input``). ``scored_path_z``: the z of a path chosen by its supernet score
    (path_search single_path, ``scored_path_z``) in place of the gradients' path z.

    Decisions: the op on each kept edge and the network path, each against chance (module
    docstring). Each needs z >= the one-sided bound at ``significance`` Bonferroni-corrected over
    all ``candidates``; the architecture is decided when all are supported after at least
    ``min_steps`` architecture steps. Which edges a block keeps is not tested.
    ``earlier``: the (alpha, beta) moments at fewer steps (about half), or None. The advice then
    gives the weakest decision's z over those steps and over the steps since, apart: a steady
    signal gives both alike, and only then does a longer search add to the evidence.
    Returns a dict: verdict, decided, advice, z bound, op z per kept edge, path z, steps, the
    weakest decision's (earlier steps, z over them, later steps, z over them) or None, and the
    path of the evidence decode (None when that is the decode, or before ``min_steps``); the
    advice names it when it differs from the decoded path.
    """
    directions = [(weights, 0) for weights in _op_directions(alphas)] + [(_path_direction(betas, path_decode), 1)]
    moments = (alpha_moments, beta_moments)
    zs = [_z(weights, moments[stream]) for weights, stream in directions]
    if scored_path_z is not None:
        zs[-1] = scored_path_z
    op_z, path_z = zs[:-1], zs[-1]
    bound = NormalDist().inv_cdf(1 - significance / candidates(alphas, betas))
    steps = min(alpha_moments.count, beta_moments.count)
    weakest_index = int(np.argmin(zs))
    weakest = zs[weakest_index]
    halves = None
    gradient_decision = scored_path_z is None or weakest_index < len(op_z)
    if earlier is not None and gradient_decision and min_steps <= earlier[0].count <= steps - min_steps:
        weights, stream = directions[weakest_index]
        later = moments[stream].since(earlier[stream])
        halves = (earlier[stream].count, _z(weights, earlier[stream]), later.count, _z(weights, later))
    decided = steps >= min_steps and weakest >= bound
    supported = sum(z >= bound for z in op_z)
    if decided:
        advice = ("every op choice and the path beat a uniformly drawn alternative in the architecture "
                  "gradients beyond noise")
    else:
        if steps < min_steps:
            longer = f"fewer than {min_steps} architecture steps say nothing yet"
        elif weakest > 0:  # z grows as the square root of the steps
            longer = f"at the current signal-to-noise about {steps * (bound / weakest) ** 2:.0f} architecture steps"
            longer += " would be needed"
        else:
            longer = "the gradients do not favour every decoded choice"
        if halves is not None:
            longer += (f"; the weakest decision's z is {halves[1]:.2f} over the first {halves[0]} architecture "
                       f"steps and {halves[3]:.2f} over the {halves[2]} since: a steady signal gives both alike")
        advice = (f"{supported} of {len(op_z)} op choices and {'the' if path_z >= bound else 'not the'} "
                  f"path are supported after {steps} architecture steps (z bound {bound:.2f}); "
                  f"search longer ({longer}) or with more pixels per architecture step (batch_size, "
                  "crop_size: each step's evidence grows with them, while a faded signal adds little per "
                  "step), or retrain the paper's architecture (leave arch_path unset)")
    evidence_path = None
    if scored_path_z is None and path_decode not in EVIDENCE_DECODES and steps >= min_steps:
        evidence_path, decoded = decode_path(move_evidence(beta_moments), "evidence"), decode_path(betas, path_decode)
        if evidence_path != decoded:
            advice += (f"; the architecture gradients favour path {evidence_path}, not the logits' {decoded} "
                       "(decode.py --path_decode evidence; docs/search_decisions.md, The evidence decode)")
    free = parameter_free_ops(alphas)
    if free * 2 > len(op_z):
        advice += (f"; {free} of {len(op_z)} kept ops are parameter-free: the skip-connect collapse "
                   "(docs/search_decisions.md)")
    return {"verdict": DECIDED if decided else NOT_DETERMINED, "decided": decided, "advice": advice,
            "z_bound": bound, "op_z": op_z, "path_z": path_z, "steps": steps, "weakest_halves": halves,
            "evidence_path": evidence_path}
