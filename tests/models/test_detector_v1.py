"""The shipped model, models/detector-v1.onnx, on held-out (test split) scans read in place."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from xrayreport.detection.detector import MODELS_DIR, Detector
from xrayreport.findings import validate_findings_dict
from xrayreport.ingestion import load_scan
from xrayreport.training.evaluate import DISABLED

REPO = Path(__file__).resolve().parents[2]
MODEL = MODELS_DIR / "detector-v1.onnx"


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector(MODEL)


@pytest.fixture(scope="module")
def test_scans(datasets_dir: Path) -> list[Path]:
    # Test images 2-4 of the fixed split show near-complete dentitions (the first is an edentulous upper jaw).
    names = json.loads((REPO / "datasets" / "splits" / "tufts.json").read_text())["test"][1:4]
    return [datasets_dir / "tufts" / "images" / name for name in names]


def test_the_shipped_model_carries_its_card_metrics_and_thresholds_chosen_on_val() -> None:
    config = json.loads(MODEL.with_suffix(".json").read_text())
    assert config["name"] == "detector-v1" and config["version"] == "1.2.0"
    assert config["preprocessing"]["input_width"] == 640
    assert (MODELS_DIR / "detector-v1.md").exists()
    val = json.loads((MODELS_DIR / "detector-v1-eval" / "metrics-val.json").read_text())
    # Chosen on val, except the restoration head, switched off since the second stage reports restorations.
    assert {**val["thresholds"], "restoration": DISABLED} == config["score_thresholds"]
    assert (MODELS_DIR / config["second_stage"]).exists()
    assert MODEL.stat().st_size < 20_000_000


def test_held_out_panoramics_get_a_full_numbered_dentition(detector: Detector, test_scans: list[Path]) -> None:
    for scan in test_scans:
        findings = detector.analyze(load_scan(scan))
        validate_findings_dict(findings.to_dict())
        numbers = [t.fdi for t in findings.teeth]
        assert len(numbers) >= 20 and len(set(numbers)) == len(numbers)
        assert findings.quality is not None and findings.quality.verdict == "ok"
        # The patient's right (quadrants 1 and 4) is on the image's left.
        right = np.median([t.box[0] for t in findings.teeth if t.box and t.fdi[0] in "14"])
        left = np.median([t.box[0] for t in findings.teeth if t.box and t.fdi[0] in "23"])
        assert right < left


def test_an_upside_down_panoramic_is_flagged(detector: Detector, test_scans: list[Path], tmp_path: Path) -> None:
    import cv2

    flagged = 0
    for scan in test_scans:
        flipped = tmp_path / f"{scan.stem}-flipped.png"
        cv2.imwrite(str(flipped), cv2.imread(str(scan), cv2.IMREAD_GRAYSCALE)[::-1])
        quality = detector.analyze(load_scan(flipped)).quality
        assert quality is not None
        flagged += any(w.code == "upside_down" for w in quality.warnings)
    assert flagged == len(test_scans)
