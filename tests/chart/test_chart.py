"""Tooth chart states from small hand-made findings documents."""

from __future__ import annotations

import pytest

from xrayreport.chart import build_chart, patient_age_years
from xrayreport.dentition import PERMANENT_TEETH
from xrayreport.errors import FindingsError, UnknownNameError
from xrayreport.findings import Finding, Findings, ImageInfo, ModelInfo, Patient, Study, Tooth

IMAGE = ImageInfo(width=1000, height=500, sha256="0" * 64)
MODEL = ModelInfo("test", "1")


def doc(teeth: list[str], findings: list[tuple[str, str | None]], patient: Patient | None = None) -> Findings:
    return Findings(
        image=IMAGE,
        model=MODEL,
        teeth=tuple(Tooth(fdi, None) for fdi in teeth),
        findings=tuple(Finding(f"f{i}", kind, tooth, None) for i, (kind, tooth) in enumerate(findings)),
        patient=patient,
    )


def all_but(*absent: str) -> list[str]:
    return [fdi for fdi in PERMANENT_TEETH if fdi not in absent]


def test_adult_states_problem_treated_missing_and_healthy() -> None:
    chart = build_chart(doc(all_but("36", "18"), [("caries", "16"), ("filling", "26"), ("crown", "16")]), 40)
    states = {fdi: chart.teeth[fdi].state for fdi in ("16", "26", "36", "18", "11")}
    assert states == {"16": "problem", "26": "treated", "36": "missing", "18": "missing", "11": "healthy"}
    assert [f.type for f in chart.teeth["16"].treatments] == ["crown"]
    assert chart.teeth["36"].inferred
    assert not chart.show_primary


def test_without_age_an_absent_tooth_is_not_seen_rather_than_missing() -> None:
    chart = build_chart(doc(all_but("36"), []), None)
    assert chart.teeth["36"].state == "not_seen"


def test_explicit_missing_is_missing_even_without_age() -> None:
    chart = build_chart(doc(all_but("36"), [("missing", "36")]), None)
    assert chart.teeth["36"].state == "missing"
    assert not chart.teeth["36"].inferred


def test_child_permanent_tooth_not_erupted_and_marked_missing_gives_notice() -> None:
    chart = build_chart(doc(all_but("15", "25"), [("missing", "25")]), 7)
    assert chart.teeth["15"].state == "not_erupted"
    assert chart.teeth["25"].state == "not_erupted"
    assert [(n.code, n.teeth) for n in chart.notices] == [("missing_not_erupted", ("25",))]
    assert chart.show_primary  # age under 13


def test_missing_replaced_by_implant_is_treated_without_notice_but_seen_and_missing_is_flagged() -> None:
    chart = build_chart(doc(all_but("36", "46"), [("missing", "36"), ("implant", "36"), ("missing", "11")]), 50)
    assert chart.teeth["36"].state == "treated"
    assert chart.teeth["11"].state == "healthy"
    assert [(n.code, n.teeth) for n in chart.notices] == [("missing_but_present", ("11",))]


def test_scan_without_tooth_numbers_never_infers_missing() -> None:
    chart = build_chart(doc([], [("caries", None)]), 45)
    assert {t.state for t in chart.teeth.values() if len(t.fdi) == 2 and t.fdi[0] in "1234"} == {"not_seen"}
    assert [f.type for f in chart.unplaced] == ["caries"]


def test_primary_tooth_is_shed_when_its_successor_is_seen() -> None:
    chart = build_chart(doc(["11", "21", "52", "62"], []), 8)
    assert chart.teeth["51"].state == "shed"  # 11 came through
    assert chart.teeth["53"].state == "not_seen"
    assert chart.teeth["52"].state == "healthy"
    names = [name for name, _ in chart.rows()]
    assert names == ["upper", "upper_primary", "lower_primary", "lower"]
    assert [t.fdi for t in chart.rows()[0][1]][:3] == ["18", "17", "16"]  # patient's right on the viewer's left


def test_unknown_finding_type_and_tooth_number_are_refused() -> None:
    with pytest.raises(UnknownNameError, match="unknown finding type 'plaque'"):
        build_chart(doc([], [("plaque", "11")]), None)
    with pytest.raises(UnknownNameError, match="unknown FDI tooth number '19'"):
        build_chart(doc([], [("caries", "19")]), None)


def test_age_from_birth_date_and_study_date_and_override() -> None:
    findings = Findings(IMAGE, MODEL, patient=Patient(birth_date="2000-03-02"), study=Study(date="2026-03-02"))
    assert patient_age_years(findings) == pytest.approx(26.0, abs=0.01)
    assert patient_age_years(findings, override=9) == 9
    with pytest.raises(FindingsError, match="0 to 130"):
        patient_age_years(findings, override=-1)
    later = Findings(IMAGE, MODEL, patient=Patient(birth_date="2027-01-01"), study=Study(date="2026-03-02"))
    with pytest.raises(FindingsError, match="after the study date"):
        patient_age_years(later)
