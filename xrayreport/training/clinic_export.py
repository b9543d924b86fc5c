"""The clinic's training export (``xrayreport.training-export/1``, :mod:`xrayreport.export.training`) as a dataset:
``format: xrayreport-export`` in a dataset YAML (``root``: the unpacked export; its own ``split.json`` is the split).

For the detector, each study is a :class:`~.datasets.Sample` keyed by its study key, grouped by its patient key:
teeth with their FDI numbers, and each finding's box under the detector class its final type belongs to
(:data:`~xrayreport.export.training.TYPE_CLASSES`). The classes it teaches are those the review covered (and the
YAML's ``labelled`` allows): there an unmarked region is background, so a rejected model finding is a negative
where it stood; a covered class without any finding is also ``absent`` from the scan, one with a finding
``present``. For the second stage, :func:`tooth_labels_of` gives each tooth its labels (see there).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..detection.config import OBJECT_CLASSES
from ..errors import XrayReportError
from ..export.training import TRAINING_EXPORT_FORMAT, TYPE_CLASSES
from .datasets import Annotation, DatasetConfig, Sample

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class ExportedScan:
    """One study of an export as read back: boxes in pixels of ``image_path``; findings as (type, FDI, box)."""

    key: str
    patient: str
    split: str
    image_path: Path
    covered: frozenset[str]
    teeth: tuple[tuple[str, Box | None], ...]
    findings: tuple[tuple[str, str | None, Box | None], ...]
    rejected: tuple[tuple[str, str | None, Box | None], ...]


def read_export(root: Path) -> dict[str, ExportedScan]:
    """Every study of the export unpacked at ``root``, by study key; a file of another format is refused."""
    folder = root / "studies"
    if not folder.is_dir():
        raise XrayReportError(f"{root}: no studies/ folder; unpack a training export (xrayreport dataset export) here")
    scans = {}
    for path in sorted(folder.glob("*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            scan = _scan(record, root)
        except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise XrayReportError(f"{path}: not a study of a training export ({exc})") from None
        scans[scan.key] = scan
    return scans


def _scan(record: dict[str, Any], root: Path) -> ExportedScan:
    if record.get("format") != TRAINING_EXPORT_FORMAT:
        raise ValueError(f"format {record.get('format')!r}, expected {TRAINING_EXPORT_FORMAT}")

    def items(key: str) -> tuple[tuple[str, str | None, Box | None], ...]:
        return tuple((str(f["type"]), f["tooth"], _box(f["box"])) for f in record[key])

    return ExportedScan(
        key=str(record["study"]),
        patient=str(record["patient"]),
        split=str(record["split"]),
        image_path=root / record["image"]["file"],
        covered=frozenset(record["covered"]),
        teeth=tuple((str(t["fdi"]), _box(t["box"])) for t in record["teeth"]),
        findings=items("findings"),
        rejected=items("rejected"),
    )


def _box(value: Any) -> Box | None:
    return None if value is None else (float(value[0]), float(value[1]), float(value[2]), float(value[3]))


def export_samples(config: DatasetConfig) -> dict[str, Sample]:
    """The detector's samples of an export dataset, by study key (see the module docstring)."""
    samples = {}
    for key, scan in read_export(config.root).items():
        labelled = config.labelled & scan.covered & frozenset(OBJECT_CLASSES)
        annotations = [Annotation(box, "tooth", fdi) for fdi, box in scan.teeth if box is not None]
        for finding_type, _, box in scan.findings:
            for name in TYPE_CLASSES.get(finding_type, ()):
                if name in OBJECT_CLASSES and box is not None:
                    annotations.append(Annotation(box, name))
        held = {a.label for a in annotations} - {"tooth"}
        findings_taught = labelled - {"tooth"}
        samples[key] = Sample(
            image_path=scan.image_path,
            annotations=tuple(annotations),
            labelled=labelled,
            source=config.name,
            absent=findings_taught - held,
            present=findings_taught & held,
            group=scan.patient,
        )
    return samples


def tooth_labels_of(scan: ExportedScan, fdi: str, classes: tuple[str, ...]) -> dict[str, int]:
    """One tooth's labels among ``classes``: 1 for every class a finding on the tooth (by its FDI number) holds;
    0 for a class the review covered, or that a rejected model finding on this tooth claimed, unless a finding
    holds it; the rest unknown. Implications (a root canal filling is a restoration...) are added by the caller."""
    positive = {c for t, tooth, _ in scan.findings if tooth == fdi for c in TYPE_CLASSES.get(t, ())}
    rejected = {c for t, tooth, _ in scan.rejected if tooth == fdi for c in TYPE_CLASSES.get(t, ())}
    labels = dict.fromkeys((scan.covered | rejected) & set(classes), 0)
    labels.update(dict.fromkeys(positive & set(classes), 1))
    return labels
