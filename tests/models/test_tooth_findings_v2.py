"""The shipped second stage, models/tooth-findings-v2.onnx: its card, calibration, thresholds, and what it says on
held-out teeth (test splits) where v1 failed: restored teeth, healthy teeth of DENTEX's second clinic."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from xrayreport.detection.detector import MODELS_DIR
from xrayreport.detection.tooth_findings import ToothFindingsClassifier
from xrayreport.training.evaluate import DISABLED
from xrayreport.training.plausibility import reported_per_tooth
from xrayreport.training.tooth_crops import load_crops, load_tooth_train_config, validate_source

REPO = Path(__file__).resolve().parents[2]
MODEL = MODELS_DIR / "tooth-findings-v2.onnx"


@pytest.fixture(scope="module")
def classifier() -> ToothFindingsClassifier:
    return ToothFindingsClassifier(MODEL)


def test_the_shipped_classifier_carries_its_card_calibration_and_thresholds_chosen_on_val() -> None:
    config = json.loads(MODEL.with_suffix(".json").read_text())
    assert (config["name"], config["task"], config["version"]) == ("tooth-findings-v2", "tooth-findings", "1.0.0")
    assert config["classes"] == ["caries", "deep_caries", "periapical_lesion", "restoration", "root_canal", "implant"]
    assert (MODELS_DIR / "tooth-findings-v2.md").exists()
    val = json.loads((MODELS_DIR / "tooth-findings-v2-eval" / "metrics-val.json").read_text())
    assert val["thresholds"] == config["score_thresholds"]
    assert all(0 < t <= DISABLED for t in config["score_thresholds"].values())
    # Every class with enough validation labels has its Platt pair (deep caries stays conditional).
    assert set(config["calibration"]) >= {"caries", "restoration", "implant"}
    assert (MODELS_DIR / "detector-v1.json").read_text().count('"tooth-findings-v2.onnx"') == 1
    assert MODEL.stat().st_size < 20_000_000


def _source(name: str, limit: int) -> tuple[object, Path]:
    config, base = load_tooth_train_config(REPO / "configs" / "tooth-findings-v2.yaml")
    return validate_source({**vars(next(s for s in config.sources if s.name == name)), "limit": limit}), base


@pytest.mark.slow
def test_healthy_and_root_filled_teeth_of_the_second_clinic(
    classifier: ToothFindingsClassifier, datasets_dir: Path
) -> None:
    source, base = _source("dentex-second-clinic", 10_000)
    crops = [c for c in load_crops(source, "test", base, datasets_dir, None) if c.tag in ("Intact", "RootCanal")]  # type: ignore[arg-type]
    config = classifier.config
    reported = reported_per_tooth(
        np.stack([classifier.probabilities(c.pixels, [c.box])[0] for c in crops]), config.classes, config.threshold
    )
    intact = [r for r, c in zip(reported, crops, strict=True) if c.tag == "Intact"]
    root_filled = [r for r, c in zip(reported, crops, strict=True) if c.tag == "RootCanal"]
    assert len(intact) == 31 and len(root_filled) == 59
    # v1 called 28 of these 31 healthy teeth carious and 13 of the 59 root-filled teeth restored.
    assert sum("caries" in r for r in intact) <= 8
    assert sum("restoration" in r for r in root_filled) >= 40
