"""The per-tooth chart: one state for every tooth slot, decided from a findings document.

A tooth is *present* when analysis numbered it (``Findings.teeth``) or a finding sits on it; a present
tooth is a *problem* when an untreated finding sits on it, else *treated* when it carries a
restoration, else *healthy*. A tooth that was not seen is *missing* only when the document says so
(a ``missing`` finding) or when the patient's age is known and the tooth should have erupted by then;
a child's permanent tooth is *not yet erupted*; without an age the chart says *not seen on this X-ray*
rather than guess (see ../shared/CLINICAL.md, "Details that matter").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from ..dentition import PERMANENT_TEETH, PRIMARY_TEETH, check_fdi, is_primary
from ..errors import FindingsError, UnknownNameError
from ..findings import Finding, Findings

PROBLEM_TYPES: frozenset[str] = frozenset(
    {"caries", "deep_caries", "periapical_lesion", "impacted", "residual_root", "fracture"}
)
"""Finding types that need care: each becomes a step of the plan."""
TREATMENT_TYPES: frozenset[str] = frozenset({"restoration", "filling", "crown", "root_canal", "implant", "bridge"})
"""Existing treatments: shown as treated, they feed the maintenance stage."""
_KNOWN_TYPES = PROBLEM_TYPES | TREATMENT_TYPES | {"missing"}
_REPLACEMENTS = frozenset({"implant", "bridge"})

ToothState = Literal["healthy", "treated", "problem", "missing", "not_seen", "not_erupted", "shed"]

# Age in years by which a permanent tooth has normally erupted (upper end of the ADA eruption chart
# ranges), by jaw and position 1 (central incisor) .. 8 (third molar).
_ERUPTED_BY_AGE: Mapping[str, tuple[int, ...]] = {
    "upper": (8, 9, 12, 11, 12, 7, 13, 21),
    "lower": (7, 8, 10, 12, 12, 7, 13, 21),
}
# Below this age a panoramic is expected to show primary teeth, so their row is drawn.
_PRIMARY_ROW_BELOW_AGE = 13

# Display order: the patient's right on the viewer's left, as on the panoramic.
UPPER_PERMANENT: tuple[str, ...] = tuple(f"1{p}" for p in range(8, 0, -1)) + tuple(f"2{p}" for p in range(1, 9))
LOWER_PERMANENT: tuple[str, ...] = tuple(f"4{p}" for p in range(8, 0, -1)) + tuple(f"3{p}" for p in range(1, 9))
UPPER_PRIMARY: tuple[str, ...] = tuple(f"5{p}" for p in range(5, 0, -1)) + tuple(f"6{p}" for p in range(1, 6))
LOWER_PRIMARY: tuple[str, ...] = tuple(f"8{p}" for p in range(5, 0, -1)) + tuple(f"7{p}" for p in range(1, 6))


@dataclass(frozen=True)
class ChartTooth:
    """One tooth slot of the chart.

    ``inferred`` is true when the state comes from the tooth's absence (no finding says it), so a
    report can say "not seen" or "probably missing" with the right caution.
    """

    fdi: str
    state: ToothState
    problems: tuple[Finding, ...] = ()
    treatments: tuple[Finding, ...] = ()
    missing: Finding | None = None
    inferred: bool = False


@dataclass(frozen=True)
class ChartNotice:
    """Something in the document that looks contradictory; shown to the reader as a marked warning.

    ``code`` is one of ``missing_but_present`` (a tooth marked missing that was also seen or carries
    another finding) and ``missing_not_erupted`` (a permanent tooth marked missing in a child who is
    too young for it to have erupted).
    """

    code: Literal["missing_but_present", "missing_not_erupted"]
    teeth: tuple[str, ...]


@dataclass(frozen=True)
class ToothChart:
    """The chart of one findings document: rows in display order and the findings without a tooth."""

    teeth: Mapping[str, ChartTooth]
    show_primary: bool
    age_years: float | None
    unplaced: tuple[Finding, ...]
    notices: tuple[ChartNotice, ...]

    def rows(self) -> list[tuple[str, tuple[ChartTooth, ...]]]:
        """Display rows top to bottom: ``(row name, teeth left to right as seen on the panoramic)``."""
        names = [("upper", UPPER_PERMANENT)]
        if self.show_primary:
            names += [("upper_primary", UPPER_PRIMARY), ("lower_primary", LOWER_PRIMARY)]
        names.append(("lower", LOWER_PERMANENT))
        return [(name, tuple(self.teeth[fdi] for fdi in order)) for name, order in names]

    def count(self, state: ToothState) -> int:
        """How many slots of the displayed rows are in ``state``."""
        return sum(1 for _, row in self.rows() for tooth in row if tooth.state == state)


def patient_age_years(findings: Findings, override: float | None = None, today: dt.date | None = None) -> float | None:
    """The patient's age in years at the study date: ``override``, else the document's ``age_years``,
    else from the birth date and the study date (or ``today`` when the study is undated); ``None`` when unknown."""
    if override is not None:
        if not 0 <= override <= 130:
            raise FindingsError(f"patient age {override:g} is not an age in years; give a number from 0 to 130")
        return float(override)
    patient = findings.patient
    if patient is None:
        return None
    if patient.age_years is not None:
        return float(patient.age_years)
    if patient.birth_date is None:
        return None
    birth = _parse_date(patient.birth_date, "patient.birth_date")
    study_date = findings.study.date if findings.study else None
    on = _parse_date(study_date, "study.date") if study_date else (today or dt.date.today())
    if on < birth:
        raise FindingsError(
            f"patient.birth_date {birth.isoformat()} is after the study date {on.isoformat()}; fix one of them"
        )
    return (on - birth).days / 365.25


def _parse_date(text: str, field: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise FindingsError(f"{field} {text!r} is not a calendar date; write it as YYYY-MM-DD") from None


def _erupted_by(fdi: str) -> int:
    jaw = "upper" if fdi[0] in "12" else "lower"
    return _ERUPTED_BY_AGE[jaw][int(fdi[1]) - 1]


def build_chart(findings: Findings, age_years: float | None = None) -> ToothChart:
    """Decide the state of every tooth slot (32 permanent, plus 20 primary when shown).

    ``age_years`` is the patient's age at the study (see :func:`patient_age_years`); ``None`` makes
    the chart say "not seen" for every absent tooth that no finding calls missing. Raises
    :class:`UnknownNameError` for a finding type or tooth number the chart does not know.
    """
    on_tooth: dict[str, list[Finding]] = {}
    unplaced: list[Finding] = []
    for finding in findings.findings:
        if finding.type not in _KNOWN_TYPES:
            raise UnknownNameError("finding type", finding.type, _KNOWN_TYPES)
        if finding.tooth is None:
            unplaced.append(finding)
        else:
            on_tooth.setdefault(check_fdi(finding.tooth), []).append(finding)
    seen = {check_fdi(tooth.fdi) for tooth in findings.teeth}
    # Inferring "missing" from absence needs both a known age and a scan whose teeth were numbered.
    numbered = bool(seen)
    show_primary = any(is_primary(fdi) for fdi in seen | on_tooth.keys()) or (
        age_years is not None and age_years < _PRIMARY_ROW_BELOW_AGE
    )

    teeth: dict[str, ChartTooth] = {}
    conflicts: list[str] = []
    too_young: list[str] = []
    for fdi in PERMANENT_TEETH + PRIMARY_TEETH:
        items = on_tooth.get(fdi, [])
        problems = tuple(f for f in items if f.type in PROBLEM_TYPES)
        treatments = tuple(f for f in items if f.type in TREATMENT_TYPES)
        missing = next((f for f in items if f.type == "missing"), None)
        present = fdi in seen or bool(problems or treatments)
        if present:
            # A missing tooth replaced by an implant or a bridge pontic is consistent, not a conflict.
            replaced = bool(treatments) and not problems and all(f.type in _REPLACEMENTS for f in treatments)
            if missing is not None and not replaced:
                conflicts.append(fdi)
            state: ToothState = "problem" if problems else "treated" if treatments else "healthy"
            teeth[fdi] = ChartTooth(fdi, state, problems, treatments, None)
            continue
        child_too_young = not is_primary(fdi) and age_years is not None and age_years < _erupted_by(fdi)
        if missing is not None:
            if child_too_young:
                too_young.append(fdi)
                teeth[fdi] = ChartTooth(fdi, "not_erupted", missing=missing)
            else:
                teeth[fdi] = ChartTooth(fdi, "missing", missing=missing)
            continue
        teeth[fdi] = ChartTooth(fdi, _absent_state(fdi, age_years, numbered, seen, child_too_young), inferred=True)

    notices = []
    if conflicts:
        notices.append(ChartNotice("missing_but_present", tuple(conflicts)))
    if too_young:
        notices.append(ChartNotice("missing_not_erupted", tuple(too_young)))
    return ToothChart(teeth, show_primary, age_years, tuple(unplaced), tuple(notices))


def _absent_state(fdi: str, age: float | None, numbered: bool, seen: set[str], too_young: bool) -> ToothState:
    if is_primary(fdi):
        successor = str(int(fdi[0]) - 4) + fdi[1]
        return "shed" if successor in seen else "not_seen"
    if too_young:
        return "not_erupted"
    if age is None or not numbered:
        return "not_seen"
    return "missing"
