"""The recall list: sleeping patients with consent, longest waiting first, each with a concrete reason."""

from __future__ import annotations

import datetime as dt

from xrayreport.recall import Category, RecallCandidate, SleepRules, StepState, StepStatus, recall_list, standing

D = dt.date
TODAY = D(2026, 9, 1)


def _filling(state: StepState, on: dt.date | None = None) -> StepStatus:
    return StepStatus("restore", 2, state, on, "A filling", ("36",), D(2026, 3, 30))


def candidate(
    patient: int,
    consent: str | None,
    steps: tuple[StepStatus, ...],
    visits: tuple[dt.date, ...],
    last_contact: dt.date | None = None,
) -> RecallCandidate:
    found = standing(steps, visits)
    assert found is not None
    return RecallCandidate(patient, found, consent, last_contact)


CHECKUP = StepStatus("maintain", 3, StepState.PLANNED, None, "Check-up and professional cleaning", (), D(2026, 9, 2))


def test_sleeping_patients_with_consent_are_listed_with_the_reason_that_matters_to_them() -> None:
    patients = [
        candidate(1, "phone, mornings", (_filling(StepState.PLANNED), CHECKUP), (D(2026, 3, 2),)),
        candidate(2, "sms", (_filling(StepState.BOOKED, D(2026, 5, 4)), CHECKUP), (D(2026, 5, 1),)),
        candidate(3, "e-mail", (_filling(StepState.DONE, D(2026, 1, 15)), CHECKUP), (D(2026, 1, 15),)),
        candidate(4, None, (_filling(StepState.PLANNED),), (D(2026, 1, 2),)),  # no consent: counted only
        candidate(5, "phone", (_filling(StepState.PLANNED),), (D(2026, 8, 20),)),  # came 12 days ago
        candidate(6, "phone", (_filling(StepState.BOOKED, D(2026, 9, 10)),), (D(2026, 2, 1),)),  # booked ahead
    ]
    found = recall_list(patients, TODAY)
    assert found.without_consent == 1
    assert [(e.patient, e.category, e.waited_days, e.reason) for e in found.entries] == [
        (3, Category.ALL_DONE, 229, "Check-up and professional cleaning: due by 2026-09-02, not booked"),
        (1, Category.NOT_TREATED, 183, "A filling, tooth 36: due by 2026-03-30, not booked"),
        (2, Category.NOT_TREATED, 123, "A filling, tooth 36: booked for 2026-05-04, not attended"),
    ]
    assert found.entries[1].consent == "phone, mornings"


def test_nothing_open_says_the_check_up_is_due() -> None:
    done = candidate(7, "letter", (_filling(StepState.DONE, D(2026, 1, 5)),), (D(2026, 1, 5),))
    (entry,) = recall_list([done], TODAY).entries
    assert entry.reason == "check-up due since 2026-07-05" and entry.asleep_from == D(2026, 7, 5)


def test_a_contacted_patient_stays_off_the_list_for_the_interval() -> None:
    steps = (_filling(StepState.PLANNED),)
    called = [candidate(8, "phone", steps, (D(2026, 3, 2),), last_contact=D(2026, 8, 19))]
    assert recall_list(called, D(2026, 9, 1)).recently_contacted == 1  # 13 days ago: within 14
    again = recall_list(called, D(2026, 9, 2))  # 14 days ago: listed again
    assert [e.patient for e in again.entries] == [8] and again.recently_contacted == 0
    assert recall_list(called, D(2026, 9, 1), SleepRules(contact_interval_days=7)).entries
