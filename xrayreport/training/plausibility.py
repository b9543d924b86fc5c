"""What a tooth classifier reports per scan and per kind of tooth, where a source has no tooth labels for it.

A test split of the sources a model trained on cannot show that it over-calls on a new clinic; counts can.
Untreated carious teeth per adult are roughly 0-4 (epidemiology), so a model that reports 13 per scan on a
source without caries labels is over-calling. Image-level labels (UFBA-425's categories) give scans known to
hold no restoration or no implant, where every such finding is false, and scans known to hold one, where at
least one finding should appear. A crop folder's own labels (DENTEX's second clinic: ``Intact``,
``RootCanal``) give the share of such teeth flagged.

Findings are counted as the product reports them (:func:`reported_types`: an implant is only an implant, a
root-filled tooth is reported as ``root_canal`` rather than ``restoration``...).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..detection.tooth_findings import reported_types
from .tooth_crops import ToothCrop

# A class as the product reports it: which reported finding types count as that class.
REPORTED_AS: dict[str, tuple[str, ...]] = {
    "caries": ("caries", "deep_caries"),
    "deep_caries": ("deep_caries",),
    "periapical_lesion": ("periapical_lesion",),
    "restoration": ("restoration", "root_canal"),
    "root_canal": ("root_canal",),
    "implant": ("implant",),
}


def reported_per_tooth(
    probabilities: NDArray[np.float64], classes: tuple[str, ...], threshold: Callable[[str], float]
) -> list[frozenset[str]]:
    """Per tooth (a row of ``probabilities``), the set of classes (:data:`REPORTED_AS` keys) it is reported with."""
    out = []
    for row in probabilities:
        types = set(reported_types(dict(zip(classes, (float(p) for p in row), strict=True)), threshold))
        out.append(frozenset(name for name, counted in REPORTED_AS.items() if types & set(counted)))
    return out


def reported_metrics(reported: list[frozenset[str]], crops: list[ToothCrop]) -> dict[str, dict[str, Any]]:
    """Per class and source (and "all"): precision, recall, F1 of what the product reports, on known teeth."""
    results: dict[str, dict[str, Any]] = {}
    for name in REPORTED_AS:
        per_source: dict[str, Any] = {}
        for source in ["all", *sorted({c.source for c in crops})]:
            tp = fp = fn = 0
            for crop, classes in zip(crops, reported, strict=True):
                if (source != "all" and crop.source != source) or name not in crop.labels:
                    continue
                said, truth = name in classes, crop.labels[name] == 1
                tp, fp, fn = tp + (said and truth), fp + (said and not truth), fn + (truth and not said)
            if tp + fp + fn == 0 and not any(name in c.labels for c in crops if source in ("all", c.source)):
                continue
            precision, recall = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
            f1 = 2 * precision * recall / max(precision + recall, 1e-9)
            per_source[source] = {
                "tp": tp,
                "fp": fp,
                "fn": fn,
                "precision": round(precision, 4),
                "recall": round(recall, 4),
                "f1": round(f1, 4),
            }
        if per_source:
            results[name] = per_source
    return results


def per_scan(reported: list[frozenset[str]], crops: list[ToothCrop]) -> dict[str, dict[str, Any]]:
    """:func:`scan_plausibility` of the teeth of whole scans (crops with a ``scan`` and no folder label): a class
    counts as ruled out on a scan whose every tooth is labelled without it."""
    by_scan: dict[tuple[str, str], list[int]] = defaultdict(list)
    for index, crop in enumerate(crops):
        if crop.scan and not crop.tag:
            by_scan[(crop.source, crop.scan)].append(index)
    reports = [
        ScanReport(
            source=source,
            teeth=len(members),
            counts={name: sum(name in reported[i] for i in members) for name in REPORTED_AS},
            absent=frozenset(n for n in REPORTED_AS if all(crops[i].labels.get(n) == 0 for i in members)),
            present=crops[members[0]].scan_present,
        )
        for (source, _), members in by_scan.items()
    ]
    return scan_plausibility(reports)


def per_tag(reported: list[frozenset[str]], crops: list[ToothCrop]) -> dict[str, dict[str, Any]]:
    """Per crop folder label (``source/label``): crops, and the share reported with each class."""
    groups: dict[str, list[int]] = defaultdict(list)
    for index, crop in enumerate(crops):
        if crop.tag:
            groups[f"{crop.source}/{crop.tag}"].append(index)
    return {
        tag: {
            "crops": len(members),
            "share_reported": {
                name: round(float(np.mean([name in reported[i] for i in members])), 4) for name in REPORTED_AS
            },
        }
        for tag, members in sorted(groups.items())
    }


@dataclass(frozen=True)
class ScanReport:
    """What the whole pipeline reported on one scan, beside what its labels say about the scan as a whole."""

    source: str
    teeth: int  # teeth found (or labelled) on the scan
    counts: dict[str, int]  # class (REPORTED_AS keys) -> findings reported
    absent: frozenset[str]  # classes the scan's labels rule out
    present: frozenset[str]  # classes the scan's image-level label says it holds
    primary_numbers: int = 0  # teeth given a primary (51-85) number
    full_permanent: bool = False  # labels: 28 or more permanent teeth and no primary tooth


def scan_report(
    source: str, types: list[str], numbers: list[str], absent: frozenset[str], present: frozenset[str], truth: list[str]
) -> ScanReport:
    """One scan's :class:`ScanReport` from the reported finding ``types``, the tooth ``numbers`` given, and the
    labelled tooth numbers ``truth`` (empty where the source labels no teeth)."""
    counts = {name: sum(t in counted for t in types) for name, counted in REPORTED_AS.items()}
    permanent = [fdi for fdi in truth if fdi[0] in "1234"]
    full = len(permanent) >= 28 and len(permanent) == len(truth) and "primary_tooth" not in present
    # UFBA-425 labels no primary tooth at all, even in mixed dentitions: there, its image categories decide.
    if "primary_tooth" in absent:
        full = True
    return ScanReport(
        source=source,
        teeth=len(numbers),
        counts=counts,
        primary_numbers=sum(fdi[0] in "5678" for fdi in numbers),
        absent=absent,
        present=present,
        full_permanent=full,
    )


def scan_plausibility(reports: list[ScanReport]) -> dict[str, dict[str, Any]]:
    """Per source: teeth and findings per scan, the share of scans with more than 4 carious teeth, false findings
    per scan where labels rule a class out, the share of scans with a finding where an image-level label says one
    is present, and primary numbers given in full permanent dentitions."""
    results: dict[str, dict[str, Any]] = {}
    for source in sorted({r.source for r in reports}):
        mine = [r for r in reports if r.source == source]
        entry: dict[str, Any] = {
            "scans": len(mine),
            "teeth_per_scan": round(float(np.mean([r.teeth for r in mine])), 2),
            "mean_per_scan": {n: round(float(np.mean([r.counts[n] for r in mine])), 3) for n in REPORTED_AS},
            "scans_with_more_than_4_caries": round(float(np.mean([r.counts["caries"] > 4 for r in mine])), 4),
        }
        without = {}
        found = {}
        for name in REPORTED_AS:
            free = [r.counts[name] for r in mine if name in r.absent]
            if free:
                without[name] = {
                    "scans": len(free),
                    "false_per_scan": round(float(np.mean(free)), 4),
                    "scans_with_any": int(sum(c > 0 for c in free)),
                }
            holding = [r.counts[name] > 0 for r in mine if name in r.present]
            if holding:
                found[name] = {"scans": len(holding), "share_found": round(float(np.mean(holding)), 4)}
        if without:
            entry["on_scans_without"] = without
        if found:
            entry["image_level_recall"] = found
        adults = [r for r in mine if r.full_permanent]
        if adults:
            entry["full_permanent_dentitions"] = {
                "scans": len(adults),
                "scans_with_a_primary_number": int(sum(r.primary_numbers > 0 for r in adults)),
            }
        results[source] = entry
    return results
