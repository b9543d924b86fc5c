"""Families (households) in the workspace: linking patients, and what the family page and letter show."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

from sqlalchemy.orm import Session

from ..errors import XrayReportError
from ..recall import OPEN_STATES, Category, StepState, StepStatus, standing
from .models import Family, Patient, PlanStepRecord
from .reports import REPORT_LANGUAGES
from .standings import wording_of
from .studies import NotFoundError, get_patient, record_audit


def link_family(db: Session, patient: Patient, other_number: int, user: str) -> Family:
    """Put ``patient`` and patient ``other_number`` in one family: the other's, the patient's, or a new one named
    after the patient. Audited on the patient."""
    other = get_patient(db, other_number, lock=True)
    if other.id == patient.id:
        raise XrayReportError("a patient cannot be linked to themselves; give another patient's number")
    if patient.family is not None and other.family is not None and patient.family is not other.family:
        raise XrayReportError(f"{other.label} is already in another family; unlink one of them first")
    family = other.family or patient.family or Family(name=_family_name(patient))
    before = {"family": patient.family.name if patient.family else None}
    patient.family = other.family = family
    db.flush()
    record_audit(db, patient, user, "family", "family", before, {"family": family.name})
    return family


def unlink_family(db: Session, patient: Patient, user: str) -> None:
    if patient.family is None:
        raise XrayReportError("this patient is in no family")
    before = {"family": patient.family.name}
    patient.family = None
    record_audit(db, patient, user, "family", "family", before, {"family": None})


def get_family(db: Session, family_id: int) -> Family:
    family = db.get(Family, family_id)
    if family is None:
        raise NotFoundError(f"no family {family_id}; a patient's page links to their family")
    return family


def family_language(family: Family) -> str | None:
    """The language most members chose (a tie goes to the first in the workspace's list of languages); ``None``
    when nobody chose one."""
    chosen = Counter(m.language for m in family.members if m.language)
    return max(REPORT_LANGUAGES, key=lambda code: chosen[code]) if chosen else None


def _family_name(patient: Patient) -> str:
    surname = (patient.name or "").split()[-1:] or [patient.label]
    return surname[0]


@dataclass(frozen=True)
class MemberSummary:
    """A member as the family page shows them: their open steps (soonest due first), category and next booking."""

    patient: Patient
    open_steps: tuple[PlanStepRecord, ...]
    category: Category | None
    next_booking: dt.date | None

    def wording(self, step: PlanStepRecord) -> str:
        return wording_of(step.what)


def member_summaries(family: Family) -> list[MemberSummary]:
    summaries = []
    for member in sorted(family.members, key=lambda p: p.id):  # in joining order until reloaded
        steps = member.plan_steps
        statuses = [
            StepStatus(s.stage, s.stage_number, StepState(s.state), _day(s.state_on), due_by=_day(s.due_by))
            for s in steps
        ]
        found = standing(statuses, member.visit_days)
        open_steps = tuple(sorted((s for s in steps if s.state in OPEN_STATES), key=lambda s: (s.due_by, s.id)))
        bookings = [_day(s.state_on) for s in open_steps if s.state == StepState.BOOKED]
        summaries.append(
            MemberSummary(
                member, open_steps, found.category if found else None, min(filter(None, bookings), default=None)
            )
        )
    return summaries


def _day(text: str | None) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None
