"""The recall list and contact consent, wired to the workspace's records (the logic is :mod:`xrayreport.recall`)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict
from functools import lru_cache

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.responses import Response

from ..errors import UnknownNameError, XrayReportError
from ..recall import (
    OPEN_STATES,
    AppointmentImportError,
    RecallList,
    SleepRules,
    StepChange,
    StepState,
    StepStatus,
    TrackedPatient,
    parse_appointments,
    recall_list,
)
from .models import (
    CONTACT_CHANNELS,
    CONTACT_OUTCOMES,
    Contact,
    ContactConsent,
    Patient,
    PlanStepRecord,
    Study,
    Visit,
    consent_summary,
)
from .plans import change_step, wording_of
from .studies import record_audit
from .workspace import Workspace

TIME_WINDOW_LENGTH = 100
_STATES = {state.value: state for state in StepState}
_date = lru_cache(maxsize=8192)(dt.date.fromisoformat)


@lru_cache(maxsize=4096)
def _wording(what: str) -> str:
    return wording_of(what)


def workspace_recall_list(db: Session, today: dt.date, rules: SleepRules) -> RecallList:
    """The recall list of every patient with a tracked plan, read in four queries (not one per patient)."""
    steps: dict[int, list[StepStatus]] = defaultdict(list)
    columns = (
        PlanStepRecord.patient_id,
        PlanStepRecord.stage,
        PlanStepRecord.stage_number,
        PlanStepRecord.state,
        PlanStepRecord.state_on,
        PlanStepRecord.what,
        PlanStepRecord.teeth,
        PlanStepRecord.due_by,
    )
    # Plain rows through the connection (not ORM objects, not even the ORM's row handling), and each distinct
    # date or wording parsed once: 175,000 steps of 50,000 patients took 7 s as objects.
    connection = db.connection()
    for patient_id, stage, number, state, on, what, teeth, due_by in connection.execute(select(*columns)):
        steps[patient_id].append(
            StepStatus(
                stage,
                number,
                _STATES[state],
                _date(on) if on else None,
                _wording(what),
                tuple(teeth.split(",")) if teeth else (),
                _date(due_by),
            )
        )
    visits: dict[int, list[dt.date]] = defaultdict(list)
    for patient_id, study_date, created_at in connection.execute(
        select(Study.patient_id, Study.study_date, Study.created_at)
    ):
        visits[patient_id].append(_date(study_date) if study_date else created_at.date())
    for patient_id, visited_on in connection.execute(select(Visit.patient_id, Visit.visited_on)):
        visits[patient_id].append(_date(visited_on))
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
    tracked = (
        TrackedPatient(patient, consents.get(patient), tuple(found), tuple(visits[patient]), contacted.get(patient))
        for patient, found in steps.items()
    )
    return recall_list(tracked, today, rules)


def recall_csv_response(workspace: Workspace) -> Response:
    """The recall list as a CSV download (patient names in it: never cached)."""
    with workspace.sessions() as db:
        found = workspace_recall_list(db, workspace.config.clock().date(), workspace.sleep_rules)
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
    return visit
