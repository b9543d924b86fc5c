"""Sleeping patients: where a patient's plan stopped, and whether they have been away too long.

The four categories of the product brief (``shared/CLINICAL.md``, "After the report"), each with its own
waiting time after the last visit (defaults there, a clinic may change them):

1. came, the chief complaint not treated: no treatment step done (1 month);
2. the chief complaint treated, nothing else started: the first stage's steps done, no other step done
   or booked (1 month);
3. some planned steps done, the rest not (3 months);
4. every step done (or none was needed): waiting for a preventive visit (6 months).

The chief complaint is the plan's first treatment stage (urgent care when there is any). Maintenance steps
(check-ups, reviews) are not treatment; declined and no-longer-needed steps count as neither done nor open.
A patient with a booked visit still ahead is not sleeping, whatever the category. A booking that has passed
without the step being done counts as not attended.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from ..plan import Offset, date_after
from .steps import OPEN_STATES, StepState

MAINTENANCE_STAGE = "maintain"


class Category(StrEnum):
    NOT_TREATED = "came, chief complaint not treated"
    COMPLAINT_ONLY = "chief complaint treated, nothing else started"
    PARTLY_DONE = "some planned steps done, the rest not"
    ALL_DONE = "all steps done, no preventive visit since"


DEFAULT_WAIT_MONTHS: Mapping[Category, int] = {
    Category.NOT_TREATED: 1,
    Category.COMPLAINT_ONLY: 1,
    Category.PARTLY_DONE: 3,
    Category.ALL_DONE: 6,
}


class StepStatus(NamedTuple):
    """What classification needs of a tracked step: its stage (id and number), state and booked / done date;
    and what the recall list says of it: wording, teeth, due date."""

    stage: str
    stage_number: int
    state: StepState
    on: dt.date | None = None
    what: str = ""  # the step's wording, for the reason to call
    teeth: tuple[str, ...] = ()
    due_by: dt.date | None = None


@dataclass(frozen=True)
class Standing:
    """A patient's category, last visit, the day their waiting time runs out (``asleep_from``), their latest
    booking (``booked_until``) and the reason a recall would give. None of it depends on the day it is
    computed, so the workspace keeps it per patient and refreshes it when their records change."""

    category: Category
    last_visit: dt.date
    asleep_from: dt.date
    booked_until: dt.date | None
    reason: str

    def sleeping(self, today: dt.date) -> bool:
        """Past the waiting time, with no booked visit still ahead."""
        booked_ahead = self.booked_until is not None and self.booked_until >= today
        return today >= self.asleep_from and not booked_ahead


@dataclass(frozen=True)
class SleepRules:
    """Months after the last visit before a patient of each category counts as sleeping, and the days a
    contacted patient stays off the recall list (whatever came of the contact)."""

    wait_months: Mapping[Category, int] = field(default_factory=lambda: dict(DEFAULT_WAIT_MONTHS))
    contact_interval_days: int = 14


def category_of(steps: Iterable[StepStatus]) -> Category:
    """Where the plan stopped (see the module's description)."""
    treatment = [
        s for s in steps if s.stage != MAINTENANCE_STAGE and s.state not in (StepState.DECLINED, StepState.NOT_NEEDED)
    ]
    done = [s for s in treatment if s.state == StepState.DONE]
    open_steps = [s for s in treatment if s.state != StepState.DONE]
    if not open_steps:
        return Category.ALL_DONE
    if not done:
        return Category.NOT_TREATED
    first_stage = min(s.stage_number for s in treatment)
    complaint_done = all(s.state == StepState.DONE for s in treatment if s.stage_number == first_stage)
    started_beyond = any(
        s.stage_number != first_stage and s.state in (StepState.DONE, StepState.BOOKED) for s in treatment
    )
    return Category.COMPLAINT_ONLY if complaint_done and not started_beyond else Category.PARTLY_DONE


def standing(
    steps: Iterable[StepStatus], visits: Iterable[dt.date], rules: SleepRules | None = None
) -> Standing | None:
    """The patient's :class:`Standing`, from their tracked steps and the days they came (scans taken, steps
    done, visits recorded); ``None`` for a patient who never came."""
    steps = list(steps)
    days = [*visits, *(s.on for s in steps if s.state == StepState.DONE and s.on is not None)]
    if not days:
        return None
    last = max(days)
    category = category_of(steps)
    bookings = [s.on for s in steps if s.state == StepState.BOOKED and s.on is not None]
    months = (rules or SleepRules()).wait_months[category]
    asleep_from = date_after(last, Offset(months=months))[0]
    return Standing(category, last, asleep_from, max(bookings, default=None), reason_to_call(steps, asleep_from))


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
