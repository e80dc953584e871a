"""Tiny search on the demo MindRecord: arch moves, loss falls, resume is exact, decode CLI works,
and the decoded test-sized architecture retrains (train.py) and evaluates (eval.py)."""
import json
import subprocess
import sys

import numpy as np
import pytest

import mindspore as ms

from src.config import load_config
from src.data.mindrecord_writer import find_mindrecord
from src.errors import UserError
from src.model import build_model
from src.model.weights import checkpoint_meta, load_weights
from src.architecture import Architecture
from src.nas.decode import decode_cell, decode_path
from src.nas.search_trainer import SearchTrainer, regroup
from test_train import PYTHON, ROOT, TINY, env, run_train

pytestmark = pytest.mark.heavy  # scheduled first (conftest.py)


def tiny_cfg(data_dir, out_dir):
    return load_config("config/search.yaml", dict(
        data_path=str(data_dir), output_path=str(out_dir), num_classes=19, num_layers=1,
        filter_multiplier=2, block_multiplier=1, crop_size=33, batch_size=2, epochs=2,
        arch_start_epoch=0, mode="graph", stem_channels=8))


def make_trainer(data_dir, out_dir, **changes):
    ms.set_context(mode=ms.PYNATIVE_MODE)
    ms.set_seed(0)
    cfg = tiny_cfg(data_dir, out_dir)
    cfg.__dict__.update(changes)
    return SearchTrainer(cfg, find_mindrecord(str(data_dir), "train"), str(out_dir))


def params_of(trainer):
    return {p.name: p.asnumpy().copy() for p in trainer.net.get_parameters()}


@pytest.fixture(scope="module")
def full_run(demo_mindrecord_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("search_full")
    trainer = make_trainer(demo_mindrecord_dir, out)
    initial = params_of(trainer)
    trainer.run()
    return trainer, initial, out


def test_search_updates_alpha_beta_and_writes_outputs(full_run):
    trainer, initial, out = full_run
    final = params_of(trainer)
    assert not np.allclose(final["alphas"], initial["alphas"])
    assert not np.allclose(final["betas"], initial["betas"])
    history = np.load(out / "arch_history.npz")
    assert list(history["epoch"]) == [1, 2] and history["alphas"].shape == (2, 2, 8)
    decoded = json.loads((out / "architecture.json").read_text())
    assert decoded["provenance"]["epoch"] == 2
    # the decode of the final alpha and beta, not just a file of the right size
    expected = Architecture(decode_path(final["betas"], trainer.cfg.path_decode), decode_cell(final["alphas"]))
    written = Architecture.load(str(out / "architecture.json"))
    assert written.network_path == expected.network_path and written.cell == expected.cell
    assert (out / "search_epoch2.ckpt").exists()


def test_search_records_its_evidence_and_verdict(full_run):
    """Every architecture step's gradients reach the verdict's moments, the history holds them
    with the decision figures, and architecture.json carries the verdict the moments give."""
    from src.nas.health import GradientMoments, verdict

    trainer, _, out = full_run
    evidence = trainer.architect.evidence
    arch_steps = trainer.cfg.epochs * trainer.steps_per_epoch  # arch_start_epoch 0
    assert evidence["alpha"].count == evidence["beta"].count == arch_steps
    assert np.abs(evidence["alpha"].total).sum() > 0 and np.abs(evidence["beta"].total).sum() > 0
    history = np.load(out / "arch_history.npz")
    assert list(history["alpha_count"]) == [trainer.steps_per_epoch, arch_steps]
    for key in ("alpha_change", "beta_change", "path_margin", "parameter_free_ops", "miou_heldout"):
        assert history[key].shape == (2,), key
    assert history["op_prob_margin"].shape == (2, 2) and history["alpha_change"][-1] > 0
    moments = {s: GradientMoments(int(history[s + "_count"][-1]), history[s + "_total"][-1],
                                  history[s + "_total_outer"][-1]) for s in ("alpha", "beta")}
    expected = verdict(history["alphas"][-1], history["betas"][-1], moments["alpha"], moments["beta"],
                       trainer.cfg.path_decode)
    provenance = json.loads((out / "architecture.json").read_text())["provenance"]
    assert provenance["verdict"] == expected["verdict"] and provenance["verdict_advice"] == expected["advice"]
    assert provenance["evidence"]["op_z"] == [round(z, 3) for z in expected["op_z"]]
    assert provenance["evidence"]["architecture_steps"] == arch_steps


def test_aux_skip_weight_holds_through_warm_up_then_falls_to_zero(demo_mindrecord_dir, tmp_path):
    trainer = make_trainer(demo_mindrecord_dir, tmp_path, epochs=4, arch_start_epoch=2, aux_skip_weight=1.0)
    last = trainer.steps_per_epoch - 1
    assert trainer.aux_skip_weight(0, 0) == trainer.aux_skip_weight(1, last) == 1.0
    assert trainer.aux_skip_weight(2, 0) == 1.0
    assert trainer.aux_skip_weight(3, last) == pytest.approx(1.0 / (2 * trainer.steps_per_epoch))
    assert trainer.aux_skip_weight(3, 0) == pytest.approx(0.5)
    paper = make_trainer(demo_mindrecord_dir, tmp_path)
    assert paper.aux_skip_weight(0, 0) == 0.0


def test_alpha_logsumexp_weight_rises_to_its_value_at_the_last_architecture_step(demo_mindrecord_dir, tmp_path):
    trainer = make_trainer(demo_mindrecord_dir, tmp_path, epochs=4, arch_start_epoch=2,
                           alpha_logsumexp_weight=2.0)
    steps, last = 2 * trainer.steps_per_epoch, trainer.steps_per_epoch - 1
    assert trainer.alpha_logsumexp_weight(1, last) == 0.0  # weight-only epochs: no architecture step
    assert trainer.alpha_logsumexp_weight(2, 0) == pytest.approx(2.0 / steps)
    assert trainer.alpha_logsumexp_weight(3, last) == pytest.approx(2.0)


def test_beta_decay_adds_the_logsumexp_gradient_to_the_applied_step_not_to_the_evidence(demo_mindrecord_dir,
                                                                                      tmp_path):
    trainer = make_trainer(demo_mindrecord_dir, tmp_path)
    architect = trainer.architect
    rng = np.random.default_rng(1)
    alphas = rng.standard_normal(trainer.net.alphas.shape).astype(np.float32)
    trainer.net.alphas.set_data(ms.Tensor(alphas))
    data_grads = (ms.Tensor(rng.standard_normal(alphas.shape).astype(np.float32)),
                  ms.Tensor(rng.standard_normal(trainer.net.betas.shape).astype(np.float32)))
    applied = []
    architect.optimizer = applied.append
    architect.step(data_grads, logsumexp_weight=3.0)
    # d/d alpha of 3 * mean_e logsumexp(alpha_e) = 3 * softmax(alpha_e) / edges
    exp = np.exp(alphas - alphas.max(axis=1, keepdims=True))
    expected = data_grads[0].asnumpy() + 3.0 * exp / exp.sum(axis=1, keepdims=True) / len(alphas)
    np.testing.assert_allclose(applied[0][0].asnumpy(), expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(applied[0][1].asnumpy(), data_grads[1].asnumpy())
    np.testing.assert_array_equal(architect.evidence["alpha"].total, data_grads[0].asnumpy())


def test_resume_continues_identically(full_run, demo_mindrecord_dir, tmp_path):
    # 1 epoch + resume 1 epoch (from the run's own epoch-1 checkpoint) == 2 epochs in one go.
    trainer, _, out = full_run
    resumed = make_trainer(demo_mindrecord_dir, tmp_path)
    resumed.resume(str(out / "search_epoch1.ckpt"))
    assert resumed.start_epoch == 1
    # the earlier epoch ends' evidence (the verdict's earlier halves) from the history beside it
    assert [e["alpha"].count for e in resumed.architect.epoch_evidence] == [trainer.steps_per_epoch]
    resumed.run()
    assert [e["beta"].count for e in resumed.architect.epoch_evidence] == \
        [e["beta"].count for e in trainer.architect.epoch_evidence]
    expected, got = params_of(trainer), params_of(resumed)
    assert expected.keys() == got.keys()
    for name in expected:
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-5, atol=1e-6, err_msg=name)
    for stream, moments in trainer.architect.evidence.items():  # the verdict's evidence resumes too
        assert resumed.architect.evidence[stream].count == moments.count, stream
        np.testing.assert_allclose(resumed.architect.evidence[stream].total, moments.total, rtol=1e-4, atol=1e-7)


def test_the_earlier_half_is_the_last_epoch_end_at_or_before_half_the_steps(tmp_path):
    """What the verdict compares a decision's later steps with, for the search (its epoch ends)
    and for decode.py and a resume (the arch_history.npz beside the checkpoint)."""
    from src.nas.search_trainer import halfway_evidence, history_evidence

    counts = [0, 20, 40, 60, 80]
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "arch_history.npz", epoch=np.arange(1, 6), **{
        f"{stream}_{field}": np.stack([value(count) for count in counts])
        for stream, shape in (("alpha", (2, 8)), ("beta", (1, 4, 3)))
        for field, value in (("count", lambda c: np.array(c)),
                             ("total", lambda c, shape=shape: rng.standard_normal(shape)),
                             ("total_outer", lambda c, shape=shape: np.eye(int(np.prod(shape)))))})
    rows = history_evidence(str(tmp_path), 60)  # a resume at 60 steps: the rows after it are not its past
    assert [row["alpha"].count for row in rows] == [0, 20, 40, 60]
    assert halfway_evidence(rows, 60)[1].count == 20 and halfway_evidence(rows, 80)[0].count == 40
    assert halfway_evidence(rows[:1], 60)[0].count == 0 and halfway_evidence([], 60) is None
    assert history_evidence(str(tmp_path / "elsewhere"), 60) == []


def test_weight_loss_falls_on_a_repeated_batch(demo_mindrecord_dir, tmp_path):
    trainer = make_trainer(demo_mindrecord_dir, tmp_path, epochs=5)
    image, label = next(trainer.batches(0, "A"))
    losses = [trainer.weight_step(image, label) for _ in range(5)]
    assert losses[-1] < losses[0]


def _fake_search_checkpoint(path, layers=12, edges=20):
    """A search checkpoint of random alpha and beta; returns them."""
    rng = np.random.default_rng(0)
    alphas = rng.standard_normal((edges, 8)).astype(np.float32)
    betas = rng.standard_normal((layers, 4, 3)).astype(np.float32)
    ms.save_checkpoint([{"name": "alphas", "data": ms.Tensor(alphas)}, {"name": "betas", "data": ms.Tensor(betas)}],
                       str(path), append_dict={"search_meta": json.dumps({"epoch": 7})})
    return alphas, betas


def test_decode_cli_writes_loadable_architecture_and_png(tmp_path):
    ckpt = tmp_path / "search_epoch7.ckpt"
    alphas, betas = _fake_search_checkpoint(ckpt)
    out = tmp_path / "arch"
    subprocess.run([sys.executable, "decode.py", "--ckpt_path", str(ckpt), "--output_path", str(out)],
                   check=True, capture_output=True)
    architecture = Architecture.load(str(out / "architecture.json"))
    assert architecture.network_path == decode_path(betas) and len(architecture.network_path) == 12
    assert architecture.cell == Architecture(decode_path(betas), decode_cell(alphas)).cell
    assert len(architecture.cell) == 10
    assert architecture.provenance["epoch"] == 7 and "checkpoint" in architecture.provenance
    assert (out / "architecture.png").stat().st_size > 10000
    loaded = Architecture.load_modelzoo_npy(str(out / "net_arch.npy"), str(out / "cell_arch.npy"))
    assert loaded.network_path == architecture.network_path and loaded.cell == architecture.cell


def test_decode_cli_rejects_bad_checkpoints(tmp_path):
    bogus = tmp_path / "bogus.ckpt"
    bogus.write_bytes(b"not a checkpoint")
    for path in (tmp_path / "missing.ckpt", bogus):
        result = subprocess.run([sys.executable, "decode.py", "--ckpt_path", str(path),
                                 "--output_path", str(tmp_path / "o")], capture_output=True, text=True)
        assert result.returncode == 2
        assert result.stderr.startswith("error:") and "Traceback" not in result.stderr


def run_cli(script, *args):
    return subprocess.run([PYTHON, script, *map(str, args)], cwd=ROOT, env=env(), capture_output=True,
                          text=True, timeout=300)


def test_decoded_search_retrains_and_evaluates(full_run, demo_mindrecord_dir, tmp_path):
    """search -> decode.py -> train.py --arch_path (1 epoch) -> eval.py, at the search's tiny size."""
    trainer, _, out = full_run
    decoded = run_cli("decode.py", "--ckpt_path", out / "search_epoch2.ckpt", "--output_path", tmp_path / "arch")
    assert decoded.returncode == 0, decoded.stderr[-2000:]
    arch_path = tmp_path / "arch" / "architecture.json"
    architecture = Architecture.load(str(arch_path))
    assert len(architecture.network_path) == trainer.cfg.num_layers
    assert architecture.num_blocks == trainer.cfg.block_multiplier
    searched = json.loads((out / "architecture.json").read_text())["provenance"]  # epoch 2 too
    for key in ("verdict", "verdict_advice", "evidence"):  # from the checkpoint's evidence
        assert architecture.provenance[key] == searched[key], key

    retrain = ["--arch_path", arch_path, "--data_path", demo_mindrecord_dir]
    trained = run_train(TINY + [str(a) for a in retrain] + ["--epochs", "1", "--output_path", str(tmp_path / "train")])
    assert trained.returncode == 0, trained.stderr[-2000:]
    ckpt = tmp_path / "train" / "checkpoints" / "autodeeplab-step00000003.ckpt"
    cfg = load_config(TINY[1], {"filter_multiplier": 2, "arch_path": str(arch_path)})
    net = build_model(cfg)
    assert len(net.encoder.layers) == trainer.cfg.num_layers
    load_weights(net, str(ckpt), strict=True, expected=checkpoint_meta(cfg, net.architecture))

    evaluated = run_cli("eval.py", *TINY[:4], "--mode", "pynative", "--num_parallel_workers", 1, *retrain,
                        "--ckpt_path", ckpt, "--output_path", tmp_path / "eval")
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    scores = json.loads((tmp_path / "eval" / "eval_results.json").read_text())
    assert 0.0 <= scores["miou"] <= 1.0 and scores["num_pixels"] > 0


def test_resume_matches_partial_channel_k_but_not_recompute(demo_mindrecord_dir, tmp_path):
    # partial_channel changes the supernet's maths, recompute does not.
    checkpoint = str(tmp_path / "search_epoch1.ckpt")
    make_trainer(demo_mindrecord_dir, tmp_path).save_checkpoint(checkpoint, 1)
    recompute = make_trainer(demo_mindrecord_dir, tmp_path, memory_mode="recompute")
    recompute.resume(checkpoint)
    assert recompute.start_epoch == 1
    partial = make_trainer(demo_mindrecord_dir, tmp_path, memory_mode="partial_channel",
                           partial_channel_k=2)
    with pytest.raises(UserError, match="partial_channel_k=None, this run has 2"):
        partial.resume(checkpoint)


@pytest.mark.parametrize("key, value, legacy", [("move_mixing", "path", "paper"),
                                               ("path_search", "single_path", "relaxed")])
def test_resume_matches_a_key_of_the_maths_and_reads_earlier_checkpoints_as_its_old_value(
        demo_mindrecord_dir, tmp_path, monkeypatch, key, value, legacy):
    # move_mixing and path_search change the search's maths; checkpoints from before they were
    # recorded used the legacy value.
    checkpoint = str(tmp_path / "search_epoch1.ckpt")
    earlier = make_trainer(demo_mindrecord_dir, tmp_path)
    meta = earlier.meta
    monkeypatch.setattr(earlier, "meta", lambda epoch: {k: v for k, v in meta(epoch).items() if k != key})
    earlier.save_checkpoint(checkpoint, 1)
    same = make_trainer(demo_mindrecord_dir, tmp_path)
    same.resume(checkpoint)
    assert same.start_epoch == 1
    with pytest.raises(UserError, match=f"{key}={legacy}, this run has {value}"):
        make_trainer(demo_mindrecord_dir, tmp_path, **{key: value}).resume(checkpoint)


@pytest.fixture(scope="module")
def single_path_run(demo_mindrecord_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("search_single_path")
    trainer = make_trainer(demo_mindrecord_dir, out, epochs=1, path_search="single_path")  # 1 layer: 2 paths
    initial = params_of(trainer)
    trainer.run()
    return trainer, initial, out


def test_single_path_search_keeps_beta_and_writes_its_best_scored_path(single_path_run, tmp_path):
    """Beta is not searched (Adam leaves it), alpha is; architecture.json holds the best of every
    valid path's scores, as the checkpoint and decode.py do; decode.py refuses a path decode."""
    from src.checkpoint import SEARCH, read_checkpoint
    from src.nas.decode import valid_paths
    from src.nas.search_export import export_architecture
    from src.nas.search_trainer import finite_or_none

    trainer, initial, out = single_path_run
    np.testing.assert_array_equal(trainer.net.betas.asnumpy(), initial["betas"])
    assert not np.allclose(trainer.net.alphas.asnumpy(), initial["alphas"])
    written = json.loads((out / "architecture.json").read_text())
    provenance, scores = written["provenance"], written["provenance"]["path_scores"]
    assert provenance["path_decode"] == "scored" and scores["scored"] == len(valid_paths(1)) == 2
    best = [score for _, score in scores["best"]]
    assert best == sorted(best) and best[0] <= scores["mean"]  # losses
    assert written["network_path"] == scores["best"][0][0]
    assert np.isnan(np.load(out / "arch_history.npz")["path_margin"]).all()  # beta's margin: not the decision
    checkpoint = str(out / "search_epoch1.ckpt")
    meta = read_checkpoint(checkpoint, "--ckpt_path", expect=SEARCH).meta
    assert meta["path_search"] == "single_path" and meta["scored_path"]["path"] == written["network_path"]
    assert provenance["evidence"]["path_z"] == finite_or_none(meta["scored_path"]["z"])
    decoded = export_architecture(checkpoint, str(tmp_path / "decoded"))
    assert json.loads(open(decoded["architecture"]).read())["network_path"] == written["network_path"]
    with pytest.raises(UserError, match="single_path search, whose path was chosen by its supernet score"):
        export_architecture(checkpoint, str(tmp_path / "again"), "rescaled")
    assert not (tmp_path / "again").exists()


def test_single_path_steps_draw_every_valid_path_uniformly_and_repeatably_after_the_warm_up(demo_mindrecord_dir, tmp_path):
    from collections import Counter
    from scipy.stats import chisquare
    from src.nas.decode import valid_paths

    trainer = make_trainer(demo_mindrecord_dir, tmp_path, num_layers=3, path_search="single_path",
                           arch_start_epoch=1)

    def drawn(epoch, step, half):
        trainer.sample_path(epoch, step, half)
        return tuple(trainer.net.path_move_weights.asnumpy().ravel()), trainer.net.scored_levels

    assert drawn(1, 2, "A") == drawn(1, 2, "A")  # a function of (seed, epoch, step, half): resumes draw the same
    trainer.net.use_path(None)
    trainer.sample_path(0, 5, "A")  # before arch_start_epoch the whole supernet warms up
    assert trainer.net.path_move_weights is None
    counts = Counter(drawn(epoch, step, half) for epoch in range(1, 11) for step in range(30) for half in "AB")
    assert len(counts) == len(valid_paths(3))
    assert chisquare(list(counts.values())).pvalue > 1e-3
    relaxed = make_trainer(demo_mindrecord_dir, tmp_path)
    relaxed.sample_path(0, 0, "A")
    assert relaxed.net.path_move_weights is None


def test_search_checkpoints_of_the_earlier_stem_and_head_names_resume():
    """Search checkpoints written before the stem and head blocks became ConvNormAct cells named
    them by position (the names below are those of that version's supernet): resume maps each
    onto a parameter of today's supernet, and leaves every other name as it is."""
    from conftest import build_search_net
    from src.nas.search_trainer import legacy_stem_head_name

    earlier = ["stem1.0.0.weight", "stem1.0.1.moving_mean", "stem1.0.1.gamma", "stem1.1.0.weight",
               "stem1.1.1.beta", "stem2.0.weight", "stem2.1.moving_variance",
               "heads.0.branch1x1.0.weight", "heads.2.branch1x1.1.gamma",
               "weight_optimizer/moments.stem2.0.weight"]
    net = build_search_net(False, num_classes=3, num_layers=2, filter_multiplier=2,
                           block_multiplier=1, stem_channels=4)
    names = {p.name for p in net.get_parameters()}
    renamed = [legacy_stem_head_name(name) for name in earlier]
    assert all(name in names for name in renamed[:-1]), renamed
    assert renamed[-1] == "weight_optimizer/moments.stem2.conv.weight"
    for name in sorted(names):
        assert legacy_stem_head_name(name) == name


def test_architecture_file_records_the_path_decode(tmp_path):
    """architecture.json names the path decode it used and holds that decode's path (betas on
    which the two decodes differ)."""
    from src.nas.decode import decode_path
    from src.nas.search_trainer import write_decoded_architecture

    rng = np.random.default_rng(0)
    betas = next(b for b in (rng.uniform(-0.3, 0.3, (6, 4, 3)).astype(np.float32) for _ in range(100))
                 if decode_path(b, "paper") != decode_path(b, "rescaled"))
    alphas = np.zeros((5, 8), np.float32)
    for name in ("rescaled", "paper"):
        path = tmp_path / f"{name}.json"
        written = write_decoded_architecture(str(path), alphas, betas, {"source": "test"}, name)
        stored = json.loads(path.read_text())
        assert stored["provenance"]["path_decode"] == name
        assert written.network_path == stored["network_path"] == decode_path(betas, name)


def test_scoring_batches_are_recut_in_order_to_the_call_size():
    images = np.arange(6 * 2).reshape(6, 2)  # 6 samples in batches of 2
    batches = [(images[i:i + 2], -images[i:i + 2]) for i in range(0, 6, 2)]
    regrouped = list(regroup(batches, 4))
    assert [len(image) for image, _ in regrouped] == [4, 2]
    np.testing.assert_array_equal(np.concatenate([image for image, _ in regrouped]), images)
    np.testing.assert_array_equal(np.concatenate([label for _, label in regrouped]), -images)


class ClassFromFirstPixel:
    """A stand-in supernet: every pixel's logits pick the class written in the crop's first pixel;
    records the batch size of each call."""

    def __init__(self, num_classes):
        self.num_classes, self.calls = num_classes, []

    def set_train(self, mode=True):
        pass

    def __call__(self, images):
        images = images.asnumpy()
        self.calls.append(len(images))
        chosen = images[:, 0, 0, 0].astype(int)
        one_hot = np.eye(self.num_classes, dtype=np.float32)[chosen]  # (N, C)
        return ms.Tensor(np.broadcast_to(one_hot[:, :, None, None],
                                         one_hot.shape + images.shape[2:]).copy())


def test_sets_scored_together_keep_their_own_scores_and_the_filler_counts_nowhere():
    """Half B (8 crops) and the held-out set (2 crops) in calls of 8: two full calls, each crop
    scored into its own set, the second call's 6 filler crops into none."""
    from types import SimpleNamespace

    trainer = SearchTrainer.__new__(SearchTrainer)
    trainer.cfg = SimpleNamespace(num_classes=4, ignore_label=255, batch_size=1)
    trainer.net = ClassFromFirstPixel(4)

    def crops(predicted, label, count):
        image = np.zeros((count, 3, 2, 2), np.float32)
        image[:, 0, 0, 0] = predicted
        return image, np.full((count, 2, 2), label, np.int32)

    half_b = [crops(1, 1, 2) for _ in range(4)]  # predicted right: mIoU 1
    heldout = [crops(3, 2, 2)]  # predicted 3 where the label is 2: mIoU 0
    scores = trainer.score({"B": half_b, "heldout": heldout})
    assert trainer.net.calls == [8, 8]
    assert scores == {"B": 1.0, "heldout": 0.0}


def test_eta_counts_an_architecture_step_as_a_second_call_and_starts_after_the_first_step():
    from types import SimpleNamespace

    trainer = SearchTrainer.__new__(SearchTrainer)
    trainer.cfg = SimpleNamespace(epochs=4, arch_start_epoch=2)
    trainer.steps_per_epoch, trainer.clock = 3, None
    assert trainer.gradient_calls_left(0, 0) == 2 + 3 + 6 + 6  # weight-only epochs: 1 call a step
    assert trainer.gradient_calls_left(2, 1) == 2 + 6
    assert trainer.gradient_calls_left(3, 2) == 0
    assert trainer.eta(0, 0, 100.0) == "-"  # the first step compiles: no rate yet
    assert trainer.eta(0, 1, 102.0) == "0h00m32s"  # 1 call in 2 s, 16 calls left
    assert trainer.eta(2, 0, 110.0) == "0h00m33s"  # 3 calls in 10 s, 10 left


def test_search_scale_sets_the_resolution_the_crops_are_cut_from(demo_mindrecord_dir, tmp_path):
    """search_scale 0.5 (the paper's half resolution) packs twice the scene into each crop side as
    1.0: about twice the class boundaries per crop. The scale ignored -> both alike -> fails."""
    def boundaries(scale):
        trainer = make_trainer(demo_mindrecord_dir, tmp_path / str(scale), search_scale=scale)
        labels = np.concatenate([label for _, label in trainer.batches(0, "A")])
        return np.count_nonzero(labels[:, :, 1:] != labels[:, :, :-1])
    half, full = boundaries(0.5), boundaries(1.0)
    assert half > 1.5 * full, (half, full)
