"""A folder of findings documents as rows for researchers: one per scan and one per tooth slot.

The rows hold what analysis found, never who the patient is: the scan is named by its findings file's stem (the
scan file's stem) and its sha256; the document's patient and study sections are left out.

Per scan (:data:`SCAN_COLUMNS`): the scan, its size, the models, the quality verdict and its warning codes, the
teeth numbered by analysis, the teeth present on the chart, and the count of each finding type (``missing`` counts
the teeth the document calls missing).

Per tooth (:data:`TOOTH_COLUMNS`): every slot of the scan's chart (the 32 permanent teeth, and the 20 primary ones
when the chart shows them) with its state and the count of each finding type on it. States come from the document
alone (:func:`xrayreport.chart.build_chart` without an age): a tooth no finding calls missing and that analysis did
not see is ``not_seen``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..chart import build_chart
from ..errors import XrayReportError
from ..findings import FINDING_TYPES, Findings, load_findings

_PRESENT_STATES = frozenset({"healthy", "treated", "problem"})

SCAN_COLUMNS: tuple[str, ...] = (
    "scan",
    "sha256",
    "width",
    "height",
    "model",
    "model_version",
    "second_stage",
    "second_stage_version",
    "quality",
    "quality_warnings",
    "teeth_numbered",
    "teeth_present",
    *FINDING_TYPES,
)
"""Columns of the scan table, in order; ``quality_warnings`` joins the warning codes with ``;``."""
TOOTH_COLUMNS: tuple[str, ...] = ("scan", "tooth", "state", *FINDING_TYPES)
"""Columns of the tooth table, in order; ``tooth`` is the FDI number, ``state`` the chart's."""


@dataclass(frozen=True)
class ScanSummary:
    """One scan's row (keys :data:`SCAN_COLUMNS`) and its tooth rows (keys :data:`TOOTH_COLUMNS`)."""

    scan: dict[str, Any]
    teeth: list[dict[str, Any]]


def summarise(name: str, findings: Findings) -> ScanSummary:
    """The rows of one findings document; ``name`` names the scan in them (the findings file's stem)."""
    chart = build_chart(findings)
    shown = {tooth.fdi: tooth for _, row in chart.rows() for tooth in row}
    per_tooth: dict[str, dict[str, int]] = {}
    totals = dict.fromkeys(FINDING_TYPES, 0)
    for finding in findings.findings:
        totals[finding.type] += 1
        if finding.tooth is not None:
            counts = per_tooth.setdefault(finding.tooth, dict.fromkeys(FINDING_TYPES, 0))
            counts[finding.type] += 1
    quality, stage = findings.quality, findings.model.second_stage
    scan = {
        "scan": name,
        "sha256": findings.image.sha256,
        "width": findings.image.width,
        "height": findings.image.height,
        "model": findings.model.name,
        "model_version": findings.model.version,
        "second_stage": stage.name if stage else None,
        "second_stage_version": stage.version if stage else None,
        "quality": quality.verdict if quality else None,
        "quality_warnings": ";".join(w.code for w in quality.warnings) if quality else None,
        "teeth_numbered": len(findings.teeth),
        "teeth_present": sum(tooth.state in _PRESENT_STATES for tooth in shown.values()),
        **totals,
    }
    zero = dict.fromkeys(FINDING_TYPES, 0)
    # Chart order of the FDI numbers (11..48, then 51..85), not the display rows' order: easier to join and sort.
    teeth = [
        {"scan": name, "tooth": fdi, "state": tooth.state, **per_tooth.get(fdi, zero)}
        for fdi, tooth in chart.teeth.items()
        if fdi in shown
    ]
    return ScanSummary(scan, teeth)


def read_findings_folder(folder: Path, on_error: Callable[[str], None]) -> Iterator[tuple[str, Findings]]:
    """``(stem, document)`` for each ``*.json`` in ``folder`` (not recursive), by file name, read as iterated. A file
    that is not a valid findings document is passed to ``on_error`` as one line and skipped. Raises
    :class:`XrayReportError` at once when ``folder`` is not a folder."""
    if not folder.is_dir():
        raise XrayReportError(f"{folder}: not a folder; give the folder that analyze -o wrote the findings into")
    return _read(sorted(folder.glob("*.json")), on_error)


def _read(paths: list[Path], on_error: Callable[[str], None]) -> Iterator[tuple[str, Findings]]:
    for path in paths:
        try:
            yield path.stem, load_findings(path)
        except XrayReportError as exc:
            on_error(str(exc))


def summarise_folder(folder: Path, on_error: Callable[[str], None]) -> Iterator[ScanSummary]:
    """:func:`summarise` for each findings document in ``folder`` (see :func:`read_findings_folder`)."""
    return _summarise(folder, read_findings_folder(folder, on_error), on_error)


def _summarise(
    folder: Path, documents: Iterator[tuple[str, Findings]], on_error: Callable[[str], None]
) -> Iterator[ScanSummary]:
    for name, findings in documents:
        try:
            summary = summarise(name, findings)
        except XrayReportError as exc:  # a tooth number or finding type the chart does not know
            on_error(f"{folder / name}.json: {exc}")
            continue
        yield summary
