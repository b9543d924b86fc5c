"""A reviewed study's results as DICOM (structured report, overlay capture, report PDF): what the workspace holds,
handed to :mod:`xrayreport.dicomnet.results`. Needs the ``[dicom]`` extra (highdicom)."""

from __future__ import annotations

import io
from dataclasses import dataclass, replace
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

import pydicom
from fastapi import HTTPException
from fastapi.responses import Response
from pydicom.dataset import Dataset
from pydicom.uid import UID
from sqlalchemy.orm import Session, sessionmaker

from ..dicomnet.context import PatientIdentity, Reviewer, StudyContext
from ..dicomnet.dicomweb import DicomWebSettings, store_objects
from ..dicomnet.pacs import PacsSettings, SendError, send_objects
from ..errors import UnknownNameError
from ..findings import Findings
from ..ingestion import Radiograph
from .comparisons import previous_reviewed
from .config import WebConfig
from .plans import FindingsPendingError
from .reports import REPORT_LANGUAGES, REPORT_UNAVAILABLE, ReportRenderer, clinic_file_of, language_for
from .scans import ScanStore
from .studies import get_study, pending_ids, record_audit, report_document
from .workspace import Workspace

if TYPE_CHECKING:
    from ..dicomnet.deidentify import Deidentifier
    from ..dicomnet.results import StudyResults

ResultKind = Literal["sr", "overlay", "report"]
DICOM_UNAVAILABLE = "DICOM results need the [dicom] extra on this server (highdicom): pip install 'xrayreport[dicom]'"
NO_PACS = (
    "no PACS is set up: add a pacs: section (ae_title, host, port) or a dicomweb: section (url) to the workspace's "
    "clinic.yaml and restart the server; see docs/dicom.md"
)


class StudySource(Protocol):
    """Where reviewed studies are read from: the web workspace, or the command line's view of its home."""

    @property
    def config(self) -> WebConfig: ...

    @property
    def sessions(self) -> sessionmaker[Session]: ...

    @property
    def scans(self) -> ScanStore: ...


@dataclass(frozen=True)
class ReviewedStudy:
    """What the DICOM results of one study are made from."""

    radiograph: Radiograph
    findings: Findings
    reviewer: Reviewer
    patient: PatientIdentity
    study: StudyContext
    language: str
    """The report's language: the one asked for, else the patient's."""
    dicom_scan: str | None = None
    """The scan's file in the scan store when it came as DICOM (``None``: an image upload)."""
    previous: Findings | None = None
    """The findings of the patient's last fully reviewed scan before this one, for the report's "Since your last
    X-ray" (``None``: there is none)."""
    pixels_checked: bool = False
    """Someone has marked the scan checked free of burned-in text (:mod:`.burnedin`): its de-identified images may be
    exported whatever its DICOM header says."""

    def report_pdf(self, renderer: ReportRenderer) -> bytes:
        """The patient report of this study as the web's report page renders it: in :attr:`language`, with what
        changed since :attr:`previous`."""
        return renderer(self.radiograph, self.findings, self.language, self.previous)

    def results(self, report_pdf: bytes | None) -> StudyResults:
        """The SR and the overlay of this study, and the encapsulated ``report_pdf`` when given (needs highdicom)."""
        from ..dicomnet.results import study_results

        return study_results(
            self.radiograph,
            self.findings,
            self.reviewer,
            self.patient,
            self.study,
            report_pdf=report_pdf,
            report_language=self.language,
        )


def reviewed_study(workspace: StudySource, study_id: str, lang: str | None = None) -> ReviewedStudy:
    """The study's reviewed findings with the workspace's patient details and the study's UIDs (the scan's own when
    it came as DICOM), for the DICOM and FHIR exports; :class:`FindingsPendingError` (409) until a dentist has
    reviewed every finding."""
    with workspace.sessions() as db:
        study = get_study(db, study_id)
        if study.reviewed_at is None or study.reviewed_by is None or pending_ids(study):
            raise FindingsPendingError(
                "a dentist has not reviewed every finding of this study yet; DICOM results hold reviewed findings only"
            )
        language = language_for(lang, study.patient.language)
        if language not in REPORT_LANGUAGES:
            raise UnknownNameError("report language", language, REPORT_LANGUAGES)
        findings = report_document(study)
        earlier = previous_reviewed(study)
        previous = None if earlier is None else report_document(earlier)
        patient = PatientIdentity(
            name=dicom_person_name(study.patient.name),
            patient_id=study.patient.external_id,
            birth_date=study.patient.birth_date,
            sex=study.patient.sex,
        )
        confirmed = frozenset(study.accepted())
        study_name = study.patient.name
        reviewer_name, reviewed_at = study.reviewed_by, study.reviewed_at
        scan_file, source_name, file_format, study_date = (
            study.scan_file,
            study.source_name,
            study.file_format,
            study.study_date,
        )
        pixels_checked = study.burned_in_checked_by is not None
    if file_format == "DICOM":
        header = pydicom.dcmread(io.BytesIO(workspace.scans.read(scan_file)), stop_before_pixels=True)
        context = StudyContext.from_dicom(header)
        patient = replace(patient, name=dicom_person_name(study_name, str(header.get("PatientName") or "")))
    else:
        context = StudyContext.for_upload(study_id, study_date)
    clinic = clinic_file_of(workspace.config.home)
    institution = findings.study.institution if findings.study else None
    organization = (clinic.name if clinic else None) or institution or "xrayreport workspace"
    return ReviewedStudy(
        radiograph=workspace.scans.load(scan_file, source_name),
        findings=findings,
        # SQLite hands back the UTC times the workspace stored without their zone.
        reviewer=Reviewer(
            reviewer_name, reviewed_at.replace(tzinfo=reviewed_at.tzinfo or UTC), confirmed, organization
        ),
        patient=patient,
        study=context,
        language=language,
        dicom_scan=scan_file if file_format == "DICOM" else None,
        previous=previous,
        pixels_checked=pixels_checked,
    )


def dicom_person_name(name: str | None, scan_name: str = "") -> str | None:
    """The patient's name for DICOM: the scan's own person name (``Doe^Jane``) while the workspace's name is still its
    words (``Doe Jane``); else the workspace's name, whose parts are unknown, whole in the first component
    (``Jane Roe^``)."""
    if not name:
        return None
    words = " ".join(part.strip() for part in scan_name.split("=")[0].split("^") if part.strip())
    return scan_name if words == name else f"{name.replace('^', ' ')}^"


def result_objects(workspace: Workspace, study_id: str, lang: str | None, with_report: bool) -> StudyResults:
    """The study's DICOM results; the report PDF (in ``lang``, else the patient's language) only ``with_report``
    (503 when this server cannot render reports)."""
    try:
        import highdicom  # noqa: F401
    except ImportError:
        raise HTTPException(503, DICOM_UNAVAILABLE) from None
    reviewed = reviewed_study(workspace, study_id, lang)
    pdf = None
    if with_report:
        renderer = workspace.config.renderer
        if renderer is None:
            raise HTTPException(503, REPORT_UNAVAILABLE)
        pdf = reviewed.report_pdf(renderer)
    return reviewed.results(pdf)


def deidentified_objects(
    workspace: StudySource, reviewed: ReviewedStudy, deidentifier: Deidentifier, patient_key: str, images: bool
) -> tuple[dict[str, Dataset], dict[str, str]]:
    """The study's research copies, de-identified (:mod:`xrayreport.dicomnet.deidentify`), by file name: the SR
    (``sr.dcm``) and with ``images`` the overlay (``overlay.dcm``) and the scan itself when it came as DICOM
    (``scan.dcm``); an image whose Burned In Annotation is not NO is left out, with the reason, in the second
    mapping, unless the scan is marked checked free of burned-in text (the copies then say NO). Never the report
    PDF: its text names the patient."""
    from ..dicomnet.deidentify import BurnedInAnnotationError

    results = reviewed.results(None)
    objects = {"sr.dcm": deidentifier.deidentify(results.structured_report, patient_key, clean_structured_content=True)}
    left_out: dict[str, str] = {}
    if images:
        pictures = {"overlay.dcm": results.overlay}
        if reviewed.dicom_scan is not None:
            pictures["scan.dcm"] = pydicom.dcmread(io.BytesIO(workspace.scans.read(reviewed.dicom_scan)))
        for name, ds in pictures.items():
            try:
                objects[name] = deidentifier.deidentify(ds, patient_key, pixels_checked=reviewed.pixels_checked)
            except BurnedInAnnotationError as exc:
                left_out[name] = str(exc)
    return objects, left_out


def dicom_bytes(ds: Dataset) -> bytes:
    """A result object as a DICOM file (preamble, file meta, data set)."""
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def dicom_response(workspace: Workspace, study_id: str, kind: ResultKind, lang: str | None) -> Response:
    """One result object of a reviewed study as a ``application/dicom`` download."""
    results = result_objects(workspace, study_id, lang, with_report=kind == "report")
    objects = {"sr": results.structured_report, "overlay": results.overlay}
    if results.pdf is not None:
        objects["report"] = results.pdf
    return Response(
        dicom_bytes(objects[kind]),
        media_type="application/dicom",
        headers={
            "Content-Disposition": f'attachment; filename="{kind}-{study_id[:8]}.dcm"',
            "Cache-Control": "no-store",
        },
    )


def results_destination(home: Path) -> PacsSettings | DicomWebSettings | None:
    """Where the clinic file sends results: its ``dicomweb:`` server (STOW-RS) when it has one, else its ``pacs:``
    (C-STORE), else ``None``; a clinic file in error raises its :class:`~xrayreport.errors.XrayReportError`."""
    clinic = clinic_file_of(home)
    if clinic is None:
        return None
    return clinic.dicomweb or clinic.pacs


def send_results(workspace: Workspace, study_id: str, username: str, lang: str | None) -> dict[str, object]:
    """Store the study's SR, overlay and report on the clinic's PACS (:func:`results_destination`) and audit it; 503
    when none is set up or it cannot be reached or refuses (nothing audited then; the message says what to check)."""
    destination = results_destination(workspace.config.home)
    if destination is None:
        raise HTTPException(503, NO_PACS)
    results = result_objects(workspace, study_id, lang, with_report=True)
    objects = [results.structured_report, results.overlay, *([results.pdf] if results.pdf is not None else [])]
    try:
        if isinstance(destination, DicomWebSettings):
            sent = store_objects(destination, objects)
        else:
            sent = send_objects(destination, objects)
    except SendError as exc:
        raise HTTPException(503, str(exc)) from None
    summary: dict[str, object] = {
        "pacs": destination.label,
        "via": "STOW-RS" if isinstance(destination, DicomWebSettings) else "C-STORE",
        "objects": [{"sop_class": UID(s.sop_class_uid).name, "sop_instance_uid": s.sop_instance_uid} for s in sent],
    }
    with workspace.sessions.begin() as db:
        record_audit(db, get_study(db, study_id), username, "sent", "DICOM results to the PACS", None, summary)
    return summary
