"""Turn the exported MatMul resizes back into ONNX Resize nodes.

MindSpore cannot export ResizeBilinearV2, so the network is exported with the MatMul formulation
of ``src.layers.resize`` (x @ A_w^T, transpose, @ A_h^T, transpose). Dense interpolation matrices
cost O(input size) multiply-adds per output pixel: about a fifth of ONNX Runtime's time at
1024x2048. This pass finds each such chain whose constants are exactly the align_corners
interpolation matrices and replaces it with one Resize (linear, align_corners), which runtimes
implement in O(1) per pixel. Anything that does not match is left alone.
"""
import numpy as np
import onnx
from onnx import helper, numpy_helper

from src.layers.resize import interpolation_matrix

SWAP_LAST_TWO = [0, 1, 3, 2]


def _single_consumer(consumers, name, op_type):
    users = consumers.get(name, [])
    return users[0] if len(users) == 1 and users[0].op_type == op_type else None


def _is_swap(node):
    return node is not None and any(a.name == "perm" and list(a.ints) == SWAP_LAST_TWO for a in node.attribute)


def _interpolation_size(matrix):
    """(in, out) when ``matrix`` is interpolation_matrix(in, out).T, else None."""
    if matrix is None or matrix.ndim != 2:
        return None
    size_in, size_out = matrix.shape
    # MindSpore's graph compiler evaluates the matrix itself (float32 positions): weights can differ
    # from interpolation_matrix by ~1e-5 at 1024-pixel sizes; any other matrix differs by far more.
    if np.allclose(matrix, interpolation_matrix(size_in, size_out).T, atol=1e-4):
        return size_in, size_out
    return None


def replace_matmul_resizes(model):
    """The model with every MatMul resize chain replaced by Resize; returns (model, replaced count)."""
    model = onnx.shape_inference.infer_shapes(model)
    graph = model.graph
    constants = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    shapes = {info.name: [d.dim_value for d in info.type.tensor_type.shape.dim]
              for info in list(graph.value_info) + list(graph.input)}
    consumers = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    replaced, removed = [], set()
    for first in list(graph.node):
        if first.op_type != "MatMul" or first.name in removed:
            continue
        width = _interpolation_size(constants.get(first.input[1]))
        swap = _single_consumer(consumers, first.output[0], "Transpose")
        second = _is_swap(swap) and _single_consumer(consumers, swap.output[0], "MatMul")
        height = second and _interpolation_size(constants.get(second.input[1]))
        unswap = height and _single_consumer(consumers, second.output[0], "Transpose")
        shape = shapes.get(first.input[0])
        if not (width and height and _is_swap(unswap) and shape and len(shape) == 4 and all(shape)):
            continue
        prefix = "resize_%d" % len(replaced)
        sizes = numpy_helper.from_array(np.array([shape[0], shape[1], height[1], width[1]], np.int64), prefix + "_sizes")
        empty = numpy_helper.from_array(np.zeros(0, np.float32), prefix + "_empty")
        graph.initializer.extend([sizes, empty])
        resize = helper.make_node("Resize", [first.input[0], empty.name, empty.name, sizes.name], [unswap.output[0]],
                                  name=prefix, mode="linear", coordinate_transformation_mode="align_corners")
        chain = (first, swap, second, unswap)
        position = list(graph.node).index(first)
        for node in chain:
            graph.node.remove(node)
            removed.add(node.name)
        graph.node.insert(position, resize)
        replaced.append(prefix)
    used = {name for node in graph.node for name in node.input}
    unused = [init for init in graph.initializer if init.name not in used]
    for init in unused:
        graph.initializer.remove(init)
    del graph.value_info[:]
    onnx.checker.check_model(model)
    return model, len(replaced)
