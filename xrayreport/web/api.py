"""The JSON API (``/api``): the same actions as the pages, for scripts and practice software."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, File, Form, HTTPException, Path, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from ..export import ExportOptions
from ..findings import findings_schema
from ..ingestion import load_scan
from ..mail import ADDRESS_LENGTH, MailError
from ..recall import AppointmentImportError, RecallList, StepChange, StepState
from ..recall.steps import REASON_LENGTH
from .auth import add_user, end_all_sessions, get_user, set_roles
from .burnedin import BurnedInMarkOut, burned_in_mark
from .comparisons import ComparisonOut, compare_studies, comparison_json
from .dashboard import workspace_figures
from .dicompull import pull_into
from .dicomresults import DICOM_UNAVAILABLE, dicom_response, send_results
from .exports import dicom_export_response, export_response
from .families import get_family, link_family, member_summaries, unlink_family
from .fhirexport import FHIR_UNAVAILABLE, fhir_response
from .letters import family_letter_pdf, letter_pdf, letter_view, next_visit_card_pdf
from .models import (
    CONTACT_OUTCOMES,
    EXTERNAL_ID_LENGTH,
    NAME_LENGTH,
    AuditEntry,
    Contact,
    Family,
    Patient,
    Study,
    StudyStatus,
    User,
)
from .plans import change_step, get_step, issue_report, step_json
from .recall_mail import NotMailableError, send_recall_mail
from .recalls import (
    TIME_WINDOW_LENGTH,
    import_appointments,
    recall_csv_response,
    record_consent,
    record_contact,
    record_visit,
    withdraw_consent,
    workspace_recall_list,
)
from .reporting import render_report
from .reports import REPORT_LANGUAGES, REPORT_UNAVAILABLE
from .roles import Permission
from .scans import Rendition, read_limited
from .studies import (
    PatientFields,
    PatientFieldsError,
    create_patient,
    create_study,
    current_document,
    find_patients,
    get_patient,
    get_study,
    parse_document,
    pending_ids,
    replace_document,
    update_patient,
)
from .throttle import TooManyLoginsError, client_address
from .workspace import ApiUser, BearerToken, WorkspaceDep, api_permission

router = APIRouter(prefix="/api", tags=["api"])

# The caller, when their roles allow what the route does (403 naming the roles otherwise); see roles.py.
Viewer = Annotated[User, api_permission(Permission.SEE_PATIENTS)]
PatientEditor = Annotated[User, api_permission(Permission.EDIT_PATIENTS)]
Uploader = Annotated[User, api_permission(Permission.UPLOAD)]
Reviewer = Annotated[User, api_permission(Permission.REVIEW)]


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds")


class PatientOut(BaseModel):
    """A patient's details as the workspace keeps them; reports carry these."""

    id: int = Field(description="the patient's number in this workspace (a study's `patient`)")
    name: str | None
    patient_id: str | None = Field(description="the clinic's patient ID")
    birth_date: str | None = Field(description="YYYY-MM-DD")
    sex: str | None = Field(description="F, M or O; null when unknown")
    language: str | None = Field(
        description="the language of the patient's letters, cards, messages and reports: "
        + ", ".join(REPORT_LANGUAGES)
        + "; null when not chosen (English)"
    )
    email: str | None = Field(description="where recall e-mails go; null when unknown")


class PatientChange(BaseModel):
    """The details to correct: a field left out keeps its value, null or an empty string clears it."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"name": "Jane Doe", "birth_date": "1984-03-27", "sex": "F"}]}
    )

    name: str | None = Field(None, description=f"at most {NAME_LENGTH} characters")
    patient_id: str | None = Field(
        None, description=f"the clinic's patient ID, at most {EXTERNAL_ID_LENGTH} characters; no other patient's"
    )
    birth_date: str | None = Field(None, description="YYYY-MM-DD")
    sex: str | None = Field(None, description="F, M or O (either case)")
    language: str | None = Field(None, description=", ".join(REPORT_LANGUAGES) + " (either case)")
    email: str | None = Field(None, description=f"one @, no spaces, at most {ADDRESS_LENGTH} characters")


class PatientProblems(BaseModel):
    """Patient details that cannot be stored: every wrong field and what is wrong with it."""

    detail: str = Field(description="every problem, as 'field: what is wrong', joined by '; '")
    fields: dict[str, str] = Field(description="what is wrong, by field name as sent")


class AuditEntryOut(BaseModel):
    """One change: who, when, what, and the item (or the changed patient fields) before and after."""

    at: str | None
    user: str
    action: str = Field(description="e.g. add, edit, reject, accept, renumber")
    subject: str = Field(description="e.g. 'finding f3', 'tooth 36', 'patient details'")
    before: dict[str, Any] | None = Field(description="null when the item was added")
    after: dict[str, Any] | None = Field(description="null when the item was removed")


API_PATIENT_FIELDS = {
    "name": "name",
    "external_id": "patient_id",
    "birth_date": "birth_date",
    "sex": "sex",
    "language": "language",
    "email": "email",
}
"""The API's names of the :class:`PatientFields` attributes."""

Language = Annotated[
    str | None,
    Query(description=", ".join(REPORT_LANGUAGES) + "; left out: the patient's own language, else en"),
]
PatientNumber = Annotated[int, Path(description="the patient's number (`id` in /api/patients, a study's `patient`)")]


def patient_json(patient: Patient) -> PatientOut:
    return PatientOut(
        id=patient.id,
        name=patient.name,
        patient_id=patient.external_id,
        birth_date=patient.birth_date,
        sex=patient.sex,
        language=patient.language,
        email=patient.email,
    )


def patient_problems(exc: PatientFieldsError) -> JSONResponse:
    """422 naming each wrong field as the API's clients send it."""
    fields = {API_PATIENT_FIELDS[key]: text for key, text in exc.problems.items()}
    detail = "; ".join(f"{key}: {text}" for key, text in fields.items())
    return JSONResponse(PatientProblems(detail=detail, fields=fields).model_dump(), status_code=422)


PATIENT_PROBLEMS: dict[int | str, dict[str, Any]] = {
    422: {
        "model": PatientProblems,
        "description": "a field cannot be stored; `fields` names each (a field the API does not know, or a value "
        "that is not a string, gets FastAPI's validation error instead)",
    }
}


class StudyOut(BaseModel):
    """A study's analysis state and review summary."""

    id: str = Field(description="the study's id in this workspace (random hex)")
    patient: int = Field(description="the patient's number (`id` in /api/patients)")
    status: StudyStatus = Field(description="where its analysis stands")
    message: str | None = Field(description="why analysis failed or is unavailable; null otherwise")
    width: int = Field(description="the scan's width in pixels")
    height: int = Field(description="the scan's height in pixels")
    file_format: str = Field(description="DICOM, PNG, JPEG or TIFF: how the scan came")
    created_at: str | None = Field(description="when it was uploaded or received, ISO 8601")
    created_by: str = Field(description="who uploaded it (a user name); `dicom:` and the sender's AE title if received")
    reviewed_at: str | None = Field(description="when a dentist last saved its review, ISO 8601; null: never")
    reviewed_by: str | None = Field(description="the dentist who last saved its review; null: nobody yet")
    pending_findings: list[str] = Field(description="ids of model findings a dentist has not confirmed or rejected")
    burned_in_check: BurnedInMarkOut | None = Field(
        description="who marked the scan checked free of burned-in text (name, date, clinic) and when; null: nobody "
        "has, so research and training exports hold its pixels only when its DICOM header says Burned In "
        "Annotation NO (docs/exports.md)"
    )


def study_json(study: Study) -> StudyOut:
    return StudyOut(
        id=study.id,
        patient=study.patient_id,
        status=StudyStatus(study.status),
        message=study.status_message,
        width=study.width,
        height=study.height,
        file_format=study.file_format,
        created_at=_iso(study.created_at),
        created_by=study.created_by,
        reviewed_at=_iso(study.reviewed_at),
        reviewed_by=study.reviewed_by,
        pending_findings=pending_ids(study),
        burned_in_check=burned_in_mark(study),
    )


@router.post(
    "/token",
    summary="Exchange a user name and password for a bearer token",
    responses={429: {"description": "too many failed logins for the user name or from the address; see Retry-After"}},
)
def token(
    request: Request, workspace: WorkspaceDep, form: Annotated[OAuth2PasswordRequestForm, Depends()]
) -> dict[str, Any]:
    try:
        user = workspace.logins.log_in(workspace.sessions, form.username, form.password, client_address(request))
    except TooManyLoginsError as exc:
        raise HTTPException(429, str(exc), headers={"Retry-After": str(exc.retry_after_s)}) from None
    if user is None:
        raise HTTPException(401, "wrong user name or password", headers={"WWW-Authenticate": "Bearer"})
    with workspace.sessions.begin() as db:
        access_token = workspace.login_sessions.start(db, user, "api")
    return {
        "access_token": access_token,
        "token_type": "bearer",
        "expires_in": workspace.login_sessions.max_age_s["api"],
    }


@router.delete(
    "/token",
    status_code=204,
    summary="Revoke the bearer token sent with this call",
    description="The token stops working at once (tokens also end `expires_in` seconds after they were issued).",
)
def revoke_token(workspace: WorkspaceDep, _user: ApiUser, token: BearerToken) -> Response:
    with workspace.sessions.begin() as db:
        workspace.login_sessions.end(db, token)
    return Response(status_code=204)


@router.get("/patients", summary="Find patients by name or ID (newest first)")
def list_patients(workspace: WorkspaceDep, _user: Viewer, q: str = "") -> list[PatientOut]:
    with workspace.sessions() as db:
        return [patient_json(p) for p in find_patients(db, q)]


@router.post(
    "/patients", status_code=201, summary="Create a patient", response_model=PatientOut, responses=PATIENT_PROBLEMS
)
def add_patient(
    workspace: WorkspaceDep,
    _user: PatientEditor,
    name: Annotated[str | None, Body()] = None,
    patient_id: Annotated[str | None, Body()] = None,
    birth_date: Annotated[str | None, Body()] = None,
) -> PatientOut | JSONResponse:
    try:
        with workspace.sessions.begin() as db:
            return patient_json(create_patient(db, PatientFields(name, patient_id, birth_date)))
    except PatientFieldsError as exc:
        return patient_problems(exc)


@router.get("/patients/{patient}", summary="A patient's details", responses={404: {"description": "no such patient"}})
def get_patient_api(workspace: WorkspaceDep, _user: Viewer, patient: PatientNumber) -> PatientOut:
    with workspace.sessions() as db:
        return patient_json(get_patient(db, patient))


@router.patch(
    "/patients/{patient}",
    summary="Correct a patient's name, ID, birth date, sex, language or e-mail address",
    response_model=PatientOut,
    description="Checked as on the patient page; one audit entry (`GET /api/patients/{patient}/audit`) holds the "
    "changed fields before and after, none when nothing changed. Reports issued from now on carry the new details.",
    responses={**PATIENT_PROBLEMS, 404: {"description": "no such patient"}},
)
def edit_patient(
    workspace: WorkspaceDep, user: PatientEditor, patient: PatientNumber, change: PatientChange
) -> PatientOut | JSONResponse:
    sent = change.model_dump(include=change.model_fields_set)
    try:
        with workspace.sessions.begin() as db:
            record = get_patient(db, patient, lock=True)
            current = PatientFields.of(record)
            fields = PatientFields(
                **{key: sent.get(api_key, getattr(current, key)) for key, api_key in API_PATIENT_FIELDS.items()}
            )
            update_patient(db, record, fields, user.username)
            return patient_json(record)
    except PatientFieldsError as exc:
        return patient_problems(exc)


@router.get(
    "/patients/{patient}/audit",
    summary="Every correction of a patient's details: who, when, before, after (newest first)",
    responses={404: {"description": "no such patient"}},
)
def patient_audit(workspace: WorkspaceDep, _user: Viewer, patient: PatientNumber) -> list[AuditEntryOut]:
    with workspace.sessions() as db:
        entries = [audit_json(entry) for entry in get_patient(db, patient).audit]
    for entry in entries:  # stored under PatientFields' names, shown under the API's
        entry.before, entry.after = _api_names(entry.before), _api_names(entry.after)
    return entries


def _api_names(fields: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if fields is None else {API_PATIENT_FIELDS.get(key, key): value for key, value in fields.items()}


@router.post("/studies", status_code=201, summary="Upload a scan; analysis starts in the background")
def upload_study(
    workspace: WorkspaceDep,
    user: Uploader,
    file: Annotated[UploadFile, File(description="DICOM, PNG, JPEG or TIFF panoramic")],
    patient: Annotated[int | None, Form(description="an existing patient's number (from /api/patients)")] = None,
    patient_name: Annotated[str | None, Form()] = None,
    patient_id: Annotated[str | None, Form(description="the clinic's patient ID")] = None,
    birth_date: Annotated[str | None, Form(description="YYYY-MM-DD")] = None,
) -> dict[str, Any]:
    """Patient fields left empty are taken from the DICOM header; a known patient ID reuses that patient."""
    data = read_limited(file.file, workspace.config.max_upload_bytes)
    radiograph = load_scan(data, name=file.filename)
    installed = workspace.runner.analyser is not None
    with workspace.sessions.begin() as db:
        study = create_study(
            db,
            workspace.scans,
            data,
            radiograph,
            user.username,
            patient,
            PatientFields(patient_name, patient_id, birth_date),
            installed,
            now=workspace.config.clock(),
        )
        study_id, patient_number, status = study.id, study.patient_id, study.status
    if installed:
        workspace.runner.submit(study_id)
    return {"id": study_id, "patient": patient_number, "status": status}


@router.get(
    "/patients/{patient}/comparison",
    summary="What changed on each tooth between two scans of the patient",
    responses={404: {"description": "no such patient, or a scan of another patient"}},
)
def comparison(
    workspace: WorkspaceDep,
    _user: Viewer,
    patient: PatientNumber,
    earlier: Annotated[str, Query(description="the earlier scan's study id")],
    later: Annotated[str, Query(description="the later scan's study id")],
) -> ComparisonOut:
    """The change list (new finding, finding gone or treated since, tooth newly missing, caries grown to deep caries,
    new periapical lesion, implant placed, problem unchanged); 422 for the same scan twice, scans in the wrong
    order or a scan without findings yet."""
    with workspace.sessions() as db:
        return comparison_json(compare_studies(db, patient, earlier, later))


@router.get("/studies", summary="List studies, newest first")
def list_studies(
    workspace: WorkspaceDep,
    _user: Viewer,
    patient: int | None = None,
    limit: Annotated[int, Query(ge=1, le=500, description="how many studies, 1-500")] = 100,
) -> list[StudyOut]:
    with workspace.sessions() as db:
        statement = select(Study).order_by(Study.created_at.desc()).limit(limit)
        if patient is not None:
            statement = statement.where(Study.patient_id == patient)
        return [study_json(s) for s in db.scalars(statement)]


@router.get(
    "/studies/{study_id}",
    summary="A study's analysis state and review summary",
    responses={404: {"description": "no such study"}},
)
def get_study_api(workspace: WorkspaceDep, _user: Viewer, study_id: str) -> StudyOut:
    with workspace.sessions() as db:
        return study_json(get_study(db, study_id))


@router.get(
    "/studies/{study_id}/findings",
    summary="The findings document: reviewed if a dentist changed it, else the model's",
    responses={
        202: {"description": "analysis still queued or running"},
        409: {"description": "analysis failed"},
        503: {"description": "analysis not installed and nothing reviewed yet"},
    },
)
def get_findings(workspace: WorkspaceDep, _user: Viewer, study_id: str) -> Response:
    with workspace.sessions() as db:
        study = get_study(db, study_id)
        document = current_document(study)
        if document is not None:
            version = "reviewed" if study.reviewed_findings else "model"
            return JSONResponse(document.to_dict(), headers={"X-Findings-Version": version})
        if study.status in (StudyStatus.QUEUED, StudyStatus.RUNNING):
            return JSONResponse(
                {"status": study.status, "detail": f"analysis {study.status}; ask again shortly"},
                status_code=202,
                headers={"Retry-After": "1"},
            )
        code = 503 if study.status == StudyStatus.UNAVAILABLE else 409
        return JSONResponse({"status": study.status, "detail": study.status_message}, status_code=code)


@router.put(
    "/studies/{study_id}/findings",
    summary="Store the dentist's reviewed findings document",
    description="The body is a findings document (schema `xrayreport.findings/1`, see `/api/findings.schema.json`) "
    "for this study's scan. Every finding in it counts as confirmed; each change is written to the audit trail.",
)
def put_findings(
    workspace: WorkspaceDep, user: Reviewer, study_id: str, document: Annotated[dict[str, Any], Body()]
) -> dict[str, Any]:
    with workspace.sessions.begin() as db:
        study = get_study(db, study_id, lock=True)
        before = len(study.audit)
        replace_document(db, study, parse_document(document, study), user.username)
        db.flush()
        db.refresh(study)
        return {"id": study.id, "stored": True, "changes": len(study.audit) - before}


@router.get("/findings.schema.json", summary="The JSON Schema of findings documents")
def schema(_user: ApiUser) -> dict[str, Any]:
    return findings_schema()


@router.get("/studies/{study_id}/audit", summary="Every review change: who, when, what, before, after")
def audit(workspace: WorkspaceDep, _user: Viewer, study_id: str) -> list[AuditEntryOut]:
    with workspace.sessions() as db:
        study = get_study(db, study_id)
        return [audit_json(entry) for entry in study.audit]


def audit_json(entry: AuditEntry) -> AuditEntryOut:
    return AuditEntryOut(
        at=_iso(entry.at),
        user=entry.username,
        action=entry.action,
        subject=entry.subject,
        before=None if entry.before is None else json.loads(entry.before),
        after=None if entry.after is None else json.loads(entry.after),
    )


@router.get("/studies/{study_id}/image.png", summary="The scan as PNG, for display", response_class=Response)
def image(
    workspace: WorkspaceDep,
    _user: Viewer,
    study_id: str,
    rendition: Annotated[
        Rendition,
        Query(description="preview: at most 1,600 pixels wide; detail: full resolution, at most 4,096 pixels wide"),
    ] = "preview",
) -> Response:
    with workspace.sessions() as db:
        scan_file = get_study(db, study_id).scan_file
    return workspace.scans.image_response(scan_file, rendition)


@router.get(
    "/studies/{study_id}/report.pdf",
    summary="The patient report (PDF) from the reviewed findings, else the model's",
    response_class=Response,
    responses={503: {"description": REPORT_UNAVAILABLE}},
)
def report(
    workspace: WorkspaceDep,
    user: Viewer,
    study_id: str,
    lang: Language = None,
) -> Response:
    """A dentist issues it at any time; an assistant prints it once a dentist has reviewed every finding."""
    return render_report(workspace, user, study_id, lang, download=True)


Printer = Annotated[User, api_permission(Permission.PRINT_REPORTS)]
_DICOM_ANSWERS: dict[int | str, dict[str, Any]] = {
    409: {"description": "a dentist has not reviewed every finding yet"},
    503: {"description": DICOM_UNAVAILABLE},
}


@router.get(
    "/studies/{study_id}/dicom/sr.dcm",
    summary="The reviewed findings as a DICOM Structured Report (TID 1500), in the scan's study",
    description="Each finding with its type, its tooth (SNOMED CT), its box on the scan and who confirmed it; see "
    "docs/dicom.md. Only once a dentist has reviewed every finding (409 before).",
    response_class=Response,
    responses=_DICOM_ANSWERS,
)
def dicom_sr(workspace: WorkspaceDep, _user: Printer, study_id: str) -> Response:
    return dicom_response(workspace, study_id, "sr", None)


@router.get(
    "/studies/{study_id}/dicom/overlay.dcm",
    summary="The reviewed findings drawn on the scan, as a DICOM Secondary Capture in the scan's study",
    response_class=Response,
    responses=_DICOM_ANSWERS,
)
def dicom_overlay(workspace: WorkspaceDep, _user: Printer, study_id: str) -> Response:
    return dicom_response(workspace, study_id, "overlay", None)


@router.get(
    "/studies/{study_id}/dicom/report.dcm",
    summary="The patient report as a DICOM Encapsulated PDF in the scan's study",
    response_class=Response,
    responses=_DICOM_ANSWERS,
)
def dicom_report(workspace: WorkspaceDep, _user: Printer, study_id: str, lang: Language = None) -> Response:
    return dicom_response(workspace, study_id, "report", lang)


@router.post(
    "/studies/{study_id}/dicom/send",
    summary="Store the SR, overlay and report of a reviewed study on the clinic's PACS (C-STORE; audited)",
    description="The PACS is the clinic file's `pacs:` section (docs/dicom.md). The answer names the PACS and each "
    "object stored. 409 until every finding is reviewed; 503 when no PACS is set up, it cannot be reached or it "
    "refuses (the detail says what to check).",
    responses=_DICOM_ANSWERS,
)
def dicom_send(workspace: WorkspaceDep, user: Printer, study_id: str, lang: Language = None) -> dict[str, object]:
    return send_results(workspace, study_id, user.username, lang)


@router.get(
    "/studies/{study_id}/fhir",
    summary="The reviewed findings as a FHIR R4 (4.3) Bundle: DiagnosticReport, an Observation per finding, "
    "ImagingStudy, Patient",
    description="Each Observation's body site is its tooth in SNOMED CT; the report PDF is the DiagnosticReport's "
    "presentedForm when this server renders reports. docs/dicom.md, section FHIR. 409 until every finding is "
    "reviewed.",
    response_class=Response,
    responses={
        409: {"description": "a dentist has not reviewed every finding yet"},
        503: {"description": FHIR_UNAVAILABLE},
    },
)
def fhir_bundle(workspace: WorkspaceDep, _user: Printer, study_id: str, lang: Language = None) -> Response:
    return fhir_response(workspace, study_id, lang)


class PullIn(BaseModel):
    """Which studies to pull from the clinic's PACS: a patient's, or one study."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"patient_id": "W-1042"}]})

    patient_id: str | None = Field(None, min_length=1, max_length=64, description="every study with this Patient ID")
    study_uid: str | None = Field(
        None, pattern=r"^[0-9]+(\.[0-9]+)*$", max_length=64, description="one study by its Study Instance UID"
    )


class PullOut(BaseModel):
    """What a pull stored: the workspace's studies of the images fetched (or stored before), each image refused with
    its reason, and how many instances were not images to analyse (reports, PDFs, xrayreport's own results)."""

    studies: list[str]
    refused: list[str]
    skipped: int


@router.post(
    "/dicom/pull",
    summary="Pull a patient's studies (or one study) from the clinic's PACS into the workspace",
    description="From the clinic file's DICOMweb server QIDO-RS finds the studies and WADO-RS fetches each dental "
    "radiograph in them; from its pacs: (no dicomweb:) C-FIND finds them and C-MOVE has the PACS send each to "
    "xrayreport's DICOM node. Each becomes a study of the patient with its Patient ID and is analysed, as a scan "
    "sent to the DICOM node (docs/dicom.md, Pulling studies). Images pulled before are not stored twice. 422 unless "
    "exactly one of patient_id and study_uid is given; 503 when the clinic file has neither section, or the PACS "
    "cannot be reached, refuses, or cannot send here.",
    responses={503: {"description": "no PACS set up, or it cannot be reached, refuses or cannot send here"}},
)
def dicom_pull(workspace: WorkspaceDep, _user: Uploader, wanted: PullIn) -> PullOut:
    if (wanted.patient_id is None) == (wanted.study_uid is None):
        raise HTTPException(422, "give either patient_id or study_uid")
    pulled = pull_into(workspace, wanted.patient_id, wanted.study_uid)
    return PullOut(studies=list(pulled.studies), refused=list(pulled.refused), skipped=pulled.skipped)


class UserOut(BaseModel):
    """A workspace account (never its password hash)."""

    username: str
    roles: list[str] = Field(description="admin, dentist, assistant or researcher (see the README's roles)")
    created_at: str | None


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(description="1-64 letters, digits, dots, dashes or underscores")
    password: str = Field(description="at least 8 characters")
    roles: list[str] = Field(min_length=1, max_length=4)


class RolesChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    roles: list[str] = Field(min_length=1, max_length=4)


Admin = Annotated[User, api_permission(Permission.MANAGE_USERS)]
Exporter = Annotated[User, api_permission(Permission.EXPORT)]
Username = Annotated[str, Path(max_length=64)]


def user_json(user: User) -> UserOut:
    return UserOut(username=user.username, roles=list(user.roles), created_at=_iso(user.created_at))


@router.get("/users", summary="The workspace's accounts and their roles (admin)")
def list_users(workspace: WorkspaceDep, _admin: Admin) -> list[UserOut]:
    with workspace.sessions() as db:
        return [user_json(u) for u in db.scalars(select(User).order_by(User.username))]


@router.post("/users", status_code=201, summary="Add an account (admin)")
def create_user(workspace: WorkspaceDep, _admin: Admin, new: NewUser) -> UserOut:
    with workspace.sessions.begin() as db:
        return user_json(add_user(db, new.username, new.password, new.roles))


@router.patch("/users/{username}", summary="Set an account's roles (admin); the last admin keeps admin")
def change_roles(workspace: WorkspaceDep, _admin: Admin, username: Username, change: RolesChange) -> UserOut:
    with workspace.sessions.begin() as db:
        user = get_user(db, username)
        set_roles(db, user, change.roles)
        return user_json(user)


@router.delete(
    "/users/{username}/sessions",
    status_code=204,
    summary="End every page session and API token of an account at once (admin)",
)
def end_sessions(workspace: WorkspaceDep, _admin: Admin, username: Username) -> Response:
    with workspace.sessions.begin() as db:
        end_all_sessions(db, get_user(db, username))
    return Response(status_code=204)


@router.get(
    "/exports/deidentified.zip",
    summary="De-identified export of every reviewed study (researcher)",
    description="A ZIP (format `xrayreport.export/1`, docs/exports.md): keyed study and patient keys, image "
    "size, model, the confirmed teeth and findings; with `images`, the pixels as PNG of each scan whose Burned In "
    "Annotation says NO or that a dentist marked checked free of burned-in text (the manifest's `left_out` lists "
    "the others and why); with `age` and `sex`, those two fields. Never a name, patient ID, date, file name or "
    "note.",
    response_class=Response,
)
def export_deidentified(
    workspace: WorkspaceDep, _user: Exporter, images: bool = False, age: bool = False, sex: bool = False
) -> Response:
    return export_response(workspace, ExportOptions(images=images, age=age, sex=sex))


@router.get(
    "/exports/deidentified-dicom.zip",
    summary="De-identified DICOM export of every reviewed study (researcher)",
    description="A ZIP (format `xrayreport.dicom-export/1`, docs/exports.md) of DICOM objects de-identified with "
    "PS3.15's basic profile: each reviewed study's structured report, and with `images` its overlay and DICOM scan "
    "where their Burned In Annotation says NO or a dentist marked the scan checked free of burned-in text (the "
    "manifest lists what was left out and why). 503 without the [dicom] extra.",
    response_class=Response,
)
def export_deidentified_dicom(workspace: WorkspaceDep, _user: Exporter, images: bool = False) -> Response:
    return dicom_export_response(workspace, images)


Issuer = Annotated[User, api_permission(Permission.ISSUE_REPORTS)]
Tracker = Annotated[User, api_permission(Permission.TRACK_PLANS)]


class StepChangeIn(BaseModel):
    """A plan step's new state: ``on`` is the booked date or the day it was done; ``reason`` why it was declined
    or is no longer needed."""

    model_config = ConfigDict(extra="forbid")

    state: StepState
    on: date | None = None
    reason: str | None = Field(None, max_length=REASON_LENGTH)


@router.post(
    "/studies/{study_id}/issue",
    summary="Issue the study's report: its plan's steps become the patient's tracked steps (dentist)",
    responses={409: {"description": "findings still wait for review"}},
)
def issue(workspace: WorkspaceDep, user: Issuer, study_id: str) -> dict[str, Any]:
    with workspace.sessions.begin() as db:
        study = get_study(db, study_id, lock=True)
        added = issue_report(workspace, db, study, user.username)
        db.flush()
        return {"id": study.id, "issued_at": _iso(study.issued_at), "steps": [step_json(s) for s in added]}


@router.get("/patients/{patient}/plan", summary="A patient's tracked plan steps, by due date")
def patient_plan(workspace: WorkspaceDep, _user: Viewer, patient: PatientNumber) -> list[dict[str, Any]]:
    with workspace.sessions() as db:
        return [step_json(s) for s in get_patient(db, patient).plan_steps]


@router.patch(
    "/plan-steps/{step_id}",
    summary="Change a plan step's state: booked (on), done (on), declined (reason), not_needed (reason), planned",
    description="Audited on the patient (`GET /api/patients/{patient}/audit`). A done, declined or not-needed step "
    "can only be reopened as planned.",
)
def change_plan_step(workspace: WorkspaceDep, user: Tracker, step_id: int, change: StepChangeIn) -> dict[str, Any]:
    with workspace.sessions.begin() as db:
        step = get_step(db, step_id, lock=True)
        today = workspace.config.clock().date()
        change_step(db, step, StepChange(change.state, change.on, change.reason), user.username, today)
        return step_json(step)


class ConsentIn(BaseModel):
    """The patient's agreement to be contacted for recalls: the channel and the time they chose."""

    model_config = ConfigDict(extra="forbid")

    channel: str = Field(description="phone, sms, email or letter")
    time_window: str = Field("", max_length=TIME_WINDOW_LENGTH, description="e.g. 'weekday mornings'")


def recall_json(found: RecallList) -> dict[str, Any]:
    entries = [
        {
            "patient": e.patient,
            "category": e.category.value,
            "last_visit": e.last_visit.isoformat(),
            "asleep_from": e.asleep_from.isoformat(),
            "waited_days": e.waited_days,
            "reason": e.reason,
            "contact": e.consent,
        }
        for e in found.entries
    ]
    return {
        "entries": entries,
        "without_consent": found.without_consent,
        "recently_contacted": found.recently_contacted,
    }


@router.get("/recalls", summary="Sleeping patients who agreed to be contacted, with the reason to call")
def recalls(workspace: WorkspaceDep, _user: Tracker) -> dict[str, Any]:
    with workspace.sessions() as db:
        return recall_json(workspace_recall_list(workspace, db))


@router.get("/recalls.csv", summary="The recall list as CSV", response_class=Response)
def recalls_csv(workspace: WorkspaceDep, _user: Tracker) -> Response:
    return recall_csv_response(workspace)


@router.put("/patients/{patient}/consent", summary="Record the patient's consent to be contacted (audited)")
def put_consent(workspace: WorkspaceDep, user: Tracker, patient: PatientNumber, consent: ConsentIn) -> dict[str, Any]:
    with workspace.sessions.begin() as db:
        record = get_patient(db, patient, lock=True)
        today = workspace.config.clock().date()
        record_consent(db, record, consent.channel, consent.time_window, user.username, today)
        return {"channel": consent.channel, "time_window": consent.time_window, "recorded_on": today.isoformat()}


@router.delete("/patients/{patient}/consent", status_code=204, summary="Withdraw the patient's consent (audited)")
def delete_consent(workspace: WorkspaceDep, user: Tracker, patient: PatientNumber) -> Response:
    with workspace.sessions.begin() as db:
        withdraw_consent(db, get_patient(db, patient, lock=True), user.username, workspace.config.clock().date())
    return Response(status_code=204)


class ContactIn(BaseModel):
    """A recall contact made today: how, and what came of it."""

    model_config = ConfigDict(extra="forbid")

    channel: str = Field(description="phone, sms, email or letter")
    outcome: str = Field(description="one of: " + ", ".join(CONTACT_OUTCOMES))


def contact_json(contact: Contact) -> dict[str, str]:
    return {"on": contact.contacted_on, "channel": contact.channel, "outcome": contact.outcome, "by": contact.by}


@router.post(
    "/patients/{patient}/contacts",
    status_code=201,
    summary="Record a recall contact made today; the patient stays off the recall list for the contact interval",
)
def add_contact(workspace: WorkspaceDep, user: Tracker, patient: PatientNumber, contact: ContactIn) -> dict[str, str]:
    with workspace.sessions.begin() as db:
        record = get_patient(db, patient, lock=True)
        today = workspace.config.clock().date()
        return contact_json(record_contact(db, record, contact.channel, contact.outcome, user.username, today))


@router.get("/patients/{patient}/contacts", summary="A patient's recall contacts, newest first")
def list_contacts(workspace: WorkspaceDep, _user: Tracker, patient: PatientNumber) -> list[dict[str, str]]:
    with workspace.sessions() as db:
        return [contact_json(c) for c in get_patient(db, patient).contacts]


@router.post(
    "/patients/{patient}/recall-mail",
    status_code=201,
    summary="E-mail the patient their recall: the reminder as the text, the recall letter as a PDF, in their language",
    description="Through the clinic file's `mail:` server, to the patient's `email`, when their consent's channel is "
    "email. Recorded as a contact (channel email, outcome sent: the patient stays off the recall list for the contact "
    "interval) and audited on the patient.",
    responses={
        409: {"description": "no consent to be contacted by e-mail, or no e-mail address"},
        503: {"description": "e-mail is not set up, or the mail server did not take the message (nothing recorded)"},
    },
)
def send_recall(workspace: WorkspaceDep, user: Tracker, patient: PatientNumber) -> dict[str, str]:
    try:
        return contact_json(send_recall_mail(workspace, patient, user.username))
    except NotMailableError as exc:
        raise HTTPException(409, str(exc)) from None
    except MailError as exc:
        raise HTTPException(503, str(exc)) from None


class VisitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    on: date = Field(description="the day the patient came (YYYY-MM-DD), not in the future")


@router.post("/patients/{patient}/visits", status_code=201, summary="Record a day the patient came")
def add_visit(workspace: WorkspaceDep, user: Tracker, patient: PatientNumber, visit: VisitIn) -> dict[str, str]:
    with workspace.sessions.begin() as db:
        today = workspace.config.clock().date()
        record = record_visit(db, get_patient(db, patient, lock=True), visit.on, "api", user.username, today)
        return {"on": record.visited_on, "source": record.source, "recorded_by": record.recorded_by}


@router.post(
    "/visits/import",
    summary="Import past appointments from the practice-management system (CSV, all rows or none)",
    description="Multipart `file`: a UTF-8 CSV with the columns `patient_id` (the clinic's patient ID), `date` "
    "(YYYY-MM-DD) and optionally `treatment` (a price-list key such as `filling`: the patient's open step of it "
    "is marked done that day) and `teeth` (FDI numbers). One bad row refuses the whole file: 422 with `problems`, "
    "each a line number and what is wrong.",
    responses={422: {"description": "nothing imported; `problems` lists every bad row"}},
)
def import_visits(
    workspace: WorkspaceDep, user: Tracker, file: Annotated[UploadFile, File(description="the CSV")]
) -> Response:
    try:
        text = read_limited(file.file, workspace.config.max_upload_bytes).decode("utf-8")
        with workspace.sessions.begin() as db:
            visits, done = import_appointments(db, text, user.username, workspace.config.clock().date())
    except UnicodeDecodeError:
        return JSONResponse({"detail": "the file is not UTF-8 text; save the CSV as UTF-8", "problems": []}, 422)
    except AppointmentImportError as exc:
        problems = [{"line": line, "problem": text} for line, text in exc.problems]
        return JSONResponse({"detail": str(exc), "problems": problems}, status_code=422)
    return JSONResponse({"visits": visits, "steps_done": done})


@router.get(
    "/patients/{patient}/recall-letter.pdf",
    summary="The patient's recall letter (A4 PDF): every open plan step, in their language",
    response_class=Response,
    responses={503: {"description": REPORT_UNAVAILABLE}},
)
def recall_letter(
    workspace: WorkspaceDep,
    _user: Tracker,
    patient: PatientNumber,
    lang: Language = None,
) -> Response:
    return letter_pdf(workspace, patient, lang)


@router.get(
    "/patients/{patient}/next-visit-card.pdf",
    summary="The patient's next-visit card (A6 PDF): their soonest step, booked or due, in their language",
    response_class=Response,
    responses={503: {"description": REPORT_UNAVAILABLE}},
)
def next_visit_card(workspace: WorkspaceDep, _user: Tracker, patient: PatientNumber, lang: Language = None) -> Response:
    return next_visit_card_pdf(workspace, patient, lang)


@router.get(
    "/patients/{patient}/recall-message",
    summary="The patient's recall reminder as one line, for SMS or e-mail, in their language",
)
def recall_message(
    workspace: WorkspaceDep,
    _user: Tracker,
    patient: PatientNumber,
    lang: Language = None,
) -> dict[str, str]:
    view = letter_view(workspace, patient, lang)
    return {"text": view.message, "lang": view.lang}


class FamilyLink(BaseModel):
    model_config = ConfigDict(extra="forbid")

    with_patient: int = Field(description="another patient's number: both end up in one family")


def family_json(family: Family) -> dict[str, Any]:
    return {
        "id": family.id,
        "name": family.name,
        "members": [
            {
                "patient": m.patient.id,
                "name": m.patient.name,
                "category": m.category.value if m.category else None,
                "next_booking": m.next_booking.isoformat() if m.next_booking else None,
                "open_steps": [step_json(s) for s in m.open_steps],
            }
            for m in member_summaries(family)
        ],
    }


@router.put("/patients/{patient}/family", summary="Link the patient and another into one family (household)")
def put_family(
    workspace: WorkspaceDep, user: PatientEditor, patient: PatientNumber, link: FamilyLink
) -> dict[str, Any]:
    with workspace.sessions.begin() as db:
        family = link_family(db, get_patient(db, patient, lock=True), link.with_patient, user.username)
        return family_json(family)


@router.delete("/patients/{patient}/family", status_code=204, summary="Take the patient out of their family")
def delete_family(workspace: WorkspaceDep, user: PatientEditor, patient: PatientNumber) -> Response:
    with workspace.sessions.begin() as db:
        unlink_family(db, get_patient(db, patient, lock=True), user.username)
    return Response(status_code=204)


@router.get("/families/{family_id}", summary="A family: each member's category, next booking and open steps")
def get_family_api(workspace: WorkspaceDep, _user: Viewer, family_id: int) -> dict[str, Any]:
    with workspace.sessions() as db:
        return family_json(get_family(db, family_id))


@router.get(
    "/families/{family_id}/letter.pdf",
    summary="One recall letter for the family: each member's next step",
    response_class=Response,
    responses={503: {"description": REPORT_UNAVAILABLE}},
)
def family_letter(
    workspace: WorkspaceDep,
    _user: Tracker,
    family_id: int,
    lang: Annotated[
        str | None,
        Query(description=", ".join(REPORT_LANGUAGES) + "; left out: the language most members chose, else en"),
    ] = None,
) -> Response:
    return family_letter_pdf(workspace, family_id, lang)


FigureViewer = Annotated[User, api_permission(Permission.SEE_FIGURES)]


@router.get("/dashboard", summary="The clinic's figures, each with its period and formula (admin, dentist)")
def dashboard(
    workspace: WorkspaceDep, _user: Annotated[User, api_permission(Permission.SEE_FIGURES)]
) -> list[dict[str, Any]]:
    return [
        {
            "title": f.title,
            "bars": [{"label": label, "value": value} for label, value in f.bars],
            "period": f.period,
            "formula": f.formula,
        }
        for f in workspace_figures(workspace)
    ]
