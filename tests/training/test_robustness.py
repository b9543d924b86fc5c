"""Machine variations keep a tooth's size and type, and a model that ignores pixels never flips."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from xrayreport.detection.tooth_findings import ToothFindingsClassifier
from xrayreport.training.robustness import (
    CUTS,
    MACHINE_VARIATIONS,
    _gamma,
    _tone_curve,
    recut,
    stability,
    stability_failures,
)
from xrayreport.training.tooth_crops import ToothCrop


def test_each_variation_keeps_shape_and_type_and_changes_the_pixels() -> None:
    pixels = np.tile(np.arange(0, 256, 2, dtype=np.uint8), (64, 1))  # a grey ramp, 64 x 128
    pixels[20:40, 50:70] = 255
    for name, vary in MACHINE_VARIATIONS.items():
        out = vary(pixels)
        assert out.shape == pixels.shape and out.dtype == np.uint8, name
        assert not np.array_equal(out, pixels), name


def test_tone_curves_by_hand() -> None:
    ramp = np.array([[0, 64, 128, 255]], np.uint8)
    # Gamma keeps black and white; 0.5 lifts 64 to 255 * sqrt(64 / 255) = 127.7.
    assert _gamma(ramp, 0.5).tolist() == [[0, 128, 181, 255]]
    curve = _tone_curve(ramp, 8.0)[0]
    assert curve[0] == 0 and curve[-1] == 255 and curve[1] < 64  # darker below the middle: more contrast


def test_stability_of_a_model_counts_flips(tiny_tooth_classifier: Path) -> None:
    classifier = ToothFindingsClassifier(tiny_tooth_classifier)
    rng = np.random.default_rng(0)
    crops = [ToothCrop(rng.integers(0, 255, (120, 60), dtype=np.uint8), (10, 10, 50, 110), {}, "s") for _ in range(6)]
    results = stability(classifier, crops)
    assert list(results) == [*MACHINE_VARIATIONS, *CUTS]
    for entry in results.values():
        assert entry["teeth"] == 6
        for figures in entry["classes"].values():
            assert 0.0 <= figures["flipped"] <= 1.0
        assert "mean_per_scan" not in entry  # cut from no whole scan

    # The same teeth as two scans of three, every finding reported on every tooth: three of each per scan.
    classifier.config = replace(classifier.config, score_thresholds=dict.fromkeys(classifier.config.classes, 0.0))
    scans = [replace(c, scan=f"scan-{i // 3}") for i, c in enumerate(crops)]
    for entry in stability(classifier, scans).values():
        # What a tooth is reported as follows the product (deep caries instead of caries, and so on): some class
        # is on every tooth, and each class's count per scan is its count per tooth times three.
        assert 3.0 in entry["mean_per_scan"]["s"].values() and 3.0 in entry["mean_per_scan_varied"]["s"].values()
        for cls, figures in entry["classes"].items():
            assert entry["mean_per_scan"]["s"][cls] == 3 * figures["per_100_teeth"] / 100
            assert entry["mean_per_scan_varied"]["s"][cls] == 3 * figures["per_100_teeth_varied"] / 100


def test_a_recut_box_makes_the_product_cut_the_region_asked_for() -> None:
    # A 40 x 100 tooth at (10, 10); the product grows a box by 10 % on each side.
    box = (10.0, 10.0, 50.0, 110.0)

    def grown(b: tuple[float, float, float, float]) -> tuple[float, ...]:
        w, h = b[2] - b[0], b[3] - b[1]
        return (b[0] - 0.1 * w, b[1] - 0.1 * h, b[2] + 0.1 * w, b[3] + 0.1 * h)

    assert recut(box, 0.1, 0.1, 0.1) == pytest.approx(box)
    # The tooth alone: a 40 / 1.2 wide box about the same centre, which the product grows back to 10..50.
    assert grown(recut(box, 0.1, 0.0, 0.0)) == pytest.approx(box)
    # Sides taken in by 10 % (4 pixels each), height as the box: columns 14..46.
    assert grown(recut(box, 0.1, -0.1, 0.0)) == pytest.approx((14.0, 10.0, 46.0, 110.0))


def test_training_can_show_teeth_as_another_machine_would() -> None:
    from xrayreport.detection.tooth_findings import CropPreprocessing
    from xrayreport.training.robustness import vary_like_another_machine
    from xrayreport.training.tooth_classifier import augment_crop

    pixels = np.tile(np.arange(0, 240, 2, dtype=np.uint8), (200, 1))
    crop = ToothCrop(pixels, (20.0, 20.0, 100.0, 180.0), {}, "s")
    prep = CropPreprocessing(64, 128)
    plain = augment_crop(crop, prep, np.random.default_rng(3))
    assert np.array_equal(plain, augment_crop(crop, prep, np.random.default_rng(3), machine_variation=0.0))
    assert not np.array_equal(plain, augment_crop(crop, prep, np.random.default_rng(3), machine_variation=1.0))
    kinds = {vary_like_another_machine(pixels, np.random.default_rng(seed)).tobytes() for seed in range(12)}
    assert len(kinds) >= 3  # tone curve, edge enhancement and JPEG at random strengths


def test_the_stability_gate_by_hand() -> None:
    def entry(before: float, after: float) -> dict[str, object]:
        return {"flipped": 0.1, "per_100_teeth": before, "per_100_teeth_varied": after}

    results = {
        # v1's caries under edge enhancement (docs/model-v2.md 4b): more than tripled, fails.
        "edge enhancement": {"teeth": 689, "classes": {"caries": entry(12.6, 41.2), "restoration": entry(7.3, 6.8)}},
        # Half is allowed: 8.0 -> 12.0 passes, 8.0 -> 12.1 does not; rare classes count from 2 per 100 teeth.
        "gamma 0.7 (brighter)": {
            "teeth": 689,
            "classes": {"restoration": entry(8.0, 12.0), "implant": entry(0.5, 1.5)},
        },
        "tone curve (more contrast)": {"teeth": 689, "classes": {"restoration": entry(8.0, 12.1)}},
        "JPEG quality 40": {"teeth": 689, "classes": {"implant": entry(0.5, 1.6)}},
    }
    assert stability_failures(results) == [
        "edge enhancement: caries 12.6 -> 41.2 per 100 teeth",
        "tone curve (more contrast): restoration 8 -> 12.1 per 100 teeth",
        "JPEG quality 40: implant 0.5 -> 1.6 per 100 teeth",
    ]
    assert stability_failures({"edge enhancement": results["gamma 0.7 (brighter)"]}) == []
