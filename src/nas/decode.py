"""Turn searched alpha/beta logits into a discrete architecture (pure numpy).

Conventions (README, Decode):

* ``betas`` has shape (L, 4, 3): ``betas[l][s][k]`` is the logit of the move from level ``s`` at
  layer ``l-1`` (the stem, at level 0, for ``l == 0``) to level ``s-1+k`` at layer ``l``
  (k=0 finer, 1 same, 2 coarser). Node (l, s) exists when ``s <= l+1``.
* ``alphas`` has shape (20, 8): one row per cell edge, ordered block 0: states 0,1; block 1:
  states 0,1,2; block 2: states 0..3; ...; columns in the op table's ``PRIMITIVES`` order
  (column 0 is ``none``).
"""
import numpy as np

from src.numeric import softmax

NUM_LEVELS = 4
NUM_MOVES = 3


def move_mask(num_layers, num_levels=NUM_LEVELS):
    """Boolean (L, levels, 3): True where the move exists (source node exists, target level valid).

    The source of layer ``l`` is layer ``l-1`` whose nodes have level ``<= l`` (the stem, level 0,
    for ``l == 0``); the target level ``s-1+k`` must lie in ``0..levels-1``. Targets then always
    satisfy ``level <= l+1``.
    """
    layer = np.arange(num_layers)[:, None, None]
    source = np.arange(num_levels)[None, :, None]
    target = source - 1 + np.arange(NUM_MOVES)[None, None, :]
    return (source <= layer) & (target >= 0) & (target < num_levels)


def uniform_random_path(num_layers, rng, num_levels=NUM_LEVELS):
    """A network path drawn uniformly from all valid paths (the chance baseline of a search): each
    level is drawn in proportion to the number of valid paths that continue from it."""
    _, counts = valid_path_counts(num_layers, num_levels)  # counts[l][s]: paths from s at l to the end
    path, level = [], 0  # the stem is at level 0
    for layer in range(num_layers):
        options = np.arange(max(level - 1, 0), min(level + 2, num_levels))
        weights = counts[layer][options]
        level = int(rng.choice(options, p=weights / weights.sum()))
        path.append(level)
    return path


def valid_path_counts(num_layers, num_levels=NUM_LEVELS):
    """(from_stem, to_end): from_stem[l][s] valid path prefixes from the stem ending at level s of
    layer l; to_end[l][s] valid continuations from level s at layer l to the last layer."""
    def unrolled(first):  # a level is reached from (or continues to) levels s-1, s, s+1
        counts = [first]
        for _ in range(num_layers - 1):
            counts.append(np.array([counts[-1][max(s - 1, 0):s + 2].sum() for s in range(num_levels)]))
        return np.array(counts)
    return unrolled(np.array([1.0, 1.0] + [0.0] * (num_levels - 2))), unrolled(np.ones(num_levels))[::-1]


def uniform_move_frequencies(num_layers, num_levels=NUM_LEVELS):
    """(L, levels, 3): the fraction of all valid paths that take each move (the move layout of
    ``betas``): the moves of a uniformly drawn path, on average. Also returns the path count."""
    from_stem, to_end = valid_path_counts(num_layers, num_levels)
    total = from_stem[-1].sum()
    frequencies = np.zeros((num_layers, num_levels, NUM_MOVES))
    mask = move_mask(num_layers, num_levels)
    for layer, source, move in zip(*np.nonzero(mask)):
        reaching = 1.0 if layer == 0 else from_stem[layer - 1][source]
        frequencies[layer, source, move] = reaching * to_end[layer][source - 1 + move] / total
    return frequencies, int(total)


def normalize_betas(betas):
    """(L, levels, 3) raw logits -> move probabilities: softmax over each node's existing moves.

    No extra rescaling (the PyTorch port's 2/3 factor is not in the paper). Moves that do not exist
    get probability 0, so every existing source node's row sums to 1 and every other row is 0.
    """
    betas = np.asarray(betas, dtype=np.float64)
    if betas.ndim != 3 or betas.shape[2] != NUM_MOVES:
        raise ValueError(f"betas must have shape (layers, levels, 3), got {betas.shape}")
    return softmax(betas, mask=move_mask(betas.shape[0], betas.shape[1]))


# How a move is scored in the path decode (the architecture file records the name used).
PATH_DECODES = {
    "rescaled": "network path: Viterbi over log(p * k / 3), p = beta softmax over the k moves its "
                "node has, so betas that carry no information score every path alike (the "
                "PyTorch port's rescale, its PR #74)",
    "paper": "network path: Viterbi over log p, p = beta softmax over the moves its node has "
             "(paper-literal; near-zero betas favour the boundary levels by log(3/2) per layer)",
    "evidence": "network path: Viterbi over each move's z, the architecture gradients' evidence for "
                "the move against its node's mean move (src.nas.health.move_evidence), not the "
                "Adam-moved logits",
}
# Decodes whose input is per-move scores made from the gradient evidence, not the beta logits.
EVIDENCE_DECODES = ("evidence",)
DEFAULT_PATH_DECODE = "rescaled"


def move_log_scores(betas, path_decode=DEFAULT_PATH_DECODE):
    """(L, levels, 3) log score of every move under ``path_decode`` (-inf where no move exists).

    "rescaled" multiplies p by k/3 (k = moves of the source node): near-zero betas give every move
    1/3, so no level gains from having fewer moves. "evidence": ``betas`` are already the per-move
    scores (``src.nas.health.path_decode_input``), used as they are.
    """
    if path_decode not in PATH_DECODES:
        raise ValueError(f"path_decode must be one of {', '.join(PATH_DECODES)}, got {path_decode!r}")
    if path_decode in EVIDENCE_DECODES:
        betas = np.asarray(betas, dtype=np.float64)
        return np.where(move_mask(*betas.shape[:2]), betas, -np.inf)
    probs = normalize_betas(betas)
    if path_decode == "rescaled":
        probs = probs * move_mask(*probs.shape[:2]).sum(axis=2, keepdims=True) / NUM_MOVES
    with np.errstate(divide="ignore"):
        return np.log(probs)


def best_paths(betas, path_decode=DEFAULT_PATH_DECODE, count=1):
    """The ``count`` highest-scoring paths, best first, as [(levels, score)] (list Viterbi).

    Starts at the stem (level 0); each layer moves by at most one level; levels stay in range.
    Ties resolve to the lower level: at every node and at the end, candidates are ranked by score,
    then by level (stable sort over candidates listed in ascending level).
    """
    scores = move_log_scores(betas, path_decode)
    num_layers, num_levels, _ = scores.shape
    # kept[level] = up to ``count`` (score, levels so far), best first
    kept = [[(0.0, [])]] + [[] for _ in range(num_levels - 1)]
    for layer in range(num_layers):
        grown = []
        for target in range(num_levels):
            candidates = [(score + scores[layer, source, target - source + 1], path + [target])
                          for source in range(max(0, target - 1), min(num_levels, target + 2))
                          for score, path in kept[source]]
            candidates = [item for item in candidates if np.isfinite(item[0])]
            grown.append(sorted(candidates, key=lambda item: -item[0])[:count])
        kept = grown
    ranked = sorted((item for level in kept for item in level), key=lambda item: -item[0])
    return [(path, float(score)) for score, path in ranked[:count]]


def decode_path(betas, path_decode=DEFAULT_PATH_DECODE):
    """The maximum-score network path (list of L levels); see ``best_paths``."""
    return best_paths(betas, path_decode)[0][0]


def path_score(betas, path, path_decode=DEFAULT_PATH_DECODE):
    """Sum of the move log scores of ``path`` (-inf for an invalid path)."""
    scores = move_log_scores(betas, path_decode)
    total, source = 0.0, 0
    for layer, target in enumerate(path):
        move = target - source + 1
        if not 0 <= move < NUM_MOVES:
            return -np.inf
        total += scores[layer, source, move]
        source = target
    return total


def path_log_probability(betas, path):
    """Log probability of ``path`` under the normalised betas (-inf for an invalid path)."""
    return path_score(betas, path, "paper")


def encode_architecture(path, cell, num_levels=NUM_LEVELS, confidence=30.0, primitives=None):
    """(alphas, betas) logits that make the supernet one architecture of its space, the inverse of
    the decode: every softmax one-hot up to exp(-2 * confidence). Alpha: each block's two rows of
    ``cell`` get their op, the block's other edges ``none``. Beta: ``encode_path``."""
    if primitives is None:
        from src.layers.operations import PRIMITIVES as primitives
    blocks = edge_block_ranges(len(cell) // 2)
    alphas = np.full((num_cell_edges(len(blocks)), len(primitives)), -confidence)
    for start, count in blocks:
        alphas[start:start + count, 0] = confidence
    for row, (state, op) in enumerate(cell):
        edge = blocks[row // 2][0] + state
        alphas[edge] = -confidence
        alphas[edge, primitives.index(op)] = confidence
    return alphas, encode_path(path, num_levels, confidence)


def encode_path(path, num_levels=NUM_LEVELS, confidence=30.0):
    """Beta logits of one network path: the path's moves, and every node off the path moves away
    from the path's next node, so the path's nodes see only the path (the supernet then differs
    from the retrain network only in its prev-prev inputs and its heads:
    ``SearchSupernet.scored_levels``)."""
    betas = np.full((len(path), num_levels, NUM_MOVES), -confidence)
    mask = move_mask(len(path), num_levels)
    previous = 0  # the stem
    for layer, target in enumerate(path):
        for source in range(num_levels):
            moves = [k for k in range(NUM_MOVES) if mask[layer, source, k]]
            if source == previous:
                betas[layer, source, target - source + 1] = confidence
            elif moves:
                away = [k for k in moves if source - 1 + k != target]
                betas[layer, source, away[0]] = confidence
        previous = target
    return betas


def valid_paths(num_layers, num_levels=NUM_LEVELS):
    """Every valid network path (from the stem at level 0, at most one level per layer), in
    lexicographic order."""
    paths = [[]]
    for _ in range(num_layers):
        paths = [path + [level] for path in paths
                 for level in range(num_levels) if abs(level - (path[-1] if path else 0)) <= 1]
    return paths


def edge_block_ranges(num_blocks):
    """[(first_edge, num_edges)] per block: block b has 2+b incoming edges (states 0..b+1)."""
    ranges, start = [], 0
    for block in range(num_blocks):
        ranges.append((start, 2 + block))
        start += 2 + block
    return ranges


def num_cell_edges(num_blocks):
    """Number of cell edges (20 for 5 blocks)."""
    return sum(count for _, count in edge_block_ranges(num_blocks))


def decode_cell(alphas, primitives=None):
    """Genotype rows ``[input_state, op_name]`` (2 per block) from (edges, ops) raw alpha logits.

    Softmax per edge over all ops (``none`` included, as in the supernet), then per block keep the
    two incoming edges with the largest max-over-non-``none`` weight, each with its argmax
    non-``none`` op. Rows within a block are ordered by input state (ascending); ties between
    edges go to the lower state. ``primitives`` defaults to the op table's PRIMITIVES.
    """
    if primitives is None:
        from src.layers.operations import PRIMITIVES as primitives
    alphas = np.asarray(alphas, dtype=np.float64)
    if alphas.ndim != 2 or alphas.shape[1] != len(primitives):
        raise ValueError(f"alphas must have shape (edges, {len(primitives)}), got {alphas.shape}")
    if primitives[0] != "none":
        raise ValueError(f"primitives[0] must be 'none', got {primitives[0]!r}")
    weights = softmax(alphas)[:, 1:]
    num_blocks = 0
    while num_cell_edges(num_blocks + 1) <= alphas.shape[0]:
        num_blocks += 1
    if num_cell_edges(num_blocks) != alphas.shape[0]:
        raise ValueError(f"{alphas.shape[0]} alpha rows do not match any whole number of blocks")
    rows = []
    for start, count in edge_block_ranges(num_blocks):
        strength = weights[start:start + count].max(axis=1)
        kept = sorted(np.argsort(-strength, kind="stable")[:2])
        for state in kept:
            op = int(np.argmax(weights[start + state])) + 1
            rows.append([int(state), primitives[op]])
    return rows
