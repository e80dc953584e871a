"""PNG of a decoded architecture: the network path over the levels on the beta trellis, and the cell."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after selecting the Agg backend)
import numpy as np  # noqa: E402

from src.fileio import atomic_path  # noqa: E402
from src.nas.decode import normalize_betas  # noqa: E402


def draw_architecture(path, betas, network_path, cell):
    """Left: move probabilities (line width/shade) and the decoded path (red); right: the cell."""
    probs = normalize_betas(betas)
    num_layers, num_levels, _ = probs.shape
    figure, (trellis, graph) = plt.subplots(1, 2, figsize=(14, 5), gridspec_kw={"width_ratios": [3, 2]})
    for layer in range(num_layers):
        for source in range(num_levels):
            for move in range(3):
                if probs[layer, source, move] > 0:
                    trellis.plot([layer - 1, layer], [source, source - 1 + move], color="tab:blue",
                                 alpha=float(probs[layer, source, move]),
                                 linewidth=0.5 + 3 * probs[layer, source, move])
    trellis.plot(range(-1, num_layers), [0] + list(network_path), color="red", linewidth=3,
                 marker="o", label="decoded path")
    trellis.set_xticks(range(-1, num_layers), ["stem"] + [str(i) for i in range(num_layers)])
    trellis.set_yticks(range(num_levels), [f"level {s} (/{4 * 2 ** s})" for s in range(num_levels)])
    trellis.invert_yaxis()
    trellis.set_xlabel("layer")
    trellis.set_title("network path over normalised beta")
    trellis.legend(loc="lower right")
    num_states = 2 + len(cell) // 2
    positions = {state: (state, (state % 2) * 0.6) for state in range(num_states)}
    names = ["prev-prev", "prev"] + [f"block {b}" for b in range(num_states - 2)]
    for row, (state, op) in enumerate(cell):
        target = 2 + row // 2
        (x0, y0), (x1, y1) = positions[state], positions[target]
        graph.annotate("", xy=(x1, y1), xytext=(x0, y0),
                       arrowprops=dict(arrowstyle="->", connectionstyle="arc3,rad=0.25"))
        graph.text((x0 + x1) / 2, (y0 + y1) / 2 + 0.15 * (1 if row % 2 else -1), op,
                   fontsize=7, ha="center")
    for state, (x, y) in positions.items():
        graph.scatter([x], [y], s=600, color="lightgrey", zorder=3)
        graph.text(x, y, names[state], fontsize=7, ha="center", va="center", zorder=4)
    graph.set_xlim(-0.8, num_states - 0.2)
    graph.set_ylim(-1.0, 1.6)
    graph.axis("off")
    graph.set_title("cell (edges: kept op per input)")
    figure.tight_layout()
    with atomic_path(path, keep_suffix=True) as temporary:
        figure.savefig(temporary, dpi=100)
    plt.close(figure)
