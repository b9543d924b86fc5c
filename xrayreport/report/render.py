"""Render a :class:`ReportView` to HTML (Jinja2) and PDF (WeasyPrint).

Templates and styles live in ``templates/`` beside this module (package data). Everything is autoescaped, and
WeasyPrint may load only ``data:`` URIs (the X-ray and the logo are embedded that way), so a patient
name or a clinic field can neither inject markup nor make the renderer fetch anything.
"""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup
from weasyprint import HTML
from weasyprint.urls import URLFetcher

from ..errors import XrayReportError
from .build import ReportView
from .fonts import check_fonts
from .i18n import Messages

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
TEMPLATE = "report.html.j2"
STYLESHEET = "report.css"
SCREEN_STYLESHEET = "report-screen.css"

log = logging.getLogger(__name__)
# Without HarfBuzz-subset WeasyPrint subsets fonts with fontTools, which logs the glyphs and characters of every
# report (the patient's name among them) at INFO and DEBUG; a server logging at INFO would keep them.
logging.getLogger("fontTools").setLevel(logging.WARNING)


class ReportError(XrayReportError):
    """The report could not be rendered (templates missing, a refused resource)."""


@cache
def template_environment() -> jinja2.Environment:
    if not (TEMPLATES_DIR / TEMPLATE).is_file():
        raise ReportError(
            f"report templates not found in {TEMPLATES_DIR}; reinstall xrayreport (they ship with the package)"
        )
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(view: ReportView, messages: Messages, *, for_screen: bool = True) -> str:
    """The report as one self-contained HTML page (images embedded, styles inline).

    ``for_screen`` adds the phone layout; the PDF leaves it out (WeasyPrint ignores such media queries).
    """
    env = template_environment()
    template = env.get_template(TEMPLATE)
    css = (TEMPLATES_DIR / STYLESHEET).read_text(encoding="utf-8")

    def gettext(message: str, **params: Any) -> Markup:
        # Catalogue text is ours and trusted; Markup's % escapes the values filled into it.
        text = Markup(messages.translate(message))
        return text % params if params else text

    screen_css = Markup((TEMPLATES_DIR / SCREEN_STYLESHEET).read_text(encoding="utf-8")) if for_screen else None
    return template.render(r=view, css=Markup(css), screen_css=screen_css, _=gettext)


def html_to_pdf(html: str) -> bytes:
    """PDF bytes of an HTML page; only ``data:`` resources are loaded, anything else is refused."""
    check_fonts(html)  # a character no installed font has would print as an empty box
    return bytes(HTML(string=html, url_fetcher=_DataOnlyFetcher()).write_pdf())


def render_pdf(view: ReportView, messages: Messages) -> bytes:
    """The report as an A4 PDF."""
    return html_to_pdf(render_html(view, messages, for_screen=False))


class _DataOnlyFetcher(URLFetcher):  # type: ignore[misc]
    def fetch(self, url: str, headers: Any = None) -> Any:
        if url.startswith("data:"):
            return super().fetch(url, headers)
        log.warning("refused to load %s: the report uses embedded resources only", url[:80])
        raise ValueError("the report may load embedded (data:) resources only")
