"""ModelZoo checkpoints load into the modelzoo variant (synthetic dict in the ModelZoo naming)."""
import numpy as np
import pytest

import mindspore as ms
from conftest import build_net
from mindspore import Parameter, Tensor

from src.errors import UserError
from src.model.checkpoint_compat import convert_modelzoo_params
from src.architecture import AUTODEEPLAB, Architecture

BN_STATS = ("gamma", "beta", "moving_mean", "moving_variance")


def modelzoo_shapes(F, B, path, cell, num_classes):
    """Parameter names/shapes of the ModelZoo port's AutoDeepLab, written from its source
    (src/core/{encoder,aspp,decoder}.py, src/modules/operations.py, use_ABN=True)."""
    shapes = {}

    def bn(prefix, channels):
        shapes.update({f"{prefix}.{s}": (channels,) for s in BN_STATS})

    for k, (cin, cout) in enumerate([(3, 64), (64, 64), (64, 128)]):
        shapes[f"encoder.stem{k}.0.weight"] = (cout, cin, 3, 3)
        bn(f"encoder.stem{k}.1.op.0.op", cout)
    prev_prev, prev = 64, 128
    for i, level in enumerate(path):
        c, p = F * 2 ** level, f"encoder.NASCells.{i}"
        shapes[f"{p}.pre_preprocess.op.0.weight"] = (c, prev_prev, 1, 1)
        bn(f"{p}.pre_preprocess.op.1.op.0.op", c)
        shapes[f"{p}.preprocess.op.0.weight"] = (c, prev, 1, 1)
        bn(f"{p}.preprocess.op.1.op.0.op", c)
        for j, (_, op) in enumerate(cell):
            e, k = f"{p}.operations.{j}.0.op", int(op[-1])
            if op.startswith("sep_conv"):
                shapes[f"{e}.1.weight"] = shapes[f"{e}.5.weight"] = (c, 1, k, k)
                shapes[f"{e}.2.weight"] = shapes[f"{e}.6.weight"] = (c, c, 1, 1)
                bn(f"{e}.3.op", c)
                bn(f"{e}.7.op", c)
            else:
                shapes[f"{e}.0.weight"] = (c, c, k, k)
                shapes[f"{e}.1.weight"] = (c, c, 1, 1)
                bn(f"{e}.2.op.0.op", c)
            shapes[f"{p}.operations.{j}.1.global_step"] = ()
        prev_prev, prev = prev, B * c
    high = B * F * 2 ** path[-1]
    for b, k in enumerate([1, 3, 3, 3, 1]):
        shapes[f"aspp.aspp{b + 1}.weight"] = (256, high, k, k)
        bn(f"aspp.aspp{b + 1}_bn.op.0.op", 256)
    shapes["aspp.conv2.weight"] = (256, 1280, 1, 1)
    bn("aspp.bn2.op.0.op", 256)
    shapes["decoder.conv1.weight"] = (48, B * F * 2 ** path[2], 1, 1)
    bn("decoder.bn1.op.0.op", 48)
    shapes["decoder.last_conv.0.weight"] = (256, 304, 3, 3)
    bn("decoder.last_conv.1.op.0.op", 256)
    shapes["decoder.last_conv.3.weight"] = (256, 256, 3, 3)
    bn("decoder.last_conv.4.op.0.op", 256)
    shapes["decoder.last_conv.6.weight"] = (num_classes, 256, 1, 1)
    return shapes


def trainable_count(shapes):
    return sum(int(np.prod(s)) for n, s in shapes.items()
               if not n.endswith(("moving_mean", "moving_variance", "global_step")))


def test_modelzoo_s_size_matches_modelzoo_structure():
    shapes = modelzoo_shapes(20, 5, AUTODEEPLAB.network_path, AUTODEEPLAB.cell, 19)
    assert trainable_count(shapes) == 10_395_808


@pytest.mark.parametrize("path", [AUTODEEPLAB.network_path, [1, 1, 2, 3, 3, 2, 1, 0, 0, 1, 2, 2]])
def test_synthetic_modelzoo_checkpoint_loads(path):
    arch = Architecture(path, AUTODEEPLAB.cell)
    net = build_net(arch, num_classes=7, filter_multiplier=4, variant="modelzoo")
    rng = np.random.RandomState(0)
    shapes = modelzoo_shapes(4, 5, path, arch.cell, 7)
    params = {n: Parameter(Tensor(rng.randn(*s).astype(np.float32) if s else np.int32(3)), name=n)
              for n, s in shapes.items()}
    params["moments.encoder.stem0.0.weight"] = Parameter(Tensor(np.zeros((64, 3, 3, 3), np.float32)))
    converted = convert_modelzoo_params(params, net)
    not_loaded, _ = ms.load_param_into_net(net, converted, strict_load=True)
    assert sorted(not_loaded) == ["drop_path_progress", "training_step"]
    assert len(converted) == len(list(net.get_parameters())) - 2
    net_params = dict(net.parameters_and_names())
    for mine, theirs in [("encoder.layers.5.edges.0.op.pointwise.weight",
                          "encoder.NASCells.5.operations.0.0.op.1.weight"),
                         ("encoder.layers.11.edges.9.op.bn2.moving_variance",
                          "encoder.NASCells.11.operations.9.0.op.7.op.moving_variance"),
                         ("aspp.branches.2.conv.weight", "aspp.aspp3.weight"),
                         ("decoder.classifier.weight", "decoder.last_conv.6.weight")]:
        np.testing.assert_array_equal(net_params[mine].asnumpy(), params[theirs].asnumpy())
    # Every ModelZoo tensor lands in exactly one parameter of the network, unchanged (the random
    # values identify their source), except the ones this network has no use for.
    source_of = {params[n].asnumpy().tobytes() + str(s).encode(): n for n, s in shapes.items() if s}
    assert len(source_of) == len([s for s in shapes.values() if s]), "random values should be distinct"
    used = []
    for name, value in converted.items():
        array = value.asnumpy() if hasattr(value, "asnumpy") else np.asarray(value)
        key = array.tobytes() + str(tuple(array.shape)).encode()
        assert key in source_of, name
        used.append(source_of[key])
    assert len(used) == len(set(used)), "a ModelZoo tensor was loaded into two parameters"
    assert set(source_of.values()) - set(used) == set(), "ModelZoo tensors left out"


def test_wrong_checkpoint_is_a_user_error():
    net = build_net(AUTODEEPLAB, filter_multiplier=4, variant="modelzoo")
    shapes = modelzoo_shapes(8, 5, AUTODEEPLAB.network_path, AUTODEEPLAB.cell, 19)
    params = {n: Parameter(Tensor(np.zeros(s, np.float32)), name=n) for n, s in shapes.items()}
    with pytest.raises(UserError, match="check filter_multiplier"):
        convert_modelzoo_params(params, net)
    with pytest.raises(UserError, match="variant: modelzoo"):
        convert_modelzoo_params(params, build_net(AUTODEEPLAB, filter_multiplier=4))
