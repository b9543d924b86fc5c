"""Comparing two scans of one patient in the workspace: which scans can be compared, in time order, and the
changes between two of them (:mod:`xrayreport.changes`) with where each changed tooth is on both images."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from ..changes import ChangeKind, Comparison, Side, compare
from ..errors import XrayReportError
from ..findings import Box, Findings
from .models import Patient, Study
from .studies import NotFoundError, get_patient, pending_ids, report_document

CHANGE_LABELS: dict[str, tuple[str, str]] = {
    "treated": ("✓", "treated since"),
    "implant_placed": ("◆", "implant placed"),
    "newly_missing": ("✕", "newly missing"),
    "worsened": ("▲", "grown"),
    "new_lesion": ("!", "new lesion"),
    "new": ("+", "new"),
    "gone": ("−", "gone since"),
    "unchanged": ("=", "unchanged, still waiting"),
}
"""How the comparison page names each kind of change: a mark and words (never colour alone)."""


@dataclass(frozen=True)
class ComparedScan:
    """One side of a comparison: the study, the day the patient came, its size in pixels and its findings as its
    report has them (the dentist's reviewed ones, those still waiting left out; else the model's)."""

    study: str
    day: dt.date
    width: int
    height: int
    document: Findings

    def tooth_box(self, fdi: str) -> Box | None:
        """Where tooth ``fdi`` is on this scan (pixels): its box, else the box of a finding on it, else ``None``."""
        boxes = [t.box for t in self.document.teeth if t.fdi == fdi and t.box]
        boxes += [f.box for f in self.document.findings if f.tooth == fdi and f.box]
        return boxes[0] if boxes else None


@dataclass(frozen=True)
class ScanComparison:
    earlier: ComparedScan
    later: ComparedScan
    comparison: Comparison

    def tooth_box(self, side: Side, tooth: str) -> Box | None:
        """Where tooth ``tooth`` (as the comparison numbers it) is on the ``side`` scan (its pixels), else ``None``."""
        scan = self.earlier if side == "earlier" else self.later
        return scan.tooth_box(self.comparison.number_on(side, tooth))


def scans_in_time_order(patient: Patient) -> list[Study]:
    """The patient's scans that have findings (analysed or reviewed), earliest visit first."""
    analysed = [s for s in patient.studies if s.reviewed_findings is not None or s.model_findings is not None]
    return sorted(analysed, key=_visit_order)


def compare_studies(db: Session, patient_number: int, earlier_id: str, later_id: str) -> ScanComparison:
    """The changes from the patient's scan ``earlier_id`` to their scan ``later_id``; a study of another patient
    is not found, the same scan twice or a later scan taken before the earlier one is refused with the reason."""
    patient = get_patient(db, patient_number)
    scans = {s.id: s for s in patient.studies}
    for study_id in (earlier_id, later_id):
        if study_id not in scans:
            raise NotFoundError(f"no scan {study_id!r} of patient #{patient_number}; pick one of their scans")
    earlier, later = scans[earlier_id], scans[later_id]
    if earlier is later:
        raise XrayReportError("pick two different scans to compare")
    if _visit_order(earlier) > _visit_order(later):
        raise XrayReportError(
            f"the earlier scan ({earlier.visit_day}) was taken after the later one ({later.visit_day}); swap them"
        )
    before, after = _compared(earlier), _compared(later)
    return ScanComparison(before, after, compare(before.document, after.document))


def previous_reviewed(study: Study) -> Study | None:
    """The patient's last scan before ``study`` whose findings a dentist has all reviewed, for the report's
    "Since your last X-ray"; ``None`` when there is none."""
    earlier = [
        s
        for s in study.patient.studies
        if _visit_order(s) < _visit_order(study) and s.reviewed_findings is not None and not pending_ids(s)
    ]
    return max(earlier, key=_visit_order, default=None)


class ChangedFindingOut(BaseModel):
    id: str = Field(description="the finding's id in its scan's findings document")
    type: str = Field(description="caries, filling, missing... (the findings contract's types)")


class ChangeOut(BaseModel):
    """One change on one tooth, with the findings of each scan it is about and where the tooth is on each."""

    kind: ChangeKind = Field(
        description="treated (a problem gone, a treatment new: caries then a filling), gone, worsened (caries to "
        "deep caries), new_lesion (periapical), new, newly_missing, implant_placed, unchanged (a problem on both)"
    )
    tooth: str = Field(description="FDI number")
    earlier_tooth: str = Field(
        description="the tooth's number on the earlier scan: ``tooth``, unless a dentist renumbered the tooth at its "
        "place on the later scan (teeth matched by position)"
    )
    later_tooth: str = Field(description="the tooth's number on the later scan (as ``earlier_tooth``)")
    earlier: list[ChangedFindingOut]
    later: list[ChangedFindingOut]
    earlier_box: list[float] | None = Field(description="the tooth on the earlier scan: x1, y1, x2, y2 in its pixels")
    later_box: list[float] | None = Field(description="the tooth on the later scan: x1, y1, x2, y2 in its pixels")


class ComparedScanOut(BaseModel):
    study: str
    day: str = Field(description="the day the patient came: the scan's study date, else the upload day (YYYY-MM-DD)")
    width: int = Field(description="pixels")
    height: int = Field(description="pixels")


class ComparisonOut(BaseModel):
    """What changed from an earlier scan of the patient to a later one, tooth by tooth in chart order (upper jaw
    from the patient's right, then the lower jaw); each scan's findings as its report has them."""

    earlier: ComparedScanOut
    later: ComparedScanOut
    changes: list[ChangeOut]


def comparison_json(compared: ScanComparison) -> ComparisonOut:
    def scan(side: ComparedScan) -> ComparedScanOut:
        return ComparedScanOut(study=side.study, day=side.day.isoformat(), width=side.width, height=side.height)

    def box(side: Side, tooth: str) -> list[float] | None:
        found = compared.tooth_box(side, tooth)
        return None if found is None else list(found)

    return ComparisonOut(
        earlier=scan(compared.earlier),
        later=scan(compared.later),
        changes=[
            ChangeOut(
                kind=c.kind,
                tooth=c.tooth,
                earlier_tooth=compared.comparison.number_on("earlier", c.tooth),
                later_tooth=compared.comparison.number_on("later", c.tooth),
                earlier=[ChangedFindingOut(id=f.id, type=f.type) for f in c.earlier],
                later=[ChangedFindingOut(id=f.id, type=f.type) for f in c.later],
                earlier_box=box("earlier", c.tooth),
                later_box=box("later", c.tooth),
            )
            for c in compared.comparison.changes
        ],
    )


def _compared(study: Study) -> ComparedScan:
    return ComparedScan(study.id, study.visit_day, study.width, study.height, report_document(study))


def _visit_order(study: Study) -> tuple[dt.date, dt.datetime]:
    created = study.created_at if study.created_at.tzinfo else study.created_at.replace(tzinfo=dt.UTC)
    return study.visit_day, created
