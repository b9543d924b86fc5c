"""What changed between two scans: hand-worked pairs of findings documents and the change list each must give."""

from __future__ import annotations

from xrayreport.changes import Change, compare
from xrayreport.findings import Finding, Findings, ImageInfo, ModelInfo, Tooth

TEETH = ("17", "16", "11", "21", "26", "36", "35", "46", "47")


def _scan(findings: list[tuple[str, str, str | None]], teeth: tuple[str, ...] = TEETH) -> Findings:
    """A reviewed document: ``(id, type, tooth)`` findings on the numbered ``teeth``."""
    return Findings(
        image=ImageInfo(1000, 500, "0" * 64),
        model=ModelInfo("dentist", "manual"),
        teeth=tuple(Tooth(t, None) for t in teeth),
        findings=tuple(Finding(i, kind, tooth, None, "dentist") for i, kind, tooth in findings),
    )


def _kinds(earlier: Findings, later: Findings) -> list[tuple[str, str, list[str], list[str]]]:
    return [
        (c.kind, c.tooth, [f.id for f in c.earlier], [f.id for f in c.later]) for c in compare(earlier, later).changes
    ]


def test_caries_then_a_filling_is_treated_and_a_cavity_left_alone_still_waits() -> None:
    earlier = _scan([("a1", "caries", "36"), ("a2", "caries", "16"), ("a3", "filling", "46")])
    later = _scan([("b1", "filling", "36"), ("b2", "caries", "16"), ("b3", "filling", "46")])
    assert _kinds(earlier, later) == [
        ("unchanged", "16", ["a2"], ["b2"]),
        ("treated", "36", ["a1"], ["b1"]),  # the filling on 46 was there before: no change
    ]


def test_caries_grown_deep_a_new_lesion_and_a_new_cavity() -> None:
    earlier = _scan([("a1", "caries", "46"), ("a2", "filling", "11")])
    later = _scan(
        [
            ("b1", "deep_caries", "46"),
            ("b2", "periapical_lesion", "46"),
            ("b3", "caries", "21"),
            ("b4", "filling", "11"),
        ]
    )
    assert _kinds(earlier, later) == [
        ("new", "21", [], ["b3"]),
        ("worsened", "46", ["a1"], ["b1"]),  # not also "gone" caries and "new" deep caries
        ("new_lesion", "46", [], ["b2"]),
    ]


def test_a_tooth_newly_missing_and_an_implant_placed_in_an_old_gap() -> None:
    earlier = _scan([("a1", "residual_root", "47"), ("a2", "missing", "26")], teeth=("17", "16", "36", "47"))
    later = _scan([("b1", "missing", "47"), ("b2", "implant", "26")], teeth=("17", "16", "36", "26"))
    assert _kinds(earlier, later) == [
        ("implant_placed", "26", ["a2"], ["b2"]),
        ("newly_missing", "47", ["a1"], ["b1"]),
    ]


def test_a_tooth_not_seen_on_a_numbered_scan_counts_as_missing_only_when_it_was_seen_before() -> None:
    earlier = _scan([], teeth=("16", "36"))
    later = _scan([], teeth=("16",))
    assert compare(earlier, later).changes == (Change("newly_missing", "36"),)
    assert compare(_scan([], teeth=("16",)), _scan([], teeth=("16",))).changes == ()  # 36 never seen: no news
    assert compare(earlier, _scan([], teeth=())).changes == ()  # teeth not numbered: absence says nothing


def test_findings_gone_without_treatment_and_new_treatment_without_a_problem() -> None:
    earlier = _scan([("a1", "caries", "35"), ("a2", "crown", "17"), ("a3", "fracture", None)])
    later = _scan([("b1", "filling", "16"), ("b2", "fracture", None)])
    assert _kinds(earlier, later) == [
        ("gone", "17", ["a2"], []),
        ("new", "16", [], ["b1"]),
        ("gone", "35", ["a1"], []),  # no filling there: not "treated"
    ]


def test_a_lesion_treated_by_a_root_canal_and_what_the_comparison_sums_up() -> None:
    earlier = _scan([("a1", "periapical_lesion", "36"), ("a2", "deep_caries", "36"), ("a3", "caries", "11")])
    later = _scan([("b1", "root_canal", "36"), ("b2", "crown", "36"), ("b3", "caries", "11"), ("b4", "caries", "26")])
    comparison = compare(earlier, later)
    assert _kinds(earlier, later) == [
        ("unchanged", "11", ["a3"], ["b3"]),
        ("new", "26", [], ["b4"]),
        ("treated", "36", ["a1", "a2"], ["b1", "b2"]),
    ]
    assert comparison.teeth("treated") == ("36",) and comparison.teeth("new", "new_lesion") == ("26",)
    assert [c.tooth for c in comparison.of_kind("unchanged")] == ["11"]
    assert compare(later, later).changes == tuple(c for c in compare(later, later).changes if c.kind == "unchanged")
