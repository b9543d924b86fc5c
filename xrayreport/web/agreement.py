"""How the model does at this clinic, from its own reviews: per finding type, the share of the model's findings
dentists accepted, relabelled and rejected, and the findings they had to add, in all, by month and by model.

Counted on every study a dentist finished reviewing (a reviewed document, nothing left waiting), comparing the
reviewed document with the model's (:func:`review_outcomes`): a model finding kept with its type was accepted, kept
with another type relabelled (counted under the model's type), gone rejected; a dentist's finding was added (under
its own type). The month is the review's (UTC); the model is the one its findings document names.

The workspace keeps one review per scan (the last dentist's document), so two dentists never review a scan
independently and their agreement (e.g. Cohen's kappa) cannot be measured. What it can show is the second look:
on scans where more than one dentist changed the review (:func:`second_looks`), how many of the items the first
dentist decided another dentist then changed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..findings import Findings
from .exports import fully_reviewed
from .models import AuditEntry

OUTCOMES = ("accepted", "relabelled", "rejected", "added")
FORMULAS = {
    "accepted": "accepted / proposed",
    "relabelled": "relabelled / proposed",
    "rejected": "rejected / proposed",
    "added": "added / (accepted + relabelled + added): the share of the dentists' final findings of the type "
    "that the model missed",
}
"""How each share is computed; proposed = accepted + relabelled + rejected (the model's findings of the type)."""
REVIEW_ACTIONS = ("accept", "reject", "edit", "add", "renumber", "undo")


@dataclass
class Tally:
    """Counts of one finding type: the model's proposals by outcome, and the dentists' additions."""

    accepted: int = 0
    relabelled: int = 0
    rejected: int = 0
    added: int = 0

    @property
    def proposed(self) -> int:
        return self.accepted + self.relabelled + self.rejected

    def shares(self) -> dict[str, float | None]:
        """Each outcome's share (see :data:`FORMULAS`), ``None`` where its denominator is 0."""
        final = self.accepted + self.relabelled + self.added
        out: dict[str, float | None] = {
            name: (getattr(self, name) / self.proposed if self.proposed else None)
            for name in ("accepted", "relabelled", "rejected")
        }
        out["added"] = self.added / final if final else None
        return out

    def as_json(self) -> dict[str, object]:
        counts = {name: getattr(self, name) for name in OUTCOMES}
        shares = {name: None if v is None else round(v, 4) for name, v in self.shares().items()}
        return {**counts, "proposed": self.proposed, "shares": shares}


def review_outcomes(proposed: Findings | None, reviewed: Findings) -> Counter[tuple[str, str]]:
    """(finding type, outcome) -> count for one fully reviewed study (see the module docstring)."""
    outcomes: Counter[tuple[str, str]] = Counter()
    final = {f.id: f for f in reviewed.findings}
    proposed_ids = set()
    for finding in proposed.findings if proposed else ():
        proposed_ids.add(finding.id)
        kept = final.get(finding.id)
        outcome = "rejected" if kept is None else "accepted" if kept.type == finding.type else "relabelled"
        outcomes[(finding.type, outcome)] += 1
    for finding in reviewed.findings:
        if finding.source == "dentist" or finding.id not in proposed_ids:
            outcomes[(finding.type, "added")] += 1
    return outcomes


@dataclass
class Agreement:
    """The tallies by type in all, by month (YYYY-MM) and by model ("name version"), and the second looks."""

    studies: int = 0
    by_type: dict[str, Tally] = field(default_factory=dict)
    by_month: dict[str, dict[str, Tally]] = field(default_factory=dict)
    by_model: dict[str, dict[str, Tally]] = field(default_factory=dict)
    second_looks: dict[str, int] = field(default_factory=dict)

    def add(self, month: str, model: str, outcomes: Counter[tuple[str, str]]) -> None:
        self.studies += 1
        for (finding_type, outcome), count in outcomes.items():
            for table in (self.by_type, self.by_month.setdefault(month, {}), self.by_model.setdefault(model, {})):
                tally = table.setdefault(finding_type, Tally())
                setattr(tally, outcome, getattr(tally, outcome) + count)

    def as_json(self) -> dict[str, object]:
        def types(table: dict[str, Tally]) -> dict[str, object]:
            return {name: table[name].as_json() for name in sorted(table)}

        return {
            "studies": self.studies,
            "formulas": {**FORMULAS, "proposed": "accepted + relabelled + rejected"},
            "by_type": types(self.by_type),
            "by_month": {month: types(self.by_month[month]) for month in sorted(self.by_month)},
            "by_model": {model: types(self.by_model[model]) for model in sorted(self.by_model)},
            "second_looks": self.second_looks,
        }


def clinic_agreement(db: Session) -> Agreement:
    """The agreement figures of every fully reviewed study of the workspace."""
    agreement = Agreement()
    for study in fully_reviewed(db):
        reviewed = study.reviewed_document()
        if reviewed is None:
            continue
        proposed = study.model_document()
        named = (proposed or reviewed).model
        reviewed_at = study.reviewed_at or study.created_at
        if reviewed_at.tzinfo is None:  # SQLite hands back naive datetimes; they were written in UTC
            reviewed_at = reviewed_at.replace(tzinfo=UTC)
        agreement.add(
            reviewed_at.astimezone(UTC).strftime("%Y-%m"),
            f"{named.name} {named.version}",
            review_outcomes(proposed, reviewed),
        )
    agreement.second_looks = second_looks(db)
    return agreement


def second_looks(db: Session) -> dict[str, int]:
    """Scans whose review more than one dentist changed; on them, the items (a finding, a tooth) the first of them
    decided, and how many of those a later dentist changed again."""
    entries = db.execute(
        select(AuditEntry.study_id, AuditEntry.subject, AuditEntry.username)
        .where(AuditEntry.study_id.is_not(None), AuditEntry.action.in_(REVIEW_ACTIONS))
        .order_by(AuditEntry.id)
    ).all()
    by_study: dict[str, list[tuple[str, str]]] = {}
    for study_id, subject, username in entries:
        by_study.setdefault(str(study_id), []).append((subject, username))
    scans = decided = changed = 0
    for items in by_study.values():
        if len({user for _, user in items}) < 2:
            continue
        scans += 1
        first = items[0][1]
        decided_first: set[str] = set()
        changed_later: set[str] = set()
        for subject, user in items:
            if user == first:
                decided_first.add(subject)
            elif subject in decided_first:
                changed_later.add(subject)
        decided += len(decided_first)
        changed += len(changed_later)
    return {"scans": scans, "decided_by_first": decided, "changed_by_another": changed}
