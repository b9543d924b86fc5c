"""The shipped second stage, models/tooth-findings-v1.onnx: its card, its thresholds, and what it says on test teeth."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from xrayreport.detection.detector import MODELS_DIR
from xrayreport.detection.tooth_findings import ToothFindingsClassifier
from xrayreport.training.evaluate import DISABLED
from xrayreport.training.tooth_crops import (
    detector_teeth_finder,
    load_crops,
    load_tooth_train_config,
    validate_source,
)

REPO = Path(__file__).resolve().parents[2]
MODEL = MODELS_DIR / "tooth-findings-v1.onnx"


def test_the_shipped_classifier_carries_its_card_and_thresholds_chosen_on_val() -> None:
    config = json.loads(MODEL.with_suffix(".json").read_text())
    assert (config["name"], config["task"], config["version"]) == ("tooth-findings-v1", "tooth-findings", "1.2.0")
    card = (MODELS_DIR / "tooth-findings-v1.md").read_text()
    val = json.loads((MODELS_DIR / "tooth-findings-v1-eval" / "metrics-val.json").read_text())
    assert val["thresholds"] == config["score_thresholds"]
    thresholds = dict(config["score_thresholds"])
    # Periapical lesions reached no threshold with precision >= 0.5 on validation: off, and the card says so.
    assert thresholds.pop("periapical_lesion") == DISABLED and "periapical lesions are not assessed" in card
    assert all(0 < t < DISABLED for t in thresholds.values())
    assert MODEL.stat().st_size < 20_000_000


@pytest.mark.slow
def test_restorations_on_held_out_dental_radiography_teeth(datasets_dir: Path) -> None:
    config, base = load_tooth_train_config(REPO / "configs" / "tooth-findings-v1.yaml")
    # Whole-scan teeth of the first test scans; the detector finds them, as in the product.
    source = validate_source({**vars(next(s for s in config.sources if s.name == "dental-radiography")), "limit": 6})
    crops = load_crops(source, "test", base, datasets_dir, detector_teeth_finder(MODELS_DIR / "detector-v1.onnx"))
    classifier = ToothFindingsClassifier(MODEL)
    threshold = classifier.config.threshold("restoration")
    said = [classifier.probabilities(c.pixels, [c.box])[0, 3] >= threshold for c in crops]
    truth = [c.labels.get("restoration") for c in crops]
    hits = sum(1 for s, t in zip(said, truth, strict=True) if s and t == 1)
    positives = sum(1 for t in truth if t == 1)
    false_alarms = sum(1 for s, t in zip(said, truth, strict=True) if s and t == 0)
    # On the card: precision 0.82, recall 0.91 over the whole test split; a handful of scans is noisier.
    assert positives >= 5 and hits >= 0.6 * positives and false_alarms <= hits
