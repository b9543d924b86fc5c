"""The second stage as the product runs it: crop geometry, crop normalisation, reporting rules, detector wiring."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from xrayreport.detection.detector import Detector
from xrayreport.detection.interpret import Detection
from xrayreport.detection.tooth_findings import (
    TOOTH_FINDING_CLASSES,
    CropPreprocessing,
    ToothFindingsClassifier,
    ToothFindingsConfig,
    calibrated,
    crop_input,
    crop_region,
    load_tooth_findings_config,
    reported_types,
    smooth_detail,
    unconditional,
)
from xrayreport.errors import UnknownNameError, XrayReportError
from xrayreport.findings import StageInfo, Tooth, validate_findings_dict
from xrayreport.ingestion import load_scan

TEETH = [
    Tooth(fdi="36", box=(100.0, 200.0, 140.0, 300.0), score=0.9),
    Tooth(fdi="37", box=(140.0, 200.0, 180.0, 300.0), score=0.9),
]


def test_crop_region_grows_by_margin_and_clips_to_the_image() -> None:
    # Box 20 wide, 40 high; 10 % margin grows it by 2 and 4 pixels each side.
    assert crop_region((10, 20, 30, 60), 0.1, 100, 100) == (8, 16, 32, 64)
    assert crop_region((10, 20, 30, 60), 0.1, 31, 62) == (8, 16, 31, 62)
    # A degenerate box still gives a one-pixel region, never an empty slice.
    assert crop_region((5, 5, 5, 5), 0.0, 10, 10) == (5, 5, 6, 6)


def test_crop_input_stretches_the_crop_keeps_aspect_and_pads() -> None:
    prep = CropPreprocessing(input_width=8, input_height=16, low_percentile=0, high_percentile=100)
    crop = np.full((8, 8), 100, np.uint8)
    crop[:, 4:] = 150  # two grey levels: after the stretch, black and white
    out = crop_input(crop, prep)
    assert out.shape == (1, 16, 8) and out.dtype == np.float32
    black, white = (0 - prep.mean) / prep.std, (1 - prep.mean) / prep.std
    np.testing.assert_allclose(out[0, :8, :4], black, atol=1e-6)
    np.testing.assert_allclose(out[0, :8, 4:], white, atol=1e-6)
    np.testing.assert_allclose(out[0, 8:], black, atol=1e-6)  # the padding below the square crop


def test_detail_smoothing_takes_back_an_unsharp_mask_and_leaves_flat_areas() -> None:
    # A 40 x 40 crop for a 20 x 20 input: sigma 1 input pixel is 2 crop pixels.
    prep = CropPreprocessing(input_width=20, input_height=20, detail_smoothing=1.0, detail_smoothing_sigma=1.0)
    flat = np.full((40, 40), 90, np.uint8)
    np.testing.assert_array_equal(smooth_detail(flat, prep), flat)
    edge = flat.copy()
    edge[:, 20:] = 150
    blurred = cv2.GaussianBlur(edge, (0, 0), 2.0).astype(np.float64)
    # Half the crop, half its blur: the step keeps its levels far from it and is softened beside it.
    expected = (edge.astype(np.float64) + blurred) / 2
    np.testing.assert_allclose(smooth_detail(edge, prep), expected, atol=1)
    # An edge enhanced as a unit would (amount 1, the same blur) comes back closer to the plain edge.
    sharpened = np.clip(2.0 * edge - blurred, 0, 255)
    restored = smooth_detail(sharpened.astype(np.uint8), prep).astype(np.float64)
    assert np.abs(restored - edge).max() < 0.6 * np.abs(sharpened - edge).max()
    # Off by default (a model's JSON without it, like tooth-findings-v1 1.1.0, sees crops as cut); on, the network
    # input is the smoothed crop's.
    plain = CropPreprocessing(input_width=20, input_height=20, low_percentile=0, high_percentile=100)
    smoothed = replace(plain, detail_smoothing=1.0, detail_smoothing_sigma=1.0)
    crop = sharpened.astype(np.uint8)
    np.testing.assert_array_equal(crop_input(crop, smoothed), crop_input(smooth_detail(crop, smoothed), plain))
    assert not np.array_equal(crop_input(crop, smoothed), crop_input(crop, plain))


def test_deep_caries_is_reported_unconditionally() -> None:
    probabilities = np.array([[0.5, 0.4, 0.1, 0.9]])
    np.testing.assert_allclose(unconditional(probabilities), [[0.5, 0.2, 0.1, 0.9]])


def test_classify_reports_above_threshold_and_deep_caries_instead_of_caries(tiny_tooth_classifier: Path) -> None:
    classifier = ToothFindingsClassifier(tiny_tooth_classifier)
    pixels = np.random.default_rng(0).integers(0, 255, (400, 300), dtype=np.uint8)
    assert classifier.probabilities(pixels, []).shape == (0, len(TOOTH_FINDING_CLASSES))
    assert classifier.probabilities(pixels, [t.box for t in TEETH if t.box]).shape == (2, 6)

    everything_but_subtypes = {**dict.fromkeys(TOOTH_FINDING_CLASSES, 0.0), "implant": 1.1, "root_canal": 1.1}
    classifier.config = replace(classifier.config, score_thresholds=everything_but_subtypes)
    findings = classifier.classify(pixels, TEETH)
    # Everything passes a zero threshold; deep caries replaces caries on each tooth.
    assert [(f.tooth, f.type) for f in findings] == [
        (tooth, kind) for tooth in ("36", "37") for kind in ("deep_caries", "periapical_lesion", "restoration")
    ]
    assert [f.id for f in findings] == [f"t{i}" for i in range(1, 7)]
    assert findings[0].box == TEETH[0].box

    # Deep caries is only said of a tooth already reported carious.
    only_deep = {**dict.fromkeys(TOOTH_FINDING_CLASSES, 1.1), "deep_caries": 0.0}
    classifier.config = replace(classifier.config, score_thresholds=only_deep)
    assert classifier.classify(pixels, TEETH) == []


def _at(thresholds: dict[str, float]) -> Callable[[str], float]:
    return lambda name: thresholds[name]


@pytest.mark.parametrize(
    ("scores", "reported"),
    [
        # A carious, restored tooth: one decay finding and one restoration finding.
        ({"caries": 0.8, "deep_caries": 0.1, "restoration": 0.9, "root_canal": 0.2}, ["caries", "restoration"]),
        # Deep caries replaces caries, only on a tooth already carious.
        ({"caries": 0.8, "deep_caries": 0.6}, ["deep_caries"]),
        ({"caries": 0.3, "deep_caries": 0.6}, []),
        # A root canal filling is named instead of the generic restoration, even when "restored" is unsure.
        ({"restoration": 0.9, "root_canal": 0.7}, ["root_canal"]),
        ({"restoration": 0.2, "root_canal": 0.7, "periapical_lesion": 0.9}, ["periapical_lesion", "root_canal"]),
        # An implant is only an implant: its bright crown is neither decayed nor a restored natural tooth.
        ({"implant": 0.9, "caries": 0.9, "restoration": 0.9, "root_canal": 0.9}, ["implant"]),
        # A model without the newer outputs (tooth-findings-v1) reports what it has.
        ({"caries": 0.1, "restoration": 0.9}, ["restoration"]),
    ],
)
def test_reported_types_follow_the_dental_rules(scores: dict[str, float], reported: list[str]) -> None:
    thresholds = {"caries": 0.5, "deep_caries": 0.5, "periapical_lesion": 0.5, "restoration": 0.5}
    assert reported_types(scores, _at({**thresholds, "root_canal": 0.5, "implant": 0.5})) == reported


def test_calibration_maps_logits_through_each_class_pair(tiny_tooth_classifier: Path) -> None:
    config = load_tooth_findings_config(tiny_tooth_classifier.with_suffix(".json"))
    config = replace(config, calibration={"caries": (2.0, -1.0)})
    logits = np.zeros((1, len(config.classes)), np.float32)
    logits[0, 0] = 1.0
    out = calibrated(logits, config)
    # caries: sigmoid(2 * 1 - 1) = sigmoid(1); every other class stays sigmoid(0) = 0.5.
    np.testing.assert_allclose(out[0, 0], 1 / (1 + np.exp(-1.0)))
    np.testing.assert_allclose(out[0, 1:], 0.5)
    # The pairs survive the JSON round trip.
    assert ToothFindingsConfig.from_dict(json.loads(config.to_json())).calibration == {"caries": (2.0, -1.0)}


def test_unknown_class_threshold_lists_the_valid_ones(tiny_tooth_classifier: Path) -> None:
    config = load_tooth_findings_config(tiny_tooth_classifier.with_suffix(".json"))
    assert config.task == "tooth-findings" and config.preprocessing.input_width == 64
    with pytest.raises(
        UnknownNameError, match="caries, deep_caries, implant, periapical_lesion, restoration, root_canal"
    ):
        config.threshold("plaque")


def test_missing_second_stage_says_where_it_was_expected(tiny_model: Path, tmp_path: Path) -> None:
    shutil.copy(tiny_model, tmp_path / "det.onnx")
    config = json.loads(tiny_model.with_suffix(".json").read_text())
    (tmp_path / "det.json").write_text(json.dumps({**config, "second_stage": "teeth.onnx"}))
    with pytest.raises(XrayReportError, match=r"teeth\.onnx"):
        Detector(tmp_path / "det.onnx")


def test_detector_runs_the_second_stage_its_json_names(
    tiny_model: Path, tiny_tooth_classifier: Path, tmp_path: Path, datasets_dir: Path
) -> None:
    shutil.copy(tiny_model, tmp_path / "det.onnx")
    config = json.loads(tiny_model.with_suffix(".json").read_text())
    # Report every tooth of the untrained detector so the second stage has teeth to look at.
    config["score_thresholds"] = {**config["score_thresholds"], "tooth": 0.0}
    (tmp_path / "det.json").write_text(json.dumps({**config, "second_stage": "teeth.onnx"}))
    shutil.copy(tiny_tooth_classifier, tmp_path / "teeth.onnx")
    teeth_config = json.loads(tiny_tooth_classifier.with_suffix(".json").read_text())
    teeth_config["score_thresholds"] = {**dict.fromkeys(TOOTH_FINDING_CLASSES, 0.0), "implant": 1.1, "root_canal": 1.1}
    (tmp_path / "teeth.json").write_text(json.dumps(teeth_config))

    detector = Detector(tmp_path / "det.onnx")
    findings = detector.analyze(load_scan(sorted((datasets_dir / "tufts" / "images").iterdir())[0]))
    validate_findings_dict(findings.to_dict())
    assert findings.model.second_stage == StageInfo("tiny-teeth", "0.0.1")
    per_tooth = [f for f in findings.findings if f.type == "restoration"]
    assert {f.tooth for f in per_tooth} == {t.fdi for t in findings.teeth}
    assert [f.id for f in findings.findings] == [f"f{i}" for i in range(1, len(findings.findings) + 1)]


def test_the_second_stage_confirms_or_drops_the_detectors_implants(
    tiny_model: Path, tiny_tooth_classifier: Path, tmp_path: Path
) -> None:
    shutil.copy(tiny_model, tmp_path / "det.onnx")
    config = json.loads(tiny_model.with_suffix(".json").read_text())
    (tmp_path / "det.json").write_text(json.dumps({**config, "second_stage": "teeth.onnx"}))
    shutil.copy(tiny_tooth_classifier, tmp_path / "teeth.onnx")
    teeth_config = json.loads(tiny_tooth_classifier.with_suffix(".json").read_text())
    pixels = np.random.default_rng(1).integers(0, 255, (300, 600), dtype=np.uint8)
    implant = Detection("implant", (100.0, 100.0, 140.0, 200.0), 0.9)
    impacted = Detection("impacted", (300.0, 100.0, 340.0, 200.0), 0.8)
    # 1.0: nothing the network says reaches it, so the implant goes; 1.1: the output was disabled at validation,
    # so it confirms nothing and the detector's implant stands as the detector scored it.
    for threshold, kept in ((0.0, True), (1.0, False), (1.1, True)):
        (tmp_path / "teeth.json").write_text(
            json.dumps({**teeth_config, "score_thresholds": {**teeth_config["score_thresholds"], "implant": threshold}})
        )
        detector = Detector(tmp_path / "det.onnx")
        _, findings = detector.interpret(pixels, [implant, impacted])
        types = [f.type for f in findings if f.type != "missing"]
        assert types == (["implant", "impacted"] if kept else ["impacted"])  # other objects pass untouched
        if threshold == 0.0:
            expected = float(detector.tooth_findings.implant_scores(pixels, [implant.box])[0])  # type: ignore[union-attr]
            assert findings[0].score == round(expected, 4)  # the second stage's calibrated probability
        elif kept:
            assert findings[0].score == 0.9
