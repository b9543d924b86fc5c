"""Evaluation arithmetic on hand-made records: matching, counts, threshold choice."""

from __future__ import annotations

import numpy as np

from xrayreport.training.evaluate import DISABLED, choose_thresholds, greedy_match, iou_matrix


def test_iou_of_half_overlapping_boxes_is_one_third() -> None:
    a = np.array([[0.0, 0.0, 2.0, 2.0]])
    b = np.array([[1.0, 0.0, 3.0, 2.0]])
    assert iou_matrix(a, b)[0, 0] == 2.0 / 6.0


def test_greedy_match_gives_the_truth_to_the_higher_score_once() -> None:
    truth = np.array([[0.0, 0.0, 10.0, 10.0]])
    predicted = np.array([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 10.0, 10.0]])
    assert greedy_match(predicted, np.array([0.4, 0.9]), truth) == [(1, 0)]


def test_thresholds_maximise_f1_above_the_precision_floor_and_disable_hopeless_classes() -> None:
    box = np.array([[0.0, 0.0, 10.0, 10.0]])
    elsewhere = np.array([[50.0, 50.0, 60.0, 60.0]])
    # Class "good": the true box scores 0.6, a false one 0.3 -> thresholds in (0.3, 0.6] give F1 = 1;
    # of equals the lowest is kept (more recall).
    good = [(np.vstack([box, elsewhere]), np.array([0.6, 0.3]), box)]
    # Class "bad": every detection is wrong, at any threshold.
    bad = [(elsewhere, np.array([0.8]), box)]
    chosen = choose_thresholds({"good": good, "bad": bad, "unlabelled": []}, candidates=(0.2, 0.4, 0.6, 0.8))
    assert chosen == {"good": 0.4, "bad": DISABLED}
