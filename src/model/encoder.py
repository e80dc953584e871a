"""Stem + the chain of cells along the network path."""
import mindspore.nn as nn

from src.errors import UserError
from src.layers.blocks import ConvNormAct
from src.model.cell import Cell


def low_level_cell_index(network_path, variant):
    """Which cell feeds the decoder's low-level branch (-1 = the stem's stride-4 output).

    paper: the last level-0 (stride 4) cell of the path. modelzoo: always cell 2, as the
    ModelZoo port hard-wires it (its checkpoints' decoder shapes depend on it)."""
    if variant == "modelzoo":
        if len(network_path) < 3:
            raise UserError("--variant modelzoo takes the decoder's low-level feature from cell 2, as the ModelZoo "
                            "port does, so it needs at least 3 cells; this architecture has %d: use --variant "
                            "paper or a longer network_path" % len(network_path))
        return 2
    level0 = [i for i, level in enumerate(network_path) if level == 0]
    return level0[-1] if level0 else -1


class Encoder(nn.Cell):
    """Returns (last cell output, low-level feature).

    One cell per entry of the architecture's network path, each with the architecture's
    ``num_blocks`` blocks (the architecture is the single source of both numbers)."""

    def __init__(self, architecture, filter_multiplier, variant, stem_channels, drop_path_keep_prob,
                 norm):
        super().__init__()
        stem_args = dict(norm=norm, variant=variant,
                         act="leaky_relu" if variant == "modelzoo" else "relu")
        self.stem = nn.CellList([
            ConvNormAct(3, stem_channels, 3, stride=2, **stem_args),
            ConvNormAct(stem_channels, stem_channels, 3, **stem_args),
            ConvNormAct(stem_channels, 2 * stem_channels, 3, stride=2, **stem_args),
        ])
        path = architecture.network_path
        num_cells = len(path)
        # (channels, level) of the prev-prev and prev inputs; the stem is at level 0 (stride 4).
        prev_prev, prev = (stem_channels, 0), (2 * stem_channels, 0)
        cells, out_channels = [], []
        for index, level in enumerate(path):
            channels = filter_multiplier * 2 ** level
            cells.append(Cell(architecture.cell, channels, prev_prev[0], prev[0], level, prev[1],
                              index, num_cells, variant, drop_path_keep_prob, norm))
            out_channels.append(architecture.num_blocks * channels)
            prev_prev, prev = prev, (out_channels[-1], level)
        self.layers = nn.CellList(cells)
        self.out_channels = out_channels[-1]
        self.low_level_index = low_level_cell_index(path, variant)
        self.low_level_channels = (out_channels[self.low_level_index]
                                   if self.low_level_index >= 0 else 2 * stem_channels)

    def construct(self, x, progress, step):
        prev_prev = self.stem[1](self.stem[0](x))
        prev = self.stem[2](prev_prev)
        low_level = prev
        index = 0
        for cell in self.layers:
            prev_prev, prev = prev, cell(prev_prev, prev, progress, step)
            if index == self.low_level_index:
                low_level = prev
            index += 1
        return prev, low_level
