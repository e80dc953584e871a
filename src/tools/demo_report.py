"""report.md of a demo run: the figures and pictures of every stage, linked relative to the run folder.

    python -m src.tools.demo_report --demo_path DEMO_OUTPUT

Reads the stage outputs that ``scripts/run_demo.sh`` leaves in DEMO_OUTPUT (layout in ``STAGE_DIRS``)
and writes DEMO_OUTPUT/report.md plus its pictures in DEMO_OUTPUT/report/: the search curves, the
decoded architecture drawing, the training loss curve, the per-class table, and for each predicted
val image a strip image | ground truth | prediction. Missing stages are reported as missing, so the
report can be written for a partial run too.
"""
import argparse
import csv
import glob
import json
import os
import platform

import cv2
import numpy as np

from src.data.cityscapes import IMAGE_DIR, IMAGE_SUFFIX, LABEL_DIR, LABEL_SUFFIX
from src.data.labels import label_ids_to_train_ids, train_ids_to_color
from src.deploy.images import read_image
from src.deploy.outputs import write_png
from src.errors import UserError, run_main
from src.fileio import atomic_path, atomic_write
from src.nas.decode import decode_path, path_log_probability

STAGE_DIRS = {"data": "cityscapes", "mindrecord": "mindrecord", "search": "search", "decode": "arch",
              "train": "train", "eval": "eval", "export": "export", "predict": "predict"}
STAGE_TIMES = "stage_times.tsv"
REPORT_NAME = "report.md"
PICTURES = "report"
MAX_PREDICTIONS = 4


def stage_path(demo_path, stage, *parts):
    return os.path.join(demo_path, STAGE_DIRS[stage], *parts)


def read_stage_times(demo_path):
    """[(stage, seconds)] recorded by run_demo.sh (a stage skipped on a re-run keeps its first time)."""
    path = os.path.join(demo_path, STAGE_TIMES)
    if not os.path.isfile(path):
        return []
    with open(path, newline="") as f:
        return [(row[0], float(row[1])) for row in csv.reader(f, delimiter="\t") if len(row) == 2]


def decoded_path_probabilities(history):
    """Per epoch: the probability, under that epoch's normalised beta, of the path decoded from it."""
    return np.array([np.exp(path_log_probability(betas, decode_path(betas))) for betas in history["betas"]])


def plot_search_history(history_path, png_path):
    """Weight loss, supernet mIoU on half B, and the architecture's state per search epoch: mean
    entropy of softmax(alpha) per edge and of the normalised beta per node, and the probability
    of the decoded path (the panel is left out for a history without the health figures)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    history = dict(np.load(history_path))
    has_health = "alpha_entropy" in history
    figure, axes = plt.subplots(1, 3 if has_health else 2, figsize=(15 if has_health else 10, 3.5))
    loss_axis, miou_axis = axes[:2]
    loss_axis.plot(history["epoch"], history["weight_loss"], marker="o")
    loss_axis.set_xlabel("search epoch")
    loss_axis.set_ylabel("mean weight loss (half A)")
    miou_axis.plot(history["epoch"], 100 * history["miou_b"], marker="o", color="tab:green", label="half B")
    if "miou_heldout" in history:
        miou_axis.plot(history["epoch"], 100 * history["miou_heldout"], marker="s", color="tab:olive",
                       label="held out (val)")
        miou_axis.legend(loc="lower right", fontsize=7)
    miou_axis.set_xlabel("search epoch")
    miou_axis.set_ylabel("supernet mIoU (%)")
    if has_health:
        arch_axis = axes[2]
        arch_axis.plot(history["epoch"], history["alpha_entropy"], marker="o", label="entropy softmax(alpha) / edge")
        arch_axis.plot(history["epoch"], history["beta_entropy"], marker="s", label="entropy beta / node")
        arch_axis.set_xlabel("search epoch")
        arch_axis.set_ylabel("mean entropy (nats)")
        path_axis = arch_axis.twinx()
        path_axis.plot(history["epoch"], decoded_path_probabilities(history), marker="^", color="tab:red",
                       label="decoded path probability")
        path_axis.set_ylabel("decoded path probability", color="tab:red")
        arch_axis.legend(loc="upper right", fontsize=7)
    for axis in axes:
        axis.grid(alpha=0.3)
    figure.tight_layout()
    os.makedirs(os.path.dirname(png_path), exist_ok=True)
    try:
        with atomic_path(png_path, keep_suffix=True) as temporary:
            figure.savefig(temporary, dpi=90)
    finally:
        plt.close(figure)
    return history


def comparison_strip(demo_path, color_png, png_path):
    """image | ground truth colours | prediction colours, side by side, for the colour PNG that
    predict.py wrote for ``<city>_..._leftImg8bit.png``; None when the val image or label is missing."""
    file_name = os.path.basename(color_png)
    if not file_name.endswith(IMAGE_SUFFIX):
        return None
    image_stem = file_name[:-len(IMAGE_SUFFIX)]
    city = image_stem.split("_")[0]
    data_root = stage_path(demo_path, "data")
    image_path = os.path.join(data_root, IMAGE_DIR, "val", city, file_name)
    label_path = os.path.join(data_root, LABEL_DIR, "val", city, image_stem + LABEL_SUFFIX)
    if not (os.path.isfile(image_path) and os.path.isfile(label_path)):
        return None
    image = read_image(image_path)
    truth = train_ids_to_color(label_ids_to_train_ids(cv2.imread(label_path, cv2.IMREAD_GRAYSCALE)))
    prediction = read_image(color_png)
    write_png(png_path, np.concatenate([image, truth, prediction], axis=1))
    return image_stem


def _rel(demo_path, path):
    return os.path.relpath(path, demo_path).replace(os.sep, "/")


def _open_section(lines, title, stage_output):
    """Append the section heading; False (after a 'Not run.' line) when the stage's output is missing."""
    lines.append("## %s\n" % title)
    if os.path.exists(stage_output):
        return True
    lines.append("Not run.\n")
    return False


def _read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _read_csv_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _open_section_on_file(lines, title, path, read):
    """``_open_section`` on the stage output file ``path``: its content (``read(path)``), or None when
    the file is missing (the section then says 'Not run.')."""
    return read(path) if _open_section(lines, title, path) else None


def _search_section(demo_path, lines):
    history_path = stage_path(demo_path, "search", "arch_history.npz")
    if not _open_section(lines, "Architecture search", history_path):
        return
    picture = os.path.join(demo_path, PICTURES, "search_history.png")
    history = plot_search_history(history_path, picture)
    if "alpha_entropy" not in history:
        lines.append("| epoch | mean weight loss (A) | supernet mIoU on B |")
        lines.append("|---:|---:|---:|")
        for epoch, loss, miou in zip(history["epoch"], history["weight_loss"], history["miou_b"]):
            lines.append("| %d | %.4f | %.1f%% |" % (epoch, loss, 100 * miou))
    else:
        lines.append("| epoch | mean weight loss (A) | supernet mIoU on B | architecture steps | "
                     "mean grad norm alpha / beta | entropy alpha / beta | decoded path probability |")
        lines.append("|---:|---:|---:|---:|---:|---:|---:|")
        for row in zip(history["epoch"], history["weight_loss"], history["miou_b"], history["arch_steps"],
                       history["alpha_grad_norm"], history["beta_grad_norm"], history["alpha_entropy"],
                       history["beta_entropy"], decoded_path_probabilities(history)):
            lines.append("| %d | %.4f | %.1f%% | %d | %.2e / %.2e | %.4f / %.4f | %.4f |" % (
                row[0], row[1], 100 * row[2], *row[3:]))
        steps = int(np.nansum(history["arch_steps"]))
        lines.append("\nThe decoded architecture comes from the alpha/beta of epoch %d after %d "
                     "architecture steps on half B%s." % (
                         history["epoch"][-1], steps,
                         "" if steps else ": none ran, so it is the random initialisation"))
    _verdict_lines(demo_path, history, lines)
    lines.append("\n![search history](%s)\n" % _rel(demo_path, picture))


def _verdict_lines(demo_path, history, lines):
    """The search's verdict (architecture.json of the search) and the last epoch's decision margins."""
    path = stage_path(demo_path, "search", "architecture.json")
    provenance = _read_json(path).get("provenance", {}) if os.path.isfile(path) else {}
    if "verdict" not in provenance:
        return
    evidence = provenance["evidence"]
    z_text = lambda z: "n/a" if z is None else "%.2f" % z
    lines.append("\n**Search verdict: %s.** %s." % (provenance["verdict"], provenance["verdict_advice"]))
    if provenance["verdict"] != "decided":
        lines.append("The demo retrains the decoded architecture all the same, to run every stage.")
    lines.append("\nEvidence against chance (z of each choice's mean architecture-gradient vote against "
                 "a uniformly drawn alternative, over its step-to-step spread; bound %.2f over every "
                 "candidate, %d architecture steps): op per kept edge %s; path %s "
                 "(docs/search_decisions.md)." % (
                     evidence["z_bound"], evidence["architecture_steps"],
                     ", ".join(z_text(z) for z in evidence["op_z"]), z_text(evidence["path_z"])))
    if "op_prob_margin" in history:
        margins = history["op_prob_margin"][-1]
        lines.append("\nLast epoch: largest change of alpha %.3f and of beta %.3f since the start; "
                     "softmax margin of each kept op over its runner-up %s; path score margin %.3f; "
                     "%d of %d kept ops parameter-free; supernet mIoU on held-out images %s." % (
                         history["alpha_change"][-1], history["beta_change"][-1],
                         ", ".join("%.3f" % m for m in margins), history["path_margin"][-1],
                         history["parameter_free_ops"][-1], len(margins),
                         "%.1f%%" % (100 * history["miou_heldout"][-1])
                         if np.isfinite(history["miou_heldout"][-1]) else "not measured"))


def _decode_section(demo_path, lines):
    arch_path = stage_path(demo_path, "decode", "architecture.json")
    arch = _open_section_on_file(lines, "Decoded architecture", arch_path, _read_json)
    if arch is None:
        return
    lines.append("- network path (level per cell, output stride 4*2^level): `%s`" % arch["network_path"])
    blocks = ["block %d = %s(%d) + %s(%d)" % (b, arch["cell"][2 * b][1], arch["cell"][2 * b][0],
                                              arch["cell"][2 * b + 1][1], arch["cell"][2 * b + 1][0])
              for b in range(len(arch["cell"]) // 2)]
    lines.append("- cell (states: 0 prev-prev, 1 prev, 2.. blocks): " + "; ".join(blocks))
    provenance = arch.get("provenance", {})
    if "checkpoint" in provenance:
        lines.append("- provenance: decoded from `%s` (search epoch %s; see the architecture search "
                     "section for the architecture steps behind it)" % (
                         _rel(demo_path, provenance["checkpoint"]) if os.path.isabs(provenance["checkpoint"])
                         else provenance["checkpoint"], provenance.get("epoch", "?")))
    lines.append("- file: [%s](%s)\n" % (_rel(demo_path, arch_path), _rel(demo_path, arch_path)))
    drawing = stage_path(demo_path, "decode", "architecture.png")
    if os.path.isfile(drawing):
        lines.append("![architecture](%s)\n" % _rel(demo_path, drawing))


def _train_section(demo_path, lines):
    rows = _open_section_on_file(lines, "Retraining", stage_path(demo_path, "train", "train_log.csv"),
                                 _read_csv_rows)
    if rows is None:
        return
    if rows:
        tail = rows[-min(10, len(rows)):]
        lines.append("- %d steps; loss %.3f at the start, %.3f over the last %d steps" % (
            int(rows[-1]["step"]), float(rows[0]["loss"]),
            np.mean([float(r["loss"]) for r in tail]), len(tail)))
    checkpoints = sorted(glob.glob(stage_path(demo_path, "train", "checkpoints", "*.ckpt")))
    if checkpoints:
        lines.append("- last checkpoint: `%s`" % _rel(demo_path, checkpoints[-1]))
    curve = stage_path(demo_path, "train", "loss_curve.png")
    if os.path.isfile(curve):
        lines.append("\n![loss curve](%s)\n" % _rel(demo_path, curve))


def _eval_section(demo_path, lines):
    scores = _open_section_on_file(lines, "Evaluation (demo val split)",
                                   stage_path(demo_path, "eval", "eval_results.json"), _read_json)
    if scores is None:
        return
    options = scores.get("options") or {}
    lines.append("**mIoU %.2f%%**, pixel accuracy %.2f%% (flip: %s, scales: %s).\n" % (
        100 * scores["miou"], 100 * scores["pixel_accuracy"], options.get("flip", False),
        options.get("scales", [1.0])))
    lines.append("| class | IoU |")
    lines.append("|---|---:|")
    for name, value in scores["class_iou"].items():
        lines.append("| %s | %s |" % (name, "n/a" if value is None else "%.2f" % (100 * value)))
    lines.append("\nn/a: the class is in neither the ground truth nor the prediction (not averaged).\n")


def _export_section(demo_path, lines):
    if not _open_section(lines, "Export", stage_path(demo_path, "export")):
        return
    for path in sorted(glob.glob(stage_path(demo_path, "export", "*"))):
        lines.append("- `%s` (%.1f MB)" % (_rel(demo_path, path), os.path.getsize(path) / 2 ** 20))
    lines.append("")


def _predict_section(demo_path, lines):
    if not _open_section(lines, "Predictions (image | ground truth | prediction)", stage_path(demo_path, "predict")):
        return
    for color_png in sorted(glob.glob(stage_path(demo_path, "predict", "color", "*.png")))[:MAX_PREDICTIONS]:
        picture = os.path.join(demo_path, PICTURES, "compare_" + os.path.basename(color_png))
        stem = comparison_strip(demo_path, color_png, picture)
        if stem:
            lines.append("`%s`\n\n![%s](%s)\n" % (stem, stem, _rel(demo_path, picture)))


def write_report(demo_path):
    """Write DEMO_PATH/report.md (atomically) and its pictures; returns the report's path."""
    if not os.path.isdir(demo_path):
        raise UserError("demo folder '%s' does not exist; pass the OUTPUT_DIR of scripts/run_demo.sh" % demo_path)
    lines = ["# Auto-DeepLab demo report\n",
             "Machine: %s, %d CPU cores, Python %s.\n" % (platform.machine(), os.cpu_count() or 0,
                                                          platform.python_version())]
    times = read_stage_times(demo_path)
    if times:
        lines.append("| stage | wall time |")
        lines.append("|---|---:|")
        lines += ["| %s | %.0f s |" % (stage, seconds) for stage, seconds in times]
        lines.append("| total | %.0f s |\n" % sum(seconds for _, seconds in times))
    for section in (_search_section, _decode_section, _train_section, _eval_section, _export_section,
                    _predict_section):
        section(demo_path, lines)
    path = os.path.join(demo_path, REPORT_NAME)
    with atomic_write(path) as f:
        f.write("\n".join(lines) + "\n")
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--demo_path", required=True, help="OUTPUT_DIR of scripts/run_demo.sh")
    args = parser.parse_args(argv)
    print("wrote %s" % write_report(args.demo_path))


if __name__ == "__main__":
    run_main(main)
