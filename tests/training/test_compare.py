"""Comparing two models on the same scans: hand-computed figures, paired bootstrap intervals, the verdict rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from xrayreport.errors import UnknownNameError, XrayReportError
from xrayreport.training.compare import CompareRule, compare, load_rule, verdict
from xrayreport.training.evaluate import ScanTally
from xrayreport.training.plausibility import REPORTED_AS, ScanReport

REPO = Path(__file__).resolve().parents[2]


def tally(scan: str, teeth: tuple[int, int, int] = (28, 0, 0), implants: int = 0, right: int = 28) -> ScanTally:
    """A scan with 28 labelled teeth, no implant (its labels rule implants out), ``implants`` reported."""
    counts = dict.fromkeys(REPORTED_AS, 0) | {"implant": implants}
    report = ScanReport("ufba425", 28, counts, frozenset({"implant"}), frozenset())
    return ScanTally(scan, {"teeth": teeth}, (right, teeth[0]), report)


def by_name(compared):  # type: ignore[no-untyped-def]
    return {c.figure.name: c for c in compared}


def test_figures_are_ratios_of_sums_over_the_scans() -> None:
    # Teeth: tp 20 + 8, fp 2 + 0, fn 0 + 4 -> F1 = 56 / (56 + 2 + 4) = 0.9032; numbering 26 of 28 right.
    old = [tally("a", (20, 2, 0), right=19), tally("b", (8, 0, 4), right=7)]
    figures = by_name(compare(old, old, rounds=50))
    assert figures["teeth_f1"].old == pytest.approx(56 / 62)
    assert figures["numbering_accuracy"].old == pytest.approx(26 / 28)
    assert figures["implant_false_per_scan_without"].old == 0.0
    # The same model twice: no difference in any resample.
    assert all(c.low == c.high == 0.0 for c in figures.values())
    # Nothing on these scans measures missing teeth or caries per tooth: those figures are left out.
    assert "missing_f1" not in figures and "caries_per_tooth_f1" not in figures


def test_a_clear_improvement_with_the_guards_kept_adopts_the_new_model() -> None:
    old = [tally(f"s{i}", implants=1 if i % 2 else 0) for i in range(40)]  # 0.5 false implants per scan
    new = [tally(f"s{i}") for i in range(40)]
    figures = by_name(compare(old, new, rounds=500))
    implant = figures["implant_false_per_scan_without"]
    assert (implant.old, implant.new) == (0.5, 0.0)
    assert implant.high < 0 and implant.clearly_better
    rule = CompareRule(("implant_false_per_scan_without",), {"teeth_f1": 0.01})
    result = verdict(list(figures.values()), rule)
    assert result.adopt, result.reasons


def test_a_guard_worse_than_its_margin_keeps_the_old_model() -> None:
    old = [tally(f"s{i}", implants=1) for i in range(40)]
    new = [tally(f"s{i}", teeth=(24, 4, 4)) for i in range(40)]  # no false implants, but teeth F1 0.857
    result = verdict(
        compare(old, new, rounds=200), CompareRule(("implant_false_per_scan_without",), {"teeth_f1": 0.01})
    )
    assert not result.adopt
    assert any(r.startswith("teeth_f1 may be worse by 0.143") for r in result.reasons), result.reasons


def test_a_guard_nothing_measures_counts_against_the_new_model() -> None:
    scans = [tally(f"s{i}", implants=1) for i in range(10)]
    better = [tally(f"s{i}") for i in range(10)]
    result = verdict(
        compare(scans, better, rounds=50), CompareRule(("implant_false_per_scan_without",), {"missing_f1": 0.0})
    )
    assert not result.adopt and "missing_f1 not measured on these scans" in result.reasons


def test_one_patients_scans_are_drawn_together() -> None:
    old = [tally("a", implants=2), tally("b")]
    new = [tally("a"), tally("b")]
    apart = by_name(compare(old, new, rounds=300))["implant_false_per_scan_without"]
    together = by_name(compare(old, new, groups=["p", "p"], rounds=300))["implant_false_per_scan_without"]
    # Drawn apart, a resample may hold scan b twice (difference 0) or a twice (-2): a wide interval.
    assert (apart.low, apart.high) == (-2.0, 0.0)
    # One patient: every resample is that patient's two scans, 1 false implant per scan fewer.
    assert together.low == together.high == -1.0


def test_the_two_models_must_be_measured_on_the_same_scans() -> None:
    with pytest.raises(XrayReportError, match="same scans in the same order"):
        compare([tally("a"), tally("b")], [tally("b"), tally("a")])


def test_the_shipped_rule_reads_and_a_bad_rule_names_the_valid_figures(tmp_path: Path) -> None:
    rule = load_rule(REPO / "configs" / "evaluation" / "compare-rule.yaml")
    assert "implant_false_per_scan_without" in rule.improves and rule.no_worse_than["teeth_f1"] == 0.01
    bad = tmp_path / "rule.yaml"
    bad.write_text("improves: [teeth_f2]\n")
    with pytest.raises(UnknownNameError, match="teeth_f1"):
        load_rule(bad)
    bad.write_text("improves: [caries_per_scan]\n")
    with pytest.raises(XrayReportError, match="caries_per_scan has no better direction"):
        load_rule(bad)
