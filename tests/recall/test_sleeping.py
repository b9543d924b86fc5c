"""Sleeping patients: the four categories and their waiting times, at the day boundaries."""

from __future__ import annotations

import datetime as dt

import pytest

from xrayreport.recall import Category, SleepRules, StepState, StepStatus, category_of, standing

D = dt.date
URGENT, RESTORE, REPLACE, MAINTAIN = ("urgent", 1), ("restore", 2), ("replace", 3), ("maintain", 4)


def step(stage: tuple[str, int], state: StepState, on: dt.date | None = None) -> StepStatus:
    return StepStatus(stage[0], stage[1], state, on)


PLANNED, BOOKED, DONE = StepState.PLANNED, StepState.BOOKED, StepState.DONE
DECLINED, NOT_NEEDED = StepState.DECLINED, StepState.NOT_NEEDED


@pytest.mark.parametrize(
    ("steps", "category"),
    [
        ([step(URGENT, PLANNED), step(RESTORE, PLANNED), step(MAINTAIN, PLANNED)], Category.NOT_TREATED),
        ([step(URGENT, BOOKED, D(2026, 4, 1)), step(RESTORE, PLANNED)], Category.NOT_TREATED),
        ([step(URGENT, DONE, D(2026, 3, 2)), step(RESTORE, PLANNED)], Category.COMPLAINT_ONLY),
        ([step(URGENT, DONE, D(2026, 3, 2)), step(URGENT, PLANNED), step(RESTORE, PLANNED)], Category.PARTLY_DONE),
        ([step(URGENT, DONE, D(2026, 3, 2)), step(RESTORE, BOOKED, D(2026, 5, 1))], Category.PARTLY_DONE),
        (
            [step(RESTORE, DONE, D(2026, 3, 2)), step(RESTORE, PLANNED), step(REPLACE, PLANNED)],
            Category.PARTLY_DONE,
        ),
        ([step(URGENT, DONE, D(2026, 3, 2)), step(RESTORE, DECLINED), step(MAINTAIN, PLANNED)], Category.ALL_DONE),
        ([step(RESTORE, NOT_NEEDED), step(MAINTAIN, PLANNED)], Category.ALL_DONE),  # nothing left to treat
        ([step(MAINTAIN, PLANNED)], Category.ALL_DONE),  # a healthy mouth: check-ups only
    ],
    ids=[
        "nothing-done",
        "booked-is-not-done",
        "complaint-only",
        "first-stage-half-done",
        "second-stage-booked",
        "no-urgent-stage",
        "declined-counts-as-neither",
        "not-needed",
        "healthy",
    ],
)
def test_category_follows_where_the_plan_stopped(steps: list[StepStatus], category: Category) -> None:
    assert category_of(steps) == category


@pytest.mark.parametrize(
    ("steps", "last_visit", "first_sleeping_day"),
    [
        ([step(URGENT, PLANNED)], D(2026, 3, 1), D(2026, 4, 1)),  # 1 month: 31 days in March
        ([step(URGENT, PLANNED)], D(2026, 4, 1), D(2026, 5, 1)),  # 30 days in April
        ([step(URGENT, PLANNED)], D(2026, 1, 31), D(2026, 2, 28)),  # a month from 31 January: 28 days
        ([step(URGENT, DONE, D(2026, 2, 27)), step(RESTORE, PLANNED)], D(2026, 2, 2), D(2026, 3, 27)),
        ([step(URGENT, DONE, D(2026, 1, 10)), step(URGENT, PLANNED)], D(2026, 1, 10), D(2026, 4, 10)),  # 3 months
        ([step(URGENT, DONE, D(2026, 1, 10)), step(MAINTAIN, PLANNED)], D(2026, 1, 10), D(2026, 7, 10)),  # 6 months
    ],
    ids=["march-31-days", "april-30-days", "end-of-month", "last-visit-is-the-done-step", "partly-3", "all-done-6"],
)
def test_asleep_from_the_waiting_time_after_the_last_visit(
    steps: list[StepStatus], last_visit: dt.date, first_sleeping_day: dt.date
) -> None:
    found = standing(steps, [last_visit])
    assert found is not None and found.asleep_from == first_sleeping_day
    assert not found.sleeping(first_sleeping_day - dt.timedelta(days=1))
    assert found.sleeping(first_sleeping_day)


def test_a_booked_visit_ahead_keeps_a_patient_awake_until_it_passes() -> None:
    found = standing([step(URGENT, BOOKED, D(2026, 6, 1))], [D(2026, 1, 5)])
    assert found is not None and found.asleep_from == D(2026, 2, 5) and found.booked_until == D(2026, 6, 1)
    assert not found.sleeping(D(2026, 5, 31)) and not found.sleeping(D(2026, 6, 1))
    assert found.sleeping(D(2026, 6, 2))  # the booking passed: missed
    assert found.reason == "a planned step: booked for 2026-06-01, not attended"


def test_a_clinic_sets_its_own_waiting_times_and_a_patient_who_never_came_has_no_standing() -> None:
    rules = SleepRules({**SleepRules().wait_months, Category.NOT_TREATED: 2})
    found = standing([step(URGENT, PLANNED)], [D(2026, 3, 1)], rules=rules)
    assert found is not None and found.asleep_from == D(2026, 5, 1)
    assert standing([step(URGENT, PLANNED)], []) is None
