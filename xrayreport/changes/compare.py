"""What changed on each tooth between two findings documents of one patient (an earlier and a later scan).

Teeth are matched by their FDI number as the documents hold it: a dentist who renumbered a tooth on either scan
has already put it where it belongs. Findings on no tooth cannot be matched and are left out. Each change names
its tooth and the findings of both scans it is about:

- ``treated``: a problem on the tooth is gone and a treatment is new on it (caries, then a filling);
- ``gone``: a finding is no longer there and nothing new explains it (a problem not seen again, a filling lost);
- ``worsened``: caries became deep caries;
- ``new_lesion``: a periapical lesion that was not there;
- ``new``: any other new finding (a new cavity, a filling where no problem was seen);
- ``newly_missing``: a tooth seen before is missing now (marked missing, or not seen on a scan whose teeth
  were numbered);
- ``implant_placed``: an implant where there was none;
- ``unchanged``: a problem seen on both scans, still waiting for care.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from ..chart import PROBLEM_TYPES, TREATMENT_TYPES
from ..chart.chart import LOWER_PERMANENT, LOWER_PRIMARY, UPPER_PERMANENT, UPPER_PRIMARY
from ..findings import Finding, Findings

ChangeKind = Literal["treated", "gone", "worsened", "new_lesion", "new", "newly_missing", "implant_placed", "unchanged"]
CHANGE_KINDS: tuple[ChangeKind, ...] = (
    "treated",
    "implant_placed",
    "newly_missing",
    "worsened",
    "new_lesion",
    "new",
    "gone",
    "unchanged",
)
"""Every kind of change, in the order a tooth's changes are listed."""
CHART_ORDER: tuple[str, ...] = UPPER_PERMANENT + UPPER_PRIMARY + LOWER_PRIMARY + LOWER_PERMANENT
"""Teeth in the order the chart reads them: upper jaw from the patient's right, then the lower jaw."""


@dataclass(frozen=True)
class Change:
    """One change on one tooth (FDI), with the earlier scan's findings and the later scan's it is about."""

    kind: ChangeKind
    tooth: str
    earlier: tuple[Finding, ...] = ()
    later: tuple[Finding, ...] = ()


@dataclass(frozen=True)
class Comparison:
    """The changes between two scans, tooth by tooth in chart order."""

    changes: tuple[Change, ...]

    def of_kind(self, *kinds: ChangeKind) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.kind in kinds)

    def teeth(self, *kinds: ChangeKind) -> tuple[str, ...]:
        """The teeth with a change of one of ``kinds``, each once, in chart order."""
        return tuple(dict.fromkeys(c.tooth for c in self.of_kind(*kinds)))


def compare(earlier: Findings, later: Findings) -> Comparison:
    """The changes from ``earlier`` to ``later``, two findings documents of the same patient (reviewed ones:
    what a dentist confirmed), earlier first."""
    before, after = _by_tooth(earlier.findings), _by_tooth(later.findings)
    seen_before, seen_after = {t.fdi for t in earlier.teeth}, {t.fdi for t in later.teeth}
    changes: list[Change] = []
    for tooth in sorted(before.keys() | after.keys() | seen_before | seen_after, key=_chart_index):
        old, new = before.get(tooth, ()), after.get(tooth, ())
        was_there = tooth in seen_before or any(f.type != "missing" for f in old)
        is_there = tooth in seen_after or any(f.type != "missing" for f in new)
        missing_now = any(f.type == "missing" for f in new) or (bool(seen_after) and not is_there)
        missing_then = any(f.type == "missing" for f in old)
        changes += _tooth_changes(tooth, old, new, newly_missing=was_there and missing_now and not missing_then)
    return Comparison(tuple(changes))


def _tooth_changes(tooth: str, old: tuple[Finding, ...], new: tuple[Finding, ...], newly_missing: bool) -> list[Change]:
    old_types, new_types = {f.type for f in old}, {f.type for f in new}
    cared_for = [f for f in old if f.type in PROBLEM_TYPES | TREATMENT_TYPES]
    implants = [f for f in new if f.type == "implant" and "implant" not in old_types]
    if implants:  # the gap (or the failing tooth) now an implant: nothing else on the slot matters
        return [Change("implant_placed", tooth, tuple(old), tuple(implants))]
    if newly_missing:
        return [Change("newly_missing", tooth, tuple(cared_for), tuple(f for f in new if f.type == "missing"))]
    changes: list[Change] = []
    grew = "caries" in old_types and "deep_caries" in new_types and "deep_caries" not in old_types
    if grew:
        changes.append(
            Change(
                "worsened",
                tooth,
                tuple(f for f in old if f.type == "caries"),
                tuple(f for f in new if f.type == "deep_caries"),
            )
        )
    problems_gone = [
        f for f in old if f.type in PROBLEM_TYPES and f.type not in new_types and not (grew and f.type == "caries")
    ]
    treatments_new = [f for f in new if f.type in TREATMENT_TYPES and f.type not in old_types]
    treatments_gone = [f for f in old if f.type in TREATMENT_TYPES and f.type not in new_types]
    problems_new = [
        f for f in new if f.type in PROBLEM_TYPES and f.type not in old_types and not (grew and f.type == "deep_caries")
    ]
    if problems_gone and treatments_new:
        changes.append(Change("treated", tooth, tuple(problems_gone), tuple(treatments_new)))
    else:
        if treatments_new:
            changes.append(Change("new", tooth, (), tuple(treatments_new)))
        if problems_gone:
            changes.append(Change("gone", tooth, tuple(problems_gone), ()))
    lesions = [f for f in problems_new if f.type == "periapical_lesion"]
    if lesions:
        changes.append(Change("new_lesion", tooth, (), tuple(lesions)))
    others = [f for f in problems_new if f.type != "periapical_lesion"]
    if others:
        changes.append(Change("new", tooth, (), tuple(others)))
    if treatments_gone:
        changes.append(Change("gone", tooth, tuple(treatments_gone), ()))
    still = [f for f in new if f.type in PROBLEM_TYPES and f.type in old_types]
    if still:
        changes.append(
            Change("unchanged", tooth, tuple(f for f in old if f.type in {s.type for s in still}), tuple(still))
        )
    return sorted(_merged(changes), key=lambda c: CHANGE_KINDS.index(c.kind))


def _merged(changes: Iterable[Change]) -> list[Change]:
    """One change per kind on a tooth (a new filling and a new cavity on one tooth are one ``new``)."""
    merged: dict[ChangeKind, Change] = {}
    for change in changes:
        known = merged.get(change.kind)
        merged[change.kind] = (
            change
            if known is None
            else Change(change.kind, change.tooth, known.earlier + change.earlier, known.later + change.later)
        )
    return list(merged.values())


def _by_tooth(findings: Iterable[Finding]) -> dict[str, tuple[Finding, ...]]:
    grouped: dict[str, list[Finding]] = {}
    for finding in findings:
        if finding.tooth is not None:
            grouped.setdefault(finding.tooth, []).append(finding)
    return {tooth: tuple(items) for tooth, items in grouped.items()}


def _chart_index(tooth: str) -> int:
    return CHART_ORDER.index(tooth) if tooth in CHART_ORDER else len(CHART_ORDER)
