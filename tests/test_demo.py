"""scripts/run_demo.sh end to end at a small size: every stage runs, each artefact is valid, the
trained model is far above chance, the report's links resolve, and a re-run redoes nothing."""
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import yaml

import src  # noqa: F401  (CPU set-up before mindspore)

pytestmark = pytest.mark.heavy  # scheduled first (conftest.py)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NUM_TRAIN, NUM_VAL, HEIGHT, WIDTH = 16, 4, 64, 128
STAGES = 9
# Smaller than config/demo*.yaml, same keys: a 2-layer search, then the found network retrained.
SEARCH_OVERRIDES = dict(num_layers=2, filter_multiplier=2, block_multiplier=1, stem_channels=8,
                        crop_size=33, batch_size=2, epochs=2, arch_start_epoch=1, log_interval=8)
TRAIN_OVERRIDES = dict(filter_multiplier=4, crop_size=65, epochs=30, log_interval=40)
FAR_ABOVE_CHANCE = 4  # times the mIoU of always predicting the most frequent class


def write_config(base, overrides, path):
    from src.config import read_yaml

    values = {**read_yaml(os.path.join(ROOT, "config", base)), **overrides}  # its base file resolved
    with open(path, "w") as f:
        yaml.safe_dump(values, f)
    return str(path)


def run_demo(output, configs):
    env = dict(os.environ, PYTHON=sys.executable, DEMO_SEARCH_CONFIG=configs[0], DEMO_CONFIG=configs[1],
               DEMO_DATA="%d %d %d %d" % (NUM_TRAIN, NUM_VAL, HEIGHT, WIDTH),
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    return subprocess.run(["bash", os.path.join(ROOT, "scripts", "run_demo.sh"), str(output)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    work = tmp_path_factory.mktemp("demo_run")
    configs = (write_config("demo_search.yaml", SEARCH_OVERRIDES, work / "search.yaml"),
               write_config("demo.yaml", TRAIN_OVERRIDES, work / "train.yaml"))
    output = work / "out"
    result = run_demo(output, configs)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return output, configs, result


def test_every_stage_ran_and_timed(demo):
    output, _, result = demo
    for stage in range(1, STAGES + 1):
        assert "=== [" in result.stdout and "%d/%d" % (stage, STAGES) in result.stdout
    with open(output / "stage_times.tsv") as f:
        rows = [line.split("\t") for line in f.read().splitlines()]
    assert [name.split()[0] for name, _ in rows] == ["%d/%d" % (i, STAGES) for i in range(1, STAGES + 1)]


def test_mindrecord_and_architecture_are_valid(demo):
    import mindspore.dataset as ds

    from src.architecture import Architecture

    output, _, _ = demo
    for split, count in (("train", NUM_TRAIN), ("val", NUM_VAL)):
        data = ds.MindDataset(str(output / "mindrecord" / ("cityscapes_%s.mindrecord" % split)))
        assert data.get_dataset_size() == count
    architecture = Architecture.load(str(output / "arch" / "architecture.json"))
    assert len(architecture.network_path) == SEARCH_OVERRIDES["num_layers"]
    assert architecture.num_blocks == SEARCH_OVERRIDES["block_multiplier"]
    assert architecture.provenance["checkpoint"].startswith(str(output / "search"))
    assert architecture.provenance["epoch"] == SEARCH_OVERRIDES["epochs"]


def decay_only_adam(start, steps, lr, betas, weight_decay, eps=1e-8):
    """Where Adam takes ``start`` in ``steps`` steps when the only gradient is weight decay's
    (g = weight_decay * p), MindSpore's bias-corrected form: p -= lr_t * m / (sqrt(v) + eps)."""
    param, m, v = start.astype(np.float64), 0.0, 0.0
    for t in range(1, steps + 1):
        g = weight_decay * param
        m, v = betas[0] * m + (1 - betas[0]) * g, betas[1] * v + (1 - betas[1]) * g * g
        param = param - lr * np.sqrt(1 - betas[1] ** t) / (1 - betas[0] ** t) * m / (np.sqrt(v) + eps)
    return param


def test_search_moved_alpha_and_beta_beyond_weight_decay(demo):
    """The decoded architecture comes from the data: alpha and beta after the search differ from
    where weight decay alone (Adam on g = wd * p from the same start) would have taken them."""
    import mindspore as ms

    from src.config import load_config
    from src.nas.decode import move_mask
    from src.nas.supernet import build_supernet

    output, configs, _ = demo
    cfg = load_config(configs[0], {})
    history = np.load(output / "search" / "arch_history.npz")
    steps = int(history["arch_steps"].sum())
    assert steps > 0 and (history["alpha_grad_norm"][-1] > 0) and (history["beta_grad_norm"][-1] > 0)
    start = build_supernet(cfg)  # its initial alphas and betas: drawn from cfg.seed
    final = ms.load_checkpoint(str(output / "search" / ("search_epoch%d.ckpt" % cfg.epochs)))
    mask = move_mask(cfg.num_layers).astype(bool)
    for name, select in (("alphas", slice(None)), ("betas", mask)):
        initial = getattr(start, name).asnumpy()
        expected = decay_only_adam(initial, steps, cfg.arch_lr, cfg.arch_betas, cfg.arch_weight_decay)
        deviation = np.abs(final[name].asnumpy() - expected)[select]
        # Adam moves each entry by about lr per step: a data gradient whose sign differs from the
        # decay's shows as a deviation of order lr; weight decay alone gives none.
        assert np.mean(deviation > cfg.arch_lr / 2) >= 0.25, (name, deviation)


def test_checkpoint_loads_and_scores_far_above_chance(demo):
    from src.config import load_config
    from src.model.loading import load_network

    output, configs, _ = demo
    checkpoints = sorted((output / "train" / "checkpoints").glob("*.ckpt"))
    cfg = load_config(configs[1], dict(arch_path=str(output / "arch" / "architecture.json")))
    net = load_network(cfg, str(checkpoints[-1]))
    assert len(net.encoder.layers) == SEARCH_OVERRIDES["num_layers"]
    with open(output / "eval" / "eval_results.json") as f:
        scores = json.load(f)
    assert scores["miou"] > FAR_ABOVE_CHANCE * majority_class_miou(output / "cityscapes"), scores


def majority_class_miou(cityscapes_root):
    """mIoU of predicting the most frequent val class everywhere: its IoU is its pixel share, every
    other class present scores 0."""
    import cv2

    from src.data.labels import label_ids_to_train_ids

    counts = np.zeros(256, np.int64)
    for path in cityscapes_root.glob("gtFine/val/*/*_gtFine_labelIds.png"):
        counts += np.bincount(label_ids_to_train_ids(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)).ravel(),
                              minlength=256)
    counts = counts[:19]
    return counts.max() / counts.sum() / np.count_nonzero(counts)


def test_onnx_export_runs_and_predictions_match_it(demo):
    import onnxruntime

    from src.config import load_config
    from src.data.normalisation import normalise
    from src.deploy.images import read_image

    output, configs, _ = demo
    onnx_path = next((output / "export").glob("*.onnx"))
    assert next((output / "export").glob("*.mindir")).stat().st_size > 0
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    color_pngs = sorted((output / "predict" / "color").glob("*.png"))
    assert color_pngs
    name = color_pngs[0].name
    image = read_image(str(next((output / "cityscapes" / "leftImg8bit" / "val").glob("*/" + name))))
    channel_order = load_config(configs[1]).channel_order
    labels = session.run(None, {session.get_inputs()[0].name: normalise(image, channel_order)[None]})[0]
    assert labels.shape == (1, HEIGHT, WIDTH) and labels.min() >= 0 and labels.max() < 19  # argmax export
    from src.data.labels import train_ids_to_color

    expected = train_ids_to_color(labels[0].astype(np.uint8))
    written = read_image(str(color_pngs[0]))
    assert np.array_equal(written, expected)


def test_report_links_resolve(demo):
    output, _, _ = demo
    text = (output / "report.md").read_text()
    links = re.findall(r"\]\(([^)]+)\)", text)
    assert len(links) >= 4  # search curve, architecture drawing, loss curve, prediction strips
    for link in links:
        assert (output / link).is_file(), link
    assert "mIoU" in text and "| road |" in text


def test_report_gives_the_search_verdict_of_the_decoded_architecture(demo):
    """The verdict of the decoded architecture (decode.py's, from the checkpoint's evidence) is the
    search's own, and the report states it with its evidence."""
    output, _, _ = demo
    searched = json.loads((output / "search" / "architecture.json").read_text())["provenance"]
    decoded = json.loads((output / "arch" / "architecture.json").read_text())["provenance"]
    assert searched["verdict"] in ("decided", "not determined by the data")
    assert decoded["verdict"] == searched["verdict"] and decoded["evidence"] == searched["evidence"]
    text = (output / "report.md").read_text()
    assert "**Search verdict: %s.**" % searched["verdict"] in text
    assert "held-out images" in text and "parameter-free" in text


def test_rerun_skips_every_stage(demo):
    output, configs, _ = demo
    before = (output / "stage_times.tsv").read_text()
    result = run_demo(output, configs)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("skipped") == STAGES
    assert (output / "stage_times.tsv").read_text() == before


def test_decode_reads_the_searchs_evidence_for_the_evidence_path_decode(demo, tmp_path):
    """decode.py --path_decode evidence decodes the path from the checkpoint's architecture-gradient
    evidence (each move's z), records the decode, and judges that path."""
    from src.checkpoint import read_checkpoint
    from src.nas.decode import decode_path
    from src.nas.health import move_evidence
    from src.nas.search_trainer import latest_search_checkpoint, read_evidence

    output, _, _ = demo
    ckpt_path = latest_search_checkpoint(str(output / "search"))
    result = subprocess.run([sys.executable, "decode.py", "--ckpt_path", ckpt_path, "--output_path", str(tmp_path),
                             "--path_decode", "evidence"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    decoded = json.loads((tmp_path / "architecture.json").read_text())
    evidence = read_evidence(read_checkpoint(ckpt_path).params)
    assert decoded["network_path"] == decode_path(move_evidence(evidence["beta"]), "evidence")
    assert decoded["provenance"]["path_decode"] == "evidence"
    searched = json.loads((output / "search" / "architecture.json").read_text())["provenance"]
    assert decoded["provenance"]["evidence"]["op_z"] == searched["evidence"]["op_z"]  # the cell's decode is the same
