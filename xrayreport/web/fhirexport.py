"""A reviewed study as FHIR (:mod:`xrayreport.fhir`): what the workspace holds, handed to the FHIR export. Needs the
``[fhir]`` extra (fhir.resources)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from fastapi import HTTPException
from fastapi.responses import Response

from ..dicomnet.context import PatientIdentity
from ..errors import XrayReportError
from .dicomresults import ReviewedStudy, StudySource, reviewed_study
from .workspace import Workspace

if TYPE_CHECKING:
    from fhir.resources.R4B.bundle import Bundle

    from ..dicomnet.deidentify import Deidentifier

FHIR_UNAVAILABLE = (
    "the FHIR export needs the [fhir] extra on this server (fhir.resources): pip install 'xrayreport[fhir]'"
)


class FhirUnavailableError(XrayReportError):
    """fhir.resources is not installed."""


def fhir_json(source: StudySource, study_id: str, lang: str | None, patient_key: str | None = None) -> str:
    """The study's FHIR Bundle as JSON, with the report PDF (in ``lang``, else the patient's language, with "Since
    your last X-ray" as the report page has it) as the DiagnosticReport's presented form when the report stage is
    loaded; :class:`FhirUnavailableError` without the ``[fhir]`` extra.

    With ``patient_key`` (the patient's key of the researcher's exports) the de-identified copy of
    :func:`deidentified_fhir_json` instead."""
    report_bundle = _report_bundle()
    reviewed = reviewed_study(source, study_id, lang)
    if patient_key is not None:
        from ..dicomnet.deidentify import Deidentifier

        return deidentified_fhir_json(reviewed, Deidentifier(source.config.secret_key().encode()), patient_key)
    renderer = source.config.renderer
    pdf = None if renderer is None else reviewed.report_pdf(renderer)
    bundle = report_bundle(
        reviewed.findings, reviewed.reviewer, reviewed.patient, reviewed.study, pdf, reviewed.language
    )
    return bundle.model_dump_json(indent=1)


def deidentified_fhir_json(reviewed: ReviewedStudy, deidentifier: Deidentifier, patient_key: str) -> str:
    """The de-identified FHIR Bundle of a reviewed study as JSON: the Patient has ``patient_key`` as its only
    identifier and nothing else (no name, birth date, sex), UIDs are mapped by ``deidentifier`` as the de-identified
    DICOM copies map them, and there are no dates, times, reviewer or report PDF. :class:`FhirUnavailableError`
    without the ``[fhir]`` extra."""
    bundle = _report_bundle()(
        reviewed.findings,
        reviewed.reviewer,
        PatientIdentity(patient_id=patient_key),
        reviewed.study.deidentified(deidentifier.uid),
        dated=False,
    )
    return bundle.model_dump_json(indent=1)


def _report_bundle() -> Callable[..., Bundle]:
    try:
        from ..fhir.report import report_bundle
    except ImportError:
        raise FhirUnavailableError(FHIR_UNAVAILABLE) from None
    return report_bundle


def fhir_response(workspace: Workspace, study_id: str, lang: str | None) -> Response:
    """The study's FHIR Bundle (:func:`fhir_json`) as ``application/fhir+json``; 503 without the ``[fhir]`` extra."""
    try:
        body = fhir_json(workspace, study_id, lang)
    except FhirUnavailableError as exc:
        raise HTTPException(503, str(exc)) from None
    return Response(body, media_type="application/fhir+json", headers={"Cache-Control": "no-store"})
