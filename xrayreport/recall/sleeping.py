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
A patient with a booked visit still ahead is not sleeping, whatever the category.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from ..plan import Offset, date_after
from .steps import StepState

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
    """A patient's category, last visit, and the day they count as sleeping (``asleep_from``), ``None`` while
    a booked visit is still ahead."""

    category: Category
    last_visit: dt.date
    asleep_from: dt.date | None

    def sleeping(self, today: dt.date) -> bool:
        return self.asleep_from is not None and today >= self.asleep_from


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
    steps: Iterable[StepStatus], visits: Iterable[dt.date], today: dt.date, rules: SleepRules | None = None
) -> Standing | None:
    """The patient's :class:`Standing`, from their tracked steps and the days they came (scans taken, steps
    done, visits recorded); ``None`` for a patient who never came."""
    steps = list(steps)
    days = [*visits, *(s.on for s in steps if s.state == StepState.DONE and s.on is not None)]
    if not days:
        return None
    last = max(days)
    category = category_of(steps)
    booked_ahead = any(s.state == StepState.BOOKED and s.on is not None and s.on >= today for s in steps)
    months = (rules or SleepRules()).wait_months[category]
    asleep_from = None if booked_ahead else date_after(last, Offset(months=months))[0]
    return Standing(category, last, asleep_from)
