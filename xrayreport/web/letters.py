"""The recall letter and message of a workspace patient: their open steps, last visit and the clinic file."""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING

from fastapi import HTTPException
from fastapi.responses import Response

from ..errors import UnknownNameError
from ..recall import OPEN_STATES, StepState
from .families import family_language, get_family, member_summaries
from .models import PlanStepRecord
from .reports import REPORT_LANGUAGES, REPORT_UNAVAILABLE, clinic_file_of, language_for
from .studies import get_patient
from .workspace import Workspace

if TYPE_CHECKING:
    from ..report import Messages
    from ..report.letter import LetterView, OpenStep


def letter_view(workspace: Workspace, patient_number: int, lang: str | None) -> LetterView:
    """The :class:`~xrayreport.report.letter.LetterView` of the patient in ``lang``, else in their own language;
    503 without the report stage."""
    from ..report.letter import build_letter

    with workspace.sessions() as db:
        patient = get_patient(db, patient_number)
        messages = _messages(language_for(lang, patient.language))
        steps = [_open_step(s) for s in patient.plan_steps if s.state in OPEN_STATES]
        days = patient.visit_days
        name = patient.name
    today = workspace.config.clock().date()
    clinic = clinic_file_of(workspace.config.home)
    return build_letter(name, max(days, default=None), steps, messages, clinic, today)


def _messages(lang: str) -> Messages:
    """The report stage's catalogue for ``lang``: 422 for an unknown language, 503 when the stage cannot load."""
    if lang not in REPORT_LANGUAGES:
        raise UnknownNameError("letter language", lang, REPORT_LANGUAGES)
    try:
        from ..report import Messages
        from ..report.render import html_to_pdf  # noqa: F401  (the letter renders through it)
    except (ImportError, OSError):  # WeasyPrint raises OSError when Pango is missing
        raise HTTPException(503, REPORT_UNAVAILABLE) from None
    return Messages(lang)


def _pdf(pdf: bytes, filename: str) -> Response:
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{filename}"', "Cache-Control": "no-store"},
    )


def _open_step(step: PlanStepRecord) -> OpenStep:
    from ..report.letter import OpenStep

    booked = dt.date.fromisoformat(step.state_on) if step.state == StepState.BOOKED and step.state_on else None
    return OpenStep(json.loads(step.what), step.tooth_list, dt.date.fromisoformat(step.due_by), booked)


def letter_pdf(workspace: Workspace, patient_number: int, lang: str | None) -> Response:
    from ..report.letter import render_letter_pdf

    view = letter_view(workspace, patient_number, lang)
    return _pdf(render_letter_pdf(view), f"recall-letter-{patient_number}-{view.lang}.pdf")


def family_letter_pdf(workspace: Workspace, family_id: int, lang: str | None) -> Response:
    """One letter for the family, in ``lang``, else the language most members chose: each member's next open
    step, or their check-up."""
    from ..report.letter import build_family_letter, render_letter_pdf

    with workspace.sessions() as db:
        family = get_family(db, family_id)
        messages = _messages(language_for(lang, family_language(family)))
        members = []
        for summary in member_summaries(family):
            step = summary.open_steps[0] if summary.open_steps else None
            members.append((summary.patient.name or summary.patient.label, _open_step(step) if step else None))
        name = family.name
    today = workspace.config.clock().date()
    view = build_family_letter(name, members, messages, clinic_file_of(workspace.config.home), today)
    return _pdf(render_letter_pdf(view), f"family-letter-{family_id}-{view.lang}.pdf")


def next_visit_card_pdf(workspace: Workspace, patient_number: int, lang: str | None) -> Response:
    """The patient's next-visit card, in ``lang``, else in their own language: their soonest open step (booked
    ones by booking date), else the check-up."""
    from ..report.letter import build_card, render_card_pdf

    with workspace.sessions() as db:
        patient = get_patient(db, patient_number)
        messages = _messages(language_for(lang, patient.language))
        open_steps = [s for s in patient.plan_steps if s.state in OPEN_STATES]
        soonest = min(
            open_steps,
            key=lambda s: (s.state_on if s.state == StepState.BOOKED and s.state_on else s.due_by, s.id),
            default=None,
        )
        step = _open_step(soonest) if soonest else None
        name = patient.name
    card = build_card(name, step, messages, clinic_file_of(workspace.config.home))
    return _pdf(render_card_pdf(card), f"next-visit-{patient_number}-{card.lang}.pdf")
