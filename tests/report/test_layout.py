"""Page 1 of the A4 report is used whatever the scan's shape: the sections after the X-ray start on page 1."""

from __future__ import annotations

import datetime as dt
import logging
import subprocess
from pathlib import Path

import numpy as np
import pytest

from xrayreport.findings import Finding, Findings, ImageInfo, ModelInfo, Review, Tooth
from xrayreport.ingestion import Radiograph, load_scan
from xrayreport.report import Messages, build_report
from xrayreport.report.render import render_pdf

SQUARE_SCAN = "ufba425/images/cate1-00002.jpg"  # 512x512


def page_text(pdf: Path, page: int) -> str:
    """The words of one page (1-based), whitespace collapsed."""
    args = ["pdftotext", "-f", str(page), "-l", str(page), str(pdf), "-"]
    return " ".join(subprocess.run(args, check=True, capture_output=True, text=True).stdout.split())


def findings_for(radiograph: Radiograph) -> Findings:
    """Four numbered teeth across the scan's middle, a cavity on one and a filling on another."""
    w, h = radiograph.width, radiograph.height
    teeth = ["16", "11", "21", "26"]
    boxes = {fdi: (w * (0.3 + 0.1 * i), h * 0.35, w * (0.38 + 0.1 * i), h * 0.6) for i, fdi in enumerate(teeth)}
    return Findings(
        image=ImageInfo(w, h, radiograph.sha256),
        model=ModelInfo("hand-made", "1"),
        teeth=tuple(Tooth(fdi, box, source="dentist") for fdi, box in boxes.items()),
        findings=(
            Finding("c1", "caries", "16", boxes["16"], "dentist"),
            Finding("r1", "filling", "26", boxes["26"], "dentist"),
        ),
        review=Review("Dr. Test"),
    )


def synthetic_scan(width: int, height: int) -> Radiograph:
    """A grey ramp of ``width`` x ``height`` pixels."""
    pixels = np.tile(np.linspace(40, 200, width).astype(np.uint8), (height, 1))
    return Radiograph(pixels, "synthetic.png", "PNG", "d" * 64, 8, "MONOCHROME2")


@pytest.mark.parametrize(("shape", "found_on_page_one"), [("square", True), ("small", True), ("3:2", False)])
def test_page_one_holds_the_chart_after_the_xray(
    shape: str, found_on_page_one: bool, datasets_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    radiograph = {
        "square": lambda: load_scan(datasets_dir / SQUARE_SCAN),
        "small": lambda: synthetic_scan(360, 300),  # smaller than any real panoramic, nearly square
        "3:2": lambda: synthetic_scan(1200, 800),  # narrower than a panoramic, too wide to stand beside its notes
    }[shape]()
    messages = Messages("en")
    with caplog.at_level(logging.WARNING):
        view = build_report(radiograph, findings_for(radiograph), messages, today=dt.date(2026, 3, 2))
        pdf = tmp_path / "report.pdf"
        pdf.write_bytes(render_pdf(view, messages))
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    first = page_text(pdf, 1)
    assert "Your X-ray" in first
    # The chart (section 2, kept whole) follows on page 1, as after a panoramic; beside a square or small scan's
    # notes there is room for the start of "what we found" (section 3) as well.
    assert "Your teeth at a glance" in first and "Upper jaw" in first and "Lower jaw" in first
    if found_on_page_one:
        assert "What we found" in first and "Tooth 16" in first
