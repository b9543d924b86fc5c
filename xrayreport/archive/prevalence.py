"""Prevalence per finding type in an archive: the share of scans with at least one, with a Wilson 95 % interval.

The interval is the Wilson score interval (scipy's ``binomtest(...).proportion_ci(method="wilson")``): unlike the
plain ``p ± 1.96·sqrt(p(1-p)/n)`` it stays inside [0, 1] and keeps its coverage for rare findings and small
archives. Scans are counted as independent; several scans of one patient in an archive make the interval too
narrow (the findings tables carry no patient key to correct for it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scipy.stats import binomtest

from ..errors import XrayReportError
from ..findings import FINDING_TYPES

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Prevalence:
    """Scans with at least one finding of ``finding_type`` out of ``scans``; ``low``/``high`` bound the share."""

    finding_type: str
    scans_with: int
    scans: int
    low: float
    high: float

    @property
    def share(self) -> float:
        return self.scans_with / self.scans


def wilson_interval(successes: int, trials: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``successes / trials`` (``trials`` >= 1), as shares in [0, 1]."""
    interval = binomtest(successes, trials).proportion_ci(confidence_level=confidence, method="wilson")
    return float(interval.low), float(interval.high)


def prevalence(scan_rows: Iterable[Mapping[str, Any]]) -> list[Prevalence]:
    """Per finding type (in the contract's order), from scan rows holding a count per type (as
    :func:`xrayreport.archive.summary.summarise` makes them). Raises :class:`XrayReportError` without rows."""
    scans = 0
    scans_with = dict.fromkeys(FINDING_TYPES, 0)
    for row in scan_rows:
        scans += 1
        for kind in FINDING_TYPES:
            scans_with[kind] += row[kind] > 0
    if scans == 0:
        raise XrayReportError("no scans to count: the folder holds no findings documents that pass the filter")
    return [Prevalence(kind, n, scans, *wilson_interval(n, scans)) for kind, n in scans_with.items()]


def prevalence_table(rows: Sequence[Prevalence]) -> str:
    """A plain-text table: finding type, scans with it, the share and its 95 % interval, in per cent."""
    lines = [f"{'finding type':<18} {'scans':>15} {'share':>7}  95 % interval (Wilson)"]
    for row in rows:
        count, share = f"{row.scans_with} of {row.scans}", f"{100 * row.share:.1f} %"
        lines.append(f"{row.finding_type:<18} {count:>15} {share:>7}  {100 * row.low:.1f} - {100 * row.high:.1f} %")
    return "\n".join(lines)
