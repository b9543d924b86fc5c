"""Rendering a report writes nothing of the patient into logs, whichever font subsetter WeasyPrint uses."""

from __future__ import annotations

import datetime as dt
import logging

import numpy as np
import pytest
import weasyprint.pdf.fonts

from xrayreport.findings import Finding, Findings, ImageInfo, ModelInfo, Patient, Review, Tooth
from xrayreport.ingestion import Radiograph
from xrayreport.report import Messages, build_report
from xrayreport.report.render import render_pdf


@pytest.mark.parametrize("subsetter", ["harfbuzz", "fonttools"])
def test_no_glyph_lists_of_the_patients_name_in_the_logs(
    subsetter: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    if subsetter == "fonttools":  # as on a machine without libharfbuzz-subset0
        monkeypatch.setattr(weasyprint.pdf.fonts, "harfbuzz_subset", None)
    radiograph = Radiograph(np.full((512, 1024), 90, np.uint8), "scan.png", "PNG", "d" * 64, 8, "MONOCHROME2")
    box = (300.0, 180.0, 380.0, 300.0)
    findings = Findings(
        image=ImageInfo(1024, 512, radiograph.sha256),
        model=ModelInfo("hand-made", "1"),
        teeth=(Tooth("16", box, source="dentist"),),
        findings=(Finding("c1", "caries", "16", box, "dentist"),),
        patient=Patient(name="Qxyzzy Vorwerk", id="QV-99"),
        review=Review("Dr. Test"),
    )
    messages = Messages("en")
    caplog.set_level(logging.DEBUG)
    render_pdf(build_report(radiograph, findings, messages, today=dt.date(2026, 3, 2)), messages)
    logged = "\n".join(f"{r.name}: {r.getMessage()}" for r in caplog.records)
    assert "Qxyzzy" not in logged and "QV-99" not in logged
    assert not [r for r in caplog.records if r.name.startswith("fontTools") and r.levelno < logging.WARNING], logged[
        :2000
    ]
