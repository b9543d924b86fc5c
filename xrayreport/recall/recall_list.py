"""The recall list: every sleeping patient who agreed to be contacted, with the concrete reason to call.

A contact is justified only by a reason that matters to that patient (``shared/CLINICAL.md``): the first
open treatment step ("A filling, tooth 36: due by 2026-03-30, not booked"), else the check-up or review
that is due (:func:`~.sleeping.reason_to_call`). Patients without consent, or contacted within the clinic's
interval, are counted, never listed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from .sleeping import Category, SleepRules, Standing


@dataclass(frozen=True)
class RecallCandidate:
    """A patient's number, :class:`~.sleeping.Standing`, consent (the channel and time they chose, e.g.
    "phone, weekday mornings"; ``None``: no consent) and the day they were last contacted."""

    patient: int
    standing: Standing
    consent: str | None
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


def recall_list(candidates: Iterable[RecallCandidate], today: dt.date, rules: SleepRules | None = None) -> RecallList:
    rules = rules or SleepRules()
    entries, without_consent, recently_contacted = [], 0, 0
    for candidate in candidates:
        found = candidate.standing
        if not found.sleeping(today):
            continue
        if not candidate.consent:
            without_consent += 1
            continue
        contacted = candidate.last_contact
        if contacted is not None and (today - contacted).days < rules.contact_interval_days:
            recently_contacted += 1
            continue
        waited = (today - found.last_visit).days
        entries.append(
            RecallEntry(
                candidate.patient,
                found.category,
                found.last_visit,
                found.asleep_from,
                waited,
                found.reason,
                candidate.consent,
            )
        )
    entries.sort(key=lambda e: (-e.waited_days, e.patient))
    return RecallList(tuple(entries), without_consent, recently_contacted)
