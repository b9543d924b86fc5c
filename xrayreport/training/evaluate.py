"""``xrayreport evaluate``: measure a shipped (ONNX) detector on a dataset split, as the product runs it.

Reports tooth detection precision/recall at IoU 0.5, FDI numbering accuracy of matched teeth,
missing-tooth precision/recall over the 32 permanent positions, per-class AP50 (pycocotools) and
precision/recall at the shipped threshold for each finding class, and a tooth-number confusion matrix.
Each class is only scored on images whose source labels it. Caries and restorations are also scored
per tooth (``tooth_level``), from the findings document as ``analyze`` builds it, second stage included,
and every scan's findings are counted (``per_scan``, :mod:`.plausibility`): findings per scan, false ones
on scans whose image-level labels rule a class out, primary numbers given in full permanent dentitions.
``choose_thresholds`` picks per-class score thresholds that maximise F1 (run it on the validation split,
never on the test split).
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..dentition import ALL_TEETH, PERMANENT_TEETH
from ..detection.detector import Detector
from ..detection.interpret import missing_teeth
from ..findings import Finding, Tooth
from .datasets import Annotation, Sample, load_dataset_config, load_split, read_sample_image
from .plausibility import ScanReport, scan_plausibility, scan_report
from .tooth_crops import tooth_labels

CANDIDATE_THRESHOLD = 0.05  # keep low-score detections so AP sees the whole precision/recall curve
IOU = 0.5
FINDING_CLASSES = ("caries", "restoration", "impacted", "implant")
MIN_PRECISION = 0.5  # a shipped class must be right at least half the time on the validation split
DISABLED = 1.1  # a score threshold above 1: the class is never reported
# Per tooth, as the product reports them: which finding types count as the dataset's class.
TOOTH_LEVEL_TYPES = {
    "caries": ("caries", "deep_caries"),
    "restoration": ("restoration", "root_canal", "filling", "crown", "bridge"),
}


def iou_matrix(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """IoU of every box in (N, 4) ``a`` with every box in (M, 4) ``b`` -> (N, M)."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return np.asarray(inter / (area_a[:, None] + area_b[None, :] - inter), dtype=np.float64)


def greedy_match(
    predicted: NDArray[np.float64], scores: NDArray[np.float64], truth: NDArray[np.float64]
) -> list[tuple[int, int]]:
    """One-to-one matches (prediction, truth) at IoU >= 0.5, highest score first (as in COCO)."""
    overlaps = iou_matrix(predicted, truth)
    taken: set[int] = set()
    matches = []
    for p in np.argsort(-scores):
        if overlaps.shape[1] == 0:
            break
        candidates = [(overlaps[p, t], t) for t in range(overlaps.shape[1]) if t not in taken and overlaps[p, t] >= IOU]
        if candidates:
            _, t = max(candidates)
            taken.add(t)
            matches.append((int(p), int(t)))
    return matches


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, tp: int, fp: int, fn: int) -> None:
        self.tp, self.fp, self.fn = self.tp + tp, self.fp + fp, self.fn + fn

    def as_tuple(self) -> tuple[int, int, int]:
        return self.tp, self.fp, self.fn

    def summary(self) -> dict[str, float]:
        precision = self.tp / max(self.tp + self.fp, 1)
        recall = self.tp / max(self.tp + self.fn, 1)
        f1 = 2 * precision * recall / max(precision + recall, 1e-9)
        return {
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1, 4),
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
        }


@dataclass(frozen=True)
class ScanTally:
    """One scan's countable outcomes, so any figure can be computed again over a resample of scans
    (:mod:`.compare`)."""

    scan: str  # the image's file name: the same scan under two models
    counts: dict[str, tuple[int, int, int]]  # (tp, fp, fn): "teeth", "missing", each class, "<class>_per_tooth"
    numbering: tuple[int, int]  # (right, matched) tooth numbers
    report: ScanReport


def _boxes(items: Iterable[tuple[float, float, float, float]]) -> NDArray[np.float64]:
    return np.array(list(items), dtype=np.float64).reshape(-1, 4)


def _ap50(records: list[tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]]) -> float:
    """COCO AP at IoU 0.5 (pycocotools) from (predicted boxes, scores, true boxes) per image."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    detections: list[dict[str, Any]] = []
    for image_id, (boxes, scores, truth) in enumerate(records, start=1):
        images.append({"id": image_id, "width": 10_000, "height": 10_000})
        for box in truth:
            x1, y1, x2, y2 = map(float, box)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": 1,
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": (x2 - x1) * (y2 - y1),
                    "iscrowd": 0,
                }
            )
        for box, score in zip(boxes, scores, strict=True):
            x1, y1, x2, y2 = map(float, box)
            detections.append(
                {"image_id": image_id, "category_id": 1, "bbox": [x1, y1, x2 - x1, y2 - y1], "score": float(score)}
            )
    if not annotations:
        return float("nan")
    if not detections:
        return 0.0
    with contextlib.redirect_stdout(io.StringIO()):
        truth_api = COCO()
        truth_api.dataset = {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "x"}]}
        truth_api.createIndex()
        evaluator = COCOeval(truth_api, truth_api.loadRes(detections), "bbox")
        evaluator.params.iouThrs = np.array([IOU])
        evaluator.params.maxDets = [100, 100, 100]
        evaluator.evaluate()
        evaluator.accumulate()
    precision = evaluator.eval["precision"][0, :, 0, 0, -1]
    valid = precision[precision > -1]
    return float(valid.mean()) if len(valid) else float("nan")


def _class_counts(
    records: list[tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]], threshold: float
) -> Counts:
    counts = Counts()
    for boxes, scores, truth in records:
        keep = scores >= threshold
        matches = greedy_match(boxes[keep], scores[keep], truth)
        counts.add(len(matches), int(keep.sum()) - len(matches), len(truth) - len(matches))
    return counts


def evaluate(
    detector: Detector,
    samples: list[Sample],
    *,
    progress: bool = True,
    thresholds: dict[str, float] | None = None,
    on_scan: Callable[[int, int], None] | None = None,
    average_precision: bool = True,
) -> dict[str, Any]:
    """All metrics for ``samples`` (see module docstring) at the detector's (or the given) thresholds;
    ``on_scan(done, total)`` is called after each scan (a workspace shows it as progress). Without
    ``average_precision`` no AP50 is computed (it needs pycocotools, which only the [train] extra installs)."""
    thresholds = {**detector.config.score_thresholds, **(thresholds or {})}
    per_class: dict[str, list[tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]]] = {
        name: [] for name in ("tooth", *FINDING_CLASSES)
    }
    teeth_counts, missing_counts = Counts(), Counts()
    numbering_right = numbering_total = 0
    confusion = np.zeros((len(ALL_TEETH), len(ALL_TEETH)), np.int64)
    tooth_level: dict[str, dict[str, Counts]] = {}
    tallies: list[ScanTally] = []
    for number, sample in enumerate(samples, start=1):
        pixels, annotations = read_sample_image(sample)
        detections = detector.detect(pixels, dict.fromkeys(thresholds, CANDIDATE_THRESHOLD))
        counted: dict[str, tuple[int, int, int]] = {}
        for name in per_class:
            if name not in sample.labelled:
                continue
            mine = [d for d in detections if d.label == name]
            record = (
                _boxes(d.box for d in mine),
                np.array([d.score for d in mine]),
                _boxes(a.box for a in annotations if a.label == name),
            )
            per_class[name].append(record)
            if name != "tooth":
                counted[name] = _class_counts([record], thresholds[name]).as_tuple()
        right = matched = 0
        # Teeth and findings as ``analyze`` builds them, once per scan, for every figure below.
        teeth, findings = detector.interpret(pixels, [d for d in detections if d.score >= thresholds[d.label]])
        if "tooth" in sample.labelled:
            truth = [a for a in annotations if a.label == "tooth"]
            predicted = _boxes(t.box for t in teeth if t.box is not None)
            matches = greedy_match(predicted, np.array([t.score or 0.0 for t in teeth]), _boxes(a.box for a in truth))
            counted["teeth"] = (len(matches), len(teeth) - len(matches), len(truth) - len(matches))
            teeth_counts.add(*counted["teeth"])
            for p, t in matches:
                true_fdi, predicted_fdi = truth[t].fdi, teeth[p].fdi
                assert true_fdi is not None
                confusion[ALL_TEETH.index(true_fdi), ALL_TEETH.index(predicted_fdi)] += 1
                right += true_fdi == predicted_fdi
                matched += 1
            numbering_right, numbering_total = numbering_right + right, numbering_total + matched
            predicted_missing = set(missing_teeth(teeth))
            true_missing = set(missing_teeth([Tooth(fdi=a.fdi, box=a.box) for a in truth if a.fdi]))
            counted["missing"] = (
                len(predicted_missing & true_missing),
                len(predicted_missing - true_missing),
                len(true_missing - predicted_missing),
            )
            missing_counts.add(*counted["missing"])
        if sample.labelled & TOOTH_LEVEL_TYPES.keys():
            for name, tally in _count_tooth_level(teeth, findings, annotations, sample).items():
                counted[f"{name}_per_tooth"] = tally
                for source in ("all", sample.source):
                    tooth_level.setdefault(name, {}).setdefault(source, Counts()).add(*tally)
        report = scan_report(
            sample.source,
            [f.type for f in findings],
            [t.fdi for t in teeth],
            sample.absent,
            sample.present,
            [a.fdi for a in annotations if a.label == "tooth" and a.fdi],
        )
        tallies.append(ScanTally(sample.image_path.name, counted, (right, matched), report))
        if on_scan is not None:
            on_scan(number, len(samples))
        if progress and (number % 10 == 0 or number == len(samples)):
            print(f"evaluated {number}/{len(samples)} images", file=sys.stderr, flush=True)
    results: dict[str, Any] = {"images": len(samples), "thresholds": thresholds}
    if per_class["tooth"]:
        results["teeth"] = {
            **teeth_counts.summary(),
            **({"ap50": round(_ap50(per_class["tooth"]), 4)} if average_precision else {}),
            "numbering_accuracy": round(numbering_right / max(numbering_total, 1), 4),
            "matched": numbering_total,
            "images": len(per_class["tooth"]),
        }
        results["missing"] = {**missing_counts.summary(), "positions": list(PERMANENT_TEETH)}
        results["fdi_confusion"] = {"labels": list(ALL_TEETH), "matrix": confusion.tolist()}
    for name in FINDING_CLASSES:
        if per_class[name]:
            results[name] = {
                **_class_counts(per_class[name], thresholds[name]).summary(),
                **({"ap50": round(_ap50(per_class[name]), 4)} if average_precision else {}),
                "images": len(per_class[name]),
            }
    if tooth_level:
        results["tooth_level"] = {
            name: {source: counts.summary() for source, counts in sorted(by_source.items())}
            for name, by_source in tooth_level.items()
        }
    results["per_scan"] = scan_plausibility([t.report for t in tallies])
    results["_records"] = per_class
    results["_tallies"] = tallies
    return results


def _count_tooth_level(
    teeth: list[Tooth], findings: list[Finding], annotations: list[Annotation], sample: Sample
) -> dict[str, tuple[int, int, int]]:
    """Per class, (tp, fp, fn) of the scan's detected teeth: does the product's findings document call each
    carious / restored, and is it?

    The findings are built as ``analyze`` builds them (detector objects and the second stage); the truth
    per tooth comes from the dataset's boxes by the same assignment rule training uses. Teeth the
    detector missed are not counted: this measures findings on the teeth it found.
    """
    classes = sample.labelled & TOOTH_LEVEL_TYPES.keys()
    truth = tooth_labels(
        [t.box for t in teeth if t.box is not None],
        {name: [a.box for a in annotations if a.label == name] for name in classes},
        frozenset(classes),
    )
    tallies = {}
    for name in classes:
        flagged = {f.tooth for f in findings if f.type in TOOTH_LEVEL_TYPES[name]}
        counts = Counts()
        for tooth, known in zip(teeth, truth, strict=True):
            if name in known:
                said = tooth.fdi in flagged
                counts.add(
                    int(said and known[name] == 1), int(said and known[name] == 0), int(not said and known[name] == 1)
                )
        tallies[name] = counts.as_tuple()
    return tallies


def choose_thresholds(
    records: dict[str, list[Any]],
    candidates: Iterable[float] = tuple(np.arange(0.1, 0.9, 0.025)),
    min_precision: float = MIN_PRECISION,
) -> dict[str, float]:
    """Per class, the score threshold with the best F1 among those reaching ``min_precision`` (of equals, the lowest).

    Run it on the validation split. A class that reaches ``min_precision`` at no threshold gets
    :data:`DISABLED` (it is never reported): a detector that mostly invents a problem is worse for a
    patient than one that leaves it to the dentist.
    """
    chosen = {}
    for name, class_records in records.items():
        if not class_records:
            continue
        scored = [(_class_counts(class_records, float(t)).summary(), float(t)) for t in candidates]
        usable = [
            (summary["f1"], -t) for summary, t in scored if summary["precision"] >= min_precision and summary["tp"]
        ]
        chosen[name] = round(-max(usable)[1], 3) if usable else DISABLED
    return chosen


def plot_confusion(confusion: dict[str, Any], path: Path) -> None:
    """Save the tooth-number confusion matrix (rows: true FDI, columns: predicted) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = confusion["labels"]
    matrix = np.array(confusion["matrix"], dtype=np.float64)
    used = [i for i in range(len(labels)) if matrix[i].sum() or matrix[:, i].sum()]
    matrix = matrix[np.ix_(used, used)]
    rows = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(11, 10), dpi=80)
    ax.imshow(rows, cmap="viridis", vmin=0, vmax=1)
    ticks = [labels[i] for i in used]
    ax.set_xticks(range(len(used)), ticks, rotation=90, fontsize=7)
    ax.set_yticks(range(len(used)), ticks, fontsize=7)
    ax.set_xlabel("predicted FDI number")
    ax.set_ylabel("true FDI number")
    ax.set_title("Tooth numbering confusion (row-normalised), matched teeth")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def load_samples(dataset_yaml: Path, data_root: Path, split: str, limit: int | None = None) -> list[Sample]:
    return load_split(load_dataset_config(dataset_yaml, data_root), split)[:limit]


def write_metrics(results: dict[str, Any], path: Path) -> None:
    clean = {k: v for k, v in results.items() if not k.startswith("_")}
    path.write_text(json.dumps(clean, indent=2) + "\n")
