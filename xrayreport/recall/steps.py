"""Plan steps that live on after the report (issue: every untreated step in the patient's future).

Issuing a report turns each step of its plan into a :class:`TrackedStep` of the patient, due by the
date its stage asks for (``next_visit`` of the stage in the plan rules after the X-ray, the recall for
the maintenance stage). From then on a step changes state (:class:`StepState`) only by the changes
:func:`check_change` allows, each with what it needs: a booked step its date, a done step the day it
was done, a declined step the patient's reason.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from ..errors import XrayReportError
from ..plan import Plan, date_after
from ..plan.rules import Offset, Text

REASON_LENGTH = 500


class StepState(StrEnum):
    PLANNED = "planned"
    BOOKED = "booked"
    DONE = "done"
    DECLINED = "declined"
    NOT_NEEDED = "not_needed"  # e.g. the tooth was extracted, or a later scan shows it was treated elsewhere


OPEN_STATES = frozenset({StepState.PLANNED, StepState.BOOKED})
"""States of a step still to be done: the ones a recall has a reason to mention."""

_ALLOWED: dict[StepState, frozenset[StepState]] = {
    StepState.PLANNED: frozenset({StepState.BOOKED, StepState.DONE, StepState.DECLINED, StepState.NOT_NEEDED}),
    StepState.BOOKED: frozenset(
        {StepState.PLANNED, StepState.BOOKED, StepState.DONE, StepState.DECLINED, StepState.NOT_NEEDED}
    ),
    # A closed step reopens as planned (a mistake corrected, a patient who changed their mind), never jumps on.
    StepState.DONE: frozenset({StepState.PLANNED}),
    StepState.DECLINED: frozenset({StepState.PLANNED}),
    StepState.NOT_NEEDED: frozenset({StepState.PLANNED}),
}


class StepStateError(XrayReportError):
    """A change of a step's state that is not allowed, or lacks what it needs."""


@dataclass(frozen=True)
class TrackedStep:
    """One step of an issued plan: ``treatment`` (price-list key), ``what`` (the plan's wording: an English
    catalogue message or a clinic's text per language), on ``teeth`` (FDI), in stage ``stage`` (rule id)
    number ``stage_number``, due by ``due_by``."""

    stage: str
    stage_number: int
    treatment: str
    what: Text
    teeth: tuple[str, ...]
    due_by: dt.date


@dataclass(frozen=True)
class StepChange:
    """A requested change: the new ``state``; ``on`` the booked date or the day it was done; ``reason`` why it
    was declined or is no longer needed."""

    state: StepState
    on: dt.date | None = None
    reason: str | None = None


def steps_to_track(plan: Plan, xray_date: dt.date) -> tuple[TrackedStep, ...]:
    """Every step of ``plan``, due by its stage's next visit after ``xray_date`` (the recall for maintenance)."""
    tracked = []
    for stage in plan.stages:
        offset = stage.rule.next_visit or Offset(months=plan.recall_months)
        due_by, _precision = date_after(xray_date, offset)
        for step in stage.steps:
            tracked.append(TrackedStep(stage.rule.id, stage.number, step.treatment, step.what, step.teeth, due_by))
    return tuple(tracked)


def check_change(current: StepState, change: StepChange, today: dt.date) -> None:
    """Raise :class:`StepStateError` unless ``change`` may follow ``current``, with what it needs."""
    if change.state not in _ALLOWED[current]:
        allowed = ", ".join(sorted(_ALLOWED[current]))
        raise StepStateError(f"a {current} step cannot become {change.state}; from {current} it can become: {allowed}")
    if change.state in (StepState.BOOKED, StepState.DONE) and change.on is None:
        raise StepStateError(f"a {change.state} step needs its date (the day it is booked for, or was done)")
    if change.state == StepState.DONE and change.on is not None and change.on > today:
        raise StepStateError(f"a step cannot be done on {change.on}, after today ({today}); book it instead")
    if change.state in (StepState.DECLINED, StepState.NOT_NEEDED) and not (change.reason or "").strip():
        raise StepStateError(
            f"say why the step is {change.state.replace('_', ' ')} (the patient's reason, or what changed)"
        )
    if change.reason is not None and len(change.reason) > REASON_LENGTH:
        raise StepStateError(f"the reason has {len(change.reason)} characters, more than the {REASON_LENGTH} allowed")
