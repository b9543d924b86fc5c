"""The clinic's reviewed studies as a training source (format ``xrayreport.training-export/1``, docs/learning.md).

An export is a folder (or the same files in a ZIP): ``manifest.json``, ``split.json`` (``{split: [study key]}``),
one ``studies/<study key>.json`` per reviewed study and its pixels as ``images/<random>.png`` (8-bit greyscale, no
metadata: no DICOM header, no patient field, a file name that says nothing). A study's JSON holds its key and its
patient's key (keyed hashes, :func:`~.deidentified.pseudonym`), its split, the image size, the model that proposed
the findings, the classes the review **covered** (complete on that scan: a covered class without a finding is
absent), the teeth (FDI, box), the findings as the dentist left them (final type; where each came from) and the
model findings the dentist rejected (explicit negatives). Boxes are [x1, y1, x2, y2] in the image's pixels.
A study whose pixels may not leave the server (:mod:`.burnedin`: text may be burned into them) is not written, since
a study without its image teaches nothing; ``manifest.json``'s ``left_out`` lists its key and why.

The split is fixed by the patient key alone (:func:`split_of`), so a patient's scans always fall on one side and a
study keeps its split from one export to the next; ``test`` is the clinic's own held-back part.
"""

from __future__ import annotations

import json
import secrets
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

import cv2
import numpy as np
from numpy.typing import NDArray

from ..errors import XrayReportError

TRAINING_EXPORT_FORMAT = "xrayreport.training-export/1"
TRAINING_CLASSES: tuple[str, ...] = (
    "tooth",
    "caries",
    "deep_caries",
    "periapical_lesion",
    "restoration",
    "root_canal",
    "impacted",
    "implant",
)
"""What an export can say is complete on a scan: the detector's classes and the second stage's tooth classes."""
TYPE_CLASSES: dict[str, tuple[str, ...]] = {
    "caries": ("caries",),
    "deep_caries": ("caries", "deep_caries"),
    "periapical_lesion": ("periapical_lesion",),
    "impacted": ("impacted",),
    "restoration": ("restoration",),
    "filling": ("restoration",),
    "crown": ("restoration",),
    "bridge": ("restoration",),
    "root_canal": ("restoration", "root_canal"),
    "implant": ("implant",),
}
"""The training classes a finding of each type says a scan (and its tooth) holds; a type missing here (missing,
residual root, fracture) teaches no class."""
SHARES = {"test": 0.2, "val": 0.1}
"""Of the patients, the share in the held-back test part and in validation; the rest train."""
Origin = Literal["model", "relabelled", "dentist"]
Box = tuple[float, float, float, float]
Write = Callable[[str, bytes], None]
"""Stores one file of an export under its relative name (``studies/<key>.json``)."""


@dataclass(frozen=True)
class ExportedFinding:
    """A finding as the review left it: its final ``type``, its tooth (FDI) and box, and where it came from
    (``model``: confirmed as proposed; ``relabelled``: proposed as ``model_type`` and given another type;
    ``dentist``: added by the dentist). A rejected model finding has ``origin`` ``model`` and its proposed type."""

    type: str
    tooth: str | None
    box: Box | None
    origin: Origin = "model"
    model_type: str | None = None


@dataclass(frozen=True)
class TrainingStudy:
    """One reviewed study to export; ``pixels`` loads its (height, width) uint8 image only when written;
    ``pixels_withheld`` is why they may not leave (:func:`.burnedin.pixels_withheld`), ``None`` when they may."""

    study_key: str
    patient_key: str
    width: int
    height: int
    model: tuple[str, str]  # name, version of the model whose findings were reviewed
    covered: frozenset[str]  # training classes complete on this scan (see docs/learning.md)
    teeth: tuple[tuple[str, Box | None], ...]  # (FDI, box)
    findings: tuple[ExportedFinding, ...]
    rejected: tuple[ExportedFinding, ...]
    pixels: Callable[[], NDArray[np.uint8]]
    pixels_withheld: str | None = None


def split_of(patient_key: str) -> str:
    """``test``, ``val`` or ``train`` for a patient, from the first 8 hex digits of their key read as a fraction of
    16**8: below ``SHARES['test']`` test, then the next ``SHARES['val']`` validation."""
    fraction = int(patient_key[:8], 16) / 16**8
    if fraction < SHARES["test"]:
        return "test"
    return "val" if fraction < SHARES["test"] + SHARES["val"] else "train"


def training_record(study: TrainingStudy, image_file: str) -> dict[str, Any]:
    """The JSON of one study in a training export."""
    return {
        "format": TRAINING_EXPORT_FORMAT,
        "study": study.study_key,
        "patient": study.patient_key,
        "split": split_of(study.patient_key),
        "image": {"file": image_file, "width": study.width, "height": study.height},
        "model": {"name": study.model[0], "version": study.model[1]},
        "covered": sorted(study.covered, key=TRAINING_CLASSES.index),
        "teeth": [{"fdi": fdi, "box": _box(box)} for fdi, box in study.teeth],
        "findings": [_finding(f) for f in study.findings],
        "rejected": [{"type": f.type, "tooth": f.tooth, "box": _box(f.box)} for f in study.rejected],
    }


def _finding(finding: ExportedFinding) -> dict[str, Any]:
    item: dict[str, Any] = {"type": finding.type, "tooth": finding.tooth, "box": _box(finding.box)}
    item["origin"] = finding.origin
    if finding.model_type is not None:
        item["model_type"] = finding.model_type
    return item


def _box(box: Box | None) -> list[float] | None:
    return None if box is None else [round(float(v), 1) for v in box]


def write_training_export(studies: Iterable[TrainingStudy], write: Write) -> dict[str, int]:
    """Write every study whose pixels may go, ``split.json`` and ``manifest.json`` (with the studies left out)
    through ``write``; returns the studies written per split."""
    split: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    left_out: list[dict[str, str]] = []
    for study in studies:
        if study.pixels_withheld is not None:
            left_out.append({"study": study.study_key, "reason": study.pixels_withheld})
            continue
        ok, png = cv2.imencode(".png", study.pixels())
        if not ok:
            raise XrayReportError(f"study {study.study_key}: its image could not be encoded as PNG")
        image_file = f"images/{secrets.token_hex(10)}.png"
        record = training_record(study, image_file)
        write(image_file, png.tobytes())
        write(f"studies/{study.study_key}.json", (json.dumps(record, indent=1) + "\n").encode())
        split[record["split"]].append(study.study_key)
    split = {name: sorted(keys) for name, keys in split.items()}
    write("split.json", (json.dumps(split, indent=1) + "\n").encode())
    counts = {name: len(keys) for name, keys in split.items()}
    manifest = {
        "format": TRAINING_EXPORT_FORMAT,
        "studies": counts,
        "classes": list(TRAINING_CLASSES),
        "left_out": left_out,
        "content": "reviewed studies not excluded from training; see docs/learning.md for every field",
    }
    write("manifest.json", (json.dumps(manifest, indent=1) + "\n").encode())
    return counts


def folder_writer(folder: Path) -> Write:
    """Writes into ``folder``, which must be missing or empty (an export never mixes with another)."""
    if folder.exists() and any(folder.iterdir()):
        raise XrayReportError(f"{folder} is not empty; give a new folder for the export")

    def write(name: str, data: bytes) -> None:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    return write


def write_training_zip(studies: Iterable[TrainingStudy], out: IO[bytes]) -> dict[str, int]:
    """The export as a ZIP written to ``out`` (PNGs stored, JSON compressed); returns studies per split."""
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:

        def write(name: str, data: bytes) -> None:
            kind = zipfile.ZIP_STORED if name.endswith(".png") else zipfile.ZIP_DEFLATED
            archive.writestr(name, data, compress_type=kind)

        return write_training_export(studies, write)
