"""The search searches in graph mode: gradients through the compiled node function equal the
uncompiled ones at 4 and 12 layers, in the search's call order (weight step, then architecture
step, repeatedly); the optimizers decay what they say; the health figures catch a frozen search."""
import numpy as np
import pytest

import mindspore as ms
from conftest import build_search_net

from src.config import load_config
from src.data.mindrecord_writer import find_mindrecord
from src.nas.decode import move_mask, normalize_betas
from src.nas.search_data import split_records
from src.nas.search_trainer import (Architect, FrozenArchitectureError, SearchTrainer,
                                    weight_parameter_groups)
from src.train.loss import CrossEntropyLoss

pytestmark = pytest.mark.heavy  # scheduled first (conftest.py)

TINY = dict(num_classes=3, filter_multiplier=4, block_multiplier=2, stem_channels=8, seed=0)


def _supernet(num_layers, compiled, **changes):
    net = build_search_net(compiled, num_layers=num_layers, **{**TINY, **changes})
    net.set_train(True)
    return net


def _batches(crop, count=2):
    rng = np.random.default_rng(1)
    return [(ms.Tensor(rng.standard_normal((2, 3, crop, crop)).astype(np.float32)),
             ms.Tensor(rng.integers(0, 3, (2, crop, crop)).astype(np.int32))) for _ in range(count)]


def _grad_fn(net, params):
    loss = CrossEntropyLoss(255)
    return ms.value_and_grad(lambda image, label: loss(net(image), label), None, params)


def _check_compiled_gradients(num_layers, crop, tolerance=1e-5, **changes):
    """Compiled gradients, taken as the search takes them (the trainer's one gradient function,
    a weight-step batch, then the architecture-step batch), equal the uncompiled ones to
    ``tolerance`` times each gradient's largest entry."""
    ms.set_seed(0)
    compiled = _supernet(num_layers, True, **changes)
    eager = _supernet(num_layers, False, **changes)
    ms.load_param_into_net(eager, {p.name: p for p in compiled.get_parameters()}, strict_load=True)
    params = compiled.weight_parameters() + compiled.arch_parameters()
    batch_a, batch_b = _batches(crop)
    grad = _grad_fn(compiled, params)
    grad(*batch_a)  # the weight step's call comes first in the search
    got = [g.asnumpy() for g in grad(*batch_b)[1]]
    expected = [g.asnumpy() for g in _grad_fn(eager, eager.weight_parameters()
                                              + eager.arch_parameters())(*batch_b)[1]]
    mask = move_mask(num_layers).astype(bool)
    for param, value, reference in zip(params, got, expected):
        scale = np.abs(reference).max()
        assert scale > 0, param.name
        np.testing.assert_allclose(value, reference, rtol=0, atol=tolerance * scale, err_msg=param.name)
    alpha_grad, beta_grad = got[-2:]
    assert (alpha_grad != 0).all() and (beta_grad[mask] != 0).all()


def test_compiled_gradients_equal_uncompiled_at_4_layers(pynative_mode):
    _check_compiled_gradients(4, 33)


def test_compiled_gradients_equal_uncompiled_at_12_layers(pynative_mode):
    # fp32 rounding accumulates over 12 layers: measured 1.34e-5 of the largest entry on 3 of the
    # 128 entries of one transition weight (alpha and beta far below), so 3e-5 here.
    _check_compiled_gradients(12, 17, tolerance=3e-5, filter_multiplier=2, block_multiplier=1,
                              stem_channels=4)


def test_normalized_betas_equal_decode(pynative_mode):
    net = build_search_net(False, num_layers=12, num_classes=3, filter_multiplier=1,
                           block_multiplier=1, stem_channels=2)
    betas = np.random.default_rng(4).standard_normal((12, 4, 3)).astype(np.float32) * 3
    net.betas.set_data(ms.Tensor(betas))
    np.testing.assert_allclose(net.normalized_betas().asnumpy(), normalize_betas(betas),
                               rtol=1e-5, atol=1e-7)


def test_split_is_disjoint_complete_and_seeded():
    a, b = split_records(11, seed=3)
    assert len(a) == 5 and len(b) == 6 and not set(a) & set(b)
    assert sorted(set(a) | set(b)) == list(range(11))
    again = split_records(11, seed=3)
    assert all(np.array_equal(x, y) for x, y in zip((a, b), again))
    other = split_records(11, seed=4)
    assert not np.array_equal(a, other[0])


def test_every_parameter_gets_the_documented_weight_decay(pynative_mode):
    cfg = load_config("config/search.yaml", {})
    net = build_search_net(False, num_layers=2, num_classes=3, filter_multiplier=2,
                           block_multiplier=1, stem_channels=4)
    weights = net.weight_parameters()
    sgd = ms.nn.SGD(weight_parameter_groups(weights, cfg.weight_decay), learning_rate=0.1,
                    momentum=0.9)
    decay = dict(zip((p.name for p in sgd.parameters), sgd.decay_flags))
    amount = dict(zip((p.name for p in sgd.parameters),
                      (float(w.asnumpy()) for w in sgd.weight_decay)))
    assert set(decay) == {p.name for p in weights}
    for name, flag in decay.items():
        is_bn = name.endswith((".gamma", ".beta"))  # BatchNorm scale and shift
        assert flag is not is_bn and amount[name] == pytest.approx(0.0 if is_bn else cfg.weight_decay), name
    assert any(name.endswith(".gamma") for name in decay)  # the policy is exercised
    architect = Architect(net, cfg)
    flags = dict(zip((p.name for p in architect.optimizer.parameters), architect.optimizer.decay_flags))
    assert flags == {"alphas": True, "betas": True}  # MindSpore's default filter would skip "betas"
    assert all(float(w.asnumpy()) == pytest.approx(cfg.arch_weight_decay)
               for w in architect.optimizer.weight_decay)


def _trainer(data_dir, out_dir, **changes):
    ms.set_context(mode=ms.PYNATIVE_MODE)
    ms.set_seed(0)
    cfg = load_config("config/search.yaml", {**dict(
        data_path=str(data_dir), output_path=str(out_dir), num_classes=19, num_layers=4,
        filter_multiplier=4, block_multiplier=2, stem_channels=8, crop_size=33, batch_size=2,
        epochs=2, arch_start_epoch=0, arch_weight_decay=0.0, mode="graph"), **changes})
    return SearchTrainer(cfg, find_mindrecord(str(data_dir), "train"), str(out_dir))


def test_graph_mode_search_moves_every_alpha_and_existing_beta(demo_mindrecord_dir, tmp_path):
    """Two epochs of weight + architecture steps at 4 layers, arch_weight_decay 0 (so weight decay
    explains no change at all): every alpha and every existing move's beta changes each epoch,
    and the history records the steps and non-zero gradient norms."""
    trainer = _trainer(demo_mindrecord_dir, tmp_path)
    mask = move_mask(4).astype(bool)
    before = (trainer.net.alphas.asnumpy().copy(), trainer.net.betas.asnumpy().copy())
    trainer.run()
    history = np.load(tmp_path / "arch_history.npz")
    alphas = np.concatenate([before[0][None], history["alphas"]])
    betas = np.concatenate([before[1][None], history["betas"]])
    for epoch in range(2):
        assert (alphas[epoch + 1] != alphas[epoch]).all(), epoch
        assert (betas[epoch + 1][mask] != betas[epoch][mask]).all(), epoch
    np.testing.assert_array_equal(betas[-1][~mask], before[1][~mask])  # no gradient, no decay
    assert list(history["arch_steps"]) == [trainer.steps_per_epoch] * 2
    assert (history["alpha_grad_norm"] > 0).all() and (history["beta_grad_norm"] > 0).all()
    uniform_alpha = np.log(8)  # entropy of a uniform distribution over the 8 ops
    assert (history["alpha_entropy"] < uniform_alpha).all()
    assert (history["alpha_entropy"] > 0.9 * uniform_alpha).all()  # a few steps from init 1e-3


def test_arch_start_epoch_gates_the_architecture_steps(demo_mindrecord_dir, tmp_path):
    trainer = _trainer(demo_mindrecord_dir, tmp_path, num_layers=1, arch_start_epoch=1)
    start = trainer.net.alphas.asnumpy().copy()
    trainer.train_epoch(0)
    assert trainer.architect.epoch_health()["arch_steps"] == 0
    np.testing.assert_array_equal(trainer.net.alphas.asnumpy(), start)
    trainer.train_epoch(1)
    assert trainer.architect.epoch_health()["arch_steps"] == trainer.steps_per_epoch
    assert (trainer.net.alphas.asnumpy() != start).all()


def test_an_epoch_of_zero_architecture_gradients_stops_the_search(pynative_mode):
    cfg = load_config("config/search.yaml", {})
    net = build_search_net(False, num_layers=1, num_classes=3, filter_multiplier=2,
                           block_multiplier=1, stem_channels=4)
    architect = Architect(net, cfg)
    zeros = [ms.Tensor(np.zeros(p.shape, np.float32)) for p in net.arch_parameters()]
    architect.step(zeros)
    architect.step(zeros)
    with pytest.raises(FrozenArchitectureError, match="2 architecture steps .* exactly zero"):
        architect.epoch_health()
    architect.reset_health()
    assert architect.epoch_health()["arch_steps"] == 0  # an epoch without steps is not frozen
