"""Confusion-matrix scores on hand-made label maps whose IoUs are known."""
import math

import numpy as np
import pytest

from src.eval.metrics import ConfusionMatrix, format_scores, scores_from_matrix


def test_hand_made_maps_give_hand_computed_ious():
    label = np.array([[0, 0, 1, 1], [2, 2, 255, 255]])
    prediction = np.array([[0, 1, 1, 1], [2, 0, 2, 1]])
    cm = ConfusionMatrix(num_classes=4, ignore_label=255)
    cm.update(prediction, label)
    # class 0: TP 1, FN 1 (pixel -> 1), FP 1 (class-2 pixel -> 0): 1/3
    # class 1: TP 2, FP 1: 2/3; class 2: TP 1, FN 1: 1/2; class 3 absent: NaN
    scores = cm.scores(["a", "b", "c", "d"])
    assert scores["class_iou"]["a"] == pytest.approx(1 / 3)
    assert scores["class_iou"]["b"] == pytest.approx(2 / 3)
    assert scores["class_iou"]["c"] == pytest.approx(1 / 2)
    assert math.isnan(scores["class_iou"]["d"])
    assert scores["miou"] == pytest.approx((1 / 3 + 2 / 3 + 1 / 2) / 3)
    assert scores["pixel_accuracy"] == pytest.approx(4 / 6)
    assert scores["num_pixels"] == 6


def test_predicted_only_class_counts_in_the_mean_with_iou_zero():
    matrix = np.array([[5, 5, 0], [0, 0, 0], [0, 0, 0]])  # class 1 predicted, never true
    scores = scores_from_matrix(matrix)
    assert scores["class_iou"]["1"] == 0.0
    assert math.isnan(scores["class_iou"]["2"])
    assert scores["miou"] == pytest.approx((0.5 + 0.0) / 2)


def test_out_of_range_prediction_is_a_false_negative_only():
    cm = ConfusionMatrix(num_classes=2, ignore_label=255)
    cm.update(np.array([255, 0, 1]), np.array([0, 0, 1]))
    assert cm.matrix.tolist() == [[1, 0, 1], [0, 1, 0]]
    scores = cm.scores()
    assert scores["class_iou"] == {"0": pytest.approx(0.5), "1": 1.0}
    # The pixel is scored: it counts in the pixels and in the accuracy's denominator.
    assert scores["num_pixels"] == 3
    assert scores["pixel_accuracy"] == pytest.approx(2 / 3)


def test_rows_are_ground_truth_and_columns_predictions():
    """An asymmetric matrix with a "no class" column, every score computed by hand. Rows are the
    ground truth (labels 0, 1, 2: 6, 5 and 4 pixels), columns the predictions (the last: no class).
    Read the other way round, the no-class pixels would leave the ground truth and the total."""
    matrix = np.array([[3, 1, 0, 2],   # label 0: 3 right, 1 -> class 1, 2 -> no class
                       [0, 4, 0, 1],   # label 1: 4 right, 1 -> no class
                       [1, 0, 0, 3]])  # label 2: 1 -> class 0, 3 -> no class
    scores = scores_from_matrix(matrix, ["a", "b", "c"])
    # IoU = TP / (ground truth + predicted - TP): a 3 / (6 + 4 - 3), b 4 / (5 + 5 - 4), c 0 / (4 + 0)
    assert scores["class_iou"] == {"a": pytest.approx(3 / 7), "b": pytest.approx(4 / 6), "c": 0.0}
    assert scores["miou"] == pytest.approx((3 / 7 + 4 / 6 + 0.0) / 3)
    assert scores["num_pixels"] == 15
    assert scores["pixel_accuracy"] == pytest.approx(7 / 15)
    # A class that is only ever predicted as "no class" has IoU 0, not NaN: it is in the ground truth.
    absent = scores_from_matrix(np.array([[2, 0, 0], [0, 0, 3]]))
    assert absent["class_iou"] == {"0": 1.0, "1": 0.0} and absent["num_pixels"] == 5


def test_updates_accumulate_and_match_one_big_update():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 6, size=(3, 20, 30))
    labels[labels == 5] = 255
    predictions = rng.integers(0, 5, size=(3, 20, 30))
    one, many = ConfusionMatrix(5, 255), ConfusionMatrix(5, 255)
    one.update(predictions, labels)
    for p, l in zip(predictions, labels):
        many.update(p, l)
    assert np.array_equal(one.matrix, many.matrix)
    assert one.matrix.sum() == np.count_nonzero(labels != 255)


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="pixels"):
        ConfusionMatrix(3, 255).update(np.zeros((2, 2)), np.zeros((3, 3)))


def test_table_lists_every_class_and_marks_undefined_ones():
    scores = scores_from_matrix(np.array([[3, 0, 1], [0, 0, 0]]), ["road", "sky"])
    text = format_scores(scores)
    assert "road       75.00" in text.splitlines()
    assert "sky          n/a" in text.splitlines()
    assert "mIoU       75.00" in text.splitlines()
