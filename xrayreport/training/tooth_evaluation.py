"""Measure a tooth classifier per tooth: AP, and precision/recall/F1 at the shipped thresholds, per source.

Every figure counts only teeth whose label the source knows (see :mod:`.tooth_crops`); ``deep_caries`` is
scored as the product reports it, P(caries) * P(deep | caries), on teeth known to be carious (deep or
not). Thresholds are chosen on the validation split by :func:`choose_tooth_thresholds`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..detection.tooth_findings import TOOTH_FINDING_CLASSES, ToothFindingsClassifier
from .evaluate import DISABLED, MIN_PRECISION
from .tooth_crops import ToothCrop, label_vector


def average_precision(scores: NDArray[np.float64], labels: NDArray[np.float64]) -> float:
    """Area under the precision/recall curve: mean precision at each positive (as scikit-learn computes it)."""
    positives = int(labels.sum())
    if positives == 0:
        return float("nan")
    order = np.argsort(-scores, kind="stable")
    hits = labels[order]
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float((precision * hits).sum() / positives)


def _at_threshold(scores: NDArray[np.float64], labels: NDArray[np.float64], threshold: float) -> dict[str, float]:
    predicted = scores >= threshold
    tp = int((predicted & (labels == 1)).sum())
    fp = int((predicted & (labels == 0)).sum())
    fn = int((~predicted & (labels == 1)).sum())
    precision, recall = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
    f1 = 2 * precision * recall / max(precision + recall, 1e-9)
    rounded = {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}
    return {"tp": tp, "fp": fp, "fn": fn, **rounded}


def tooth_metrics(
    probabilities: NDArray[np.float64], crops: list[ToothCrop], thresholds: dict[str, float] | None
) -> dict[str, dict[str, dict[str, Any]]]:
    """class -> source (and "all") -> positives, negatives, AP and, with ``thresholds``, counts at the threshold.

    ``probabilities``: (N, len(TOOTH_FINDING_CLASSES)) as the product reports them, one row per crop.
    """
    targets = np.stack([label_vector(c.labels) for c in crops]) if crops else np.zeros((0, 4))
    sources = np.array([c.source for c in crops])
    results: dict[str, dict[str, dict[str, Any]]] = {}
    for index, name in enumerate(TOOTH_FINDING_CLASSES):
        per_source: dict[str, dict[str, Any]] = {}
        for source in ["all", *sorted(set(sources.tolist()))]:
            known = (targets[:, index] >= 0) & ((sources == source) if source != "all" else True)
            labels, scores = targets[known, index], probabilities[known, index]
            if not known.any():
                continue
            entry: dict[str, Any] = {
                "positives": int(labels.sum()),
                "negatives": int((labels == 0).sum()),
                "ap": round(average_precision(scores, labels), 4),
            }
            if thresholds is not None:
                entry.update(_at_threshold(scores, labels, thresholds[name]))
            per_source[source] = entry
        if per_source:
            results[name] = per_source
    return results


def choose_tooth_thresholds(
    probabilities: NDArray[np.float64],
    crops: list[ToothCrop],
    whole_scan_sources: frozenset[str] = frozenset(),
    candidates: Iterable[float] = tuple(np.arange(0.05, 0.96, 0.025)),
    min_precision: float = MIN_PRECISION,
) -> dict[str, float]:
    """Per class, the threshold with the best F1 among those reaching ``min_precision`` (of equals, the lowest);
    :data:`DISABLED` when none does. Run it on the validation split only.

    F1 depends on how common a finding is. Teeth cut from whole scans (``whole_scan_sources``) have the
    prevalence a dentist meets; a folder of crops chosen for their diagnosis does not (DENTEX holds no healthy
    tooth). So a class known on whole-scan teeth is tuned on those alone, any other class on every tooth.
    """
    targets = np.stack([label_vector(c.labels) for c in crops])
    from_whole_scans = np.array([c.source in whole_scan_sources for c in crops])
    chosen = {}
    for index, name in enumerate(TOOTH_FINDING_CLASSES):
        known = targets[:, index] >= 0
        if (known & from_whole_scans).any():
            known &= from_whole_scans
        scores, labels = probabilities[known, index], targets[known, index]
        usable = []
        for threshold in candidates:
            counts = _at_threshold(scores, labels, float(threshold))
            if counts["tp"] and counts["precision"] >= min_precision:
                usable.append((counts["f1"], -float(threshold)))
        chosen[name] = round(-max(usable)[1], 3) if usable else DISABLED
    return chosen


def classify_crops(
    classifier: ToothFindingsClassifier, crops: list[ToothCrop], progress: bool = True
) -> NDArray[np.float64]:
    """(N, classes) probabilities from the shipped ONNX classifier, cutting each tooth as the product does."""
    rows = []
    for number, crop in enumerate(crops, start=1):
        rows.append(classifier.probabilities(crop.pixels, [crop.box])[0])
        if progress and (number % 1000 == 0 or number == len(crops)):
            print(f"classified {number}/{len(crops)} teeth", file=sys.stderr, flush=True)
    return np.stack(rows) if rows else np.zeros((0, len(TOOTH_FINDING_CLASSES)))
