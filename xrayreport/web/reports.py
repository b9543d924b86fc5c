"""The report-renderer interface the web app calls, and where the real renderer comes from."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..findings import Findings
from ..ingestion import Radiograph
from ..recall import SleepRules

if TYPE_CHECKING:
    from ..report import Clinic, PlannedCare

log = logging.getLogger(__name__)


class ReportRenderer(Protocol):
    """Renders the patient report as PDF bytes: the scan, its reviewed findings, the language code and the findings
    of the patient's last reviewed scan before it (``None``: none), for "Since your last X-ray"."""

    def __call__(
        self, radiograph: Radiograph, findings: Findings, language: str, previous: Findings | None = None
    ) -> bytes: ...


Planner = Callable[[Radiograph, Findings, dt.date], "PlannedCare"]
"""The plan a report of (scan, reviewed findings) shows, as of a day; issuing a report tracks its steps."""

REPORT_LANGUAGES: dict[str, str] = {"en": "English", "zh": "中文 (简体)", "ru": "Русский"}
"""Report languages the workspace offers, code -> name shown in the language picker."""

DEFAULT_LANGUAGE = "en"
"""The language of the letters and reports of a patient who chose none."""


def language_for(asked: str | None, preferred: str | None) -> str:
    """The language to write in: the one asked for (``?lang=``), else the patient's own, else English."""
    return asked or preferred or DEFAULT_LANGUAGE


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

    def render(radiograph: Radiograph, findings: Findings, language: str, previous: Findings | None = None) -> bytes:
        messages = Messages(language)
        return render_pdf(build_report(radiograph, findings, messages, clinic=clinic, previous=previous), messages)

    return render


def default_planner(clinic_file: Path | None = None) -> Planner:
    """The report's own planning (plan rules, prices and recall of the clinic file when it exists); it needs
    no rendering libraries, so it is always available."""
    from ..report import plan_care

    clinic = _clinic(clinic_file)

    def plan(radiograph: Radiograph, findings: Findings, today: dt.date) -> PlannedCare:
        return plan_care(radiograph, findings, clinic=clinic, today=today)

    return plan


def clinic_sleep_rules(clinic_file: Path | None = None) -> SleepRules:
    """When patients count as sleeping and how often they are contacted: the clinic file's ``recalls``, else the
    defaults of :mod:`xrayreport.recall`."""
    clinic = _clinic(clinic_file)
    return (clinic.sleep_rules if clinic else None) or SleepRules()


def clinic_file_of(home: Path) -> Clinic | None:
    """The workspace's clinic file (``home/clinic.yaml``), when there is one."""
    return _clinic(home / "clinic.yaml")


def _clinic(clinic_file: Path | None) -> Clinic | None:
    from ..report import load_clinic

    return load_clinic(clinic_file) if clinic_file is not None and clinic_file.exists() else None
