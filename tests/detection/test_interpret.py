"""Tooth numbering, findings on teeth, missing teeth and the quality verdict, on hand-made detections."""

from __future__ import annotations

import numpy as np
import pytest

from xrayreport.dentition import PERMANENT_TEETH
from xrayreport.detection.interpret import (
    Detection,
    assess_quality,
    build_findings,
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
