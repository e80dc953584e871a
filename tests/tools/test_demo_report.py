"""report.md of a partial demo run (src/tools/demo_report.py): the decode, retrain and evaluation
sections read their stage's file, a stage without output says 'Not run.'. Hand-made stage outputs;
no search history and no predictions, so nothing is plotted or drawn."""
import json

from src.tools.demo_report import write_report


def partial_demo(root):
    (root / "arch").mkdir(parents=True)
    (root / "arch" / "architecture.json").write_text(json.dumps(
        {"network_path": [0, 1], "cell": [[0, "skip_connect"], [1, "sep_conv_3x3"]],
         "provenance": {"checkpoint": str(root / "search" / "search_epoch3.ckpt"), "epoch": 3}}))
    (root / "train").mkdir()
    (root / "train" / "train_log.csv").write_text("step,loss,lr\n1,3.0,0.1\n2,2.0,0.1\n3,1.0,0.1\n")
    (root / "eval").mkdir()
    (root / "eval" / "eval_results.json").write_text(json.dumps(
        {"miou": 0.5, "pixel_accuracy": 0.9, "options": {"flip": True, "scales": [1.0, 1.5]},
         "class_iou": {"road": 0.9, "fence": None}}))
    return root


def sections(text):
    """{title: body} of the report's '## ' sections."""
    parts = text.split("\n## ")[1:]
    return {part.split("\n", 1)[0]: part.split("\n", 1)[1].strip() for part in parts}


def test_partial_run_report(tmp_path):
    demo = partial_demo(tmp_path / "demo")
    found = sections(open(write_report(str(demo)), encoding="utf-8").read())
    assert found["Architecture search"] == found["Export"] == "Not run."
    assert found["Predictions (image | ground truth | prediction)"] == "Not run."
    decoded = found["Decoded architecture"]
    assert "`[0, 1]`" in decoded and "block 0 = skip_connect(0) + sep_conv_3x3(1)" in decoded
    assert "decoded from `search/search_epoch3.ckpt` (search epoch 3;" in decoded
    assert found["Retraining"] == "- 3 steps; loss 3.000 at the start, 2.000 over the last 3 steps"
    evaluation = found["Evaluation (demo val split)"]
    assert evaluation.startswith("**mIoU 50.00%**, pixel accuracy 90.00% (flip: True, scales: [1.0, 1.5]).")
    assert "| road | 90.00 |" in evaluation and "| fence | n/a |" in evaluation


def test_empty_train_log_still_has_its_section(tmp_path):
    demo = partial_demo(tmp_path / "demo")
    (demo / "train" / "train_log.csv").write_text("step,loss,lr\n")
    found = sections(open(write_report(str(demo)), encoding="utf-8").read())
    assert found["Retraining"] == ""
