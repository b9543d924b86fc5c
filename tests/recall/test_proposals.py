"""Proposals from a later scan: only what the scan shows on every tooth of a step."""

from __future__ import annotations

from xrayreport.findings import Finding, Findings, ImageInfo, ModelInfo, Tooth
from xrayreport.recall import OpenStepTeeth, Proposal, propose


def _later(findings: list[tuple[str, str]], teeth: tuple[str, ...] = ("16", "26", "36", "46")) -> Findings:
    return Findings(
        image=ImageInfo(1000, 500, "0" * 64),
        model=ModelInfo("dentist", "manual"),
        teeth=tuple(Tooth(t, None) for t in teeth),
        findings=tuple(Finding(f"d{i}", kind, tooth, None, "dentist") for i, (kind, tooth) in enumerate(findings)),
    )


def test_a_filled_tooth_proposes_its_filling_done_and_nothing_else() -> None:
    steps = [
        OpenStepTeeth(1, "filling", ("36",)),
        OpenStepTeeth(2, "filling", ("16", "26")),  # only 16 filled: not proposed
        OpenStepTeeth(3, "root_canal", ("46",)),  # a filling is no root canal treatment
        OpenStepTeeth(4, "checkup", ()),
    ]
    later = _later([("filling", "36"), ("crown", "16"), ("filling", "46"), ("caries", "26")])
    assert propose(steps, later) == [Proposal(1, "done", "filling on 36")]


def test_a_root_canal_a_removed_root_and_a_replaced_tooth() -> None:
    steps = [
        OpenStepTeeth(1, "deep_filling", ("46",)),
        OpenStepTeeth(2, "extraction", ("48",)),
        OpenStepTeeth(3, "replacement_consultation", ("36",)),
    ]
    later = _later([("root_canal", "46"), ("crown", "46"), ("implant", "36")], teeth=("16", "36", "46"))
    assert propose(steps, later) == [
        Proposal(1, "done", "crown and root canal on 46"),
        Proposal(2, "done", "no tooth 48"),
        Proposal(3, "done", "36 replaced"),
    ]
