"""The ONNX pass that turns exported MatMul resizes back into Resize nodes."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import src  # noqa: F401
from src.deploy.onnx_resize import replace_matmul_resizes
from src.layers.resize import interpolation_matrix

SHAPE, SIZE = (1, 2, 5, 7), (9, 13)


def matmul_resize_model(columns_t, rows_t):
    """x -> MatMul(columns_t) -> Transpose -> MatMul(rows_t) -> Transpose -> y, as MindSpore exports it."""
    nodes = [helper.make_node("MatMul", ["x", "cols"], ["a"]),
             helper.make_node("Transpose", ["a"], ["b"], perm=[0, 1, 3, 2]),
             helper.make_node("MatMul", ["b", "rows"], ["c"]),
             helper.make_node("Transpose", ["c"], ["y"], perm=[0, 1, 3, 2])]
    graph = helper.make_graph(
        nodes, "resize", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(SHAPE))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [SHAPE[0], SHAPE[1], *SIZE])],
        initializer=[numpy_helper.from_array(columns_t, "cols"), numpy_helper.from_array(rows_t, "rows")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)], ir_version=7)


def run(model, x):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


@pytest.mark.parametrize("rounding", [0.0, 2e-5])
def test_interpolation_matmuls_become_one_align_corners_resize(rounding):
    """``rounding``: MindSpore computes the exported matrices in float32 (~1e-5 off at large sizes)."""
    model = matmul_resize_model(np.ascontiguousarray(interpolation_matrix(SHAPE[3], SIZE[1]).T + rounding),
                                np.ascontiguousarray(interpolation_matrix(SHAPE[2], SIZE[0]).T))
    x = np.random.default_rng(0).normal(size=SHAPE).astype(np.float32)
    expected = run(model, x)
    rewritten, count = replace_matmul_resizes(model)
    assert count == 1
    assert [n.op_type for n in rewritten.graph.node] == ["Resize"]
    attributes = {a.name: a.s.decode() for a in rewritten.graph.node[0].attribute}
    assert attributes == {"mode": "linear", "coordinate_transformation_mode": "align_corners"}
    assert not {"cols", "rows"} & {init.name for init in rewritten.graph.initializer}
    np.testing.assert_allclose(run(rewritten, x), expected, atol=1e-5 + 20 * rounding * np.abs(x).max())


@pytest.mark.parametrize("which", ["columns", "rows"])
def test_other_matmuls_are_left_alone(which):
    rng = np.random.default_rng(1)
    columns = np.ascontiguousarray(interpolation_matrix(SHAPE[3], SIZE[1]).T)
    rows = np.ascontiguousarray(interpolation_matrix(SHAPE[2], SIZE[0]).T)
    if which == "columns":
        columns = rng.random(columns.shape).astype(np.float32)
    else:
        rows = rng.random(rows.shape).astype(np.float32)
    rewritten, count = replace_matmul_resizes(matmul_resize_model(columns, rows))
    assert count == 0
    assert [n.op_type for n in rewritten.graph.node] == ["MatMul", "Transpose", "MatMul", "Transpose"]
