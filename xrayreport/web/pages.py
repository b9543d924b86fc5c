"""The server-rendered pages: log in, find or create patients, upload scans, review findings, issue reports."""

from __future__ import annotations

import datetime as dt
import json
from datetime import UTC, datetime
from importlib import resources
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import func, select

from ..dentition import ALL_TEETH
from ..errors import UnknownNameError, XrayReportError
from ..export import ExportOptions
from ..findings import FINDING_TYPES, Box
from ..ingestion import load_scan
from ..mail import ADDRESS_LENGTH, MailError
from ..recall import OPEN_STATES, AppointmentImportError, StepChange, StepState
from ..report.build import STATE_LABELS
from .auth import add_user, csrf_ok, csrf_token, end_all_sessions, get_user, set_roles
from .comparisons import CHANGE_LABELS, compare_studies, scans_in_time_order
from .dashboard import workspace_figures
from .dicompull import pull_into, pull_source
from .dicomresults import ResultKind, dicom_response, results_destination, send_results
from .exports import dicom_export_response, export_response, held_back_studies
from .families import family_language, get_family, link_family, member_summaries, unlink_family
from .fhirexport import fhir_response
from .letters import family_letter_pdf, letter_pdf, next_visit_card_pdf
from .models import (
    CONTACT_CHANNELS,
    CONTACT_OUTCOMES,
    EXTERNAL_ID_LENGTH,
    NAME_LENGTH,
    Patient,
    Study,
    StudyStatus,
    User,
)
from .plans import change_step, get_step, issue_report, step_wording
from .recall_mail import mail_refusal, mail_settings, send_recall_mail
from .recalls import (
    import_appointments,
    recall_csv_response,
    record_consent,
    record_contact,
    record_visit,
    withdraw_consent,
    workspace_recall_list,
)
from .reporting import render_report
from .reports import REPORT_LANGUAGES, language_for
from .reviewpage import REVIEW_STATE_LABELS, STATE_MARKS, TYPE_CODES, overlay_groups, review_view, type_group
from .roles import Permission, Role
from .scans import Rendition, read_limited
from .studies import (
    PATIENT_FIELD_LABELS,
    AddedFinding,
    EarlierState,
    FindingAsWas,
    NotFoundError,
    PatientFields,
    PatientFieldsError,
    ToothAsWas,
    accept_findings,
    add_finding,
    create_patient,
    create_study,
    find_patients,
    get_patient,
    get_study,
    pending_ids,
    reject_findings,
    relabel_findings,
    renumber_tooth,
    undo_change,
    update_patient,
)
from .throttle import TooManyLoginsError, client_address
from .workspace import PageUser, Workspace, WorkspaceDep, page_permission

router = APIRouter(include_in_schema=False)

# The logged-in user, when their roles allow what the page does (a 403 page naming the roles otherwise).
Viewer = Annotated[User, page_permission(Permission.SEE_PATIENTS)]
PatientEditor = Annotated[User, page_permission(Permission.EDIT_PATIENTS)]
Uploader = Annotated[User, page_permission(Permission.UPLOAD)]
Reviewer = Annotated[User, page_permission(Permission.REVIEW)]
Admin = Annotated[User, page_permission(Permission.MANAGE_USERS)]
Issuer = Annotated[User, page_permission(Permission.ISSUE_REPORTS)]
Printer = Annotated[User, page_permission(Permission.PRINT_REPORTS)]
Tracker = Annotated[User, page_permission(Permission.TRACK_PLANS)]
Exporter = Annotated[User, page_permission(Permission.EXPORT)]
templates = Jinja2Templates(directory=str(resources.files(__package__).joinpath("templates")))

RECALL_PAGE_ROWS = 200
"""The longest-waiting recalls the page shows; the CSV holds every one."""
CSRF_FAILED = "this form expired or came from another site; reload the page and try again"
SEX_LABELS = {"": "unknown", "F": "female", "M": "male", "O": "other"}


def type_label(finding_type: str) -> str:
    return finding_type.replace("_", " ")


def _when(value: datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:  # SQLite hands back naive datetimes; they were written in UTC
        value = value.replace(tzinfo=UTC)
    return value.strftime("%Y-%m-%d %H:%M UTC")


templates.env.filters["when"] = _when
templates.env.filters["type_label"] = type_label
templates.env.filters["type_code"] = TYPE_CODES.__getitem__
templates.env.filters["sentence"] = lambda text: text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")
templates.env.globals["type_group"] = type_group
templates.env.globals["STATE_LABELS"] = STATE_LABELS
templates.env.globals["STATE_MARKS"] = STATE_MARKS
templates.env.globals["REVIEW_STATE_LABELS"] = REVIEW_STATE_LABELS
templates.env.globals["Permission"] = Permission
templates.env.globals["Role"] = Role


def _render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    flashes = request.session.pop("flash", [])
    return templates.TemplateResponse(
        request, name, {"csrf": csrf_token(request.session), "flashes": flashes, **context}, status_code=status_code
    )


def _flash(request: Request, kind: str, text: str) -> None:
    request.session["flash"] = [*request.session.get("flash", []), [kind, text]]


def _check_csrf(request: Request, sent: str | None) -> None:
    if not csrf_ok(request.session, sent):
        raise HTTPException(403, CSRF_FAILED)


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    return _render(request, "error.html", status_code=status, status=status, message=message)


def _safe_next(target: str | None) -> str:
    # Only same-site paths: a crafted ?next= must not send a dentist to another site after logging in.
    if not target or not target.startswith("/") or target.startswith("//") or urlsplit(target).netloc:
        return "/"
    return target


@router.get("/login")
def login_page(request: Request, workspace: WorkspaceDep, next: str = "/") -> HTMLResponse:
    with workspace.sessions() as db:
        no_users = db.scalar(select(User.id).limit(1)) is None  # the login page says how to create one
    return _render(request, "login.html", next=_safe_next(next), user=None, no_users=no_users)


@router.post("/login")
def login(
    request: Request,
    workspace: WorkspaceDep,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    csrf: Annotated[str | None, Form()] = None,
    next: Annotated[str, Form()] = "/",
) -> Response:
    _check_csrf(request, csrf)
    try:
        user = workspace.logins.log_in(workspace.sessions, username, password, client_address(request))
    except TooManyLoginsError as exc:
        page = _render(request, "login.html", 429, next=_safe_next(next), user=None, error=str(exc))
        page.headers["Retry-After"] = str(exc.retry_after_s)
        return page
    if user is None:
        return _render(
            request, "login.html", 401, next=_safe_next(next), user=None, error="Wrong user name or password."
        )
    with workspace.sessions.begin() as db:
        secret = workspace.login_sessions.start(db, user, "page")
    request.session.clear()  # a fresh session (and CSRF token) on every login
    request.session["sid"] = secret
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout")
def logout(request: Request, workspace: WorkspaceDep, csrf: Annotated[str | None, Form()] = None) -> Response:
    _check_csrf(request, csrf)
    with workspace.sessions.begin() as db:  # a copy of the cookie taken before now opens nothing
        workspace.login_sessions.end(db, request.session.get("sid"))
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


@router.get("/")
def home(request: Request, workspace: WorkspaceDep, user: PageUser, q: str = "") -> Response:
    if not user.may(Permission.SEE_PATIENTS):  # each role starts where its work is
        return RedirectResponse("/admin/users" if user.may(Permission.MANAGE_USERS) else "/exports", status_code=303)
    with workspace.sessions() as db:
        patients = find_patients(db, q)
        counts = dict(db.execute(select(Study.patient_id, func.count()).group_by(Study.patient_id)).all())
        recent = list(db.scalars(select(Study).order_by(Study.created_at.desc()).limit(15)))
        for study in recent:
            _ = study.patient.label  # load while the session is open
        return _render(request, "home.html", user=user, patients=patients, counts=counts, recent=recent, q=q)


@router.post("/patients")
def new_patient(
    request: Request,
    workspace: WorkspaceDep,
    _user: PatientEditor,
    csrf: Annotated[str | None, Form()] = None,
    name: Annotated[str | None, Form()] = None,
    patient_id: Annotated[str | None, Form()] = None,
    birth_date: Annotated[str | None, Form()] = None,
) -> Response:
    _check_csrf(request, csrf)
    try:
        with workspace.sessions.begin() as db:
            patient_number = create_patient(db, PatientFields(name, patient_id, birth_date)).id
    except XrayReportError as exc:
        _flash(request, "error", str(exc))
        return RedirectResponse("/", status_code=303)
    return RedirectResponse(f"/patients/{patient_number}", status_code=303)


@router.get("/patients/{patient_number}")
def patient_page(request: Request, workspace: WorkspaceDep, user: Viewer, patient_number: int) -> HTMLResponse:
    with workspace.sessions() as db:
        patient = get_patient(db, patient_number)
        studies = list(patient.studies)
        mailable = mail_refusal(patient) is None
        return _render(
            request,
            "patient.html",
            user=user,
            patient=patient,
            studies=studies,
            audit=list(patient.audit),
            audit_value=_audit_value,
            steps=list(patient.plan_steps),
            step_states=list(StepState),
            open_states=OPEN_STATES,
            wording=step_wording,
            today=workspace.config.clock().date().isoformat(),
            channels=CONTACT_CHANNELS,
            outcomes=CONTACT_OUTCOMES,
            languages=REPORT_LANGUAGES,
            language=language_for(None, patient.language),
            mailable=mailable,
            mail_problem=_mail_problem(workspace) if mailable else None,
            pull_from=_pull_label(workspace),
        )


def _pull_label(workspace: Workspace) -> str | None:
    """The PACS the patient page's "Pull from PACS" asks (``None``: no PACS or DICOMweb server set up, or a clinic file
    in error: no button)."""
    try:
        source = pull_source(workspace)
    except XrayReportError:
        return None
    return None if source is None else source.label


@router.post("/patients/{patient_number}/pull")
def patient_pull(
    request: Request,
    workspace: WorkspaceDep,
    user: Uploader,
    patient_number: int,
    csrf: Annotated[str | None, Form()] = None,
) -> Response:
    """Pull the patient's scans from the clinic's PACS by their Patient ID (as ``POST /api/dicom/pull``); how many
    came, or what to check, is flashed on the patient page."""
    _check_csrf(request, csrf)
    with workspace.sessions() as db:
        patient = get_patient(db, patient_number)
        patient_id, before = patient.external_id, {study.id for study in patient.studies}
    if not patient_id:
        _flash(request, "error", "This patient has no Patient ID to find their scans by in the PACS: add it first.")
        return RedirectResponse(f"/patients/{patient_number}", status_code=303)
    try:
        pulled = pull_into(workspace, patient_id, None)
    except HTTPException as exc:
        if exc.status_code != 503:
            raise
        _flash(request, "error", str(exc.detail))
        return RedirectResponse(f"/patients/{patient_number}", status_code=303)
    count, new = len(pulled.studies), len(set(pulled.studies) - before)
    if count:
        text = f"Pulled {count} scan(s) from the PACS: {new} new, {count - new} here already."
    else:
        text = "The PACS has no dental radiograph for this Patient ID."
    if pulled.skipped:
        text += f" {pulled.skipped} other object(s) left there (reports, other modalities, xrayreport's results)."
    _flash(request, "ok" if pulled.studies or not pulled.refused else "error", text)
    for reason in pulled.refused:
        _flash(request, "error", f"An image was refused: {reason}.")
    return RedirectResponse(f"/patients/{patient_number}", status_code=303)


def _mail_problem(workspace: Workspace) -> str | None:
    """Why recalls cannot be e-mailed from this server (not set up, a broken clinic file), or ``None``."""
    try:
        mail_settings(workspace)
    except MailError as exc:
        return str(exc)
    return None


def _details_form(
    request: Request, user: User, patient: Patient, fields: PatientFields, status_code: int = 200, error: str = ""
) -> HTMLResponse:
    return _render(
        request,
        "patient_edit.html",
        status_code,
        user=user,
        patient=patient,
        fields=fields,
        error=error,
        sexes=SEX_LABELS,
        languages=REPORT_LANGUAGES,
        name_length=NAME_LENGTH,
        id_length=EXTERNAL_ID_LENGTH,
        email_length=ADDRESS_LENGTH,
    )


@router.get("/patients/{patient_number}/edit")
def patient_details_page(
    request: Request, workspace: WorkspaceDep, user: PatientEditor, patient_number: int
) -> HTMLResponse:
    with workspace.sessions() as db:
        patient = get_patient(db, patient_number)
        return _details_form(request, user, patient, PatientFields.of(patient))


@router.post("/patients/{patient_number}/edit")
def edit_patient_details(
    request: Request,
    workspace: WorkspaceDep,
    user: PatientEditor,
    patient_number: int,
    csrf: Annotated[str | None, Form()] = None,
    name: Annotated[str | None, Form()] = None,
    patient_id: Annotated[str | None, Form()] = None,
    birth_date: Annotated[str | None, Form()] = None,
    sex: Annotated[str | None, Form()] = None,
    language: Annotated[str | None, Form()] = None,
    email: Annotated[str | None, Form()] = None,
) -> Response:
    """Correct a patient's name, ID, birth date, sex, language or e-mail address; audited, and carried by the
    reports issued afterwards. Bad input shows the form again (422) with what the dentist typed and what is wrong."""
    _check_csrf(request, csrf)
    fields = PatientFields(name, patient_id, birth_date, sex, language, email)
    try:
        with workspace.sessions.begin() as db:
            changed = update_patient(db, get_patient(db, patient_number), fields, user.username)
    except PatientFieldsError as exc:
        with workspace.sessions() as db:
            return _details_form(request, user, get_patient(db, patient_number), fields, 422, str(exc))
    _flash(request, "ok", "Patient details saved." if changed else "Nothing changed.")
    return RedirectResponse(f"/patients/{patient_number}", status_code=303)


@router.post("/upload")
def upload(
    request: Request,
    workspace: WorkspaceDep,
    user: Uploader,
    files: Annotated[list[UploadFile], File()],
    csrf: Annotated[str | None, Form()] = None,
    patient: Annotated[int | None, Form()] = None,
    name: Annotated[str | None, Form()] = None,
    patient_id: Annotated[str | None, Form()] = None,
    birth_date: Annotated[str | None, Form()] = None,
) -> Response:
    """Upload scans for a patient. The page's script sends one file per request and reads JSON back;
    without the script the form posts every file at once and is redirected to the patient."""
    _check_csrf(request, csrf)
    wants_json = "application/json" in request.headers.get("accept", "")
    installed = workspace.runner.analyser is not None
    created: list[str] = []
    errors: list[str] = []
    patient_number = patient
    for upload_file in files:
        try:
            data = read_limited(upload_file.file, workspace.config.max_upload_bytes)
            radiograph = load_scan(data, name=upload_file.filename)
            with workspace.sessions.begin() as db:
                study = create_study(
                    db,
                    workspace.scans,
                    data,
                    radiograph,
                    user.username,
                    patient_number,
                    PatientFields(name, patient_id, birth_date),
                    installed,
                    now=workspace.config.clock(),
                )
                created.append(study.id)
                patient_number = study.patient_id  # later files of this form go to the same patient
        except XrayReportError as exc:
            if wants_json:
                raise
            errors.append(str(exc))
    if installed:
        for study_id in created:
            workspace.runner.submit(study_id)
    if wants_json:
        return JSONResponse(
            {"id": created[0], "patient": patient_number, "url": f"/studies/{created[0]}"}, status_code=201
        )
    for message in errors:
        _flash(request, "error", message)
    if created:
        _flash(request, "ok", f"{len(created)} scan(s) uploaded; analysis has started.")
    if patient_number is None:
        return RedirectResponse("/", status_code=303)
    return RedirectResponse(f"/patients/{patient_number}", status_code=303)


@router.get("/studies/{study_id}")
def study_page(request: Request, workspace: WorkspaceDep, user: Viewer, study_id: str) -> HTMLResponse:
    with workspace.sessions() as db:
        study = get_study(db, study_id)
        view = review_view(study)
        teeth = sorted(view.document.teeth, key=lambda t: t.box[0] if t.box else 0.0)
        return _render(
            request,
            "study.html",
            user=user,
            study=study,
            patient=study.patient,
            view=view,
            type_codes=view.type_codes,
            drawing=user.may(Permission.REVIEW),
            teeth=teeth,
            audit=list(study.audit),
            finding_types=FINDING_TYPES,
            all_teeth=ALL_TEETH,
            languages=REPORT_LANGUAGES,
            language=language_for(None, study.patient.language),
            analysing=study.status in (StudyStatus.QUEUED, StudyStatus.RUNNING),
            has_findings=study.model_findings is not None or study.reviewed_findings is not None,
            audit_value=_audit_value,
            pacs=_pacs_label(workspace),
        )


def _pacs_label(workspace: Workspace) -> str | None:
    """Where the clinic file sends results, as the study page names it (``None``: no PACS or DICOMweb server set up,
    or a clinic file in error)."""
    try:
        destination = results_destination(workspace.config.home)
    except XrayReportError:
        return None
    return None if destination is None else destination.label


@router.get("/studies/{study_id}/dicom/{kind}.dcm")
def study_dicom(workspace: WorkspaceDep, _user: Printer, study_id: str, kind: ResultKind) -> Response:
    """A reviewed study's SR, overlay or report as DICOM, as the API's ``/api/studies/{id}/dicom/{kind}.dcm``."""
    return dicom_response(workspace, study_id, kind, None)


@router.get("/studies/{study_id}/fhir.json")
def study_fhir(workspace: WorkspaceDep, _user: Printer, study_id: str) -> Response:
    """A reviewed study as a FHIR Bundle, as the API's ``/api/studies/{id}/fhir``, saved as a file."""
    response = fhir_response(workspace, study_id, None)
    response.headers["Content-Disposition"] = f'attachment; filename="fhir-{study_id[:8]}.json"'
    return response


@router.post("/studies/{study_id}/dicom/send")
def study_send(
    request: Request, workspace: WorkspaceDep, user: Printer, study_id: str, csrf: Annotated[str | None, Form()] = None
) -> Response:
    """Send the reviewed study's results to the clinic's PACS; what went wrong is flashed on the study page."""
    _check_csrf(request, csrf)
    try:
        summary = send_results(workspace, study_id, user.username, None)
    except HTTPException as exc:
        if exc.status_code != 503:
            raise
        _flash(request, "error", str(exc.detail))
    else:
        sent = summary["objects"]
        count = len(sent) if isinstance(sent, list) else 0
        _flash(request, "ok", f"Sent {count} DICOM object(s) to the PACS {summary['pacs']}.")
    return RedirectResponse(f"/studies/{study_id}", status_code=303)


@router.get("/patients/{patient_number}/compare")
def compare_page(
    request: Request,
    workspace: WorkspaceDep,
    user: Viewer,
    patient_number: int,
    earlier: str | None = None,
    later: str | None = None,
) -> HTMLResponse:
    """Two scans of the patient side by side with linked zoom and pan, and what changed on each tooth; without
    a choice, the last two scans."""
    with workspace.sessions() as db:
        patient = get_patient(db, patient_number)
        scans = scans_in_time_order(patient)
        if len(scans) < 2:
            raise XrayReportError("this patient has fewer than two analysed scans; there is nothing to compare yet")
        compared = compare_studies(db, patient_number, earlier or scans[-2].id, later or scans[-1].id)
        sides = [
            (side, scan, overlay_groups(scan.document))
            for side, scan in (("earlier", compared.earlier), ("later", compared.later))
        ]
        return _render(
            request,
            "compare.html",
            user=user,
            patient=patient,
            scans=scans,
            compared=compared,
            sides=sides,
            change_labels=CHANGE_LABELS,
        )


def _audit_value(text: str | None) -> str:
    """A short human reading of an audit before/after value: type, tooth, box; or the patient's fields."""
    if text is None:
        return "—"
    item = json.loads(text)
    parts = []
    if "type" in item:
        parts.append(type_label(item["type"]))
    if item.get("tooth") or item.get("fdi"):
        parts.append(f"tooth {item.get('tooth') or item.get('fdi')}")
    if item.get("box"):
        parts.append("box " + ",".join(f"{v:.0f}" for v in item["box"]))
    if item.get("note"):
        parts.append(f"note: {item['note']}")
    if "state" in item:  # a plan step
        parts.append(str(item["state"]).replace("_", " ") + (f" {item['on']}" if item.get("on") else ""))
        if item.get("reason"):
            parts.append(f"reason: {item['reason']}")
    if "channel" in item:  # a consent to be contacted
        parts.append(f"{item['channel']}, {item.get('time_window') or 'any time'}")
    if "steps" in item:  # an issued report
        parts.append(f"{item['steps']} plan step(s) tracked")
    parts += [f"{label}: {item[key] or '—'}" for key, label in PATIENT_FIELD_LABELS.items() if key in item]
    return ", ".join(parts) or "—"


@router.get("/studies/{study_id}/status")
def study_status(workspace: WorkspaceDep, _user: Viewer, study_id: str) -> dict[str, Any]:
    with workspace.sessions() as db:
        study = get_study(db, study_id)
        return {"status": study.status, "message": study.status_message}


@router.get("/studies/{study_id}/image.png")
def study_image(workspace: WorkspaceDep, _user: Viewer, study_id: str, rendition: Rendition = "preview") -> Response:
    """The scan as PNG: ``preview`` (at most 1,600 pixels wide) or ``detail`` (full resolution up to 4,096)."""
    with workspace.sessions() as db:
        scan_file = get_study(db, study_id).scan_file
    return workspace.scans.image_response(scan_file, rendition)


def _parse_box(text: str | None) -> Box | None:
    if not text:
        return None
    try:
        x1, y1, x2, y2 = (float(v) for v in text.split(","))
    except ValueError:
        raise XrayReportError(f"box {text!r}: expected four numbers x1,y1,x2,y2") from None
    return (x1, y1, x2, y2)


@router.post("/studies/{study_id}/review")
def review(
    request: Request,
    workspace: WorkspaceDep,
    user: Reviewer,
    study_id: str,
    action: Annotated[str, Form()],
    csrf: Annotated[str | None, Form()] = None,
    finding: Annotated[list[str] | None, Form()] = None,
    type: Annotated[str | None, Form()] = None,
    tooth: Annotated[str | None, Form()] = None,
    box: Annotated[str | None, Form()] = None,
    note: Annotated[str | None, Form()] = None,
    new_fdi: Annotated[str | None, Form()] = None,
    earlier: Annotated[str | None, Form(max_length=1_000_000)] = None,
) -> Response:
    """One review step from the review page; every step lands in the audit trail.

    ``finding`` may be given several times: accept, reject and relabel act on each (a tooth's findings, every one
    shown); ``restore`` undoes a step with ``earlier``, what it changed as it was (see :func:`undo_change`).
    """
    _check_csrf(request, csrf)
    ids = finding or []
    try:
        with workspace.sessions.begin() as db:
            study = get_study(db, study_id, lock=True)
            if action == "accept" and ids:
                accept_findings(db, study, ids, user.username)
            elif action == "accept_all":
                accept_findings(db, study, pending_ids(study), user.username)
            elif action == "reject" and ids:
                reject_findings(db, study, ids, user.username)
            elif action == "relabel" and ids and type:
                relabel_findings(db, study, ids, type, user.username)
            elif action == "add" and type:
                add_finding(db, study, type, tooth or None, _parse_box(box), user.username, note)
            elif action == "renumber" and tooth and new_fdi:
                renumber_tooth(db, study, tooth, new_fdi.strip(), user.username)
            elif action == "restore" and earlier:
                undo_change(db, study, _parse_earlier(earlier), user.username)
            else:
                raise XrayReportError(f"review action {action!r} is missing a field or unknown")
    except XrayReportError as exc:
        _flash(request, "error", str(exc))
    return RedirectResponse(f"/studies/{study_id}#review", status_code=303)


UNDO_FORMAT = (
    'undo: expected a JSON list of {"finding": {...}, "accepted": true or false} (a finding as it was), '
    '{"added": ID} (a finding added) or {"tooth": {...}, "now": FDI} (a tooth renumbered)'
)


def _parse_earlier(text: str) -> list[EarlierState]:
    """The ``earlier`` field of an undo: what the undone step changed, as it was (see :data:`UNDO_FORMAT`)."""
    try:
        items = json.loads(text)
    except ValueError:
        items = None
    states = [_earlier_state(item) for item in items] if isinstance(items, list) else []
    if not states or None in states:
        raise XrayReportError(UNDO_FORMAT)
    return [state for state in states if state is not None]


def _earlier_state(item: Any) -> EarlierState | None:
    if not isinstance(item, dict):
        return None
    if isinstance(item.get("finding"), dict) and isinstance(item.get("accepted"), bool):
        return FindingAsWas(item["finding"], item["accepted"])
    if isinstance(item.get("added"), str):
        return AddedFinding(item["added"])
    if isinstance(item.get("tooth"), dict) and isinstance(item.get("now"), str):
        return ToothAsWas(item["tooth"], item["now"])
    return None


@router.get("/studies/{study_id}/report.pdf")
def study_report(
    workspace: WorkspaceDep, user: Viewer, study_id: str, lang: str | None = None, download: bool = False
) -> Response:
    with workspace.sessions() as db:
        waiting = len(pending_ids(get_study(db, study_id)))
    if waiting:
        raise HTTPException(409, f"{waiting} finding(s) still wait for review; accept or reject them first")
    return render_report(workspace, user, study_id, lang, download)


@router.post("/studies/{study_id}/issue")
def issue(
    request: Request, workspace: WorkspaceDep, user: Issuer, study_id: str, csrf: Annotated[str | None, Form()] = None
) -> Response:
    """Issue the report: its plan's steps are tracked on the patient page from now on."""
    _check_csrf(request, csrf)
    with workspace.sessions.begin() as db:
        study = get_study(db, study_id, lock=True)
        added = issue_report(workspace, db, study, user.username)
        patient_number = study.patient_id
    _flash(request, "ok", f"Report issued; {len(added)} plan step(s) are tracked on the patient's page.")
    return RedirectResponse(f"/patients/{patient_number}#plan", status_code=303)


@router.post("/patients/{patient_number}/plan/{step_id}")
def change_plan_step(
    request: Request,
    workspace: WorkspaceDep,
    user: Tracker,
    patient_number: int,
    step_id: int,
    state: Annotated[str, Form()],
    csrf: Annotated[str | None, Form()] = None,
    on: Annotated[str | None, Form()] = None,
    reason: Annotated[str | None, Form(max_length=1000)] = None,
) -> Response:
    _check_csrf(request, csrf)
    try:
        change = StepChange(_step_state(state), _form_date(on), reason)
        with workspace.sessions.begin() as db:
            step = get_step(db, step_id, lock=True)
            if step.patient_id != patient_number:
                raise NotFoundError(f"no plan step {step_id} for this patient")
            change_step(db, step, change, user.username, workspace.config.clock().date())
        _flash(request, "ok", "Plan step saved.")
    except XrayReportError as exc:
        _flash(request, "error", str(exc))
    return RedirectResponse(f"/patients/{patient_number}#plan", status_code=303)


@router.post("/patients/{patient_number}/consent")
def consent(
    request: Request,
    workspace: WorkspaceDep,
    user: Tracker,
    patient_number: int,
    action: Annotated[str, Form()],
    csrf: Annotated[str | None, Form()] = None,
    channel: Annotated[str, Form()] = "",
    time_window: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Record or withdraw the patient's consent to be contacted for recalls."""
    _check_csrf(request, csrf)
    today = workspace.config.clock().date()
    try:
        with workspace.sessions.begin() as db:
            patient = get_patient(db, patient_number, lock=True)
            if action == "withdraw":
                withdraw_consent(db, patient, user.username, today)
            else:
                record_consent(db, patient, channel, time_window, user.username, today)
        _flash(request, "ok", "Consent withdrawn." if action == "withdraw" else "Consent recorded.")
    except XrayReportError as exc:
        _flash(request, "error", str(exc))
    return RedirectResponse(f"/patients/{patient_number}#consent", status_code=303)


@router.post("/patients/{patient_number}/contacts")
def contact(
    request: Request,
    workspace: WorkspaceDep,
    user: Tracker,
    patient_number: int,
    csrf: Annotated[str | None, Form()] = None,
    channel: Annotated[str, Form()] = "",
    outcome: Annotated[str, Form()] = "",
    back: Annotated[str, Form()] = "",
) -> Response:
    """Record a recall contact made today (from the recall list or the patient page)."""
    _check_csrf(request, csrf)
    try:
        with workspace.sessions.begin() as db:
            patient = get_patient(db, patient_number, lock=True)
            record_contact(db, patient, channel, outcome, user.username, workspace.config.clock().date())
            label = patient.label
        _flash(request, "ok", f"Contact with {label} recorded ({outcome}).")
    except XrayReportError as exc:
        _flash(request, "error", str(exc))
    return RedirectResponse("/recalls" if back == "recalls" else f"/patients/{patient_number}#consent", status_code=303)


@router.post("/patients/{patient_number}/recall-mail")
def recall_mail(
    request: Request,
    workspace: WorkspaceDep,
    user: Tracker,
    patient_number: int,
    csrf: Annotated[str | None, Form()] = None,
) -> Response:
    """E-mail the patient their recall (the patient page's button); recorded as a contact."""
    _check_csrf(request, csrf)
    try:
        send_recall_mail(workspace, patient_number, user.username)
        _flash(request, "ok", "Recall e-mail sent and recorded as a contact.")
    except XrayReportError as exc:
        _flash(request, "error", str(exc))
    return RedirectResponse(f"/patients/{patient_number}#consent", status_code=303)


@router.post("/patients/{patient_number}/visits")
def visit(
    request: Request,
    workspace: WorkspaceDep,
    user: Tracker,
    patient_number: int,
    csrf: Annotated[str | None, Form()] = None,
    on: Annotated[str | None, Form()] = None,
) -> Response:
    """Record a day the patient came (a visit without a scan counts for the recall list too)."""
    _check_csrf(request, csrf)
    today = workspace.config.clock().date()
    try:
        day = _form_date(on) or today
        with workspace.sessions.begin() as db:
            record_visit(db, get_patient(db, patient_number, lock=True), day, "page", user.username, today)
        _flash(request, "ok", f"Visit of {day} recorded.")
    except XrayReportError as exc:
        _flash(request, "error", str(exc))
    return RedirectResponse(f"/patients/{patient_number}#consent", status_code=303)


@router.get("/visits/import")
def visits_import_page(request: Request, user: Tracker) -> HTMLResponse:
    return _render(request, "visits_import.html", user=user)


@router.post("/visits/import")
def visits_import(
    request: Request,
    workspace: WorkspaceDep,
    user: Tracker,
    file: Annotated[UploadFile, File()],
    csrf: Annotated[str | None, Form()] = None,
) -> Response:
    _check_csrf(request, csrf)
    try:
        text = read_limited(file.file, workspace.config.max_upload_bytes).decode("utf-8")
        with workspace.sessions.begin() as db:
            visits, done = import_appointments(db, text, user.username, workspace.config.clock().date())
    except UnicodeDecodeError:
        return _render(request, "visits_import.html", 422, user=user, problems=[(0, "the file is not UTF-8 text")])
    except AppointmentImportError as exc:
        return _render(request, "visits_import.html", 422, user=user, problems=exc.problems)
    _flash(request, "ok", f"{visits} visit(s) imported; {done} plan step(s) marked done.")
    return RedirectResponse("/recalls", status_code=303)


@router.get("/patients/{patient_number}/recall-letter.pdf")
def recall_letter_page(
    workspace: WorkspaceDep, _user: Tracker, patient_number: int, lang: str | None = None
) -> Response:
    return letter_pdf(workspace, patient_number, lang)


@router.post("/patients/{patient_number}/family")
def family_link(
    request: Request,
    workspace: WorkspaceDep,
    user: PatientEditor,
    patient_number: int,
    action: Annotated[str, Form()],
    csrf: Annotated[str | None, Form()] = None,
    with_patient: Annotated[str, Form()] = "",
) -> Response:
    """Link the patient into a family with another patient (by number), or take them out."""
    _check_csrf(request, csrf)
    try:
        with workspace.sessions.begin() as db:
            patient = get_patient(db, patient_number, lock=True)
            if action == "unlink":
                unlink_family(db, patient, user.username)
            else:
                if not with_patient.strip().lstrip("#").isdigit():
                    raise XrayReportError("give the other patient's number (the # on their page)")
                link_family(db, patient, int(with_patient.strip().lstrip("#")), user.username)
        _flash(request, "ok", "Family updated.")
    except XrayReportError as exc:
        _flash(request, "error", str(exc))
    return RedirectResponse(f"/patients/{patient_number}", status_code=303)


@router.get("/families/{family_id}")
def family_page(request: Request, workspace: WorkspaceDep, user: Viewer, family_id: int) -> HTMLResponse:
    with workspace.sessions() as db:
        family = get_family(db, family_id)
        return _render(
            request,
            "family.html",
            user=user,
            family=family,
            members=member_summaries(family),
            languages=REPORT_LANGUAGES,
            language=language_for(None, family_language(family)),
        )


@router.get("/families/{family_id}/letter.pdf")
def family_letter_page(workspace: WorkspaceDep, _user: Tracker, family_id: int, lang: str | None = None) -> Response:
    return family_letter_pdf(workspace, family_id, lang)


@router.get("/dashboard")
def dashboard_page(
    request: Request, workspace: WorkspaceDep, user: Annotated[User, page_permission(Permission.SEE_FIGURES)]
) -> HTMLResponse:
    return _render(request, "dashboard.html", user=user, figures=workspace_figures(workspace))


@router.get("/patients/{patient_number}/next-visit-card.pdf")
def next_visit_card_page(
    workspace: WorkspaceDep, _user: Tracker, patient_number: int, lang: str | None = None
) -> Response:
    return next_visit_card_pdf(workspace, patient_number, lang)


@router.get("/recalls")
def recalls_page(request: Request, workspace: WorkspaceDep, user: Tracker) -> HTMLResponse:
    today = workspace.config.clock().date()
    with workspace.sessions() as db:
        found = workspace_recall_list(workspace, db)
        listed = [e.patient for e in found.entries[:RECALL_PAGE_ROWS]]
        labels = {p.id: p.label for p in db.scalars(select(Patient).where(Patient.id.in_(listed)))}
    return _render(
        request,
        "recalls.html",
        user=user,
        found=found,
        labels=labels,
        today=today.isoformat(),
        channels=CONTACT_CHANNELS,
        outcomes=CONTACT_OUTCOMES,
        rows=RECALL_PAGE_ROWS,
        interval=workspace.sleep_rules.contact_interval_days,
    )


@router.get("/recalls.csv")
def recalls_download(workspace: WorkspaceDep, _user: Tracker) -> Response:
    return recall_csv_response(workspace)


def _step_state(text: str) -> StepState:
    try:
        return StepState(text)
    except ValueError:
        raise UnknownNameError("step state", text, [s.value for s in StepState]) from None


def _form_date(text: str | None) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise XrayReportError(f"date {text!r}: use YYYY-MM-DD") from None


@router.get("/admin/users")
def users_page(request: Request, workspace: WorkspaceDep, user: Admin) -> HTMLResponse:
    with workspace.sessions() as db:
        users = list(db.scalars(select(User).order_by(User.username)))
    return _render(request, "users.html", user=user, users=users, roles=list(Role))


@router.post("/admin/users")
def users_action(
    request: Request,
    workspace: WorkspaceDep,
    _admin: Admin,
    action: Annotated[str, Form()],
    username: Annotated[str, Form(max_length=64)],
    csrf: Annotated[str | None, Form()] = None,
    password: Annotated[str | None, Form(max_length=1024)] = None,
    roles: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """Add a user, set a user's roles, or end every session of a user; each answers with the users page."""
    _check_csrf(request, csrf)
    try:
        with workspace.sessions.begin() as db:
            if action == "add":
                add_user(db, username, password or "", roles or [])
                done = f"User {username} added."
            elif action == "roles":
                set_roles(db, get_user(db, username), roles or [])
                done = f"Roles of {username} saved."
            elif action == "end_sessions":
                ended = end_all_sessions(db, get_user(db, username))
                done = f"{ended} session(s) and token(s) of {username} ended."
            else:
                raise XrayReportError(f"users action {action!r} is unknown; use add, roles or end_sessions")
        _flash(request, "ok", done)
    except XrayReportError as exc:
        _flash(request, "error", str(exc))
    return RedirectResponse("/admin/users", status_code=303)


@router.get("/exports")
def exports_page(request: Request, workspace: WorkspaceDep, user: Exporter) -> HTMLResponse:
    with workspace.sessions() as db:
        held_back = len(held_back_studies(db, workspace.scans))
    return _render(request, "exports.html", user=user, held_back=held_back)


@router.get("/exports/deidentified.zip")
def export_download(
    workspace: WorkspaceDep, _user: Exporter, images: bool = False, age: bool = False, sex: bool = False
) -> Response:
    return export_response(workspace, ExportOptions(images=images, age=age, sex=sex))


@router.get("/exports/deidentified-dicom.zip")
def export_dicom_download(workspace: WorkspaceDep, _user: Exporter, images: bool = False) -> Response:
    return dicom_export_response(workspace, images)
