"""The retrain network: sizes, shapes, paths, graph/PyNative agreement, scheduled drop path."""
import numpy as np
import pytest

import mindspore as ms
from conftest import build_net
from mindspore import Tensor, nn

from src.config import load_config
from src.kernels import portable_ops
from src.model import build_model
from src.model.drop_path import DropPath
from src.model.encoder import low_level_cell_index
from src.layers.resize import resize_bilinear, scale_dimension
from src.architecture import AUTODEEPLAB, Architecture

# Paper Table 2 (10.15M / 21.62M / 44.42M), counted exactly by an independent build
# (docs/retrain_network.md, Size).
PAPER_SIZES = {20: 10_147_408, 32: 21_622_432, 48: 44_424_672}


def modelzoo_size(F):
    """The modelzoo dil_conv is the paper's plus one bias-free C x C 1x1 conv (same single BN):
    3 dil_conv edges per cell of the default genotype, C = F * 2**level per cell."""
    path = [0, 0, 0, 1, 2, 1, 2, 2, 3, 3, 2, 1]  # the paper's path; genotype rows [0,dil5], [1,dil3], [5,dil5]
    return PAPER_SIZES[F] + 3 * sum((F * 2 ** level) ** 2 for level in path)


SIZES = {**{("paper", F): n for F, n in PAPER_SIZES.items()},
         **{("modelzoo", F): modelzoo_size(F) for F in PAPER_SIZES}}


def trainable(net):
    return sum(int(np.prod(p.shape)) for p in net.trainable_params())


def images(n, h, w, seed=0):
    return Tensor(np.random.RandomState(seed).randn(n, 3, h, w).astype(np.float32))


pytestmark = [pytest.mark.usefixtures("pynative_mode"), pytest.mark.heavy]  # heavy: scheduled first (conftest.py)
FIVE_BLOCKS = [[0, "skip_connect"], [1, "max_pool_3x3"], [2, "avg_pool_3x3"], [0, "sep_conv_5x5"],
               [3, "dil_conv_3x3"], [1, "sep_conv_3x3"], [4, "dil_conv_5x5"], [2, "skip_connect"],
               [5, "sep_conv_3x3"], [0, "avg_pool_3x3"]]
TWO_BLOCKS = [[0, "sep_conv_3x3"], [1, "dil_conv_5x5"], [2, "dil_conv_3x3"], [1, "avg_pool_3x3"]]


@pytest.mark.parametrize("variant, F", sorted(SIZES))
def test_param_counts(variant, F):
    assert trainable(build_net(AUTODEEPLAB, filter_multiplier=F, variant=variant)) == \
        SIZES[(variant, F)]


def test_output_shape_equals_input_shape():
    net = build_net(AUTODEEPLAB, num_classes=5, filter_multiplier=2)
    net.set_train(False)
    for h, w in [(65, 65), (64, 48), (33, 47)]:
        assert net(images(1, h, w)).shape == (1, 5, h, w)


@pytest.mark.parametrize("path, cell, low_level", [
    ([1, 2, 3, 3, 3, 2, 1, 1, 2, 3, 3, 3], FIVE_BLOCKS, -1),  # no level-0 cell: stem feature
    ([0, 1, 2, 3, 2, 1, 0, 0, 1, 1, 2, 2], FIVE_BLOCKS, 7),   # low-level feature from cell 7
    ([1, 2, 2, 1], TWO_BLOCKS, -1),                            # 4 cells of 2 blocks
])
def test_non_default_paths_build_and_run(path, cell, low_level):
    assert low_level_cell_index(path, "paper") == low_level
    net = build_net(Architecture(path, cell), num_classes=3, filter_multiplier=2,
                    aspp_rates=[2, 4, 6], drop_path_keep_prob=0.5)
    assert len(net.encoder.layers) == len(path)
    assert net.encoder.out_channels == len(cell) // 2 * 2 * 2 ** path[-1]
    # Scheduled drop path scales by depth in THIS path: the last cell keeps keep_prob.
    layer_keeps = [next(edge for edge in cell_net.edges if edge.use_drop_path).drop_path.layer_keep
                   for cell_net in net.encoder.layers]
    assert layer_keeps[-1] == pytest.approx(0.5) and layer_keeps[0] == pytest.approx(1 - 0.5 / len(path))
    net.set_train(True)
    assert net(images(2, 49, 63)).shape == (2, 3, 49, 63)


def test_modelzoo_low_level_is_cell_2():
    assert low_level_cell_index([0, 1, 2, 3, 2, 1, 0, 0, 1, 1, 2, 2], "modelzoo") == 2


def test_graph_and_pynative_agree():
    """Same output eagerly, compiled, and compiled with MindSpore's own ops (portable_ops, on a
    copy: a compiled graph keeps the choice it was compiled with); at 129x133 the stem and decoder
    convs run the CPU SGEMM kernel (stride-4 map 33x34)."""
    net, copy = (build_net(AUTODEEPLAB, num_classes=3, filter_multiplier=2) for _ in range(2))
    ms.load_param_into_net(copy, net.parameters_dict(), strict_load=True)
    net.set_train(False)
    copy.set_train(False)
    fuse = net.decoder.fuse1.conv
    assert fuse.use_cpu_kernel and fuse.gemm_pays_off(33, 34)
    x = images(1, 129, 133, seed=3)
    eager = net(x).asnumpy()
    ms.set_context(mode=ms.GRAPH_MODE)
    try:
        graph = net(x).asnumpy()
        with portable_ops(copy):
            portable = copy(x).asnumpy()
    finally:
        ms.set_context(mode=ms.PYNATIVE_MODE)
    scale = np.abs(eager).max()  # untrained: logits in the thousands, summed in another order
    np.testing.assert_allclose(graph, eager, rtol=1e-4, atol=1e-4 * scale)
    np.testing.assert_allclose(portable, eager, rtol=1e-4, atol=1e-4 * scale)


def test_resize_rules():
    assert [scale_dimension(d, 0.5) for d in (193, 192, 65, 2)] == [97, 96, 33, 1]
    assert [scale_dimension(d, 2.0) for d in (97, 96)] == [193, 192]
    x = Tensor(np.arange(9, dtype=np.float32).reshape(1, 1, 3, 3))
    up = resize_bilinear(x, (5, 5)).asnumpy()[0, 0]
    np.testing.assert_allclose(up[::2, ::2], x.asnumpy()[0, 0])  # align_corners keeps corners
    np.testing.assert_allclose(up[0, 1], 0.5)
    assert resize_bilinear(x, (3, 3)) is x


class _DropPathNet(nn.Cell):
    def __init__(self, keep_prob, cell_index, num_cells):
        super().__init__()
        self.drop = DropPath(keep_prob, cell_index, num_cells, stream=1)
        self.progress = ms.Parameter(Tensor(0.0, ms.float32), requires_grad=False)
        self.step = ms.Parameter(Tensor(0, ms.int32), requires_grad=False)

    def construct(self, x):
        return self.drop(x, self.progress, self.step)


@pytest.mark.parametrize("mode", ["pynative_mode", "graph_mode"])
def test_drop_path_schedule(mode, request, global_seed):
    request.getfixturevalue(mode)
    x = Tensor(np.ones((4000, 1, 2, 2), np.float32))
    net = _DropPathNet(0.4, cell_index=5, num_cells=12)  # layer keep = 1 - 0.5 * 0.6 = 0.7
    net.set_train(True)
    np.testing.assert_array_equal(net(x).asnumpy(), 1.0)  # progress 0: nothing dropped
    for progress, keep in [(0.5, 0.85), (1.0, 0.7), (3.0, 0.7)]:  # progress clipped at 1
        net.progress.set_data(Tensor(progress, ms.float32))
        out = net(x).asnumpy()
        kept = out[out != 0]
        np.testing.assert_allclose(kept, 1 / keep, rtol=1e-5)
        assert np.all(out == out[:, :, :1, :1])  # one decision per sample
        assert abs((out[:, 0, 0, 0] > 0).mean() - keep) < 0.03
    net.set_train(False)
    np.testing.assert_array_equal(net(x).asnumpy(), 1.0)


def test_drop_path_off_at_keep_prob_one():
    x = Tensor(np.ones((64, 1, 1, 1), np.float32))
    net = _DropPathNet(1.0, cell_index=11, num_cells=12)
    net.progress.set_data(Tensor(1.0, ms.float32))
    net.set_train(True)
    np.testing.assert_array_equal(net(x).asnumpy(), 1.0)


def test_network_training_step_and_progress_are_fed_by_training():
    net = build_net(AUTODEEPLAB, num_classes=3, filter_multiplier=2, drop_path_keep_prob=0.5)
    net.set_training_step(500, 1000)
    assert float(net.drop_path_progress.asnumpy()) == pytest.approx(0.5)
    assert int(net.training_step.asnumpy()) == 500
    net.set_training_step(5000, 1000)
    assert float(net.drop_path_progress.asnumpy()) == 1.0
    assert not {"drop_path_progress", "training_step"} & {p.name for p in net.trainable_params()}
    # In eval mode drop path is off: the output equals that of the same weights without drop path.
    plain = build_net(AUTODEEPLAB, num_classes=3, filter_multiplier=2, drop_path_keep_prob=1.0)
    ms.load_param_into_net(plain, net.parameters_dict(), strict_load=True)
    net.set_train(False)
    plain.set_train(False)
    x = images(1, 33, 33)
    np.testing.assert_array_equal(net(x).asnumpy(), plain(x).asnumpy())


def test_build_model_from_config(tmp_path):
    arch = Architecture([1] * 4, TWO_BLOCKS)
    arch.save(tmp_path / "a.json")
    cfg = load_config(None, {"filter_multiplier": 2, "num_classes": 4, "variant": "modelzoo",
                             "aspp_rates": [1, 2, 3], "arch_path": str(tmp_path / "a.json")})
    net = build_model(cfg)
    assert net.architecture.network_path == [1] * 4 and net.variant == "modelzoo"
    # Blocks per cell come from the architecture file, not from the (search) key block_multiplier.
    assert cfg.block_multiplier == 5 and net.encoder.out_channels == 2 * 2 * 2
    assert len(net.aspp.branches) == 4
    net.set_train(False)
    assert net(images(1, 33, 35)).shape == (1, 4, 33, 35)


def test_stem_and_decoder_widths():
    """stem_channels / decoder_channels change exactly the stem, ASPP and decoder convs (+ BN)."""
    def count(stem, decoder):
        net = build_net(Architecture([0, 1], TWO_BLOCKS), filter_multiplier=2, stem_channels=stem,
                        decoder_channels=decoder)
        return trainable(net), net
    base, _ = count(64, 256)
    narrow, net = count(8, 16)
    assert net.encoder.stem[2].conv.weight.shape == (16, 8, 3, 3)
    assert net.aspp.project.conv.weight.shape[0] == 16 and net.decoder.classifier.weight.shape == (19, 16, 1, 1)
    # stem: 3*64*9 + 64*64*9 + 64*128*9 conv weights and 2*(64+64+128) BN affine go down to the width-8 stem.
    stem_delta = (3 * 64 * 9 + 64 * 64 * 9 + 64 * 128 * 9 + 2 * 256) - (3 * 8 * 9 + 8 * 8 * 9 + 8 * 16 * 9 + 2 * 32)
    assert base - narrow > stem_delta
    assert net(images(1, 33, 33)).shape == (1, 19, 33, 33)


@pytest.mark.parametrize("variant", ["paper", "modelzoo"])
def test_relu_before_aspp_only_in_the_paper_variant(variant):
    """TF's nas_network applies a ReLU to the last cell's output before ASPP; the ModelZoo port
    does not. The network's output must equal the composition with (paper) / without (modelzoo)
    that ReLU, and the two compositions must differ (the last cell has negative outputs)."""
    net = build_net(Architecture([0, 1, 1], TWO_BLOCKS), num_classes=3, filter_multiplier=4,
                    variant=variant, aspp_rates=[1, 2, 3], stem_channels=8, decoder_channels=8)
    # BN on batch statistics (eval-mode BN with fresh statistics would shrink every activation
    # and hide the ASPP branch behind the decoder's low-level one); dropout off.
    net.set_train(True)
    net.decoder.dropout1.set_train(False)
    net.decoder.dropout2.set_train(False)
    x = images(2, 33, 33)
    high_level, low_level = net.encoder(x, net.drop_path_progress, net.training_step)
    assert (high_level.asnumpy() < 0).any()

    def head(features):
        return net.resize(net.decoder(net.aspp(features), low_level, net.training_step), (33, 33)).asnumpy()

    with_relu, without_relu = head(nn.ReLU()(high_level)), head(high_level)
    scale = np.abs(without_relu).max()
    assert np.abs(with_relu - without_relu).max() > 0.05 * scale
    expected = with_relu if variant == "paper" else without_relu
    np.testing.assert_allclose(net(x).asnumpy(), expected, rtol=1e-4, atol=1e-4 * scale)
