"""Evaluation arithmetic on hand-made records (matching, counts, threshold choice) and per-tooth counting."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from xrayreport.detection.detector import Detector
from xrayreport.training.evaluate import DISABLED, choose_thresholds, evaluate, greedy_match, iou_matrix, load_samples

REPO = Path(__file__).resolve().parents[2]


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


def test_tooth_level_counts_what_the_findings_document_says_per_tooth(
    tiny_model: Path, tiny_tooth_classifier: Path, datasets_dir: Path, tmp_path: Path
) -> None:
    # Both stages wired as shipped, every tooth reported and every per-tooth finding above threshold.
    shutil.copy(tiny_model, tmp_path / "det.onnx")
    config = json.loads(tiny_model.with_suffix(".json").read_text())
    config["score_thresholds"]["tooth"] = 0.0
    (tmp_path / "det.json").write_text(json.dumps({**config, "second_stage": "teeth.onnx"}))
    shutil.copy(tiny_tooth_classifier, tmp_path / "teeth.onnx")
    teeth = json.loads(tiny_tooth_classifier.with_suffix(".json").read_text())
    # Implant and root canal stay off: an implant is reported alone, a root canal instead of "restoration".
    thresholds = {**dict.fromkeys(teeth["classes"], 0), "implant": 1.1, "root_canal": 1.1}
    (tmp_path / "teeth.json").write_text(json.dumps({**teeth, "score_thresholds": thresholds}))
    samples = load_samples(REPO / "datasets" / "dental-radiography.yaml", datasets_dir, "val", limit=1)

    results = evaluate(Detector(tmp_path / "det.onnx"), samples, progress=False)
    for name in ("caries", "restoration"):
        counts = results["tooth_level"][name]
        assert counts["all"] == counts["dental-radiography"]
        # Every tooth is flagged: nothing is missed, and each tooth with a known label is a hit or a false alarm.
        assert counts["all"]["fn"] == 0 and counts["all"]["tp"] + counts["all"]["fp"] > 0
