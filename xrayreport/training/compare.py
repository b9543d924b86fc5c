"""``xrayreport evaluate --compare OLD NEW``: two models on the same scans, every figure side by side with a 95 %
bootstrap interval of the difference, and a verdict by a rule fixed before the run.

Every figure is a ratio of sums over scans (F1 = 2 tp / (2 tp + fp + fn); numbering accuracy = right / matched;
false findings per scan without the class = findings / such scans; image-level recall = scans found / scans
holding it), so a resample of scans is a weighting of the per-scan sums. Scans are resampled by group (the
patient, where the source knows it; else each scan is its own), so one patient's scans stay together. The two
models are paired: each resample weighs the same scans for both, and the interval is of NEW - OLD.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import UnknownNameError, XrayReportError
from .config_files import read_config_yaml
from .evaluate import FINDING_CLASSES, TOOTH_LEVEL_TYPES, ScanTally
from .plausibility import REPORTED_AS

ROUNDS = 2000
Ratio = tuple[NDArray[np.float64], NDArray[np.float64]]  # per-scan numerator and denominator


@dataclass(frozen=True)
class Figure:
    """A figure as a ratio of per-scan sums; ``better`` is +1 when higher is better, -1 when lower is, 0 when
    it is only for reading (caries per scan on a source that labels none)."""

    name: str
    better: int
    meaning: str
    ratio: Callable[[Sequence[ScanTally]], Ratio]


def _f1(key: str) -> Callable[[Sequence[ScanTally]], Ratio]:
    def ratio(tallies: Sequence[ScanTally]) -> Ratio:
        tp, fp, fn = (np.array([t.counts.get(key, (0, 0, 0))[i] for t in tallies], np.float64) for i in range(3))
        return 2 * tp, 2 * tp + fp + fn

    return ratio


def _numbering(tallies: Sequence[ScanTally]) -> Ratio:
    return np.array([t.numbering[0] for t in tallies], np.float64), np.array(
        [t.numbering[1] for t in tallies], np.float64
    )


def _false_without(name: str) -> Callable[[Sequence[ScanTally]], Ratio]:
    def ratio(tallies: Sequence[ScanTally]) -> Ratio:
        without = np.array([name in t.report.absent for t in tallies], np.float64)
        return np.array([t.report.counts[name] for t in tallies], np.float64) * without, without

    return ratio


def _found_where_present(name: str) -> Callable[[Sequence[ScanTally]], Ratio]:
    def ratio(tallies: Sequence[ScanTally]) -> Ratio:
        holding = np.array([name in t.report.present for t in tallies], np.float64)
        return np.array([t.report.counts[name] > 0 for t in tallies], np.float64) * holding, holding

    return ratio


def _per_scan(name: str) -> Callable[[Sequence[ScanTally]], Ratio]:
    def ratio(tallies: Sequence[ScanTally]) -> Ratio:
        return np.array([t.report.counts[name] for t in tallies], np.float64), np.ones(len(tallies))

    return ratio


def _primary_in_adults(tallies: Sequence[ScanTally]) -> Ratio:
    adults = np.array([t.report.full_permanent for t in tallies], np.float64)
    return np.array([t.report.primary_numbers > 0 for t in tallies], np.float64) * adults, adults


FIGURES: dict[str, Figure] = {
    f.name: f
    for f in (
        Figure("teeth_f1", 1, "tooth detection F1 (IoU 0.5)", _f1("teeth")),
        Figure("numbering_accuracy", 1, "right FDI numbers among matched teeth", _numbering),
        Figure("missing_f1", 1, "missing-tooth F1 over the 32 permanent positions", _f1("missing")),
        *(Figure(f"{c}_f1", 1, f"{c} boxes F1 (IoU 0.5) at the model's threshold", _f1(c)) for c in FINDING_CLASSES),
        *(
            Figure(f"{c}_per_tooth_f1", 1, f"teeth called {c} (any subtype) F1", _f1(f"{c}_per_tooth"))
            for c in TOOTH_LEVEL_TYPES
        ),
        *(
            Figure(
                f"{c}_false_per_scan_without", -1, f"{c} findings per scan whose labels rule it out", _false_without(c)
            )
            for c in REPORTED_AS
        ),
        *(
            Figure(f"{c}_image_recall", 1, f"share of scans holding {c} that get one", _found_where_present(c))
            for c in REPORTED_AS
        ),
        *(Figure(f"{c}_per_scan", 0, f"{c} findings per scan", _per_scan(c)) for c in REPORTED_AS),
        Figure(
            "primary_in_full_permanent",
            -1,
            "share of full permanent dentitions given a primary number",
            _primary_in_adults,
        ),
    )
}


@dataclass(frozen=True)
class CompareRule:
    """When NEW replaces OLD: at least one ``improves`` figure is better with its interval clear of zero, and no
    ``no_worse_than`` figure is worse by more than its margin at the interval's worse end."""

    improves: tuple[str, ...]
    no_worse_than: dict[str, float]


def load_rule(path: str | os.PathLike[str]) -> CompareRule:
    """Read a rule YAML (see ``configs/evaluation/compare-rule.yaml``); every figure named must exist and say
    which way is better."""
    path = Path(path)
    raw = read_config_yaml(path, "comparison rule")
    if not isinstance(raw, dict) or set(raw) - {"improves", "no_worse_than"} or not raw.get("improves"):
        raise XrayReportError(f"{path}: expected 'improves' (a list of figures) and 'no_worse_than' (figure: margin)")
    improves = tuple(str(name) for name in raw["improves"])
    margins = raw.get("no_worse_than") or {}
    if not isinstance(margins, dict) or not all(isinstance(v, (int, float)) and v >= 0 for v in margins.values()):
        raise XrayReportError(f"{path}: no_worse_than: expected 'figure: margin' with margins of 0 or more")
    for name in (*improves, *margins):
        if name not in FIGURES:
            raise UnknownNameError("figure", name, FIGURES)
        if FIGURES[name].better == 0:
            raise XrayReportError(f"{path}: {name} has no better direction; a rule cannot use it")
    return CompareRule(improves, {str(k): float(v) for k, v in margins.items()})


@dataclass(frozen=True)
class Compared:
    """One figure under both models: values on all scans, NEW - OLD and its 95 % interval."""

    figure: Figure
    old: float
    new: float
    low: float
    high: float

    @property
    def difference(self) -> float:
        return self.new - self.old

    @property
    def worse_end(self) -> float:
        """How much worse NEW may be at the interval's worse end (positive: worse)."""
        return -self.low if self.figure.better > 0 else self.high

    @property
    def clearly_better(self) -> bool:
        return self.low > 0 if self.figure.better > 0 else self.high < 0


def compare(
    old: Sequence[ScanTally],
    new: Sequence[ScanTally],
    groups: Sequence[str] | None = None,
    rounds: int = ROUNDS,
    seed: int = 0,
) -> list[Compared]:
    """Every figure with data on these scans, under ``old`` and ``new`` (the same scans in the same order).

    ``groups`` names each scan's patient (default: each scan its own); the interval is the 2.5th-97.5th
    percentile of NEW - OLD over ``rounds`` resamples of groups with replacement.
    """
    if [t.scan for t in old] != [t.scan for t in new]:
        raise XrayReportError("the two models were not measured on the same scans in the same order")
    names = list(groups) if groups is not None else [t.scan for t in old]
    keys = sorted(set(names))
    group_of_scan = np.array([keys.index(g) for g in names])
    drawn = np.random.default_rng(seed).multinomial(len(keys), np.full(len(keys), 1 / len(keys)), size=rounds)
    weights = drawn[:, group_of_scan].astype(np.float64)  # (rounds, scans): how often each scan is drawn
    results = []
    for figure in FIGURES.values():
        (old_num, old_den), (new_num, new_den) = figure.ratio(old), figure.ratio(new)
        if old_den.sum() == 0 or new_den.sum() == 0:
            continue  # nothing on these scans measures it
        with np.errstate(invalid="ignore", divide="ignore"):
            differences = weights @ new_num / (weights @ new_den) - weights @ old_num / (weights @ old_den)
        low, high = np.nanpercentile(differences, [2.5, 97.5])
        old_value, new_value = old_num.sum() / old_den.sum(), new_num.sum() / new_den.sum()
        results.append(Compared(figure, float(old_value), float(new_value), float(low), float(high)))
    return results


@dataclass(frozen=True)
class Verdict:
    adopt: bool
    reasons: tuple[str, ...]


def verdict(compared: Sequence[Compared], rule: CompareRule) -> Verdict:
    """Apply ``rule``; a figure the rule names that these scans cannot measure counts against NEW."""
    by_name = {c.figure.name: c for c in compared}
    reasons = []
    better = [name for name in rule.improves if name in by_name and by_name[name].clearly_better]
    if better:
        reasons.append("better, beyond chance: " + ", ".join(better))
    else:
        reasons.append("none of " + ", ".join(rule.improves) + " is better beyond chance")
    broken = []
    for name, margin in rule.no_worse_than.items():
        if name not in by_name:
            broken.append(f"{name} not measured on these scans")
        elif by_name[name].worse_end > margin:
            broken.append(f"{name} may be worse by {by_name[name].worse_end:.3f} (allowed {margin:g})")
    reasons += broken or ["no guarded figure worse than its margin"]
    return Verdict(bool(better) and not broken, tuple(reasons))


def comparison_table(compared: Sequence[Compared], old_name: str, new_name: str) -> str:
    """A Markdown table: figure, OLD, NEW, NEW - OLD with its 95 % interval, and which way is better."""
    lines = [
        f"| figure | {old_name} | {new_name} | difference [95 % interval] | better |",
        "|---|---|---|---|---|",
    ]
    for c in compared:
        way = {1: "higher", -1: "lower", 0: "-"}[c.figure.better]
        mark = " **(better)**" if c.figure.better and c.clearly_better else ""
        lines.append(
            f"| {c.figure.name} | {c.old:.4f} | {c.new:.4f} | {c.difference:+.4f} [{c.low:+.4f}, {c.high:+.4f}]"
            f"{mark} | {way} |"
        )
    return "\n".join(lines) + "\n"


def comparison_json(compared: Sequence[Compared], result: Verdict | None) -> dict[str, Any]:
    return {
        "figures": {
            c.figure.name: {
                "meaning": c.figure.meaning,
                "better": {1: "higher", -1: "lower", 0: None}[c.figure.better],
                "old": round(c.old, 4),
                "new": round(c.new, 4),
                "difference": round(c.difference, 4),
                "interval_95": [round(c.low, 4), round(c.high, 4)],
            }
            for c in compared
        },
        "verdict": None if result is None else {"adopt": result.adopt, "reasons": list(result.reasons)},
    }
