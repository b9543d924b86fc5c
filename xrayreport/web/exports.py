"""The researcher's de-identified export, wired to the workspace: which studies go in, and their keys."""

from __future__ import annotations

import datetime
import json
import logging
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

import numpy as np
import pydicom
from fastapi import HTTPException
from numpy.typing import NDArray
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.background import BackgroundTask
from starlette.responses import FileResponse, Response

from ..export import ExportOptions, ExportStudy, pseudonym, write_export
from ..export.burnedin import pixels_withheld
from .dicomresults import DICOM_UNAVAILABLE, StudySource, deidentified_objects, dicom_bytes, reviewed_study
from .fhirexport import FhirUnavailableError, deidentified_fhir_json
from .models import Study
from .scans import ScanStore
from .studies import pending_ids, report_document
from .workspace import Workspace

log = logging.getLogger(__name__)

DICOM_EXPORT_FORMAT = "xrayreport.dicom-export/1"


def export_response(workspace: Workspace, options: ExportOptions) -> Response:
    """The export of every reviewed study (nothing left pending) as a ZIP download, written to a temporary
    file first (with images it can be large) and deleted once sent."""
    handle = tempfile.NamedTemporaryFile(prefix="xrayreport-export-", suffix=".zip", delete=False)  # noqa: SIM115
    with handle:
        count = write_export(_reviewed_studies(workspace, options.images), options, handle)
    log.info("de-identified export of %d studies (%s)", count, ", ".join(options.asked_for()) or "findings only")
    return _zip_download(Path(handle.name), "xrayreport-export", count)


def _zip_download(path: Path, stem: str, count: int) -> Response:
    return FileResponse(
        path,
        media_type="application/zip",
        filename=f"{stem}-{datetime.date.today().isoformat()}.zip",
        headers={"Cache-Control": "no-store", "X-Export-Studies": str(count)},
        background=BackgroundTask(path.unlink, missing_ok=True),
    )


def dicom_export_response(workspace: Workspace, images: bool) -> Response:
    """Every reviewed study as de-identified DICOM and FHIR (format ``xrayreport.dicom-export/1``, docs/exports.md)
    in a ZIP download: the SR and the FHIR Bundle of each, and with ``images`` the overlay and the DICOM scan where
    their pixels carry no burned-in text; 503 without the ``[dicom]`` extra."""
    try:
        from ..dicomnet.deidentify import profile_table

        profile_table()
    except ImportError:
        raise HTTPException(503, DICOM_UNAVAILABLE) from None
    handle = tempfile.NamedTemporaryFile(prefix="xrayreport-dicom-", suffix=".zip", delete=False)  # noqa: SIM115
    with handle:
        count = write_dicom_export(workspace, images, handle)
    log.info("de-identified DICOM export of %d studies (%s)", count, "with images" if images else "findings only")
    return _zip_download(Path(handle.name), "xrayreport-dicom", count)


def write_dicom_export(source: StudySource, images: bool, out: IO[bytes]) -> int:
    """Write the de-identified DICOM export of every reviewed study of ``source`` as a ZIP to ``out`` (a binary
    file): ``studies/<study key>/sr.dcm`` (``overlay.dcm``, ``scan.dcm``), ``fhir.json`` (the Bundle of ``xrayreport
    fhir export --deidentify``) and ``manifest.json``, which lists each file left out and why; returns how many
    studies it holds. Keys and UIDs come from the workspace's secret key, as in the ZIP export: the same at every
    export, so the FHIR Bundle names the study the DICOM objects name."""
    from ..dicomnet.deidentify import DEIDENTIFICATION_METHOD, Deidentifier

    secret = source.config.secret_key().encode()
    deidentifier = Deidentifier(secret)
    with source.sessions() as db:
        studies = [(s.id, s.patient.id) for s in fully_reviewed(db)]
    left_out: list[dict[str, str]] = []
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for study_id, patient_id in studies:
            key = pseudonym(secret, "study", study_id)
            reviewed = reviewed_study(source, study_id)
            patient_key = pseudonym(secret, "patient", str(patient_id))
            objects, refused = deidentified_objects(source, reviewed, deidentifier, patient_key, images)
            for name, ds in objects.items():
                archive.writestr(f"studies/{key}/{name}", dicom_bytes(ds))
            try:
                archive.writestr(
                    f"studies/{key}/fhir.json", deidentified_fhir_json(reviewed, deidentifier, patient_key)
                )
            except FhirUnavailableError as exc:
                refused["fhir.json"] = str(exc)
            left_out += [{"study": key, "file": name, "reason": reason} for name, reason in refused.items()]
        manifest = {
            "format": DICOM_EXPORT_FORMAT,
            "studies": len(studies),
            "images": images,
            "deidentification": DEIDENTIFICATION_METHOD,
            "left_out": left_out,
            "content": "reviewed studies only; see docs/exports.md for what each file holds and what is removed",
        }
        archive.writestr("manifest.json", json.dumps(manifest, indent=1) + "\n")
    return len(studies)


def fully_reviewed(db: Session) -> list[Study]:
    """The studies whose every finding a dentist has reviewed, oldest first."""
    studies = db.scalars(select(Study).where(Study.reviewed_findings.is_not(None)).order_by(Study.created_at)).all()
    return [study for study in studies if not pending_ids(study)]


def scan_pixels_withheld(scans: ScanStore, study: Study) -> str | None:
    """Why the study's scan may not leave the server with its pixels, ``None`` when it may: the rule of every export
    (:func:`xrayreport.export.burnedin.pixels_withheld`) applied to the stored scan's header and the dentist's mark."""
    return pixels_withheld(burned_in_annotation(scans, study), study.burned_in_checked_by is not None)


def burned_in_annotation(scans: ScanStore, study: Study) -> str | None:
    """The stored scan's Burned In Annotation (0028,0301) as its DICOM header says it (``""`` when the header lacks
    it), ``None`` for a scan uploaded as an image file. Reads the header only: a few kilobytes of the file."""
    if study.file_format != "DICOM":
        return None
    with scans.open_scan(study.scan_file) as file:
        header = pydicom.dcmread(file, stop_before_pixels=True)
    return str(header.get("BurnedInAnnotation") or "")


def held_back_studies(db: Session, scans: ScanStore) -> list[tuple[Study, str | None]]:
    """The reviewed studies (nothing left pending) whose scans' pixels every export holds back for burned-in text:
    nobody marked them and their header does not say NO; newest upload first, each with its
    :func:`burned_in_annotation`. Reads the header of every unmarked reviewed DICOM scan."""
    unmarked = db.scalars(
        select(Study)
        .where(Study.reviewed_findings.is_not(None), Study.burned_in_checked_by.is_(None))
        .order_by(Study.created_at.desc(), Study.id)
    ).all()
    held = []
    for study in unmarked:
        if pending_ids(study):
            continue
        annotation = burned_in_annotation(scans, study)
        if pixels_withheld(annotation, checked=False) is not None:
            held.append((study, annotation))
    return held


def _reviewed_studies(workspace: Workspace, images: bool) -> list[ExportStudy]:
    secret = workspace.config.secret_key().encode()
    with workspace.sessions() as db:
        chosen = []
        for study in fully_reviewed(db):
            patient = study.patient
            chosen.append(
                ExportStudy(
                    study_key=pseudonym(secret, "study", study.id),
                    patient_key=pseudonym(secret, "patient", str(patient.id)),
                    findings=report_document(study),
                    age_years=_age_years(patient.birth_date, study.visit_day.isoformat()),
                    sex=patient.sex,
                    pixels=_pixels_of(workspace, study.scan_file),
                    # Only an export with images reads the DICOM headers this needs.
                    pixels_withheld=scan_pixels_withheld(workspace.scans, study) if images else None,
                )
            )
    return chosen


def _pixels_of(workspace: Workspace, scan_file: str) -> Callable[[], NDArray[np.uint8]]:
    return lambda: workspace.scans.load(scan_file).pixels


def _age_years(birth_date: str | None, on: str) -> int | None:
    """Whole years between two YYYY-MM-DD dates, ``None`` when the birth date is unknown."""
    if not birth_date:
        return None
    born, day = datetime.date.fromisoformat(birth_date), datetime.date.fromisoformat(on)
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))
