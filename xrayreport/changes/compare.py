"""What changed on each tooth between two findings documents of one patient (an earlier and a later scan).

Teeth are matched by their FDI number as the documents hold it, so a dentist's renumbering on a scan counts. Where a
dentist renumbered a tooth on one scan and the tooth at the same place on the other scan bears another number that
no dentist gave (the model's mistake, left there), that tooth is compared under the dentist's number: "the same
place" is the mutually nearest tooth by box centre relative to the dentition (the span of the scan's tooth boxes),
within half a tooth's width and in the same jaw. A tooth whose number that takes is matched by its own place in
turn, or left out when nothing free is there; two dentists' numbers are never overruled. Findings on no tooth
cannot be matched and are left out. Each change names its tooth and the findings of both scans it is about:

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

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from ..chart import PROBLEM_TYPES, TREATMENT_TYPES
from ..chart.chart import LOWER_PERMANENT, LOWER_PRIMARY, UPPER_PERMANENT, UPPER_PRIMARY
from ..errors import FindingsError
from ..findings import Finding, Findings

Side = Literal["earlier", "later"]
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
class MatchedTooth:
    """A tooth compared under the number a dentist gave it on one scan while the other scan numbers it otherwise:
    ``tooth`` is the number the comparison uses, ``earlier`` and ``later`` its numbers on each scan."""

    tooth: str
    earlier: str
    later: str


@dataclass(frozen=True)
class Comparison:
    """The changes between two scans, tooth by tooth in chart order, and the teeth matched by their place."""

    changes: tuple[Change, ...]
    matched: tuple[MatchedTooth, ...] = ()

    def of_kind(self, *kinds: ChangeKind) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.kind in kinds)

    def teeth(self, *kinds: ChangeKind) -> tuple[str, ...]:
        """The teeth with a change of one of ``kinds``, each once, in chart order."""
        return tuple(dict.fromkeys(c.tooth for c in self.of_kind(*kinds)))

    def number_on(self, side: Side, tooth: str) -> str:
        """The number tooth ``tooth`` (as the comparison numbers it) bears on the ``side`` scan."""
        for match in self.matched:
            if match.tooth == tooth:
                return match.earlier if side == "earlier" else match.later
        return tooth


def check_pair(earlier: Findings, later: Findings) -> None:
    """Refuse two documents that cannot be an earlier and a later scan of one patient: the same scan twice, two
    patient IDs, or an earlier study date after the later one. Raises :class:`FindingsError` saying which, without
    the values (patient data)."""
    if earlier.image.sha256 == later.image.sha256:
        raise FindingsError("the earlier findings are of this same scan; give those of the patient's earlier scan")
    ids = [d.patient.id if d.patient else None for d in (earlier, later)]
    if None not in ids and ids[0] != ids[1]:
        raise FindingsError("the earlier findings are of another patient (the patient IDs differ)")
    days = [d.study.date if d.study else None for d in (earlier, later)]
    if None not in days and str(days[0]) > str(days[1]):
        raise FindingsError("the earlier findings are of a scan taken after this one (by their study dates)")


def compare(earlier: Findings, later: Findings) -> Comparison:
    """The changes from ``earlier`` to ``later``, two findings documents of the same patient (reviewed ones:
    what a dentist confirmed), earlier first."""
    numbers_before, numbers_after = _renumbering(later, earlier), _renumbering(earlier, later)
    before, after = _by_tooth(earlier.findings, numbers_before), _by_tooth(later.findings, numbers_after)
    seen_before, seen_after = _seen(earlier, numbers_before), _seen(later, numbers_after)
    changes: list[Change] = []
    for tooth in sorted(before.keys() | after.keys() | seen_before | seen_after, key=_chart_index):
        old, new = before.get(tooth, ()), after.get(tooth, ())
        was_there = tooth in seen_before or any(f.type != "missing" for f in old)
        is_there = tooth in seen_after or any(f.type != "missing" for f in new)
        missing_now = any(f.type == "missing" for f in new) or (bool(seen_after) and not is_there)
        missing_then = any(f.type == "missing" for f in old)
        changes += _tooth_changes(tooth, old, new, newly_missing=was_there and missing_now and not missing_then)
    own_before = {key: own for own, key in numbers_before.items() if key is not None}
    own_after = {key: own for own, key in numbers_after.items() if key is not None}
    matched = tuple(
        MatchedTooth(tooth, own_before.get(tooth, tooth), own_after.get(tooth, tooth))
        for tooth in sorted(own_before.keys() | own_after.keys(), key=_chart_index)
    )
    return Comparison(tuple(changes), matched)


Place = tuple[float, float]
"""A tooth's box centre relative to the dentition: 0..1 across the span of the scan's tooth boxes, left to right
and top to bottom."""
SAME_JAW = 0.25
"""The most two teeth at the same place differ in height, as a fraction of the dentition's height (the jaws'
centres lie about half of it apart)."""


def _places(document: Findings) -> tuple[dict[str, Place], list[float]]:
    """Each boxed tooth's place, and the teeth's widths as fractions of the dentition's width."""
    boxes = {t.fdi: t.box for t in document.teeth if t.box is not None}
    if len(boxes) < 2:
        return {}, []
    x0, y0 = min(b[0] for b in boxes.values()), min(b[1] for b in boxes.values())
    x1, y1 = max(b[2] for b in boxes.values()), max(b[3] for b in boxes.values())
    if x1 <= x0 or y1 <= y0:
        return {}, []
    places = {
        fdi: (((b[0] + b[2]) / 2 - x0) / (x1 - x0), ((b[1] + b[3]) / 2 - y0) / (y1 - y0)) for fdi, b in boxes.items()
    }
    return places, [(b[2] - b[0]) / (x1 - x0) for b in boxes.values()]


def _counterpart(fdi: str, mine: dict[str, Place], theirs: dict[str, Place], reach: float) -> str | None:
    """The tooth of ``theirs`` at the place of ``mine``'s tooth ``fdi``: the nearest, whose nearest in ``mine`` is
    ``fdi`` in turn, no more than ``reach`` across and :data:`SAME_JAW` up or down from it; else ``None``."""

    def nearest(place: Place, among: dict[str, Place]) -> str:
        return min(among, key=lambda n: math.dist(place, among[n]))

    found = nearest(mine[fdi], theirs)
    (u, v), (u2, v2) = mine[fdi], theirs[found]
    if nearest(theirs[found], mine) != fdi or abs(u - u2) > reach or abs(v - v2) > SAME_JAW:
        return None
    return found


def _renumbering(source: Findings, target: Findings) -> dict[str, str | None]:
    """The numbers ``target``'s teeth are compared under where they differ from their own (``None``: left out):
    a dentist's number on ``source`` for the tooth at its place (see the module's description)."""
    there, widths = _places(source)
    here, more = _places(target)
    if not there or not here:
        return {}
    reach = statistics.median(widths + more) / 2
    numbers = {t.fdi for t in target.teeth}
    by_dentist = {t.fdi for t in target.teeth if t.source == "dentist"}
    renamed: dict[str, str | None] = {}
    for tooth in source.teeth:
        if tooth.source != "dentist" or tooth.fdi not in there or tooth.fdi in by_dentist:
            continue  # only a dentist's number counts, and never against a dentist's number on this scan
        match = _counterpart(tooth.fdi, there, here, reach)
        if match is not None and match != tooth.fdi and match not in by_dentist:
            renamed[match] = tooth.fdi
    for fdi in sorted(numbers & set(renamed.values()) - renamed.keys(), key=_chart_index):
        match = _counterpart(fdi, here, there, reach) if fdi in here else None
        in_use = (numbers - renamed.keys()) | {n for n in renamed.values() if n is not None}
        renamed[fdi] = match if match is not None and match not in in_use else None
    return renamed


def _seen(document: Findings, numbers: dict[str, str | None]) -> set[str]:
    seen = (numbers.get(t.fdi, t.fdi) for t in document.teeth)
    return {fdi for fdi in seen if fdi is not None}


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


def _by_tooth(findings: Iterable[Finding], numbers: dict[str, str | None]) -> dict[str, tuple[Finding, ...]]:
    grouped: dict[str, list[Finding]] = {}
    for finding in findings:
        tooth = None if finding.tooth is None else numbers.get(finding.tooth, finding.tooth)
        if tooth is not None:
            grouped.setdefault(tooth, []).append(finding)
    return {tooth: tuple(items) for tooth, items in grouped.items()}


def _chart_index(tooth: str) -> int:
    return CHART_ORDER.index(tooth) if tooth in CHART_ORDER else len(CHART_ORDER)
