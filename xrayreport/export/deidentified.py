"""A de-identified export (format ``xrayreport.export/1``): a ZIP a researcher can train and evaluate on.

``manifest.json`` says what is inside and which optional fields were asked for; ``studies/<key>.json`` holds
one reviewed study: its key and its patient's key (keyed hashes: stable from one export to the next, so
a researcher can keep a patient's scans on one side of a split, but not reversible without the clinic's
secret), the image size, the model that proposed the findings, the teeth and findings as the dentist
confirmed them (boxes in original image pixels), and only when asked the patient's age in whole years
and sex. Never the name, patient ID, birth date, study date, file name, institution, the dentist's
notes (free text) or who reviewed when. ``images/<key>.png`` (only when asked) is the scan's pixels,
8-bit greyscale, with no metadata, and only for a scan whose pixels may leave (:mod:`.burnedin`: its DICOM header
says no text is burned into it, or a dentist marked it checked); the manifest's ``left_out`` says which were held
back and why, since text burned into the pixels by the X-ray machine cannot be removed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import IO, Any

import cv2
import numpy as np
from numpy.typing import NDArray

from ..errors import XrayReportError
from ..findings import Findings

EXPORT_FORMAT = "xrayreport.export/1"
KEY_HEX_DIGITS = 20  # 80 bits: no collision among any clinic's studies


@dataclass(frozen=True)
class ExportOptions:
    """What an export carries beyond findings: the images, the patient's age in whole years, their sex."""

    images: bool = False
    age: bool = False
    sex: bool = False

    def asked_for(self) -> list[str]:
        return [name for name in ("images", "age", "sex") if getattr(self, name)]


@dataclass(frozen=True)
class ExportStudy:
    """One reviewed study to export. ``pixels`` loads the (height, width) uint8 image when images are asked for;
    ``pixels_withheld`` is why they may not go (:func:`.burnedin.pixels_withheld`), ``None`` when they may."""

    study_key: str
    patient_key: str
    findings: Findings
    age_years: int | None
    sex: str | None
    pixels: Callable[[], NDArray[np.uint8]]
    pixels_withheld: str | None = None


def pseudonym(secret: bytes, kind: str, value: str) -> str:
    """A stable key for ``value`` (a study or patient number) that only ``secret``'s holder can link back."""
    return hmac.new(secret, f"{kind}\0{value}".encode(), hashlib.sha256).hexdigest()[:KEY_HEX_DIGITS]


def deidentified_record(study: ExportStudy, options: ExportOptions) -> dict[str, Any]:
    """The JSON of one study in an export (see the module's description for what is left out)."""
    document = study.findings
    model: dict[str, Any] = {"name": document.model.name, "version": document.model.version}
    if document.model.second_stage is not None:
        second = document.model.second_stage
        model["second_stage"] = {"name": second.name, "version": second.version}
    record: dict[str, Any] = {
        "format": EXPORT_FORMAT,
        "study": study.study_key,
        "patient": study.patient_key,
        "image": {
            "width": document.image.width,
            "height": document.image.height,
            "file": f"images/{study.study_key}.png" if _with_image(study, options) else None,
        },
        "model": model,
        "teeth": [{"fdi": t.fdi, "box": _box(t.box), "source": t.source} for t in document.teeth],
        "findings": [
            {"id": f.id, "type": f.type, "tooth": f.tooth, "box": _box(f.box), "source": f.source}
            for f in document.findings
        ],
    }
    if options.age:
        record["age_years"] = study.age_years
    if options.sex:
        record["sex"] = study.sex
    return record


def _with_image(study: ExportStudy, options: ExportOptions) -> bool:
    return options.images and study.pixels_withheld is None


def _box(box: tuple[float, float, float, float] | None) -> list[float] | None:
    return None if box is None else [round(float(v), 1) for v in box]


def write_export(studies: Iterable[ExportStudy], options: ExportOptions, out: IO[bytes]) -> int:
    """Write the export ZIP to ``out``; returns how many studies it holds (a study whose image is held back is
    there with its findings, and its image in the manifest's ``left_out``)."""
    count = 0
    left_out: list[dict[str, str]] = []
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for study in studies:
            record = deidentified_record(study, options)
            archive.writestr(f"studies/{study.study_key}.json", json.dumps(record, indent=1) + "\n")
            image_file = f"images/{study.study_key}.png"
            if _with_image(study, options):
                ok, png = cv2.imencode(".png", study.pixels())
                if not ok:
                    raise XrayReportError(f"study {study.study_key}: its image could not be encoded as PNG")
                archive.writestr(image_file, png.tobytes(), compress_type=zipfile.ZIP_STORED)
            elif options.images and study.pixels_withheld is not None:
                left_out.append({"study": study.study_key, "file": image_file, "reason": study.pixels_withheld})
            count += 1
        manifest = {
            "format": EXPORT_FORMAT,
            "studies": count,
            "asked_for": options.asked_for(),
            "left_out": left_out,
            "content": "reviewed studies only; see docs/exports.md for every field and what is left out",
        }
        archive.writestr("manifest.json", json.dumps(manifest, indent=1) + "\n")
    return count
