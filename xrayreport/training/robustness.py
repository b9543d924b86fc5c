"""Is a tooth classifier's output stable when the same teeth come from another machine?

Panoramic units differ in their tone curve, edge enhancement, noise, resolution and export compression. Each
:data:`MACHINE_VARIATIONS` entry imitates one of them on a tooth's pixels; :func:`stability` classifies every
tooth as it is and as varied and reports, per variation and class, the share of teeth whose reported finding
flips and the change in findings per 100 teeth. A model that adds caries when a unit sharpens more is
measuring the unit, not the tooth. :func:`stability_failures` is the gate a recipe must pass: no class's
findings per 100 teeth may change by more than half under any variation. Training may imitate the same units
(:func:`vary_like_another_machine`); the variations marked "held out" it never shows, so the gate also asks
whether the robustness carries beyond what was trained. The same teeth are also cut otherwise (:data:`CUTS`):
without their neighbours, as a crop folder's crops are, a model should still say the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from ..detection.tooth_findings import ToothFindingsClassifier
from .plausibility import REPORTED_AS, per_scan, reported_per_tooth
from .tooth_crops import Box, ToothCrop
from .tooth_evaluation import classify_crops

Pixels = NDArray[np.uint8]


def _tone_curve(pixels: Pixels, strength: float) -> Pixels:
    """An S-shaped tone curve (another unit's look-up table): ``strength`` > 0 adds contrast in the mid-tones."""
    x = np.linspace(0.0, 1.0, 256)
    curve = 1.0 / (1.0 + np.exp(-strength * (x - 0.5)))
    curve = (curve - curve[0]) / (curve[-1] - curve[0])
    return np.asarray(np.rint(curve * 255.0), dtype=np.uint8)[pixels]


def _gamma(pixels: Pixels, gamma: float) -> Pixels:
    table = np.rint(255.0 * (np.arange(256) / 255.0) ** gamma)
    return np.asarray(table, dtype=np.uint8)[pixels]


def _sharpen(pixels: Pixels, amount: float, sigma: float = 2.0) -> Pixels:
    """Unsharp masking, the edge enhancement many units apply before export (``sigma`` in crop pixels)."""
    blurred = cv2.GaussianBlur(pixels, (0, 0), sigma)
    return np.asarray(cv2.addWeighted(pixels, 1.0 + amount, blurred, -amount, 0), dtype=np.uint8)


def _local_contrast(pixels: Pixels, clip_limit: float) -> Pixels:
    """Contrast-limited adaptive histogram equalisation (CLAHE), as imaging software offers for panoramics."""
    clahe = cv2.createCLAHE(clipLimit=clip_limit, tileGridSize=(4, 4))
    return np.asarray(clahe.apply(pixels), dtype=np.uint8)


def _noise(pixels: Pixels, sigma: float) -> Pixels:
    rng = np.random.default_rng(pixels.size)  # seeded by the crop, so runs repeat
    noisy = pixels.astype(np.float32) + rng.normal(0.0, sigma, pixels.shape).astype(np.float32)
    return np.asarray(np.clip(np.rint(noisy), 0, 255), dtype=np.uint8)


def _resolution(pixels: Pixels, factor: float) -> Pixels:
    height, width = pixels.shape
    small = cv2.resize(
        pixels, (max(1, round(width * factor)), max(1, round(height * factor))), interpolation=cv2.INTER_AREA
    )
    return np.asarray(cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR), dtype=np.uint8)


def _jpeg(pixels: Pixels, quality: int) -> Pixels:
    ok, encoded = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok, "OpenCV failed to encode a JPEG"
    return np.asarray(cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE), dtype=np.uint8)


MACHINE_VARIATIONS: dict[str, Callable[[Pixels], Pixels]] = {
    "tone curve (more contrast)": lambda p: _tone_curve(p, 8.0),
    "gamma 0.7 (brighter)": lambda p: _gamma(p, 0.7),
    "gamma 1.4 (darker)": lambda p: _gamma(p, 1.4),
    "edge enhancement": lambda p: _sharpen(p, 1.0),
    "noise (sigma 6 grey levels)": lambda p: _noise(p, 6.0),
    "half resolution": lambda p: _resolution(p, 0.5),
    "JPEG quality 40": lambda p: _jpeg(p, 40),
    # Never shown in training (vary_like_another_machine): a model that passes the entries above only because it
    # was trained on them would fail these.
    "fine edge enhancement (held out)": lambda p: _sharpen(p, 1.0, sigma=1.0),
    "local contrast, CLAHE (held out)": lambda p: _local_contrast(p, 2.0),
}


def vary_like_another_machine(pixels: Pixels, rng: np.random.Generator) -> Pixels:
    """Training augmentation: one of the machine differences the stability check measures, at a random strength
    (tone curve, edge enhancement or JPEG compression; gamma, noise and lost resolution are already part of
    :func:`~xrayreport.training.tooth_classifier.augment_crop`)."""
    kind = int(rng.integers(3))
    if kind == 0:
        return _tone_curve(pixels, float(rng.uniform(3.0, 10.0)))
    if kind == 1:
        return _sharpen(pixels, float(rng.uniform(0.3, 1.5)))
    return _jpeg(pixels, int(rng.integers(30, 91)))


# Cuts of the same tooth: (grow_x, grow_y), the fraction of the tooth box added on each side (negative: taken in).
# The product cuts the box grown by its margin, neighbours included; DENTEX's crops, where most caries labels
# come from, are cut tight to the tooth. A model whose caries calls rise when the neighbours leave the cut has
# learnt the crop folder's framing, not the tooth.
CUTS: dict[str, tuple[float, float]] = {
    "cut: box + 25 %": (0.25, 0.25),
    "cut: the box alone, no neighbours (as DENTEX crops)": (0.0, 0.0),
    "cut: the box with its sides taken in by 10 %": (-0.1, 0.0),
}


def recut(box: Box, margin: float, grow_x: float, grow_y: float) -> Box:
    """The box whose product cut (grown by ``margin`` on each side) is ``box`` grown by ``grow_x`` / ``grow_y``
    (fractions of its width / height on each side; negative takes it in), about the same centre."""
    x1, y1, x2, y2 = box
    centre_x, centre_y = (x1 + x2) / 2, (y1 + y2) / 2
    half_w = (x2 - x1) * (1 + 2 * grow_x) / (1 + 2 * margin) / 2
    half_h = (y2 - y1) * (1 + 2 * grow_y) / (1 + 2 * margin) / 2
    return (centre_x - half_w, centre_y - half_h, centre_x + half_w, centre_y + half_h)


def stability(classifier: ToothFindingsClassifier, crops: list[ToothCrop]) -> dict[str, dict[str, Any]]:
    """Per variation and class: teeth, share of teeth whose reported finding flips, and reported findings per
    100 teeth as they are and as varied (see the module docstring). Where crops are the teeth of whole scans,
    also findings per scan per source as they are and as varied (``mean_per_scan``, ``mean_per_scan_varied``):
    what a clinic whose unit processes scans like that would be told. The :data:`MACHINE_VARIATIONS` come first,
    then the :data:`CUTS` of the same teeth."""
    config = classifier.config
    base = reported_per_tooth(classify_crops(classifier, crops, progress=False), config.classes, config.threshold)
    base_per_scan = _mean_per_scan(base, crops)

    def compared(varied_crops: list[ToothCrop]) -> dict[str, Any]:
        varied = reported_per_tooth(
            classify_crops(classifier, varied_crops, progress=False), config.classes, config.threshold
        )
        per_class = {}
        for cls in REPORTED_AS:
            before = np.array([cls in r for r in base])
            after = np.array([cls in r for r in varied])
            if not before.any() and not after.any():
                continue
            per_class[cls] = {
                "flipped": round(float((before != after).mean()), 4),
                "per_100_teeth": round(100 * float(before.mean()), 2),
                "per_100_teeth_varied": round(100 * float(after.mean()), 2),
            }
        entry: dict[str, Any] = {"teeth": len(crops), "classes": per_class}
        if base_per_scan:
            entry.update(mean_per_scan=base_per_scan, mean_per_scan_varied=_mean_per_scan(varied, crops))
        return entry

    results = {
        name: compared([replace(c, pixels=vary(c.pixels)) for c in crops]) for name, vary in MACHINE_VARIATIONS.items()
    }
    margin = config.preprocessing.margin
    for name, (grow_x, grow_y) in CUTS.items():
        results[name] = compared([replace(c, box=recut(c.box, margin, grow_x, grow_y)) for c in crops])
    return results


def _mean_per_scan(reported: list[frozenset[str]], crops: list[ToothCrop]) -> dict[str, dict[str, float]]:
    """source -> class -> findings per scan, over the crops that are teeth of whole scans."""
    return {source: figures["mean_per_scan"] for source, figures in per_scan(reported, crops).items()}


# Changes are measured against at least this many findings per 100 teeth: a class reported on 1 tooth in 300
# may double by chance on a few hundred teeth.
GATE_FLOOR_PER_100_TEETH = 2.0


def stability_failures(results: dict[str, dict[str, Any]], max_change: float = 0.5) -> list[str]:
    """The gate on :func:`stability`'s results: one line per (variation, class) whose findings per 100 teeth change
    by more than ``max_change`` (a fraction) of the unvaried figure, floored at :data:`GATE_FLOOR_PER_100_TEETH`.
    Empty when the model passes."""
    failures = []
    for variation, entry in results.items():
        for cls, figures in entry["classes"].items():
            before, after = figures["per_100_teeth"], figures["per_100_teeth_varied"]
            if abs(after - before) > max_change * max(before, GATE_FLOOR_PER_100_TEETH):
                failures.append(f"{variation}: {cls} {before:g} -> {after:g} per 100 teeth")
    return failures
