"""One retrain cell: resample the two inputs, 1x1 preprocess, B blocks of two ops, concat."""
import mindspore.nn as nn
import mindspore.ops as ops

from src.layers.operations import make_op, preprocess
from src.layers.resize import BilinearResize, scale_dimension
from src.model.drop_path import DropPath

# Noise streams of the drop paths: DROP_PATH_STREAMS * (cell + 1) + genotype row (the decoder's
# dropouts use 1 and 2).
DROP_PATH_STREAMS = 1000


class Edge(nn.Cell):
    """One genotype row: op(state), followed by scheduled drop path unless the op is identity."""

    def __init__(self, op_name, channels, drop_path_keep_prob, cell_index, num_cells, norm, variant, stream):
        super().__init__()
        self.op = make_op(op_name, channels, norm, variant)
        self.use_drop_path = op_name != "skip_connect"
        if self.use_drop_path:
            self.drop_path = DropPath(drop_path_keep_prob, cell_index, num_cells, stream)

    def construct(self, x, progress, step):
        x = self.op(x)
        if self.use_drop_path:
            x = self.drop_path(x, progress, step)
        return x


class Cell(nn.Cell):
    """A cell at ``level`` whose previous cell was at ``prev_level``.

    The prev input is resized by the level change (x0.5, x1, x2, DeepLab size rule) and the
    prev-prev input straight to that same size; both go through a 1x1 preprocess to
    C = channels; block b = edge(state i) + edge(state j) with states [prev-prev, prev, blocks];
    the output concatenates the blocks (num_blocks * C channels).
    """

    def __init__(self, genotype, channels, prev_prev_channels, prev_channels, level, prev_level,
                 cell_index, num_cells, variant, drop_path_keep_prob, norm):
        super().__init__()
        self.scale = 2.0 ** (prev_level - level)
        self.preprocess_prev_prev = preprocess(prev_prev_channels, channels, norm, variant)
        self.preprocess_prev = preprocess(prev_channels, channels, norm, variant)
        self.resize = BilinearResize()
        self.inputs = tuple(state for state, _ in genotype)
        self.num_blocks = len(genotype) // 2
        self.edges = nn.CellList([
            Edge(op_name, channels, drop_path_keep_prob, cell_index, num_cells, norm, variant,
                 stream=DROP_PATH_STREAMS * (cell_index + 1) + row)
            for row, (_, op_name) in enumerate(genotype)])

    def construct(self, prev_prev, prev, progress, step):
        size = (scale_dimension(prev.shape[2], self.scale),
                scale_dimension(prev.shape[3], self.scale))
        states = [self.preprocess_prev_prev(self.resize(prev_prev, size)),
                  self.preprocess_prev(self.resize(prev, size))]
        blocks = ()
        for block in range(self.num_blocks):
            left, right = 2 * block, 2 * block + 1
            out = (self.edges[left](states[self.inputs[left]], progress, step)
                   + self.edges[right](states[self.inputs[right]], progress, step))
            states.append(out)
            blocks += (out,)
        return ops.concat(blocks, axis=1)
