"""The recall list: every sleeping patient who agreed to be contacted, with the concrete reason to call.

A contact is justified only by a reason that matters to that patient (``shared/CLINICAL.md``): the first
open treatment step ("A filling, tooth 36: due by 2026-03-30, not booked"), else the check-up or review
that is due. Patients without consent are counted, never listed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from .sleeping import MAINTENANCE_STAGE, Category, SleepRules, StepStatus, standing
from .steps import OPEN_STATES, StepState


@dataclass(frozen=True)
class TrackedPatient:
    """What the list needs of a patient: their number, whether they agreed to be contacted (and how),
    their tracked steps (with wording and teeth), the days they came and the day they were last contacted."""

    patient: int
    consent: str | None  # the channel and time they chose, e.g. "phone, weekday mornings"; None: no consent
    steps: tuple[StepStatus, ...]
    visits: tuple[dt.date, ...]
    last_contact: dt.date | None = None


@dataclass(frozen=True)
class RecallEntry:
    patient: int
    category: Category
    last_visit: dt.date
    asleep_from: dt.date
    waited_days: int  # since the last visit
    reason: str
    consent: str


@dataclass(frozen=True)
class RecallList:
    entries: tuple[RecallEntry, ...]  # longest waiting first
    without_consent: int  # sleeping patients left out because they did not agree to be contacted
    recently_contacted: int = 0  # sleeping patients left out because they were contacted within the interval


def recall_list(patients: Iterable[TrackedPatient], today: dt.date, rules: SleepRules | None = None) -> RecallList:
    rules = rules or SleepRules()
    entries, without_consent, recently_contacted = [], 0, 0
    for patient in patients:
        found = standing(patient.steps, patient.visits, today, rules)
        if found is None or not found.sleeping(today) or found.asleep_from is None:
            continue
        if not patient.consent:
            without_consent += 1
            continue
        if patient.last_contact is not None and (today - patient.last_contact).days < rules.contact_interval_days:
            recently_contacted += 1
            continue
        entries.append(
            RecallEntry(
                patient.patient,
                found.category,
                found.last_visit,
                found.asleep_from,
                (today - found.last_visit).days,
                reason_to_call(patient.steps, found.asleep_from),
                patient.consent,
            )
        )
    entries.sort(key=lambda e: (-e.waited_days, e.patient))
    return RecallList(tuple(entries), without_consent, recently_contacted)


def reason_to_call(steps: Iterable[StepStatus], asleep_from: dt.date) -> str:
    """The first open treatment step by due date, else the first due maintenance step, in a line."""
    open_steps = sorted(
        (s for s in steps if s.state in OPEN_STATES),
        key=lambda s: (s.stage == MAINTENANCE_STAGE, s.due_by or dt.date.max, s.stage_number),
    )
    if not open_steps:
        return f"check-up due since {asleep_from.isoformat()}"
    step = open_steps[0]
    what = step.what or "a planned step"
    where = f", {'tooth' if len(step.teeth) == 1 else 'teeth'} {', '.join(step.teeth)}" if step.teeth else ""
    if step.state == StepState.BOOKED and step.on is not None:
        return f"{what}{where}: booked for {step.on.isoformat()}, not attended"
    due = f"due by {step.due_by.isoformat()}" if step.due_by else "planned"
    return f"{what}{where}: {due}, not booked"
