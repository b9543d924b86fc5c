"""A reviewed study as FHIR (:mod:`xrayreport.fhir`): what the workspace holds, handed to the FHIR export. Needs the
``[fhir]`` extra (fhir.resources)."""

from __future__ import annotations

from fastapi import HTTPException
from fastapi.responses import Response

from .dicomresults import reviewed_study
from .workspace import Workspace

FHIR_UNAVAILABLE = (
    "the FHIR export needs the [fhir] extra on this server (fhir.resources): pip install 'xrayreport[fhir]'"
)


def fhir_response(workspace: Workspace, study_id: str, lang: str | None) -> Response:
    """The study's FHIR Bundle as ``application/fhir+json``, with the report PDF (in ``lang``, else the patient's
    language, with "Since your last X-ray" as the report page has it) as the DiagnosticReport's presented form when
    this server renders reports."""
    try:
        from ..fhir.report import report_bundle
    except ImportError:
        raise HTTPException(503, FHIR_UNAVAILABLE) from None
    reviewed = reviewed_study(workspace, study_id, lang)
    renderer = workspace.config.renderer
    pdf = None if renderer is None else reviewed.report_pdf(renderer)
    bundle = report_bundle(
        reviewed.findings, reviewed.reviewer, reviewed.patient, reviewed.study, pdf, reviewed.language
    )
    return Response(
        bundle.model_dump_json(indent=1),
        media_type="application/fhir+json",
        headers={"Cache-Control": "no-store"},
    )
