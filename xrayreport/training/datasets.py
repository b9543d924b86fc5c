"""Dataset adapters: COCO, YOLO and mask folders, and a clinic's training export (:mod:`.clinic_export`) -> one
list of :class:`Sample` per split.

A dataset is described by a small YAML file (see ``datasets/*.yaml``) naming its format, where its
files are, how its class names map onto the detector's classes, which of those classes it labels
(a source teaches only the classes it annotates), and its fixed split file. A researcher's own data in
one of these formats needs only such a file.

Image-level labels are labels too: ``image_labels`` reads a CSV that gives each image a category and says,
per category, which classes are ``absent`` from the whole image (UFBA-425: "no restoration", "no implant")
and which are ``present`` somewhere in it. Absences teach (every tooth of the image is negative for them);
presences are only an image-level recall check for evaluation.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..dentition import is_valid_fdi
from ..detection.config import OBJECT_CLASSES
from ..errors import UnknownNameError, XrayReportError
from .config_files import environment_path, read_config_yaml

FORMATS = ("coco", "yolo", "masks", "xrayreport-export")
# Image-level labels may also say a scan holds no primary tooth (a full permanent dentition).
IMAGE_LEVEL_CLASSES = (*OBJECT_CLASSES, "primary_tooth")
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Annotation:
    """One labelled object, box [x1, y1, x2, y2] in pixels of the image file as stored."""

    box: tuple[float, float, float, float]
    label: str  # one of OBJECT_CLASSES
    fdi: str | None = None  # for teeth


@dataclass(frozen=True)
class Sample:
    image_path: Path
    annotations: tuple[Annotation, ...]
    labelled: frozenset[str]  # the classes this image teaches; others are unknown, not absent
    source: str
    # Width/height ratio of the radiograph before the dataset stretched it; None when not stretched.
    original_aspect: float | None = None
    absent: frozenset[str] = frozenset()  # classes the image-level label says the image does not hold
    present: frozenset[str] = frozenset()  # classes the image-level label says it holds somewhere
    category: str | None = None  # the image-level category itself
    group: str | None = None  # the patient (where the source knows it): resampled together, kept on one split side


@dataclass(frozen=True)
class DatasetConfig:
    name: str
    format: str
    root: Path
    labelled: frozenset[str]
    split_file: Path
    images: str = "images"
    annotations: str | None = None  # COCO json
    labels: str | None = None  # YOLO txt folder or mask folder
    class_map: dict[str, str] | None = None  # source name -> detector class; None: names are FDI teeth
    yolo_names: tuple[str, ...] = ()
    original_aspect: float | None = None
    image_labels: ImageLabels | None = None


@dataclass(frozen=True)
class ImageLabels:
    """``image_labels`` of a dataset YAML: a CSV (relative to the dataset root) with a ``key`` column of image
    file names and a ``column`` of categories; per category, the classes ``absent`` from and ``present`` in
    the image."""

    file: str
    key: str
    column: str
    absent: dict[str, frozenset[str]]
    present: dict[str, frozenset[str]]

    @classmethod
    def from_dict(cls, raw: dict[str, Any], where: Path) -> ImageLabels:
        try:
            labels = cls(
                file=raw["file"],
                key=raw["key"],
                column=raw["column"],
                absent={str(k): frozenset(v) for k, v in (raw.get("absent") or {}).items()},
                present={str(k): frozenset(v) for k, v in (raw.get("present") or {}).items()},
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise XrayReportError(
                f"{where}: image_labels needs file, key, column and optional absent/present maps ({exc})"
            ) from None
        for classes in (*labels.absent.values(), *labels.present.values()):
            for name in classes:
                if name not in IMAGE_LEVEL_CLASSES:
                    raise UnknownNameError("image-level class", name, IMAGE_LEVEL_CLASSES)
        return labels


def load_dataset_config(path: str | os.PathLike[str], data_root: str | os.PathLike[str]) -> DatasetConfig:
    """Read a dataset YAML; ``root`` in it is relative to ``data_root`` (or, with ``$NAME`` in it, taken from the
    environment: :func:`.config_files.environment_path`), ``split_file`` to the YAML's folder."""
    path = Path(path)
    raw: dict[str, Any] = read_config_yaml(path, "dataset configuration")
    fmt = raw.get("format")
    if fmt not in FORMATS:
        raise UnknownNameError("dataset format", str(fmt), FORMATS)
    for label in raw.get("labelled", []):
        if label not in OBJECT_CLASSES:
            raise UnknownNameError("detector class", label, OBJECT_CLASSES)
    for target in (raw.get("class_map") or {}).values():
        if target not in OBJECT_CLASSES:
            raise UnknownNameError("detector class", target, OBJECT_CLASSES)
    aspect = raw.get("original_size")
    # A root naming an environment variable lies where that says (a clinic's export), not under data_root.
    root = environment_path(raw["root"], path) if "$" in raw["root"] else Path(data_root) / raw["root"]
    # A clinic's training export says per study which classes it labels, and carries its own split.
    export = fmt == "xrayreport-export"
    return DatasetConfig(
        name=raw["name"],
        format=fmt,
        root=root,
        labelled=frozenset(raw.get("labelled", OBJECT_CLASSES) if export else raw["labelled"]),
        split_file=root / "split.json" if export and "split_file" not in raw else path.parent / raw["split_file"],
        images=raw.get("images", "images"),
        annotations=raw.get("annotations"),
        labels=raw.get("labels"),
        class_map=raw.get("class_map"),
        yolo_names=tuple(raw.get("yolo_names", ())),
        original_aspect=None if aspect is None else aspect[0] / aspect[1],
        image_labels=ImageLabels.from_dict(raw["image_labels"], path) if "image_labels" in raw else None,
    )


def load_split(config: DatasetConfig, split: str) -> list[Sample]:
    """The samples of one split (``train``, ``val`` or ``test``) as fixed in the dataset's split file."""
    if split not in SPLITS:
        raise UnknownNameError("split", split, SPLITS)
    try:
        names = json.loads(config.split_file.read_text(encoding="utf-8"))[split]
    except FileNotFoundError:
        raise XrayReportError(
            f"{config.split_file}: split file not found; create it with xrayreport.training.splits"
        ) from None
    samples = _READERS[config.format](config)
    missing = set(names) - samples.keys()
    if missing:
        raise XrayReportError(
            f"{config.name}: {len(missing)} images of split {split!r} are not in the dataset "
            f"(e.g. {sorted(missing)[0]}); check root and split file"
        )
    categories = _image_categories(config)
    return [_with_image_labels(samples[name], name, config, categories) for name in names]


def _image_categories(config: DatasetConfig) -> dict[str, str]:
    """Image file name -> its image-level category (empty without ``image_labels``)."""
    if config.image_labels is None:
        return {}
    path = config.root / config.image_labels.file
    try:
        rows = list(csv.DictReader(path.open(newline="", encoding="utf-8")))
    except FileNotFoundError:
        raise XrayReportError(f"{path}: image label file not found; check image_labels.file") from None
    try:
        return {row[config.image_labels.key]: row[config.image_labels.column] for row in rows}
    except KeyError as exc:
        raise XrayReportError(f"{path}: no column {exc}; check image_labels.key and column") from None


def _with_image_labels(sample: Sample, name: str, config: DatasetConfig, categories: dict[str, str]) -> Sample:
    category = categories.get(name)
    if config.image_labels is None or category is None:
        return sample
    return replace(
        sample,
        category=category,
        absent=config.image_labels.absent.get(category, frozenset()),
        present=config.image_labels.present.get(category, frozenset()),
    )


def _read_coco(config: DatasetConfig) -> dict[str, Sample]:
    assert config.annotations is not None, "COCO datasets need 'annotations'"
    coco = json.loads((config.root / config.annotations).read_text(encoding="utf-8"))
    category = {c["id"]: c["name"] for c in coco["categories"]}
    by_image: dict[int, list[Annotation]] = {}
    for ann in coco["annotations"]:
        x, y, w, h = ann["bbox"]
        if w <= 0 or h <= 0:
            continue
        name = category[ann["category_id"]]
        by_image.setdefault(ann["image_id"], []).append(_annotation((x, y, x + w, y + h), name, config))
    # Images without any annotation are unlabelled (not toothless) and are left out.
    return {
        image["file_name"]: Sample(
            image_path=config.root / config.images / image["file_name"],
            annotations=tuple(by_image[image["id"]]),
            labelled=config.labelled,
            source=config.name,
            original_aspect=config.original_aspect,
        )
        for image in coco["images"]
        if image["id"] in by_image
    }


def _annotation(box: tuple[float, float, float, float], name: str, config: DatasetConfig) -> Annotation:
    if config.class_map is None:
        if not is_valid_fdi(name):
            raise XrayReportError(f"{config.name}: category {name!r} is not an FDI tooth number; add a class_map")
        return Annotation(box, "tooth", name)
    if name not in config.class_map:
        raise UnknownNameError(f"{config.name} category", name, config.class_map)
    return Annotation(box, config.class_map[name])


def _read_yolo(config: DatasetConfig) -> dict[str, Sample]:
    assert config.labels is not None, "YOLO datasets need 'labels'"
    samples = {}
    for image_path in sorted((config.root / config.images).iterdir()):
        label_path = config.root / config.labels / f"{image_path.stem}.txt"
        height, width = _image_size(image_path)
        annotations = []
        if label_path.exists():
            for line in label_path.read_text().split("\n"):
                if not line.strip():
                    continue
                index, cx, cy, w, h = line.split()
                name = config.yolo_names[int(index)]
                x1, y1 = (float(cx) - float(w) / 2) * width, (float(cy) - float(h) / 2) * height
                x2, y2 = x1 + float(w) * width, y1 + float(h) * height
                annotations.append(_annotation((x1, y1, x2, y2), name, config))
        samples[image_path.name] = Sample(
            image_path, tuple(annotations), config.labelled, config.name, config.original_aspect
        )
    return samples


def _read_masks(config: DatasetConfig) -> dict[str, Sample]:
    """Binary masks (non-zero = object) beside the images; each connected region becomes one box."""
    assert config.labels is not None and config.class_map is not None, "mask datasets need 'labels' and 'class_map'"
    (label,) = config.class_map.values()
    samples = {}
    for image_path in sorted((config.root / config.images).iterdir()):
        candidates = sorted((config.root / config.labels).glob(f"{image_path.stem}.*"))
        if not candidates:
            continue
        mask = cv2.imread(str(candidates[0]), cv2.IMREAD_GRAYSCALE)
        if mask is None:
            raise XrayReportError(f"{candidates[0]}: cannot read mask image")
        binary = (np.asarray(mask) > 0).astype(np.uint8)
        count, _, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
        annotations = tuple(
            Annotation((float(x), float(y), float(x + w), float(y + h)), label)
            for x, y, w, h, area in stats[1:count]
            if area >= 16  # specks of a few pixels are annotation noise, not lesions
        )
        samples[image_path.name] = Sample(image_path, annotations, config.labelled, config.name, config.original_aspect)
    return samples


def read_sample_image(sample: Sample) -> tuple[np.ndarray, list[Annotation]]:
    """The image as the detector sees it before letterboxing: greyscale, the dataset's stretch undone."""
    image = cv2.imread(str(sample.image_path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise XrayReportError(f"{sample.image_path}: cannot read image")
    annotations = list(sample.annotations)
    if sample.original_aspect is not None:
        height, width = image.shape
        new_width = round(height * sample.original_aspect)
        image = cv2.resize(image, (new_width, height), interpolation=cv2.INTER_AREA)
        sx = new_width / width
        annotations = [
            Annotation((a.box[0] * sx, a.box[1], a.box[2] * sx, a.box[3]), a.label, a.fdi) for a in annotations
        ]
    return image, annotations


def _image_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as image:
        width, height = image.size
    return height, width


def _read_export(config: DatasetConfig) -> dict[str, Sample]:
    from .clinic_export import export_samples  # it builds on this module's Sample

    return export_samples(config)


_READERS = {"coco": _read_coco, "yolo": _read_yolo, "masks": _read_masks, "xrayreport-export": _read_export}


def write_split_from_csv(csv_path: Path, out: Path, name_column: str, split_column: str) -> None:
    """Write a split file from a CSV that already assigns each image to train/val/test."""
    split: dict[str, list[str]] = {name: [] for name in SPLITS}
    with csv_path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            split[row[split_column]].append(row[name_column])
    out.write_text(json.dumps(split, indent=1) + "\n")


def write_random_split(names: list[str], out: Path, seed: int, val: float = 0.1, test: float = 0.1) -> None:
    """Write a seeded random train/val/test split of ``names`` (fractions of the whole)."""
    order = sorted(names)
    np.random.default_rng(seed).shuffle(order)
    n_test, n_val = round(len(order) * test), round(len(order) * val)
    split = {
        "test": sorted(order[:n_test]),
        "val": sorted(order[n_test : n_test + n_val]),
        "train": sorted(order[n_test + n_val :]),
    }
    out.write_text(json.dumps(split, indent=1) + "\n")
