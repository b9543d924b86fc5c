"""The next-visit card names each step once, with the teeth it is for, in every language."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from xrayreport.findings import Finding, Findings, ImageInfo, ModelInfo, Review, Tooth
from xrayreport.ingestion import Radiograph
from xrayreport.report import Messages, build_report
from xrayreport.report.render import render_html

SHA = "c" * 64
WIDTH, HEIGHT = 640, 320
# Twelve upper teeth with an infection at the root tip share one step; two lower molars share another.
LESION_TEETH = ("16", "15", "14", "13", "12", "11", "21", "22", "23", "24", "25", "26")
DEEP_CARIES_TEETH = ("46", "36")
EXPECTED = {
    "en": (
        "Root canal treatment, or removing the tooth if it cannot be saved"
        " — teeth 11, 12, 13, 14, 15, 16, 21, 22, 23, 24, 25, 26",
        "A filling, or a root canal treatment if the nerve is affected — teeth 36, 46",
    ),
    "zh": (
        "根管治疗；如果无法保留，则拔牙——11, 12, 13, 14, 15, 16, 21, 22, 23, 24, 25, 26 号牙",
        "补牙；如果牙神经受累，则做根管治疗——36, 46 号牙",
    ),
    "ru": (
        "Лечение каналов, а если зуб не спасти — удаление (зубы 11, 12, 13, 14, 15, 16, 21, 22, 23, 24, 25, 26)",
        "Пломба, а если затронут нерв — лечение каналов (зубы 36, 46)",
    ),
}


def shared_steps() -> tuple[Radiograph, Findings]:
    """A blank 640x320 scan with 14 hand-made findings on numbered teeth, reviewed by a dentist."""
    radiograph = Radiograph(np.full((HEIGHT, WIDTH), 80, np.uint8), "synthetic.png", "PNG", SHA, 8, "MONOCHROME2")
    teeth = LESION_TEETH + DEEP_CARIES_TEETH
    boxes = {fdi: (20.0 + 40 * i, 100.0, 50.0 + 40 * i, 200.0) for i, fdi in enumerate(teeth)}
    findings = tuple(
        Finding(f"f{i}", "periapical_lesion" if fdi in LESION_TEETH else "deep_caries", fdi, boxes[fdi], "dentist")
        for i, fdi in enumerate(teeth)
    )
    document = Findings(
        image=ImageInfo(WIDTH, HEIGHT, SHA),
        model=ModelInfo("hand-made", "1"),
        teeth=tuple(Tooth(fdi, boxes[fdi], source="dentist") for fdi in teeth),
        findings=findings,
        review=Review("Dr. Test"),
    )
    return radiograph, document


@pytest.mark.parametrize("lang", ["en", "zh", "ru"])
def test_each_step_of_the_next_visit_is_named_once_with_its_teeth(lang: str) -> None:
    radiograph, findings = shared_steps()
    messages = Messages(lang)
    view = build_report(radiograph, findings, messages, today=dt.date(2026, 3, 2))
    assert view.next_visit_what == EXPECTED[lang]
    assert messages.missing == set()
    card = render_html(view, messages).split('<section class="card">')[1].split("</section>")[0]
    for line in EXPECTED[lang]:
        assert card.count(line) == 1


def test_one_tooth_is_named_in_the_singular() -> None:
    radiograph, findings = shared_steps()
    one = Findings(findings.image, findings.model, findings.teeth[:1], findings.findings[:1], review=findings.review)
    view = build_report(radiograph, one, Messages("en"), today=dt.date(2026, 3, 2))
    assert view.next_visit_what == ("Root canal treatment, or removing the tooth if it cannot be saved — tooth 16",)
