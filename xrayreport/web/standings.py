"""Each patient's :class:`~xrayreport.recall.Standing` kept in the database (``patient_standings``), so the recall
list of 50,000 patients is one query, not a classification of every patient's steps on every page.

What changes a standing (a plan issued, a step's state, a visit, an upload) calls :func:`forget_standing`;
:func:`refresh_standings` recomputes the forgotten ones, in bulk, before the list is read. The server empties
the table when it starts, because the clinic file's waiting times may have changed.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Collection
from functools import lru_cache

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from ..plan import Text
from ..recall import SleepRules, StepState, StepStatus, standing
from .models import Patient, PatientStanding, PlanStepRecord, Study, Visit

BULK = 500
"""Above this many patients to recompute, every row is read once instead of filtering by patient."""
_STATES = {state.value: state for state in StepState}
_date = lru_cache(maxsize=8192)(dt.date.fromisoformat)


@lru_cache(maxsize=4096)
def _wording(what: str) -> str:
    return wording_of(what)


def wording_of(stored: str, language: str = "en") -> str:
    """A tracked step's wording from its stored ``what`` (JSON): a catalogue message (English), or the clinic's
    text in ``language`` (else its first)."""
    what: Text = json.loads(stored)
    if isinstance(what, str):
        return what
    return what.get(language) or next(iter(what.values()))


def forget_standing(db: Session, patient_id: int) -> None:
    """The patient's records changed: their standing is recomputed before the recall list is next read."""
    db.execute(delete(PatientStanding).where(PatientStanding.patient_id == patient_id))


def forget_all_standings(db: Session) -> None:
    db.execute(delete(PatientStanding))


def refresh_standings(sessions: sessionmaker[Session], rules: SleepRules) -> int:
    """Compute and store the standing of every patient who has none, in a transaction of its own; returns how
    many were stored (0 when a request running at the same time stored them first)."""
    try:
        with sessions.begin() as db:
            return _refresh(db, rules)
    except (IntegrityError, OperationalError):  # the same rows from a simultaneous request won, or SQLite's
        return 0  # snapshot went stale while waiting for the write lock: either way they are there now


def _refresh(db: Session, rules: SleepRules) -> int:
    known = select(PatientStanding.patient_id)
    missing = list(db.scalars(select(Patient.id).where(Patient.id.not_in(known))))
    if not missing:
        return 0
    steps, visits = _records(db, missing)
    rows = []
    for patient_id in missing:
        found = standing(steps[patient_id], visits[patient_id], rules)
        rows.append(
            {
                "patient_id": patient_id,
                "category": found.category.value if found else None,
                "last_visit": found.last_visit.isoformat() if found else None,
                "asleep_from": found.asleep_from.isoformat() if found else None,
                "booked_until": found.booked_until.isoformat() if found and found.booked_until else None,
                "reason": found.reason if found else None,
            }
        )
    for start in range(0, len(rows), 10_000):
        db.execute(insert(PatientStanding), rows[start : start + 10_000])
    return len(rows)


def _records(
    db: Session, patients: Collection[int]
) -> tuple[defaultdict[int, list[StepStatus]], defaultdict[int, list[dt.date]]]:
    """The steps and visit days of ``patients``, as plain rows (ORM objects for 175,000 steps took seconds)."""
    connection = db.connection()
    wanted = set(patients)
    step_query = select(
        PlanStepRecord.patient_id,
        PlanStepRecord.stage,
        PlanStepRecord.stage_number,
        PlanStepRecord.state,
        PlanStepRecord.state_on,
        PlanStepRecord.what,
        PlanStepRecord.teeth,
        PlanStepRecord.due_by,
    )
    study_query = select(Study.patient_id, Study.study_date, Study.created_at)
    visit_query = select(Visit.patient_id, Visit.visited_on)
    if len(wanted) <= BULK:
        step_query = step_query.where(PlanStepRecord.patient_id.in_(wanted))
        study_query = study_query.where(Study.patient_id.in_(wanted))
        visit_query = visit_query.where(Visit.patient_id.in_(wanted))
    steps: defaultdict[int, list[StepStatus]] = defaultdict(list)
    for patient_id, stage, number, state, on, what, teeth, due_by in connection.execute(step_query):
        if patient_id in wanted:
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
    visits: defaultdict[int, list[dt.date]] = defaultdict(list)
    for patient_id, study_date, created_at in connection.execute(study_query):
        if patient_id in wanted:
            visits[patient_id].append(_date(study_date) if study_date else created_at.date())
    for patient_id, visited_on in connection.execute(visit_query):
        if patient_id in wanted:
            visits[patient_id].append(_date(visited_on))
    return steps, visits
