"""The project's scores equal cityscapesscripts' evalPixelLevelSemanticLabeling on the same predictions.

Predictions are the demo val ground truth with perturbations (blocks of other classes, void ids,
a class that is never true, a true class that is never predicted) written as labelId PNGs in the
Cityscapes results layout. The official scorer is driven through its module API because its
command line insists on instanceIds files (instance-level scores), which the demo data has not.
"""
import copy
import glob
import math
import os

import cv2
import numpy as np
import pytest

from src.data.cityscapes import find_samples
from src.data.labels import NAME_TO_LABEL, TRAIN_CLASS_NAMES, label_ids_to_train_ids
from src.eval.metrics import ConfusionMatrix

official = pytest.importorskip("cityscapesscripts.evaluation.evalPixelLevelSemanticLabeling")

ROAD, CAR, BUS, SKY = (NAME_TO_LABEL[n].id for n in ("road", "car", "bus", "sky"))
VOID_IDS = (0, 4, 9)  # unlabeled, static, parking: ignored in evaluation
NOISE_IDS = tuple(NAME_TO_LABEL[n].id for n in ("sidewalk", "building", "person", "vegetation"))


def _perturb(label_ids, rng):
    prediction = label_ids.copy()
    height, width = prediction.shape
    for _ in range(12):
        y, x = rng.integers(0, height), rng.integers(0, width)
        h, w = rng.integers(1, height // 3 + 2), rng.integers(1, width // 3 + 2)
        prediction[y:y + h, x:x + w] = rng.choice([ROAD, CAR, BUS, *VOID_IDS])
    prediction[prediction == SKY] = ROAD  # sky is true but never predicted: IoU 0
    noise = rng.random(prediction.shape) < 0.05
    prediction[noise] = rng.choice(NOISE_IDS, size=int(noise.sum()))
    return prediction


def _official_scores(gt_root, results_dir):
    args = copy.copy(official.args)
    args.cityscapesPath = gt_root
    args.groundTruthSearch = os.path.join(gt_root, "gtFine", "val", "*", "*_gtFine_labelIds.png")
    args.predictionPath, args.predictionWalk = results_dir, None
    args.evalInstLevelScore = False
    args.JSONOutput = False
    args.quiet = True
    ground_truth = sorted(glob.glob(args.groundTruthSearch))
    predictions = [official.getPrediction(args, gt) for gt in ground_truth]
    return official.evaluateImgLists(predictions, ground_truth, args)


def test_class_ious_and_miou_equal_the_official_scorer(demo_cityscapes_root, tmp_path):
    rng = np.random.default_rng(0)
    results_dir = tmp_path / "results"
    results_dir.mkdir()
    matrix = ConfusionMatrix(num_classes=len(TRAIN_CLASS_NAMES), ignore_label=255)
    samples = find_samples(str(demo_cityscapes_root), "val")
    assert len(samples) >= 2
    for sample in samples:
        label_ids = cv2.imread(sample.label_path, cv2.IMREAD_UNCHANGED)
        prediction = _perturb(label_ids, rng)
        prediction_path = str(results_dir / (sample.name + "_pred.png"))
        assert cv2.imwrite(prediction_path, prediction)
        matrix.update(label_ids_to_train_ids(cv2.imread(prediction_path, cv2.IMREAD_UNCHANGED)),
                      label_ids_to_train_ids(label_ids))
    ours = matrix.scores(TRAIN_CLASS_NAMES)
    theirs = _official_scores(str(demo_cityscapes_root), str(results_dir))

    defined = [name for name in TRAIN_CLASS_NAMES if not math.isnan(ours["class_iou"][name])]
    assert 0 < len(defined) < len(TRAIN_CLASS_NAMES), "the test needs classes both present and absent"
    assert ours["class_iou"]["bus"] == 0.0, "bus is predicted but (in the demo data) never true"
    assert ours["class_iou"]["sky"] == 0.0
    assert 0.05 < ours["miou"] < 0.95, "perturbations should make the scores non-trivial"
    for name in TRAIN_CLASS_NAMES:
        mine, official_iou = ours["class_iou"][name], theirs["classScores"][name]
        if math.isnan(official_iou):
            assert math.isnan(mine), name
        else:
            assert mine == pytest.approx(official_iou, abs=1e-6), name
    ignored = [name for name, score in theirs["classScores"].items() if name not in TRAIN_CLASS_NAMES]
    assert all(math.isnan(theirs["classScores"][name]) for name in ignored)
    assert ours["miou"] == pytest.approx(theirs["averageScoreClasses"], abs=1e-6)
