"""Measure a tooth classifier per tooth: AP, and precision/recall/F1 at the shipped thresholds, per source.

Every figure counts only teeth whose label the source knows (see :mod:`.tooth_crops`); ``deep_caries`` is
scored as the product reports it, P(caries) * P(deep | caries), on teeth known to be carious (deep or
not). Calibration and thresholds are chosen on the validation split by :func:`tune`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..detection.tooth_findings import (
    TOOTH_FINDING_CLASSES,
    ToothFindingsClassifier,
    ToothFindingsConfig,
    reported_scores,
    tooth_input,
)
from ..errors import UnknownNameError, XrayReportError
from .calibration import fit_platt
from .evaluate import DISABLED, MIN_PRECISION
from .progress import log_progress
from .tooth_crops import ToothCrop, label_vector

BATCH = 64  # teeth per onnxruntime call
# Score thresholds tried when one is chosen on validation teeth.
THRESHOLD_CANDIDATES = tuple(float(t) for t in np.arange(0.05, 0.96, 0.025))
# class -> the sources whose teeth alone tune it (calibration and threshold), overriding :func:`_tuning_rows`.
TuneOn = Mapping[str, frozenset[str]]


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
    probabilities: NDArray[np.float64],
    crops: list[ToothCrop],
    thresholds: dict[str, float] | None,
    classes: tuple[str, ...] = TOOTH_FINDING_CLASSES,
) -> dict[str, dict[str, dict[str, Any]]]:
    """class -> source (and "all") -> positives, negatives, AP and, with ``thresholds``, counts at the threshold.

    ``probabilities``: (N, len(classes)) as the product reports them, one row per crop.
    """
    targets = np.stack([label_vector(c.labels, classes) for c in crops]) if crops else np.zeros((0, len(classes)))
    sources = np.array([c.source for c in crops])
    results: dict[str, dict[str, dict[str, Any]]] = {}
    for index, name in enumerate(classes):
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


def compare_ap(
    old: NDArray[np.float64],
    new: NDArray[np.float64],
    crops: list[ToothCrop],
    classes: tuple[str, ...],
    rounds: int = 2000,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Two models on the same teeth: per class and per source (and "all") that has positives and negatives, each
    model's AP and the 95 % interval of NEW - OLD over ``rounds`` resamples of scans with replacement (a scan's
    teeth stay together, as do both models': the resamples are paired; a crop without a scan is its own).

    ``old``, ``new``: (N, len(classes)) probabilities as the product reports them, one row per crop.
    """
    targets = np.stack([label_vector(c.labels, classes) for c in crops])
    sources = np.array([c.source for c in crops])
    scans = np.array([c.scan or f"crop {i}" for i, c in enumerate(crops)])
    rows = []
    for index, name in enumerate(classes):
        for source in ["all", *sorted(set(sources.tolist()))]:
            known = np.flatnonzero((targets[:, index] >= 0) & ((sources == source) if source != "all" else True))
            labels = targets[known, index].astype(np.float64)
            if not (labels == 1).any() or not (labels == 0).any():
                continue
            keys, group = np.unique(scans[known], return_inverse=True)
            differences = []
            rng = np.random.default_rng(seed)  # the same draws for the same scans, whichever class or source
            for drawn in rng.multinomial(len(keys), np.full(len(keys), 1 / len(keys)), size=rounds):
                teeth = np.repeat(np.arange(len(known)), drawn[group])
                if (labels[teeth] == 1).any():
                    picked = known[teeth]
                    differences.append(
                        average_precision(new[picked, index], labels[teeth])
                        - average_precision(old[picked, index], labels[teeth])
                    )
            low, high = np.percentile(differences, [2.5, 97.5])
            rows.append(
                {
                    "class": name,
                    "source": source,
                    "positives": int(labels.sum()),
                    "scans": len(keys),
                    "old_ap": round(average_precision(old[known, index], labels), 4),
                    "new_ap": round(average_precision(new[known, index], labels), 4),
                    "difference_95": [round(float(low), 4), round(float(high), 4)],
                }
            )
    return rows


def ap_comparison_table(rows: list[dict[str, Any]], old_name: str, new_name: str) -> str:
    """:func:`compare_ap`'s rows as a Markdown table under a line naming OLD and NEW."""
    lines = [
        f"OLD: {old_name}; NEW: {new_name}",
        "",
        "| class | source | positives | scans | AP OLD | AP NEW | NEW - OLD, 95 % interval |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        low, high = row["difference_95"]
        lines.append(
            f"| {row['class']} | {row['source']} | {row['positives']} | {row['scans']} | {row['old_ap']:.3f} | "
            f"{row['new_ap']:.3f} | {low:+.3f} to {high:+.3f} |"
        )
    return "\n".join(lines) + "\n"


def _tuning_rows(
    known: NDArray[np.bool_], from_whole_scans: NDArray[np.bool_], labels: NDArray[np.float32]
) -> NDArray[np.bool_]:
    """F1 and calibration depend on how common a finding is. Teeth cut from whole scans have the prevalence a
    dentist meets; a folder of crops chosen for their diagnosis does not (DENTEX holds almost no healthy
    tooth). So a class with positives among whole-scan teeth is tuned on those alone, any other class (root
    canal fillings: only a crop folder shows them) on every tooth that knows it."""
    whole = known & from_whole_scans
    return whole if (labels[whole] == 1).any() else known


def _tuning_teeth(
    values: NDArray[np.float64],
    crops: list[ToothCrop],
    whole_scan_sources: frozenset[str],
    classes: tuple[str, ...],
    tune_on: TuneOn | None = None,
) -> dict[str, tuple[NDArray[np.float64], NDArray[np.float64]]]:
    """class -> (values, labels) of the teeth it is tuned on: those of its ``tune_on`` sources where named,
    else :func:`_tuning_rows`; ``values``: (N, classes)."""
    targets = np.stack([label_vector(c.labels, classes) for c in crops])
    sources = np.array([c.source for c in crops])
    from_whole_scans = np.isin(sources, list(whole_scan_sources))
    teeth = {}
    for index, name in enumerate(classes):
        known = targets[:, index] >= 0
        if tune_on and name in tune_on:
            rows = known & np.isin(sources, list(tune_on[name]))
            if not (targets[rows, index] == 1).any():
                raise XrayReportError(
                    f"{name} cannot be tuned on {', '.join(sorted(tune_on[name]))} alone: no tooth there is "
                    f"labelled with it in this split; name sources that label {name}"
                )
        else:
            rows = _tuning_rows(known, from_whole_scans, targets[:, index])
        teeth[name] = (values[rows, index], targets[rows, index].astype(np.float64))
    return teeth


def parse_tune_on(
    entries: Iterable[str], classes: tuple[str, ...], sources: Iterable[str]
) -> dict[str, frozenset[str]]:
    """``["caries=dc1000", "restoration=a,b"]`` -> {class: sources}, with unknown names reported with the valid
    ones."""
    known_sources = set(sources)
    tune_on = {}
    for entry in entries:
        name, equals, named = entry.partition("=")
        if not equals or not named:
            raise XrayReportError(f"--tune-on takes CLASS=SOURCE[,SOURCE...], e.g. caries=dc1000; got {entry!r}")
        if name not in classes:
            raise UnknownNameError("class", name, classes)
        chosen = frozenset(named.split(","))
        unknown = sorted(chosen - known_sources)
        if unknown:
            raise UnknownNameError("source", unknown[0], known_sources)
        tune_on[name] = chosen
    return tune_on


def choose_tooth_thresholds(
    probabilities: NDArray[np.float64],
    crops: list[ToothCrop],
    whole_scan_sources: frozenset[str] = frozenset(),
    candidates: Iterable[float] = THRESHOLD_CANDIDATES,
    min_precision: float = MIN_PRECISION,
    classes: tuple[str, ...] = TOOTH_FINDING_CLASSES,
    tune_on: TuneOn | None = None,
) -> dict[str, float]:
    """Per class, the threshold with the best F1 among those reaching ``min_precision`` (of equals, the lowest);
    :data:`DISABLED` when none does. Run it on the validation split only; see :func:`_tuning_rows`.
    """
    chosen = {}
    candidates = tuple(candidates)
    for name, (scores, labels) in _tuning_teeth(probabilities, crops, whole_scan_sources, classes, tune_on).items():
        usable = []
        for threshold in candidates:
            counts = _at_threshold(scores, labels, float(threshold))
            if counts["tp"] and counts["precision"] >= min_precision:
                usable.append((counts["f1"], -float(threshold)))
        chosen[name] = round(-max(usable)[1], 3) if usable else DISABLED
    return chosen


def recalls_on_tuning_teeth(
    probabilities: NDArray[np.float64],
    crops: list[ToothCrop],
    thresholds: dict[str, float],
    whole_scan_sources: frozenset[str] = frozenset(),
    classes: tuple[str, ...] = TOOTH_FINDING_CLASSES,
    tune_on: TuneOn | None = None,
) -> dict[str, float]:
    """Per class of ``thresholds`` that ``classes`` holds, the recall at its threshold on the teeth
    :func:`choose_tooth_thresholds` tunes it on; a class without positives there is left out."""
    return {
        name: _at_threshold(scores, labels, thresholds[name])["recall"]
        for name, (scores, labels) in _tuning_teeth(probabilities, crops, whole_scan_sources, classes, tune_on).items()
        if name in thresholds and (labels == 1).any()
    }


def choose_thresholds_for_recall(
    probabilities: NDArray[np.float64],
    crops: list[ToothCrop],
    recalls: dict[str, float],
    whole_scan_sources: frozenset[str] = frozenset(),
    candidates: Iterable[float] = THRESHOLD_CANDIDATES,
    min_precision: float = MIN_PRECISION,
    classes: tuple[str, ...] = TOOTH_FINDING_CLASSES,
    tune_on: TuneOn | None = None,
) -> dict[str, float]:
    """Per class of ``recalls``, the highest threshold whose recall on the tuning teeth is at least that recall
    and whose precision reaches ``min_precision``; :data:`DISABLED` when none does. For replacing a shipped model
    without changing how sensitive the product is: ``recalls`` from :func:`recalls_on_tuning_teeth` of the old
    model on the same validation teeth. A class the old model never reported (recall 0) stays unreported."""
    chosen = {}
    candidates = tuple(candidates)
    teeth = _tuning_teeth(probabilities, crops, whole_scan_sources, classes, tune_on)
    for name, recall in recalls.items():
        scores, labels = teeth[name]
        usable = [
            float(t)
            for t in candidates
            if (counts := _at_threshold(scores, labels, float(t)))["recall"] >= recall
            and counts["precision"] >= min_precision
        ]
        chosen[name] = round(max(usable), 3) if usable and recall > 0 else DISABLED
    return chosen


def fit_calibration(
    logits: NDArray[np.float32],
    crops: list[ToothCrop],
    whole_scan_sources: frozenset[str],
    classes: tuple[str, ...],
    tune_on: TuneOn | None = None,
) -> dict[str, tuple[float, float]]:
    """Per class, Platt scaling fitted on validation teeth chosen as for thresholds (:func:`_tuning_rows`).

    ``deep_caries`` is left as the network gives it: it is conditional on caries and its only labels are
    DENTEX's diagnosed crops, whose prevalence is not a clinic's.
    """
    raw = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
    fitted = {}
    for name, (scores, labels) in _tuning_teeth(raw, crops, whole_scan_sources, classes, tune_on).items():
        if name == "deep_caries":
            continue
        pair = fit_platt(scores, labels)
        if pair is not None:
            fitted[name] = pair
    return fitted


def tune(
    config: ToothFindingsConfig,
    logits: NDArray[np.float32],
    crops: list[ToothCrop],
    whole_scan_sources: frozenset[str],
    recalls: dict[str, float] | None = None,
    tune_on: TuneOn | None = None,
) -> ToothFindingsConfig:
    """``config`` with calibration, then thresholds on the calibrated scores, both from validation ``crops``
    (of a class's ``tune_on`` sources alone where named): best F1 per class, or with ``recalls`` (class -> recall
    to keep) :func:`choose_thresholds_for_recall` for those classes."""
    calibration = fit_calibration(logits, crops, whole_scan_sources, config.classes, tune_on)
    calibrated_config = replace(config, calibration=calibration)
    probabilities = reported_scores(logits, calibrated_config)
    thresholds = choose_tooth_thresholds(
        probabilities, crops, whole_scan_sources, classes=config.classes, tune_on=tune_on
    )
    if recalls:
        ours = {name: recall for name, recall in recalls.items() if name in config.classes}
        kept = choose_thresholds_for_recall(
            probabilities, crops, ours, whole_scan_sources, classes=config.classes, tune_on=tune_on
        )
        thresholds = {**thresholds, **kept}
    return replace(calibrated_config, score_thresholds=thresholds)


def crop_logits(
    classifier: ToothFindingsClassifier, crops: list[ToothCrop], progress: bool = True
) -> NDArray[np.float32]:
    """(N, classes) raw logits from the shipped ONNX classifier, cutting each tooth as the product does."""
    prep = classifier.config.preprocessing
    rows = []
    for start in range(0, len(crops), BATCH):
        batch = crops[start : start + BATCH]
        rows.append(classifier.run([tooth_input(c.pixels, c.box, prep) for c in batch]))
        done = start + len(batch)
        if progress and (done % 2048 < BATCH or done == len(crops)):
            log_progress(f"classified {done}/{len(crops)} teeth")
    return np.concatenate(rows) if rows else np.zeros((0, len(classifier.config.classes)), np.float32)


def classify_crops(
    classifier: ToothFindingsClassifier, crops: list[ToothCrop], progress: bool = True
) -> NDArray[np.float64]:
    """(N, classes) probabilities as the product reports them (calibrated, deep caries unconditional)."""
    return reported_scores(crop_logits(classifier, crops, progress), classifier.config)
