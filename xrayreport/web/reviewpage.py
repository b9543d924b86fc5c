"""What the review page shows of a study: its findings grouped by tooth in chart order, each with its review
state, and the per-tooth chart with the report's states (:mod:`xrayreport.chart`)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Literal

from ..chart import PROBLEM_TYPES, TREATMENT_TYPES, ToothChart, ToothState, build_chart, patient_age_years
from ..errors import FindingsError
from ..findings import Finding, Findings
from .models import Study
from .studies import base_document, pending_ids, with_records

ReviewState = Literal["pending", "accepted", "added"]
REVIEW_STATE_LABELS: dict[str, str] = {"pending": "waiting", "accepted": "accepted", "added": "added by dentist"}
"""How the page names each review state in words (never by colour alone)."""
STATE_MARKS: dict[str, str] = {
    "healthy": "✓",
    "treated": "◆",
    "problem": "!",
    "missing": "✕",
    "not_seen": "?",
    "not_erupted": "…",
    "shed": "–",
}
"""The mark of each chart state, as the patient report draws it."""
TYPE_CODES: dict[str, str] = {
    "caries": "C",
    "deep_caries": "DC",
    "periapical_lesion": "PA",
    "impacted": "Imp",
    "residual_root": "RR",
    "fracture": "Fx",
    "restoration": "R",
    "filling": "F",
    "crown": "Cr",
    "root_canal": "RCT",
    "implant": "I",
    "bridge": "B",
    "missing": "M",
}
"""The short label of each finding type on the scan, where whole words would run into each other."""


def type_group(finding_type: str) -> Literal["problem", "treated", "missing"]:
    """The layer a finding type is drawn in on the review page: problem, treated or missing."""
    return "problem" if finding_type in PROBLEM_TYPES else "treated" if finding_type in TREATMENT_TYPES else "missing"


@dataclass(frozen=True)
class FindingRow:
    """One finding as the page lists it; ``earlier`` is the finding as JSON, kept by the page to undo a change."""

    item: Finding
    state: ReviewState
    group: Literal["problem", "treated", "missing"]

    @property
    def earlier(self) -> str:
        finding = asdict(self.item)
        return json.dumps({"finding": finding, "accepted": self.state != "pending"}, separators=(",", ":"))


@dataclass(frozen=True)
class ToothGroup:
    """The findings on one tooth (``fdi`` ``None``: those on no tooth), with the tooth's chart state."""

    fdi: str | None
    state: ToothState | None
    rows: tuple[FindingRow, ...]

    @property
    def pending(self) -> tuple[str, ...]:
        return tuple(r.item.id for r in self.rows if r.state == "pending")


@dataclass(frozen=True)
class ReviewView:
    document: Findings
    rows: tuple[FindingRow, ...]
    groups: tuple[ToothGroup, ...]
    chart: ToothChart
    pending: int

    @property
    def earlier_teeth(self) -> dict[str, str]:
        """Each tooth as JSON by its number, kept by the page to undo a renumbering (``{"tooth": ..., "now": ...}``
        once the new number is known)."""
        return {t.fdi: json.dumps(asdict(t), separators=(",", ":")) for t in self.document.teeth}

    @property
    def type_codes(self) -> list[tuple[str, str]]:
        """``(code, type in words)`` of each finding type on this scan, in :data:`TYPE_CODES` order."""
        present = {row.item.type for row in self.rows}
        return [(code, kind.replace("_", " ")) for kind, code in TYPE_CODES.items() if kind in present]


def overlay_groups(document: Findings) -> list[tuple[FindingRow, ...]]:
    """A document's findings as the overlay draws them where no review is done (a comparison): confirmed by the
    model's or added by the dentist, grouped by tooth so that the labels on one tooth stack."""
    by_tooth: dict[str | None, list[FindingRow]] = {}
    for f in document.findings:
        row = FindingRow(f, "added" if f.source == "dentist" else "accepted", type_group(f.type))
        by_tooth.setdefault(f.tooth, []).append(row)
    return [tuple(rows) for rows in by_tooth.values()]


def review_view(study: Study) -> ReviewView:
    """The study's current findings (the dentist's, else the model's) as the review page shows them.

    The chart includes findings still waiting for review, so that it follows the page as the dentist works; the
    patient's age (for missing and not-yet-erupted teeth) comes from the workspace's records, and is left
    unknown when they contradict each other (a birth date after the scan).
    """
    document = base_document(study)
    waiting = set(pending_ids(study))
    rows = tuple(
        FindingRow(
            f,
            "pending" if f.id in waiting else "added" if f.source == "dentist" else "accepted",
            type_group(f.type),
        )
        for f in document.findings
    )
    try:
        age = patient_age_years(with_records(study, document), today=study.visit_day)
    except FindingsError:
        age = None
    chart = build_chart(document, age)
    order = [tooth.fdi for _, row in chart.rows() for tooth in row]
    by_tooth: dict[str | None, list[FindingRow]] = {}
    for row in rows:
        by_tooth.setdefault(row.item.tooth, []).append(row)
    groups = [ToothGroup(fdi, chart.teeth[fdi].state, tuple(by_tooth[fdi])) for fdi in order if fdi in by_tooth]
    if None in by_tooth:
        groups.append(ToothGroup(None, None, tuple(by_tooth[None])))
    return ReviewView(document, rows, tuple(groups), chart, len(waiting))
