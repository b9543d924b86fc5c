"""The recall list and contact consent, wired to the workspace's records (the logic is :mod:`xrayreport.recall`)."""

from __future__ import annotations

import csv
import datetime as dt
import io

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.responses import Response

from ..errors import UnknownNameError, XrayReportError
from ..recall import (
    OPEN_STATES,
    AppointmentImportError,
    Category,
    RecallCandidate,
    RecallList,
    Standing,
    StepChange,
    StepState,
    parse_appointments,
    recall_list,
)
from .models import (
    CONTACT_CHANNELS,
    CONTACT_OUTCOMES,
    Contact,
    ContactConsent,
    Patient,
    PatientStanding,
    PlanStepRecord,
    Visit,
    consent_summary,
)
from .plans import change_step
from .standings import forget_standing, refresh_standings
from .studies import record_audit
from .workspace import Workspace

TIME_WINDOW_LENGTH = 100


def workspace_recall_list(workspace: Workspace, db: Session) -> RecallList:
    """The recall list as of the workspace's today, from the kept standings (refreshed first where records
    changed), consents and contacts; ``db`` reads them."""
    today, rules = workspace.config.clock().date(), workspace.sleep_rules
    refresh_standings(workspace.sessions, rules)
    connection = db.connection()
    consents = {
        patient_id: consent_summary(channel, window)
        for patient_id, channel, window in connection.execute(
            select(ContactConsent.patient_id, ContactConsent.channel, ContactConsent.time_window).where(
                ContactConsent.withdrawn_on.is_(None)
            )
        )
    }
    contacted = {
        patient: dt.date.fromisoformat(on)
        for patient, on in connection.execute(
            select(Contact.patient_id, func.max(Contact.contacted_on)).group_by(Contact.patient_id)
        )
    }
    sleeping = select(
        PatientStanding.patient_id,
        PatientStanding.category,
        PatientStanding.last_visit,
        PatientStanding.asleep_from,
        PatientStanding.booked_until,
        PatientStanding.reason,
    ).where(PatientStanding.asleep_from <= today.isoformat())  # ISO dates sort as text
    candidates = (
        RecallCandidate(
            patient,
            _standing(category, last_visit, asleep_from, booked_until, reason),
            consents.get(patient),
            contacted.get(patient),
        )
        for patient, category, last_visit, asleep_from, booked_until, reason in connection.execute(sleeping)
    )
    return recall_list(candidates, today, rules)


def _standing(
    category: str | None, last_visit: str | None, asleep_from: str | None, booked_until: str | None, reason: str | None
) -> Standing:
    """A kept standing row back as a :class:`Standing`; only rows of patients who came are ever asked for."""
    if category is None or last_visit is None or asleep_from is None or reason is None:
        raise XrayReportError("a recall standing without a visit was read as sleeping; restart the server")
    booked = dt.date.fromisoformat(booked_until) if booked_until else None
    day = dt.date.fromisoformat
    return Standing(Category(category), day(last_visit), day(asleep_from), booked, reason)


def recall_csv_response(workspace: Workspace) -> Response:
    """The recall list as a CSV download (patient names in it: never cached)."""
    with workspace.sessions() as db:
        found = workspace_recall_list(workspace, db)
        names = dict(
            db.execute(select(Patient.id, Patient.name).where(Patient.id.in_([e.patient for e in found.entries]))).all()
        )
    return Response(
        recall_csv(found, {k: v or "" for k, v in names.items()}),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="recalls.csv"', "Cache-Control": "no-store"},
    )


def recall_csv(found: RecallList, names: dict[int, str]) -> str:
    """The list as CSV for the phone: patient number and name, category, last visit, days waited, reason, channel."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["patient", "name", "category", "last_visit", "waited_days", "reason", "contact"])
    for e in found.entries:
        row = [e.patient, names.get(e.patient, ""), e.category, e.last_visit, e.waited_days, e.reason, e.consent]
        writer.writerow([_no_formula(str(value)) for value in row])
    return out.getvalue()


def _no_formula(text: str) -> str:
    # A cell starting with = + - @ runs as a formula in a spreadsheet; names come from anyone's typing.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def record_consent(db: Session, patient: Patient, channel: str, time_window: str, user: str, today: dt.date) -> None:
    """Record the patient's agreement to be contacted by ``channel`` at ``time_window``; the one before is
    withdrawn. Audited on the patient."""
    if channel not in CONTACT_CHANNELS:
        raise UnknownNameError("contact channel", channel, CONTACT_CHANNELS)
    time_window = time_window.strip()
    if len(time_window) > TIME_WINDOW_LENGTH:
        raise XrayReportError(f"the time window has more than {TIME_WINDOW_LENGTH} characters; say it shorter")
    before = patient.consent
    if before is not None:
        before.withdrawn_on, before.withdrawn_by = today.isoformat(), user
    consent = ContactConsent(
        patient=patient, channel=channel, time_window=time_window, recorded_on=today.isoformat(), recorded_by=user
    )
    db.add(consent)
    record_audit(db, patient, user, "consent", "contact consent", _consent_json(before), _consent_json(consent))


def record_contact(db: Session, patient: Patient, channel: str, outcome: str, user: str, today: dt.date) -> Contact:
    """Record a recall contact made today; the patient stays off the recall list for the contact interval."""
    if channel not in CONTACT_CHANNELS:
        raise UnknownNameError("contact channel", channel, CONTACT_CHANNELS)
    if outcome not in CONTACT_OUTCOMES:
        raise UnknownNameError("contact outcome", outcome, CONTACT_OUTCOMES)
    contact = Contact(patient=patient, contacted_on=today.isoformat(), channel=channel, outcome=outcome, by=user)
    db.add(contact)
    return contact


def withdraw_consent(db: Session, patient: Patient, user: str, today: dt.date) -> None:
    consent = patient.consent
    if consent is None:
        raise XrayReportError("this patient has no consent to be contacted to withdraw")
    before = _consent_json(consent)
    consent.withdrawn_on, consent.withdrawn_by = today.isoformat(), user
    record_audit(db, patient, user, "withdraw", "contact consent", before, None)


def _consent_json(consent: ContactConsent | None) -> dict[str, str] | None:
    if consent is None:
        return None
    return {"channel": consent.channel, "time_window": consent.time_window, "recorded_on": consent.recorded_on}


def import_appointments(db: Session, text: str, user: str, today: dt.date) -> tuple[int, int]:
    """Import a CSV of past appointments (:mod:`xrayreport.recall.appointments`): every row a visit of the patient
    with that ID, and the open step of the row's treatment marked done that day. All rows or none: a patient ID
    the workspace does not know, or a treatment the patient has no open step of, refuses the file with its
    line numbers. Returns (visits, steps marked done)."""
    appointments = parse_appointments(text, today)
    wanted = {a.patient_id for a in appointments}
    patients = {p.external_id: p for p in db.scalars(select(Patient).where(Patient.external_id.in_(wanted)))}
    problems, done = [], []
    claimed: set[int] = set()
    for a in appointments:
        patient = patients.get(a.patient_id)
        if patient is None:
            problems.append((a.line, f"no patient with the ID {a.patient_id!r} in the workspace"))
            continue
        if a.treatment is None:
            continue
        step = _open_step(patient, a.treatment, a.teeth, claimed)
        if step is None:
            teeth = f" on {' '.join(a.teeth)}" if a.teeth else ""
            problems.append((a.line, f"the patient has no open {a.treatment!r} step{teeth} to mark done"))
            continue
        claimed.add(step.id)
        done.append((step, a.on))
    if problems:
        raise AppointmentImportError(problems)
    for a in appointments:
        db.add(Visit(patient=patients[a.patient_id], visited_on=a.on.isoformat(), source="import", recorded_by=user))
    for patient in patients.values():
        forget_standing(db, patient.id)
    for step, on in done:
        change_step(db, step, StepChange(StepState.DONE, on=on), user, today)
    return len(appointments), len(done)


def _open_step(patient: Patient, treatment: str, teeth: tuple[str, ...], claimed: set[int]) -> PlanStepRecord | None:
    """The patient's first open step of ``treatment`` (on ``teeth`` when given) not yet taken by another row."""
    for step in patient.plan_steps:
        if step.id in claimed or step.treatment != treatment or step.state not in OPEN_STATES:
            continue
        if teeth and not set(teeth) <= set(step.tooth_list):
            continue
        return step
    return None


def record_visit(db: Session, patient: Patient, on: dt.date, source: str, user: str, today: dt.date) -> Visit:
    if on > today:
        raise XrayReportError(f"{on} is in the future; record visits that took place")
    visit = Visit(patient=patient, visited_on=on.isoformat(), source=source, recorded_by=user)
    db.add(visit)
    forget_standing(db, patient.id)
    return visit
