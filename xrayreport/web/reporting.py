"""Issuing a report: the study's report findings rendered to PDF in the chosen language."""

from __future__ import annotations

from fastapi import HTTPException
from fastapi.responses import Response

from ..errors import UnknownNameError
from .comparisons import previous_reviewed
from .models import User
from .reports import REPORT_LANGUAGES, REPORT_UNAVAILABLE, language_for
from .roles import Permission
from .studies import get_study, pending_ids, report_document
from .workspace import Workspace


def render_report(workspace: Workspace, user: User, study_id: str, lang: str | None, download: bool) -> Response:
    """The PDF answer for a study in ``lang``, else in the patient's language, with what changed since the patient's
    last reviewed scan when there is one; 503 when no renderer is installed,
    422 for an unknown language, 403 when ``user`` may not issue reports and may print them only once a dentist
    has reviewed the study."""
    renderer = workspace.config.renderer
    if renderer is None:
        raise HTTPException(503, REPORT_UNAVAILABLE)
    with workspace.sessions() as db:
        study = get_study(db, study_id)
        lang = language_for(lang, study.patient.language)
        if lang not in REPORT_LANGUAGES:
            raise UnknownNameError("report language", lang, REPORT_LANGUAGES)
        if not user.may(Permission.ISSUE_REPORTS):
            if not user.may(Permission.PRINT_REPORTS):
                raise HTTPException(403, f"your roles ({', '.join(user.roles)}) do not allow you to print reports")
            if study.reviewed_at is None or pending_ids(study):
                raise HTTPException(
                    403, "a dentist has not reviewed every finding of this study yet; print it once they have"
                )
        document = report_document(study)
        earlier = previous_reviewed(study)
        previous = None if earlier is None else report_document(earlier)
        scan_file, source_name = study.scan_file, study.source_name
    pdf = renderer(workspace.scans.load(scan_file, source_name), document, lang, previous)
    disposition = "attachment" if download else "inline"
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'{disposition}; filename="report-{study_id[:8]}-{lang}.pdf"',
            "Cache-Control": "no-store",
        },
    )
