"""The recall letter and message of a workspace patient: their open steps, last visit and the clinic file."""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING

from fastapi import HTTPException
from fastapi.responses import Response

from ..errors import UnknownNameError
from ..recall import OPEN_STATES, StepState
from .reports import REPORT_LANGUAGES, REPORT_UNAVAILABLE, clinic_file_of
from .studies import get_patient
from .workspace import Workspace

if TYPE_CHECKING:
    from ..report.letter import LetterView


def letter_view(workspace: Workspace, patient_number: int, lang: str) -> LetterView:
    """The :class:`~xrayreport.report.letter.LetterView` of the patient in ``lang``; 503 without the report stage."""
    if lang not in REPORT_LANGUAGES:
        raise UnknownNameError("letter language", lang, REPORT_LANGUAGES)
    try:
        from ..report import Messages
        from ..report.letter import OpenStep, build_letter
    except (ImportError, OSError):
        raise HTTPException(503, REPORT_UNAVAILABLE) from None
    with workspace.sessions() as db:
        patient = get_patient(db, patient_number)
        steps = [
            OpenStep(
                json.loads(s.what),
                s.tooth_list,
                dt.date.fromisoformat(s.due_by),
                dt.date.fromisoformat(s.state_on) if s.state == StepState.BOOKED and s.state_on else None,
            )
            for s in patient.plan_steps
            if s.state in OPEN_STATES
        ]
        days = [dt.date.fromisoformat(v.visited_on) for v in patient.visits]
        days += [dt.date.fromisoformat(s.study_date) if s.study_date else s.created_at.date() for s in patient.studies]
        name = patient.name
    today = workspace.config.clock().date()
    clinic = clinic_file_of(workspace.config.home)
    return build_letter(name, max(days, default=None), steps, Messages(lang), clinic, today)


def letter_pdf(workspace: Workspace, patient_number: int, lang: str) -> Response:
    from ..report.letter import render_letter_pdf

    view = letter_view(workspace, patient_number, lang)
    return Response(
        render_letter_pdf(view),
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="recall-letter-{patient_number}-{lang}.pdf"',
            "Cache-Control": "no-store",
        },
    )
