"""What a dentist does with a study, shared by the pages and the API.

Upload (a validated scan, a patient found or created, analysis queued), the findings documents, and
the review: accept, reject, relabel or add findings and renumber teeth. Every review change goes
through :func:`save_review`, which writes one audit entry per changed item (who, when, before, after);
corrections to a patient's details (:func:`update_patient`) are audited the same way.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any, Literal, cast

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ..dentition import check_fdi
from ..errors import FindingsError, UnknownNameError, XrayReportError
from ..findings import FINDING_TYPES, Box, Finding, Findings, ImageInfo, ModelInfo, Review, findings_from_dict
from ..findings import Patient as FindingsPatient
from ..findings import Study as FindingsStudy
from ..ingestion import Radiograph
from ..mail import address_problem
from .analysis import ANALYSIS_UNAVAILABLE
from .models import EXTERNAL_ID_LENGTH, NAME_LENGTH, AuditEntry, Patient, Study, StudyStatus, utc_now
from .reports import REPORT_LANGUAGES
from .scans import ScanStore
from .standings import forget_standing

MANUAL_MODEL = ModelInfo(name="none (manual review)", version="-")
"""The ``model`` of a document a dentist starts by hand because no analysis result exists."""


SEXES = ("F", "M", "O")
"""Patient sex as DICOM codes it (female, male, other); unknown is ``None``."""


class NotFoundError(XrayReportError):
    """A patient or study id that does not exist."""


PATIENT_FIELD_LABELS = {
    "name": "name",
    "external_id": "patient ID",
    "birth_date": "birth date",
    "sex": "sex",
    "language": "language",
    "email": "e-mail address",
}
"""How messages and the audit trail name the fields of :class:`PatientFields` (keys as its attributes)."""


class PatientFieldsError(XrayReportError):
    """Patient details that cannot be stored; the message names every field that is wrong and why.

    ``problems`` maps each wrong field (as :class:`PatientFields` names it) to what is wrong with it, so the
    API can name the fields as its clients send them.
    """

    def __init__(self, problems: dict[str, str]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{PATIENT_FIELD_LABELS[key]}: {text}" for key, text in problems.items()))


@dataclass(frozen=True)
class PatientFields:
    """Patient fields as typed in a form or sent to the API; empty ones are filled from the DICOM (the DICOM
    holds no language or e-mail address). ``language`` is a report language code: letters, cards, messages and
    reports are in it unless another is asked for."""

    name: str | None = None
    external_id: str | None = None
    birth_date: str | None = None
    sex: str | None = None
    language: str | None = None
    email: str | None = None

    @classmethod
    def of(cls, patient: Patient) -> PatientFields:
        return cls(patient.name, patient.external_id, patient.birth_date, patient.sex, patient.language, patient.email)

    def cleaned(self) -> PatientFields:
        """Stripped, empty as ``None``, checked against the columns; raises PatientFieldsError naming each problem."""
        name, external_id, birth, sex, language, email = (
            v.strip() if v and v.strip() else None for v in asdict(self).values()
        )
        problems = {}
        if name is not None and len(name) > NAME_LENGTH:
            problems["name"] = f"use at most {NAME_LENGTH} characters"
        if external_id is not None and len(external_id) > EXTERNAL_ID_LENGTH:
            problems["external_id"] = f"use at most {EXTERNAL_ID_LENGTH} characters"
        if birth is not None:
            try:
                birth = datetime.strptime(birth, "%Y-%m-%d").date().isoformat()
            except ValueError:
                problems["birth_date"] = "use the form YYYY-MM-DD, e.g. 1984-03-27"
        if sex is not None:
            sex = sex.upper()
            if sex not in SEXES:
                problems["sex"] = "use F, M or O, or leave it empty when unknown"
        if language is not None:
            language = language.lower()
            if language not in REPORT_LANGUAGES:
                problems["language"] = f"use {', '.join(REPORT_LANGUAGES)}, or leave it empty when not chosen"
        if email is not None and (problem := address_problem(email)) is not None:
            problems["email"] = problem
        if problems:
            raise PatientFieldsError(problems)
        return PatientFields(name, external_id, birth, sex, language, email)


def find_patients(db: Session, query: str, limit: int = 50) -> list[Patient]:
    """Patients whose name or ID contains ``query`` (all, newest first, when it is empty)."""
    statement = select(Patient).order_by(Patient.created_at.desc()).limit(limit)
    if query.strip():
        like = f"%{query.strip()}%"
        statement = statement.where(or_(Patient.name.ilike(like), Patient.external_id.ilike(like)))
    return list(db.scalars(statement))


def create_patient(db: Session, fields: PatientFields) -> Patient:
    fields = fields.cleaned()
    patient = Patient(**asdict(fields))
    db.add(patient)
    db.flush()
    return patient


def update_patient(db: Session, patient: Patient, fields: PatientFields, user: str) -> bool:
    """Correct a patient's details; one audit entry holds the changed fields before and after.

    Returns ``False``, auditing nothing, when nothing changed. Reports issued from now on carry the new
    details (:func:`report_document` reads them from here). An ID another patient has already is refused:
    uploads with that ID would find either of them.
    """
    fields = fields.cleaned()
    if fields.external_id is not None and fields.external_id != patient.external_id:
        holder = db.scalar(select(Patient.id).where(Patient.external_id == fields.external_id))
        if holder is not None:
            raise PatientFieldsError(
                {
                    "external_id": f"{fields.external_id!r} is patient #{holder}'s already; check the ID, or "
                    "upload to that patient"
                }
            )
    before, after = asdict(PatientFields.of(patient)), asdict(fields)
    changed = [key for key in after if after[key] != before[key]]
    if not changed:
        return False
    record_audit(
        db, patient, user, "edit", "patient details", {k: before[k] for k in changed}, {k: after[k] for k in changed}
    )
    for key in changed:
        setattr(patient, key, after[key])
    return True


def get_patient(db: Session, patient_id: int, lock: bool = False) -> Patient:
    patient = db.get(Patient, patient_id, with_for_update=lock)
    if patient is None:
        raise NotFoundError(f"no patient #{patient_id}; pick one from the patient list")
    return patient


def get_study(db: Session, study_id: str, lock: bool = False) -> Study:
    study = db.get(Study, study_id, with_for_update=lock)
    if study is None:
        raise NotFoundError(f"no study {study_id!r}; it may have been uploaded to another server")
    return study


def _patient_for_upload(db: Session, patient_id: int | None, fields: PatientFields, radiograph: Radiograph) -> Patient:
    if patient_id is not None:
        return get_patient(db, patient_id)
    meta = radiograph.metadata
    fields = fields.cleaned()
    fields = replace(
        fields,
        name=fields.name or meta.patient_name,
        external_id=fields.external_id or meta.patient_id,
        birth_date=fields.birth_date or meta.birth_date,
        sex=fields.sex or meta.sex,
    )
    if fields.external_id:
        known = db.scalar(select(Patient).where(Patient.external_id == fields.external_id))
        if known is not None:
            return known
    return create_patient(db, fields)


def create_study(
    db: Session,
    scans: ScanStore,
    data: bytes,
    radiograph: Radiograph,
    user: str,
    patient_id: int | None = None,
    fields: PatientFields | None = None,
    analysis_installed: bool = True,
    now: datetime | None = None,
) -> Study:
    """Store a validated upload and add its study (``queued``, or ``unavailable`` without an analyser), uploaded
    ``now`` (the workspace's clock; a scan without a study date counts as a visit on that day)."""
    patient = _patient_for_upload(db, patient_id, fields or PatientFields(), radiograph)
    scan_file = scans.save(data, radiograph)
    study = Study(
        id=secrets.token_hex(16),
        patient=patient,
        scan_file=scan_file,
        source_name=radiograph.source_name,
        file_format=radiograph.file_format,
        width=radiograph.width,
        height=radiograph.height,
        sha256=radiograph.sha256,
        study_date=radiograph.metadata.study_date,
        modality=radiograph.metadata.modality,
        status=StudyStatus.QUEUED if analysis_installed else StudyStatus.UNAVAILABLE,
        status_message=None if analysis_installed else ANALYSIS_UNAVAILABLE,
        interrupted_runs=0,
        accepted_ids="[]",
        created_by=user,
        created_at=now or utc_now(),
    )
    db.add(study)
    db.flush()
    forget_standing(db, patient.id)  # a scan is a visit
    return study


def current_document(study: Study) -> Findings | None:
    """The dentist's reviewed findings, else the model's, else ``None`` (not analysed)."""
    return study.reviewed_document() or study.model_document()


def base_document(study: Study) -> Findings:
    """The document a review starts from; an empty one when there is no analysis to start from."""
    current = current_document(study)
    if current is not None:
        return current
    image = ImageInfo(width=study.width, height=study.height, sha256=study.sha256, source=study.source_name)
    return Findings(image=image, model=MANUAL_MODEL)


def pending_ids(study: Study) -> list[str]:
    """Model findings in the reviewed document the dentist has neither accepted nor rejected yet."""
    document = base_document(study)
    accepted = study.accepted()
    return [f.id for f in document.findings if f.source == "model" and f.id not in accepted]


def report_document(study: Study) -> Findings:
    """The findings a report is made from: the reviewed ones (pending model findings left out), else the model's.

    Patient and study fields come from the workspace's records (:func:`with_records`), so corrections made there
    reach the report.
    """
    reviewed = study.reviewed_document()
    if reviewed is not None:
        pending = set(pending_ids(study))
        document = replace(reviewed, findings=tuple(f for f in reviewed.findings if f.id not in pending))
    else:
        model = study.model_document()
        if model is None:
            raise XrayReportError(
                f"study {study.id} has no findings yet (analysis {study.status}); wait for the analysis or "
                "add the findings by hand first"
            )
        document = model
    return with_records(study, document)


def with_records(study: Study, document: Findings) -> Findings:
    """``document`` with the patient and study fields of the workspace's records (name, ID, birth date, sex;
    study date, modality), which may have been corrected since the analysis."""
    patient = study.patient
    return replace(
        document,
        patient=FindingsPatient(
            name=patient.name,
            id=patient.external_id,
            birth_date=patient.birth_date,
            sex=cast(Literal["F", "M", "O"], patient.sex) if patient.sex in SEXES else None,
        ),
        study=FindingsStudy(
            date=study.study_date,
            institution=document.study.institution if document.study else None,
            modality=study.modality,
        ),
    )


def parse_document(data: Any, study: Study) -> Findings:
    """Validate a findings document sent by a client and check it belongs to the study's scan."""
    document = findings_from_dict(data)
    if (document.image.width, document.image.height, document.image.sha256) != (
        study.width,
        study.height,
        study.sha256,
    ):
        raise FindingsError(
            f"invalid findings document: field image: it describes a {document.image.width}x{document.image.height} "
            f"image with sha256 {document.image.sha256[:12]}..., not this study's scan ({study.width}x{study.height}, "
            f"sha256 {study.sha256[:12]}...); GET the study's findings and edit those"
        )
    return document


def _compact(item: Any) -> str:
    data = item if isinstance(item, dict) else asdict(item)
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def record_audit(
    db: Session, owner: Study | Patient, user: str, action: str, subject: str, before: Any, after: Any
) -> None:
    """One audit entry about a study's findings or a patient's details."""
    db.add(
        AuditEntry(
            study=owner if isinstance(owner, Study) else None,
            patient=owner if isinstance(owner, Patient) else None,
            username=user,
            action=action,
            subject=subject,
            before=None if before is None else _compact(before),
            after=None if after is None else _compact(after),
        )
    )


def _diff(db: Session, study: Study, user: str, old: Findings, new: Findings) -> None:
    old_teeth = {t.fdi: t for t in old.teeth}
    new_teeth = {t.fdi: t for t in new.teeth}
    for fdi in sorted(old_teeth.keys() | new_teeth.keys()):
        before, after = old_teeth.get(fdi), new_teeth.get(fdi)
        if before != after:
            action = "add" if before is None else "remove" if after is None else "edit"
            record_audit(db, study, user, action, f"tooth {fdi}", before, after)
    old_findings = {f.id: f for f in old.findings}
    new_findings = {f.id: f for f in new.findings}
    for finding_id in sorted(old_findings.keys() | new_findings.keys()):
        old_f, new_f = old_findings.get(finding_id), new_findings.get(finding_id)
        if old_f != new_f:
            action = "add" if old_f is None else "reject" if new_f is None else "edit"
            record_audit(db, study, user, action, f"finding {finding_id}", old_f, new_f)


def save_review(
    db: Session,
    study: Study,
    document: Findings,
    user: str,
    accept: set[str] | None = None,
    audit: bool = True,
    unaccept: set[str] | None = None,
) -> None:
    """Store ``document`` as the study's reviewed findings, auditing every tooth and finding that changed.

    ``accept`` holds model finding ids the dentist confirmed with this change, ``unaccept`` those that wait for
    review again (an undone accept); ids no longer in the document are dropped from the accepted set.
    ``audit=False`` is for callers that wrote one entry for the whole change themselves.
    """
    if audit:
        _diff(db, study, user, base_document(study), document)
    now = utc_now()
    document = replace(document, review=Review(reviewed_by=user, reviewed_at=now.isoformat(timespec="seconds")))
    findings_from_dict(document.to_dict())  # never store a document that does not validate
    kept = {f.id for f in document.findings}
    accepted = ((study.accepted() - (unaccept or set())) | (accept or set())) & kept
    study.reviewed_findings = document.to_json()
    study.accepted_ids = json.dumps(sorted(accepted))
    study.reviewed_by, study.reviewed_at = user, now


def replace_document(db: Session, study: Study, document: Findings, user: str) -> None:
    """The API's PUT: the dentist's whole reviewed document; every finding in it counts as confirmed."""
    save_review(db, study, document, user, accept={f.id for f in document.findings})


def _finding(document: Findings, finding_id: str) -> Finding:
    for finding in document.findings:
        if finding.id == finding_id:
            return finding
    raise UnknownNameError("finding", finding_id, [f.id for f in document.findings])


def _check_type(finding_type: str) -> str:
    if finding_type not in FINDING_TYPES:
        raise UnknownNameError("finding type", finding_type, FINDING_TYPES)
    return finding_type


def accept_findings(db: Session, study: Study, finding_ids: list[str], user: str) -> None:
    """Confirm model findings as they are (one audit entry each)."""
    document = base_document(study)
    for finding_id in finding_ids:
        finding = _finding(document, finding_id)
        if finding_id not in study.accepted():
            record_audit(db, study, user, "accept", f"finding {finding_id}", finding, finding)
    save_review(db, study, document, user, accept=set(finding_ids))


def reject_findings(db: Session, study: Study, finding_ids: list[str], user: str) -> None:
    """Remove findings from the reviewed document (one audit entry each)."""
    document = base_document(study)
    for finding_id in finding_ids:
        _finding(document, finding_id)
    kept = tuple(f for f in document.findings if f.id not in finding_ids)
    save_review(db, study, replace(document, findings=kept), user)


@dataclass(frozen=True)
class FindingAsWas:
    """A finding as it was before the change being undone (as the findings document writes it), and whether the
    dentist had confirmed it then."""

    finding: dict[str, Any]
    accepted: bool


@dataclass(frozen=True)
class AddedFinding:
    """A finding the change being undone added (by its id): it goes again."""

    id: str


@dataclass(frozen=True)
class ToothAsWas:
    """A tooth the change being undone renumbered: as it was (as the findings document writes it), and the number
    it has now."""

    tooth: dict[str, Any]
    now: str


EarlierState = FindingAsWas | AddedFinding | ToothAsWas
"""What one change being undone altered, as it was before (the review page keeps it for each step)."""


def undo_change(db: Session, study: Study, earlier: list[EarlierState], user: str) -> None:
    """Undo a review change: put what it altered back as it was.

    A finding as it was replaces the finding with its id, or comes back when it was rejected, and waits for review
    again when it had not been confirmed; an added finding goes; a renumbered tooth takes back its number, and the
    findings on it move with it, as they moved. One audit entry each (``undo``, before and after). A finding or
    tooth the document's schema refuses is refused with the field named, one no longer on the scan (another
    dentist's change since) with its id.
    """
    document = base_document(study)
    current = {f.id: f for f in document.findings}
    data = document.to_dict()
    findings: list[dict[str, Any]] = data.get("findings", [])
    teeth: list[dict[str, Any]] = data.get("teeth", [])
    for item in earlier:
        if isinstance(item, FindingAsWas):
            finding_id = str(item.finding.get("id"))
            if finding_id in current:
                findings = [item.finding if f["id"] == finding_id else f for f in findings]
            else:
                findings.append(item.finding)
        elif isinstance(item, AddedFinding):
            _finding(document, item.id)
            findings = [f for f in findings if f["id"] != item.id]
        else:
            numbers = [t["fdi"] for t in teeth]
            if item.now not in numbers:
                raise UnknownNameError("tooth on this scan", item.now, numbers)
            old = str(item.tooth.get("fdi"))
            if old != item.now and old in numbers:
                raise XrayReportError(f"tooth {old} is on this scan again; renumber that tooth first")
            teeth = [item.tooth if t["fdi"] == item.now else t for t in teeth]
            findings = [{**f, "tooth": old} if f.get("tooth") == item.now else f for f in findings]
    restored = findings_from_dict({**data, "teeth": teeth, "findings": findings})
    after = {f.id: f for f in restored.findings}
    for item in earlier:
        if isinstance(item, ToothAsWas):
            was = {"fdi": item.now}
            record_audit(db, study, user, "undo", f"tooth {item.now}", was, {"fdi": str(item.tooth["fdi"])})
        else:
            finding_id = str(item.id if isinstance(item, AddedFinding) else item.finding["id"])
            record_audit(
                db, study, user, "undo", f"finding {finding_id}", current.get(finding_id), after.get(finding_id)
            )
    confirmed = {str(i.finding["id"]) for i in earlier if isinstance(i, FindingAsWas) and i.accepted}
    waiting = {str(i.finding["id"]) for i in earlier if isinstance(i, FindingAsWas) and not i.accepted}
    save_review(db, study, restored, user, accept=confirmed, audit=False, unaccept=waiting)


def relabel_findings(db: Session, study: Study, finding_ids: list[str], finding_type: str, user: str) -> None:
    """Give findings another type (a tooth's at once, or one); the dentist has looked at them, so they count as
    confirmed. One audit entry each (``edit``)."""
    document = base_document(study)
    for finding_id in finding_ids:
        _finding(document, finding_id)
    _check_type(finding_type)
    findings = tuple(replace(f, type=finding_type) if f.id in finding_ids else f for f in document.findings)
    save_review(db, study, replace(document, findings=findings), user, accept=set(finding_ids))


def add_finding(
    db: Session, study: Study, finding_type: str, tooth: str | None, box: Box | None, user: str, note: str | None = None
) -> str:
    """Add a dentist's finding (on a tooth, in a drawn box, or both); returns its new id."""
    document = base_document(study)
    _check_type(finding_type)
    if tooth is not None:
        check_fdi(tooth)
    if box is None and tooth is not None:  # a finding on a clicked tooth is drawn where the tooth is
        box = next((t.box for t in document.teeth if t.fdi == tooth), None)
    used = {f.id for f in document.findings}
    number = 1
    while f"d{number}" in used:
        number += 1
    new = Finding(id=f"d{number}", type=finding_type, tooth=tooth, box=box, source="dentist", note=note or None)
    save_review(db, study, replace(document, findings=(*document.findings, new)), user)
    return new.id


def renumber_tooth(db: Session, study: Study, old_fdi: str, new_fdi: str, user: str) -> None:
    """Give a tooth another FDI number; its findings move with it."""
    document = base_document(study)
    check_fdi(new_fdi)
    numbers = [t.fdi for t in document.teeth]
    if old_fdi not in numbers:
        raise UnknownNameError("tooth on this scan", old_fdi, numbers)
    if new_fdi in numbers and new_fdi != old_fdi:
        raise XrayReportError(f"tooth {new_fdi} is already on this scan; renumber that tooth first")
    teeth = tuple(replace(t, fdi=new_fdi, source="dentist") if t.fdi == old_fdi else t for t in document.teeth)
    findings = tuple(replace(f, tooth=new_fdi) if f.tooth == old_fdi else f for f in document.findings)
    record_audit(db, study, user, "renumber", f"tooth {old_fdi}", {"fdi": old_fdi}, {"fdi": new_fdi})
    save_review(db, study, replace(document, teeth=teeth, findings=findings), user, audit=False)
