"""Tooth numbering, findings on teeth, missing teeth and the quality verdict, on hand-made detections."""

from __future__ import annotations

import numpy as np
import pytest

from xrayreport.dentition import PERMANENT_TEETH
from xrayreport.detection.interpret import (
    Detection,
    assess_quality,
    build_findings,
    implausible_primary_teeth,
    looks_upside_down,
    missing_teeth,
    number_teeth,
    tooth_under,
)
from xrayreport.findings import Finding, Tooth

FDI = ("35", "36", "37")


def tooth(box: tuple[float, float, float, float], score: float, p35: float, p36: float, p37: float) -> Detection:
    return Detection("tooth", box, score, np.array([p35, p36, p37]))


def test_two_teeth_that_both_prefer_36_get_the_jointly_most_likely_numbers() -> None:
    a = tooth((0, 0, 10, 10), 0.9, 0.05, 0.55, 0.40)
    b = tooth((20, 0, 30, 10), 0.8, 0.05, 0.90, 0.05)
    # Arg-max says 36 twice. Greedy by score gives a=36, b=35 or 37: 0.55 x 0.05 = 0.0275.
    # The best joint assignment is a=37, b=36: 0.40 x 0.90 = 0.36 (a=35, b=36 gives 0.045).
    teeth = number_teeth([a, b], FDI)
    assert [(t.fdi, t.box, t.score) for t in teeth] == [("36", (20, 0, 30, 10), 0.8), ("37", (0, 0, 10, 10), 0.9)]
    assert all(t.source == "model" for t in teeth)


def test_more_teeth_than_numbers_keeps_the_most_confident() -> None:
    teeth = [tooth((i * 10, 0, i * 10 + 5, 5), score, 0.3, 0.4, 0.3) for i, score in enumerate((0.5, 0.9, 0.2, 0.7))]
    numbered = number_teeth(teeth, FDI)
    assert sorted(t.score for t in numbered if t.score is not None) == [0.5, 0.7, 0.9]
    assert [t.fdi for t in numbered] == list(FDI)
    assert number_teeth([], FDI) == []


def numbered(fdi_classes: tuple[str, ...], *teeth: tuple[tuple[float, float, float, float], list[float]]) -> list:
    detections = [Detection("tooth", box, 0.9 - i / 100, np.array(p)) for i, (box, p) in enumerate(teeth)]
    return [(t.fdi, t.box) for t in number_teeth(detections, fdi_classes)]


LOWER_INCISORS = ("31", "32", "33", "72")


def test_a_stray_primary_number_among_erupted_permanent_teeth_is_renumbered_permanent() -> None:
    # Three erupted lower teeth side by side (the lower arch: roots point down). p(31, 32, 33, 72):
    a = ((0, 100, 10, 150), [0.90, 0.05, 0.01, 0.04])
    b = ((10, 100, 20, 150), [0.05, 0.50, 0.05, 0.40])
    c = ((20, 100, 30, 150), [0.01, 0.60, 0.30, 0.09])
    # Jointly most likely: a=31, b=72, c=32 (0.9 x 0.4 x 0.6 = 0.216; b=32, c=33 gives 0.9 x 0.5 x 0.3 = 0.135).
    # But 72's successor 32 stands beside it at the same height, erupted: 72 is excluded, and the best assignment
    # left is b=32, c=33 (0.15 > b=33, c=32: 0.03; > leaving b unnumbered: 0.05 x 0.6 = 0.03).
    assert numbered(LOWER_INCISORS, a, b, c) == [("31", a[0]), ("32", b[0]), ("33", c[0])]


def test_a_duplicate_detection_that_fits_no_free_number_is_dropped_not_put_on_a_missing_position() -> None:
    a = ((0, 100, 10, 150), [0.90, 0.05, 0.00, 0.05])
    c = ((20, 100, 30, 150), [0.05, 0.90, 0.00, 0.05])
    duplicate = ((10, 100, 20, 150), [0.02, 0.02, 0.02, 0.94])  # the model's "72" between 31 and 32
    # Without 72, the duplicate's best free number is 33 at p = 0.02 < 0.05: it stays unnumbered (dropped), and 33
    # (absent from the scan) stays missing.
    assert numbered(LOWER_INCISORS, a, c, duplicate) == [("31", a[0]), ("32", c[0])]


MOLARS = ("44", "45", "46", "84", "85")


def test_a_mixed_dentition_keeps_its_primary_molars_over_their_successors() -> None:
    # A child's lower right: 46 erupted, primary 84 and 85 in the arch, premolar germs 44 and 45 under them.
    # Each germ lies under its primary tooth (overlap 1.0) with its crown tip 50 px below the primary's occlusal
    # edge: 50 / 40 px height = 1.25 primary heights, beyond the 0.3 minimum.
    m46 = ((0, 100, 30, 170), [0.01, 0.02, 0.95, 0.01, 0.01])
    m85 = ((30, 100, 50, 140), [0.01, 0.10, 0.09, 0.10, 0.70])
    m84 = ((50, 100, 66, 140), [0.10, 0.05, 0.01, 0.70, 0.14])
    g45 = ((32, 150, 48, 190), [0.20, 0.60, 0.05, 0.05, 0.10])
    g44 = ((52, 150, 64, 185), [0.60, 0.20, 0.02, 0.15, 0.03])
    assert numbered(MOLARS, m46, m85, m84, g45, g44) == [
        ("44", g44[0]),
        ("45", g45[0]),
        ("46", m46[0]),
        ("84", m84[0]),
        ("85", m85[0]),
    ]


UPPER_CANINE_REGION = {"12": (100, 0, 120, 90), "13": (120, 0, 142, 100), "14": (142, 10, 162, 90)}
LOWER_CANINE_REGION = {"42": (102, 100, 120, 180), "43": (120, 100, 140, 190), "44": (140, 100, 160, 180)}


@pytest.mark.parametrize(
    ("teeth", "implausible"),
    [
        # 85 with its germ 45 beneath it (overlap 16/16; tip 40 px = 1.33 of its 30 px height below its occlusal edge).
        ({"85": (0, 100, 20, 130), "45": (2, 140, 18, 180)}, set()),
        # The same 85 beside an erupted 45 at the same height: the dentition is permanent there.
        ({"85": (0, 100, 20, 130), "45": (20, 100, 36, 150)}, {"85"}),
        # Germ too shallow: tip 8 px = 0.27 heights below the 85's occlusal edge.
        ({"85": (0, 100, 20, 130), "45": (2, 108, 18, 150)}, {"85"}),
        # An upper 55 with 15 above it (roots of upper teeth point up).
        ({"55": (0, 60, 20, 100), "15": (2, 10, 18, 50)}, set()),
        # A lone primary tooth without any successor: a stray, not a mixed dentition.
        ({"85": (0, 100, 20, 130), "46": (20, 100, 50, 160)}, {"85"}),
        # Two primary teeth without successors (retained 75 and 85, both premolars absent) stay.
        ({"85": (0, 100, 20, 130), "75": (200, 100, 220, 130)}, set()),
        # An "83" on the upper canine row (overlapping 12, 13, 14 fully; the lower 42-44 not at all) lies in the
        # other arch, though 43 is right under it.
        ({**UPPER_CANINE_REGION, **LOWER_CANINE_REGION, "83": (121, 10, 141, 90), "73": (300, 100, 320, 140)}, {"83"}),
        ({"11": (0, 0, 10, 10)}, set()),
    ],
)
def test_implausible_primary_teeth(teeth: dict[str, tuple[float, float, float, float]], implausible: set[str]) -> None:
    assert implausible_primary_teeth(teeth) == implausible


def full_mouth(*, leave_out: set[str], add: tuple[str, ...] = ()) -> list[Tooth]:
    return [Tooth(fdi, (0, 0, 1, 1)) for fdi in (*PERMANENT_TEETH, *add) if fdi not in leave_out]


def test_missing_teeth_lists_third_molars_and_empty_positions() -> None:
    teeth = full_mouth(leave_out={"15", "18", "28", "38", "48", "46"})
    assert missing_teeth(teeth) == ["15", "18", "28", "38", "46", "48"]


def test_a_primary_tooth_holds_the_position_of_its_successor() -> None:
    # A child's primary second molar 55 stands where 15 will erupt: 15 is not missing; 85 does the same for 45.
    teeth = full_mouth(leave_out={"15", "45", "18", "28", "38", "48"}, add=("55", "85"))
    assert missing_teeth(teeth) == ["18", "28", "38", "48"]


TEETH = [Tooth("36", (100, 100, 200, 300)), Tooth("37", (200, 100, 300, 300)), Tooth("38", None)]


@pytest.mark.parametrize(
    ("box", "expected"),
    [
        ((170, 150, 210, 170), "36"),  # 3/4 of its width on 36, 1/4 on 37
        ((190, 150, 230, 170), "37"),  # 1/4 on 36, 3/4 on 37
        ((300, 150, 340, 170), None),  # touches 37 only at its edge
        ((292, 150, 332, 170), None),  # 8/40 = 0.2 on 37: below the 0.3 minimum
        ((280, 150, 320, 170), "37"),  # 20/40 = 0.5 on 37
    ],
)
def test_tooth_under_picks_the_tooth_holding_most_of_the_finding(
    box: tuple[float, float, float, float], expected: str | None
) -> None:
    assert tooth_under(box, TEETH) == expected


def test_build_findings_puts_findings_on_teeth_and_appends_missing_teeth() -> None:
    objects = [
        Detection("restoration", (200.04, 120, 290, 280), 0.81234),
        Detection("caries", (150, 120, 180, 140), 0.6),
        Detection("implant", (500, 120, 540, 280), 0.9),
    ]
    findings = build_findings(objects, TEETH[:2])
    assert [(f.id, f.type, f.tooth, f.box, f.score) for f in findings[:3]] == [
        ("f1", "caries", "36", (150, 120, 180, 140), 0.6),
        ("f2", "restoration", "37", (200.0, 120, 290, 280), 0.8123),
        ("f3", "implant", None, (500, 120, 540, 280), 0.9),
    ]
    missing = [f.tooth for f in findings[3:]]
    assert missing == [fdi for fdi in PERMANENT_TEETH if fdi not in {"36", "37"}]
    assert all(f.type == "missing" and f.box is None for f in findings[3:])
    assert findings[-1].id == f"f{3 + 30}"


def test_second_stage_findings_replace_duplicates_and_never_call_an_implant_carious() -> None:
    teeth = TEETH[:2]
    objects = [
        Detection("restoration", (200, 120, 290, 280), 0.8),  # on 37, also seen by the second stage
        Detection("implant", (110, 120, 190, 280), 0.9),  # on 36
    ]
    on_teeth = [
        Finding(id="t1", type="restoration", tooth="37", box=teeth[1].box, score=0.9),
        Finding(id="t2", type="caries", tooth="36", box=teeth[0].box, score=0.7),
        Finding(id="t3", type="deep_caries", tooth="37", box=teeth[1].box, score=0.6),
    ]
    findings = build_findings(objects, teeth, on_teeth)
    assert [(f.id, f.type, f.tooth, f.score) for f in findings[:3]] == [
        ("f1", "implant", "36", 0.9),
        ("f2", "deep_caries", "37", 0.6),
        ("f3", "restoration", "37", 0.9),
    ]
    assert {f.type for f in findings[3:]} == {"missing"}


def arch(width: int, height: int, *, upside_down: bool = False) -> list[Tooth]:
    """Teeth 11-17, 21-27, 31-37 and 41-47 laid out as on a panoramic (patient's right on the image's left)."""
    upper_y, lower_y = height * 0.3, height * 0.65
    if upside_down:
        upper_y, lower_y = lower_y, upper_y
    teeth = []
    for quadrant, y, side in ((1, upper_y, -1), (2, upper_y, 1), (3, lower_y, 1), (4, lower_y, -1)):
        for position in range(1, 8):
            cx = width / 2 + side * (position - 0.5) * width * 0.05
            teeth.append(Tooth(f"{quadrant}{position}", (cx - 10, y - 40, cx + 10, y + 40), 0.9))
    return teeth


def xray_like(width: int, height: int) -> np.ndarray:
    return np.random.default_rng(0).integers(30, 220, size=(height, width), dtype=np.uint8)


def codes(quality) -> list[str]:
    return [w.code for w in quality.warnings]


def test_a_normal_panoramic_passes() -> None:
    quality = assess_quality(xray_like(1000, 500), arch(1000, 500))
    assert (quality.verdict, codes(quality)) == ("ok", [])


def test_a_blank_image_is_unusable_with_low_contrast_and_few_teeth() -> None:
    quality = assess_quality(np.full((500, 1000), 128, np.uint8), [])
    assert (quality.verdict, codes(quality)) == ("unusable", ["low_contrast", "few_teeth"])
    assert "only 0 teeth" in quality.warnings[1].message


def test_a_few_teeth_on_a_readable_image_are_doubtful_not_unusable() -> None:
    quality = assess_quality(xray_like(1000, 500), arch(1000, 500)[:5])
    assert (quality.verdict, codes(quality)) == ("doubtful", ["few_teeth"])


def test_a_square_bitewing_like_image_has_unusual_proportions() -> None:
    quality = assess_quality(xray_like(600, 600), arch(600, 600))
    assert (quality.verdict, codes(quality)) == ("doubtful", ["unusual_proportions"])
    assert "600 x 600" in quality.warnings[0].message


def test_an_upside_down_scan_has_an_implausible_arrangement() -> None:
    quality = assess_quality(xray_like(1000, 500), arch(1000, 500, upside_down=True))
    assert (quality.verdict, codes(quality)) == ("doubtful", ["implausible_arrangement"])


def test_a_mirrored_scan_has_an_implausible_arrangement() -> None:
    mirrored = [Tooth(t.fdi, (1000 - t.box[2], t.box[1], 1000 - t.box[0], t.box[3])) for t in arch(1000, 500) if t.box]
    assert codes(assess_quality(xray_like(1000, 500), mirrored)) == ["implausible_arrangement"]


def teeth_scored(*scores: float) -> list[Detection]:
    return [Detection("tooth", (0.0, 0.0, 10.0, 10.0), score) for score in scores]


def test_upside_down_when_the_flipped_image_is_clearly_more_tooth_like() -> None:
    # Means 0.70 upright vs 0.80 flipped: more than the 0.03 margin.
    assert looks_upside_down(teeth_scored(*[0.7] * 10), teeth_scored(*[0.8] * 10))
    # 0.78 vs 0.80 is within the margin; and an upright scan that wins is never flagged.
    assert not looks_upside_down(teeth_scored(*[0.78] * 10), teeth_scored(*[0.8] * 10))
    assert not looks_upside_down(teeth_scored(*[0.8] * 10), teeth_scored(*[0.7] * 10))


def test_too_few_teeth_are_no_evidence_of_orientation() -> None:
    assert not looks_upside_down(teeth_scored(0.2), teeth_scored(0.9, 0.9, 0.9))


def test_an_upside_down_verdict_is_doubtful_and_says_how_to_fix_it() -> None:
    quality = assess_quality(xray_like(1000, 500), arch(1000, 500), upside_down=True)
    assert (quality.verdict, codes(quality)) == ("doubtful", ["upside_down"])
    assert "rotate or flip" in quality.warnings[0].message
