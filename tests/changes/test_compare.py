"""What changed between two scans: hand-worked pairs of findings documents and the change list each must give."""

from __future__ import annotations

from xrayreport.changes import Change, MatchedTooth, compare
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


UPPER = ("17", "16", "15", "14")


def _placed(
    lower: tuple[str | None, ...], findings: list[tuple[str, str, str]], dentist: frozenset[str] = frozenset()
) -> Findings:
    """A scan whose teeth stand in two rows of 100 x 100 px slots: ``UPPER`` at y 0-100 and ``lower`` (``None``:
    an empty slot) at y 200-300, slot ``i`` at x ``100 i``; the dentition spans 400 x 300 px, a tooth is a quarter
    of its width, so "the same place" reaches 1/8 of it. Teeth numbered in ``dentist`` were renumbered by one."""
    teeth = [Tooth(fdi, (100.0 * i, 0.0, 100.0 * i + 100, 100.0)) for i, fdi in enumerate(UPPER)]
    teeth += [
        Tooth(fdi, (100.0 * i, 200.0, 100.0 * i + 100, 300.0), source="dentist" if fdi in dentist else "model")
        for i, fdi in enumerate(lower)
        if fdi is not None
    ]
    return Findings(
        image=ImageInfo(1000, 500, "0" * 64),
        model=ModelInfo("dentist", "manual"),
        teeth=tuple(teeth),
        findings=tuple(Finding(i, kind, tooth, None, "dentist") for i, kind, tooth in findings),
    )


def test_a_tooth_the_dentist_renumbered_on_one_scan_is_matched_by_its_place_on_the_other() -> None:
    earlier = _placed(("47", "46", "45", "44"), [("a1", "caries", "44")])  # the model's 44, left as it was
    later = _placed(("47", "46", "45", "43"), [("b1", "filling", "43")], dentist=frozenset({"43"}))
    comparison = compare(earlier, later)
    assert _kinds(earlier, later) == [("treated", "43", ["a1"], ["b1"])]  # not 44 lost and a filling new on 43
    assert comparison.matched == (MatchedTooth("43", earlier="44", later="43"),)
    assert comparison.number_on("earlier", "43") == "44" and comparison.number_on("later", "43") == "43"
    assert comparison.number_on("earlier", "16") == "16"
    assert _kinds(later, earlier) == [("new", "43", [], ["a1"]), ("gone", "43", ["b1"], [])]  # either way round
    unrenumbered = _placed(("47", "46", "45", "43"), [("b1", "filling", "43")])  # no dentist said so: FDI only
    assert _kinds(earlier, unrenumbered) == [("newly_missing", "44", ["a1"], []), ("new", "43", [], ["b1"])]
    assert compare(earlier, unrenumbered).matched == ()


def test_a_number_the_match_takes_is_matched_by_place_in_turn_and_two_dentists_are_never_overruled() -> None:
    # The model swapped 47 and 46 on both scans; the dentist put 47 right on the earlier scan only.
    earlier = _placed(("47", "46", "45", "44"), [("a1", "caries", "46")], dentist=frozenset({"47", "46"}))
    later = _placed(("46", "47", "45", "44"), [("b1", "filling", "47")])  # b1 is on the second slot: 46
    assert _kinds(earlier, later) == [("treated", "46", ["a1"], ["b1"])]
    assert compare(earlier, later).matched == (MatchedTooth("47", "47", "46"), MatchedTooth("46", "46", "47"))
    disagreeing = _placed(("46", "47", "45", "44"), [("b1", "filling", "47")], dentist=frozenset({"46"}))
    assert _kinds(earlier, disagreeing) == [("new", "47", [], ["b1"]), ("gone", "46", ["a1"], [])]
    assert compare(earlier, disagreeing).matched == ()


def test_a_tooth_whose_number_is_taken_and_whose_place_is_empty_on_the_other_scan_is_left_out() -> None:
    earlier = _placed(("47", "46", None, "44"), [], dentist=frozenset({"47"}))
    later = _placed(("46", None, "47", "44"), [("b1", "caries", "47")])  # 47 in a slot empty on the earlier scan
    comparison = compare(earlier, later)
    assert comparison.matched == (MatchedTooth("47", "47", "46"),)
    assert comparison.changes == (Change("newly_missing", "46"),)  # b1's tooth cannot be matched: no "new" 47
