"""Labelled tooth crops for the second-stage classifier, from every source that says something per tooth.

Two kinds of source, both described in the training YAML (see ``configs/tooth-findings-v1.yaml``):

``crop-folder``
    A folder of single-tooth crops and a CSV naming each file's split and label (DENTEX crops; a
    researcher's own crops in the same layout). Each label maps to what it says about the tooth classes,
    e.g. ``DeepCaries: {caries: 1, deep_caries: 1}``; a class a label does not mention is unknown. Crops cut
    from the same panoramic belong to one patient: with ``group_pattern`` (a regular expression whose first
    group is the panoramic's name in the file name) and ``split_file`` (``{split: [panoramic, ...]}``), the
    split is the panoramic's, so a patient never straddles train and test.
``teeth``
    Whole panoramics of a detection dataset (``datasets/*.yaml``): the teeth are its labelled tooth boxes
    or, where it labels no teeth, those the shipped detector finds; its finding boxes (and optional
    LabelBox lesion polygons) are assigned to the tooth they lie on. A tooth with a finding is positive,
    a tooth clearly free of every finding of a class is negative, and a tooth a finding only touches is
    unknown for that class, since the source cannot say which tooth it meant. A class the dataset's
    image-level label says the image does not hold (UFBA-425's categories: "no restoration", "no implant";
    see ``image_labels`` in :mod:`.datasets`) is negative on every tooth of it. ``own_crops`` names finding
    classes whose boxes are cut as crops of their own where no tooth holds them (an implant the detector does
    not take for a tooth).
``clinic-export``
    A clinic's training export (``dataset``: its dataset YAML, ``format: xrayreport-export``): every tooth with a box
    is a crop, labelled exactly by the review through the findings' FDI numbers (:func:`.clinic_export.tooth_labels_of`:
    positive where a finding is on it, negative where the review covered the class or the dentist rejected the
    model's finding of it there); the split is the export's own (by patient).

Labels imply others (:func:`complete_labels`): a root canal filling is a restoration, a tooth without any
restoration has no root canal filling, an implant has no caries and no root canal filling.

Each crop is kept with some context around the tooth, so training can jitter the box.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml
from numpy.typing import NDArray

from ..detection.tooth_findings import TASK, TOOTH_FINDING_CLASSES, CropPreprocessing, crop_region
from ..errors import UnknownNameError, XrayReportError
from .clinic_export import read_export, tooth_labels_of
from .config_files import read_config_yaml
from .datasets import Sample, load_dataset_config, load_split, read_sample_image
from .progress import log_progress

Box = tuple[float, float, float, float]
CONTEXT = 0.25  # fraction of the tooth box kept around it in each stored crop, for box jitter
MAX_STORED_HEIGHT = 400  # px; stored crops are downscaled to this to keep an epoch's crops in memory
ON_TOOTH = 0.5  # a finding belongs to the tooth holding at least this much of the smaller of the two boxes
TOUCHES_TOOTH = 0.15  # below ON_TOOTH but above this, the tooth is unknown for that class, not negative
LESION_REACH = 0.15  # tooth boxes grow by this fraction before lesion assignment: lesions sit past the apex


@dataclass(frozen=True)
class ToothCrop:
    """A tooth with context: (h, w) uint8 ``pixels``, the tooth's ``box`` inside them, its known labels."""

    pixels: NDArray[np.uint8]
    box: Box
    labels: dict[str, int]  # class -> 1 (present) or 0 (absent); a class not in it is unknown
    source: str
    scan: str = ""  # the panoramic it comes from, for per-scan figures and patient-grouped splits
    tag: str = ""  # a crop folder's own label of it (e.g. DENTEX "Intact"), for figures per label
    scan_present: frozenset[str] = frozenset()  # classes the scan's image-level label says it holds somewhere


@dataclass(frozen=True)
class CropSource:
    """One entry of the training YAML's ``sources`` list (see the module docstring)."""

    name: str
    type: str  # "crop-folder" or "teeth"
    weight: float = 1.0  # share of each training epoch drawn from this source (relative)
    # crop-folder
    root: str | None = None
    csv: str = "crops.csv"
    images: str = "images"
    splits: dict[str, str] = field(default_factory=dict)  # CSV split name -> train / val / test
    labels: dict[str, dict[str, int]] = field(default_factory=dict)
    group_pattern: str | None = None  # regex; its first group names the panoramic a crop was cut from
    split_file: str | None = None  # {split: [panoramic, ...]}, relative to the training YAML
    # teeth
    dataset: str | None = None  # detection dataset YAML, relative to the training YAML
    teeth: str = "labelled"  # "labelled" or "detector"
    findings: dict[str, str] = field(default_factory=dict)  # dataset class -> tooth finding class
    # LabelBox polygons: {file, classes: {title: class}, frame: [width, height] of their coordinates}
    lesions: dict[str, Any] | None = None
    own_crops: tuple[str, ...] = ()  # finding classes cut as crops of their own where no tooth holds them
    negatives_per_image: int | None = None  # training only: keep all positive teeth and this many others
    # Only N images (teeth) or crops (crop-folder: taken from each label in turn) of each split.
    limit: int | None = None

    def taught(self) -> frozenset[str]:
        """The tooth finding classes this source says something about."""
        if self.type == "clinic-export":
            return frozenset(TOOTH_FINDING_CLASSES)
        if self.type == "crop-folder":
            return frozenset(c for label in self.labels.values() for c in label)
        lesion_classes = (self.lesions or {}).get("classes", {}).values()
        return frozenset(self.findings.values()) | frozenset(lesion_classes)


SOURCE_TYPES = ("crop-folder", "teeth", "clinic-export")
TEETH_FROM = ("labelled", "detector")  # a teeth source's tooth boxes: its own labels, or the detector's
UNKNOWN = -1.0
TeethFinder = Callable[[NDArray[np.uint8]], list[Box]]


def validate_source(raw: dict[str, Any]) -> CropSource:
    """One ``sources`` entry of a training YAML -> :class:`CropSource`; errors list the valid names."""
    try:
        source = CropSource(**{**raw, "own_crops": tuple(raw.get("own_crops", ()))})
    except TypeError as exc:
        valid = ", ".join(CropSource.__dataclass_fields__)
        raise XrayReportError(f"tooth crop source: {exc}; valid keys are {valid}") from None
    if source.type not in SOURCE_TYPES:
        raise UnknownNameError("tooth crop source type", source.type, SOURCE_TYPES)
    if source.teeth not in TEETH_FROM:
        raise UnknownNameError("'teeth' value", source.teeth, TEETH_FROM)
    for name in source.taught() | set(source.own_crops):
        if name not in TOOTH_FINDING_CLASSES:
            raise UnknownNameError("tooth finding class", name, TOOTH_FINDING_CLASSES)
    if source.split_file and not source.group_pattern:
        raise XrayReportError(f"tooth crop source {source.name}: 'split_file' needs 'group_pattern'")
    return source


def load_crops(
    source: CropSource,
    split: str,
    base: Path,
    data_root: Path,
    find_teeth: TeethFinder | None,
    seed: int = 0,
) -> list[ToothCrop]:
    """All labelled crops of one source and split. ``find_teeth`` finds teeth where the source labels none."""
    if source.type == "crop-folder":
        return _crop_folder(source, split, base, data_root)
    if source.type == "clinic-export":
        return _export_crops(source, split, base, data_root)
    return _teeth_crops(source, split, base, data_root, find_teeth, seed)


def spread_over_labels(rows: list[dict[str, str]], limit: int | None) -> list[dict[str, str]]:
    """The first ``limit`` crop-list rows taken from each label in turn (file order within a label), so that a
    limited crop folder still shows every label rather than only the first one of the file; all when None."""
    if limit is None:
        return rows
    by_label: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_label.setdefault(row["label"], []).append(row)
    in_turn = [row for turn in itertools.zip_longest(*by_label.values()) for row in turn if row is not None]
    return in_turn[:limit]


def _crop_folder(source: CropSource, split: str, base: Path, data_root: Path) -> list[ToothCrop]:
    assert source.root is not None, "crop-folder sources need 'root'"
    folder = data_root / source.root
    crops = []
    try:
        rows = list(csv.DictReader((folder / source.csv).open(newline="")))
    except FileNotFoundError:
        raise XrayReportError(f"{folder / source.csv}: crop list not found; check the source's root and csv") from None
    rows = [r for r in rows if r["split"] in source.splits and r["label"] in source.labels]
    group_of = {row["file_name"]: _group(source, row["file_name"]) for row in rows}
    if source.split_file:
        split_of_group = _read_group_splits(base / source.split_file)
        rows = [r for r in rows if split_of_group.get(group_of[r["file_name"]]) == split]
    else:
        rows = [r for r in rows if source.splits[r["split"]] == split]
    for row in spread_over_labels(rows, source.limit):
        read = cv2.imread(str(folder / source.images / row["file_name"]), cv2.IMREAD_GRAYSCALE)
        if read is None:
            raise XrayReportError(f"{folder / source.images / row['file_name']}: cannot read crop image")
        pixels, _ = _fit_height(np.asarray(read, dtype=np.uint8))
        height, width = pixels.shape
        whole = (0.0, 0.0, float(width), float(height))
        labels = complete_labels(source.labels[row["label"]])
        crops.append(ToothCrop(pixels, whole, labels, source.name, group_of[row["file_name"]], row["label"]))
    return crops


def _group(source: CropSource, file_name: str) -> str:
    """The panoramic a crop was cut from (its file name without a ``group_pattern``)."""
    if source.group_pattern is None:
        return file_name
    match = re.search(source.group_pattern, file_name)
    if match is None:
        raise XrayReportError(
            f"{source.name}: crop {file_name!r} does not match group_pattern {source.group_pattern!r}"
        )
    return match.group(1)


def _read_group_splits(path: Path) -> dict[str, str]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise XrayReportError(f"{path}: cannot read the group split file ({exc})") from None
    return {group: split for split, groups in raw.items() for group in groups}


def write_group_split(groups: list[str], out: Path, seed: int, shares: dict[str, float]) -> dict[str, list[str]]:
    """Assign whole panoramics to splits by seeded shuffling (``shares`` e.g. {train: .5, val: .15, test: .35}),
    write ``{split: [panoramic, ...]}`` to ``out`` and return it."""
    order = [groups[i] for i in np.random.default_rng(seed).permutation(len(groups))]
    result: dict[str, list[str]] = {}
    start = 0
    for number, (split, share) in enumerate(shares.items()):
        end = len(order) if number == len(shares) - 1 else start + round(share * len(order))
        result[split] = sorted(order[start:end])
        start = end
    out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return result


def _teeth_crops(
    source: CropSource, split: str, base: Path, data_root: Path, find_teeth: TeethFinder | None, seed: int
) -> list[ToothCrop]:
    assert source.dataset is not None, "teeth sources need 'dataset'"
    dataset = load_dataset_config(base / source.dataset, data_root)
    lesions, frame = {}, [1, 1]
    if source.lesions:
        lesions = _read_labelbox(data_root / source.lesions["file"], source.lesions["classes"])
        frame = source.lesions["frame"]
    rng = np.random.default_rng(seed)
    crops: list[ToothCrop] = []
    for sample in load_split(dataset, split)[: source.limit]:
        image, annotations = read_sample_image(sample)
        scan = f"{source.name}/{sample.image_path.name}"
        if source.teeth == "labelled":
            teeth = [a.box for a in annotations if a.label == "tooth"]
        else:
            if find_teeth is None:
                raise XrayReportError(f"{source.name}: labels no teeth; training needs the detector to find them")
            teeth = find_teeth(image)
        findings = {name: [a.box for a in annotations if a.label == label] for label, name in source.findings.items()}
        for name, boxes in _lesions_of(sample, image.shape, lesions, frame).items():
            findings.setdefault(name, []).extend(boxes)
        absent = dict.fromkeys(sample.absent & set(TOOTH_FINDING_CLASSES), 0)
        labels = [complete_labels({**absent, **label}) for label in tooth_labels(teeth, findings, source.taught())]
        keep = list(range(len(teeth)))
        if split == "train" and source.negatives_per_image is not None:
            positive = [i for i, label in enumerate(labels) if 1 in label.values()]
            others = [i for i in range(len(teeth)) if i not in positive]
            chosen = rng.permutation(len(others))[: source.negatives_per_image]
            keep = sorted(positive + [others[i] for i in chosen])
        own = [
            (box, complete_labels({name: 1}))
            for name in source.own_crops
            for box in findings.get(name, [])
            if not any(_overlap_of_smaller(box, tooth) >= ON_TOOTH for tooth in teeth)
        ]
        for box, label in [(teeth[i], labels[i]) for i in keep] + own:
            crops.append(replace(_with_context(image, box, label, source.name, scan), scan_present=sample.present))
    return crops


def _export_crops(source: CropSource, split: str, base: Path, data_root: Path) -> list[ToothCrop]:
    assert source.dataset is not None, "clinic-export sources need 'dataset'"
    dataset = load_dataset_config(base / source.dataset, data_root)
    scans = read_export(dataset.root)
    crops = []
    for key in sorted(k for k, scan in scans.items() if scan.split == split)[: source.limit]:
        scan = scans[key]
        read = cv2.imread(str(scan.image_path), cv2.IMREAD_GRAYSCALE)
        if read is None:
            raise XrayReportError(f"{scan.image_path}: cannot read the export's image")
        image = np.asarray(read, dtype=np.uint8)
        for fdi, box in scan.teeth:
            if box is not None:
                labels = complete_labels(tooth_labels_of(scan, fdi, TOOTH_FINDING_CLASSES))
                crops.append(_with_context(image, box, labels, source.name, f"{source.name}/{key}"))
    return crops


def complete_labels(labels: dict[str, int]) -> dict[str, int]:
    """Add what known labels imply: a root canal filling is a restoration and not an implant; a tooth without
    any restoration has no root canal filling; an implant has no caries and no root canal filling (and
    whether its crown counts as a restoration is left unknown)."""
    out = dict(labels)
    if out.get("root_canal") == 1:
        out["restoration"] = 1
        out["implant"] = 0
    if out.get("restoration") == 0:
        out["root_canal"] = 0
    if out.get("implant") == 1:
        out["caries"] = 0
        out["root_canal"] = 0
        out.pop("restoration", None)
    return out


def tooth_labels(teeth: list[Box], findings: dict[str, list[Box]], classes: frozenset[str]) -> list[dict[str, int]]:
    """Per tooth, 1/0 for each class in ``classes`` from the finding boxes; a class left out is unknown.

    A finding goes to the tooth that holds most of it (intersection over the smaller box, at least
    ``ON_TOOTH``); other teeth it overlaps by more than ``TOUCHES_TOOTH`` become unknown for its class.
    Periapical lesions are matched against tooth boxes grown by ``LESION_REACH``.
    """
    labels: list[dict[str, int]] = [dict.fromkeys(classes, 0) for _ in teeth]
    for name, boxes in findings.items():
        reach = LESION_REACH if name == "periapical_lesion" else 0.0
        grown = [_grow(t, reach) for t in teeth]
        for box in boxes:
            overlaps = [_overlap_of_smaller(box, t) for t in grown]
            if not overlaps:
                continue
            best = int(np.argmax(overlaps))
            for i, overlap in enumerate(overlaps):
                if i == best and overlap >= ON_TOOTH:
                    labels[i][name] = 1
                elif overlap > TOUCHES_TOOTH and labels[i].get(name) == 0:
                    del labels[i][name]
    return labels


def label_vector(labels: dict[str, int], classes: tuple[str, ...] = TOOTH_FINDING_CLASSES) -> NDArray[np.float32]:
    """Known labels -> (len(classes),) with 1/0, or -1 where unknown.

    ``deep_caries`` is conditional on caries, so it is only known on teeth known to be carious.
    """
    vector = np.full(len(classes), UNKNOWN, np.float32)
    for index, name in enumerate(classes):
        if name in labels:
            vector[index] = labels[name]
    if "deep_caries" in classes and labels.get("caries") != 1:
        vector[classes.index("deep_caries")] = UNKNOWN
    return vector


def _overlap_of_smaller(a: Box, b: Box) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return max(w, 0.0) * max(h, 0.0) / max(smaller, 1e-9)


def _grow(box: Box, fraction: float) -> Box:
    dx, dy = (box[2] - box[0]) * fraction, (box[3] - box[1]) * fraction
    return (box[0] - dx, box[1] - dy, box[2] + dx, box[3] + dy)


def _with_context(image: NDArray[np.uint8], box: Box, labels: dict[str, int], source: str, scan: str) -> ToothCrop:
    height, width = image.shape
    x1, y1, x2, y2 = crop_region(box, CONTEXT, width, height)
    pixels, scale = _fit_height(image[y1:y2, x1:x2])
    inner = ((box[0] - x1) * scale, (box[1] - y1) * scale, (box[2] - x1) * scale, (box[3] - y1) * scale)
    return ToothCrop(np.ascontiguousarray(pixels), inner, labels, source, scan)


def _fit_height(pixels: NDArray[np.uint8]) -> tuple[NDArray[np.uint8], float]:
    height, width = pixels.shape
    if height <= MAX_STORED_HEIGHT:
        return pixels, 1.0
    scale = MAX_STORED_HEIGHT / height
    size = (max(1, round(width * scale)), MAX_STORED_HEIGHT)
    return np.asarray(cv2.resize(pixels, size, interpolation=cv2.INTER_AREA), dtype=np.uint8), scale


def _read_labelbox(path: Path, classes: dict[str, str]) -> dict[str, list[tuple[str, NDArray[np.float64]]]]:
    """LabelBox export -> image stem -> [(class, (K, 2) polygon)], keeping only titles in ``classes``."""
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise XrayReportError(f"{path}: lesion annotations not found; check 'lesions.file' in the config") from None
    out: dict[str, list[tuple[str, NDArray[np.float64]]]] = {}
    for entry in entries:
        stem = os.path.splitext(entry["External ID"])[0].lower()
        polygons = out.setdefault(stem, [])
        for obj in entry["Label"]["objects"]:
            if obj["title"] in classes:
                for polygon in obj["polygons"]:
                    polygons.append((classes[obj["title"]], np.asarray(polygon, dtype=np.float64).reshape(-1, 2)))
    return out


def _lesions_of(
    sample: Sample, shape: tuple[int, ...], lesions: dict[str, list[tuple[str, NDArray[np.float64]]]], frame: list[int]
) -> dict[str, list[Box]]:
    """Lesion boxes of one image in the pixels of ``read_sample_image``; LabelBox polygons are in the
    radiograph's original ``frame`` (width, height), before the dataset resized it."""
    sx, sy = shape[1] / frame[0], shape[0] / frame[1]
    boxes: dict[str, list[Box]] = {}
    for name, polygon in lesions.get(sample.image_path.stem.lower(), []):
        xs, ys = polygon[:, 0] * sx, polygon[:, 1] * sy
        boxes.setdefault(name, []).append((float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())))
    return boxes


@dataclass(frozen=True)
class ToothTrainConfig:
    """A ``kind: tooth-findings`` training YAML: sources, crop geometry (pixels; margin as a fraction of the
    tooth box), and the schedule (an epoch is ``samples_per_epoch`` weighted draws)."""

    name: str
    sources: tuple[CropSource, ...]
    kind: str = TASK
    data_root: str = "../shared/datasets"
    detector: str | None = None  # ONNX detector that finds teeth for sources labelling none
    input_width: int = 96
    input_height: int = 192
    margin: float = 0.06
    epochs: int = 12
    samples_per_epoch: int = 8000
    positive_share: float = 0.3
    max_positive_share: float | None = None  # cap on a source's share of teeth with a finding (see epoch_draws)
    batch_size: int = 32
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    pretrained: str | None = "imagenet"
    # A shipped tooth findings model (.onnx, relative to the YAML) with these classes to fine-tune instead
    # (xrayreport/training/onnx_weights.py); ``pretrained`` is then unused.
    initial_weights: str | None = None
    seed: int = 0
    checkpoint_minutes: float = 10.0
    augment: bool = True  # False: train on the product's plain cuts (reproducible tests, ablations)
    # Share of training cuts shown as another unit would (tone curve, edge enhancement, JPEG): see
    # xrayreport.training.robustness. Edge enhancement alone tripled v1's caries calls.
    machine_variation: float = 0.0
    # Weight of a consistency term: every training cut is also shown as another unit would and the network is
    # penalised for answering differently (tooth_classifier.bernoulli_js); 0 trains on one view per cut.
    machine_consistency: float = 0.0
    # Share of those second views that are the tooth cut tight, without neighbours, as a crop folder's crops are
    # (tooth_classifier.augment_crop): "cut like a DENTEX crop" must not mean "carious". Needs machine_consistency.
    tight_views: float = 0.0
    # The outputs the consistency term steadies (None: all). Every fine-tune with it halved the restorations found
    # on an unseen machine (docs/model-v2.md, section 11), so a recipe may leave restorations to the labels alone.
    consistency_classes: tuple[str, ...] | None = None
    # Crops blended with their blur before the network, in training and in the product (CropPreprocessing's
    # detail_smoothing; sigma in network-input pixels): takes back a unit's edge enhancement.
    detail_smoothing: float = 0.0
    detail_smoothing_sigma: float = 1.5
    # Leave-one-source-out folds: name -> sources left out together (they share patients or a clinic);
    # None: one fold per source. See xrayreport.training.leave_one_source_out.
    folds: dict[str, tuple[str, ...]] | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.tight_views <= 1.0:
            raise XrayReportError(f"tight_views is a share of the second views: give 0 to 1, not {self.tight_views}")
        if self.consistency_classes is not None:
            if not self.consistency_classes:
                raise XrayReportError("consistency_classes is empty: name classes, or leave it out to steady them all")
            for name in self.consistency_classes:
                if name not in TOOTH_FINDING_CLASSES:
                    raise UnknownNameError("consistency class", name, TOOTH_FINDING_CLASSES)
            object.__setattr__(self, "consistency_classes", tuple(self.consistency_classes))
        if self.tight_views and not self.machine_consistency:
            raise XrayReportError(
                "tight_views only shapes the second view of machine_consistency; set machine_consistency too"
            )

    @property
    def whole_scan_sources(self) -> frozenset[str]:
        """Sources whose teeth come from whole scans (realistic prevalence, see tooth_evaluation._tuning_rows)."""
        return frozenset(s.name for s in self.sources if s.type in ("teeth", "clinic-export"))

    @property
    def preprocessing(self) -> CropPreprocessing:
        return CropPreprocessing(
            input_width=self.input_width,
            input_height=self.input_height,
            margin=self.margin,
            detail_smoothing=self.detail_smoothing,
            detail_smoothing_sigma=self.detail_smoothing_sigma,
        )


def is_tooth_findings_config(path: str | os.PathLike[str]) -> bool:
    """True when the training YAML at ``path`` asks for a tooth classifier rather than a detector."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return False  # the detector's loader reports the problem with the file
    return isinstance(raw, dict) and raw.get("kind") == TASK


def load_tooth_train_config(path: str | os.PathLike[str], **overrides: Any) -> tuple[ToothTrainConfig, Path]:
    """Read a ``kind: tooth-findings`` training YAML; returns it and the folder its paths start from."""
    path = Path(path)
    raw = read_config_yaml(path, "training configuration")
    if not isinstance(raw, dict):
        raise XrayReportError(f"{path}: needs a 'name' and a 'sources' list (see configs/tooth-findings-v1.yaml)")
    sources = tuple(validate_source(entry) for entry in raw.pop("sources", None) or [])
    if isinstance(raw.get("folds"), dict):
        raw["folds"] = {str(name): tuple(members) for name, members in raw["folds"].items()}
    if not sources:
        raise XrayReportError(f"{path}: needs a 'sources' list (see configs/tooth-findings-v1.yaml)")
    try:
        config = ToothTrainConfig(sources=sources, **raw)
    except TypeError as exc:
        valid = ", ".join(ToothTrainConfig.__dataclass_fields__)
        raise XrayReportError(f"{path}: {exc}; valid keys are: {valid}") from None
    return replace(config, **{k: v for k, v in overrides.items() if v is not None}), path.parent


def detector_teeth_finder(detector_path: Path) -> TeethFinder:
    """Find teeth with the shipped detector, as the product does before this stage."""
    from ..detection.detector import Detector

    detector = Detector(detector_path)

    def find(pixels: NDArray[np.uint8]) -> list[tuple[float, float, float, float]]:
        return [d.box for d in detector.detect(pixels) if d.label == "tooth"]

    return find


def load_split_crops(config: ToothTrainConfig, base: Path, split: str) -> list[ToothCrop]:
    """Every source's crops of ``split``, with progress (finding teeth on whole panoramics takes a while)."""
    needs_detector = any(s.type == "teeth" and s.teeth == "detector" for s in config.sources)
    finder = detector_teeth_finder(base / config.detector) if config.detector and needs_detector else None
    crops: list[ToothCrop] = []
    for source in config.sources:
        started = time.monotonic()
        found = load_crops(source, split, base, base / config.data_root, finder, config.seed)
        positives = {name: sum(c.labels.get(name) == 1 for c in found) for name in source.taught()}
        seconds = time.monotonic() - started
        log_progress(f"{split}: {source.name}: {len(found)} crops, positives {positives} ({seconds:.0f} s)")
        crops += found
    return crops
