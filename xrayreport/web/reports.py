"""The report-renderer interface the web app calls, and where the real renderer comes from."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import cast

from ..findings import Findings
from ..ingestion import Radiograph

ReportRenderer = Callable[[Radiograph, Findings, str], bytes]
"""Renders the patient report: (scan, reviewed findings, language code) -> PDF bytes."""

REPORT_LANGUAGES: dict[str, str] = {"en": "English", "zh": "中文 (简体)", "ru": "Русский"}
"""Report languages the workspace offers, code -> name shown in the language picker."""

REPORT_UNAVAILABLE = (
    "report rendering is not installed on this server (the xrayreport.report stage is missing); "
    "install the full xrayreport package to issue reports"
)


def default_renderer() -> ReportRenderer | None:
    """The report stage's renderer, or ``None`` when ``xrayreport.report`` is not installed."""
    try:
        report = importlib.import_module("xrayreport.report")
    except ImportError:
        return None
    render = getattr(report, "render_report_pdf", None)  # absent while the stage is only partly installed
    return cast(ReportRenderer, render) if callable(render) else None
