"""The report-renderer interface the web app calls, and where the real renderer comes from."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from ..findings import Findings
from ..ingestion import Radiograph

log = logging.getLogger(__name__)

ReportRenderer = Callable[[Radiograph, Findings, str], bytes]
"""Renders the patient report: (scan, reviewed findings, language code) -> PDF bytes."""

REPORT_LANGUAGES: dict[str, str] = {"en": "English", "zh": "中文 (简体)", "ru": "Русский"}
"""Report languages the workspace offers, code -> name shown in the language picker."""

REPORT_UNAVAILABLE = (
    "report rendering is not available on this server (the report stage could not be loaded; the server "
    "log says why); install xrayreport with its system packages (scripts/install-system-deps.sh) to issue reports"
)


def default_renderer(clinic_file: Path | None = None) -> ReportRenderer | None:
    """The report stage's PDF renderer, with the clinic's settings when ``clinic_file`` exists.

    ``None`` when the report stage cannot be loaded (e.g. WeasyPrint without its system libraries);
    the reason is logged and the report endpoints answer 503.
    """
    try:
        from ..report import Messages, build_report, load_clinic
        from ..report.render import render_pdf
    except (ImportError, OSError) as exc:  # WeasyPrint raises OSError when Pango is missing
        log.warning("report rendering is unavailable: %s", exc)
        return None
    clinic = load_clinic(clinic_file) if clinic_file is not None and clinic_file.exists() else None

    def render(radiograph: Radiograph, findings: Findings, language: str) -> bytes:
        messages = Messages(language)
        return render_pdf(build_report(radiograph, findings, messages, clinic=clinic), messages)

    return render
