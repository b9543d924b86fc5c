"""A reviewed study as FHIR (R4B, the 4.x release whose DiagnosticReport, Observation, ImagingStudy and Patient are
R4's): a Bundle of type ``collection`` holding the DiagnosticReport, one Observation per finding, the ImagingStudy
and the Patient, built and validated with the fhir.resources models.

- Each Observation's ``code`` is the finding type (xrayreport's code system :data:`~xrayreport.dicomnet.codes.
  FHIR_FINDING_SYSTEM`, the same codes as the DICOM SR), its ``bodySite`` the tooth as SNOMED CT (the concept DICOM
  uses, CID 4018/4019) with the FDI number as text, its ``method`` who found and confirmed it, ``derivedFrom`` the
  ImagingStudy.
- The ImagingStudy is identified by its DICOM Study Instance UID (``urn:dicom:uid``), the scan's own or, for an
  image upload, the one the DICOM results use; a DICOM scan's series and instance are listed.
- The DiagnosticReport's ``presentedForm`` is the patient report PDF when one is given.

The identity is exactly the :class:`~xrayreport.dicomnet.context.PatientIdentity` given; a de-identified copy is
made of de-identified inputs (a pseudonymous identity, :meth:`~xrayreport.dicomnet.context.StudyContext.deidentified`,
no PDF) and ``dated=False``.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.diagnosticreport import DiagnosticReport
from fhir.resources.R4B.imagingstudy import ImagingStudy
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient

from ..dicomnet.codes import FHIR_FINDING_SYSTEM, FINDING_MEANINGS, SNOMED_FHIR_SYSTEM, tooth_code
from ..dicomnet.context import PatientIdentity, Reviewer, StudyContext
from ..errors import XrayReportError
from ..findings import Finding, Findings

DICOM_UID_SYSTEM = "urn:dicom:uid"
DICOM_MODALITY_SYSTEM = "http://dicom.nema.org/resources/ontology/DCM"
OBSERVATION_CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/observation-category"
DENTAL_RADIOGRAPHY = {"system": SNOMED_FHIR_SYSTEM, "code": "1290849002", "display": "Dental radiography"}
_GENDERS = {"F": "female", "M": "male", "O": "other"}
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:xrayreport:fhir")


def _urn(*parts: str) -> str:
    """A ``urn:uuid:`` full URL that is a function of ``parts`` (the same study and review: the same URLs)."""
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, chr(0).join(parts))}"


def report_bundle(
    findings: Findings,
    reviewer: Reviewer,
    patient: PatientIdentity,
    study: StudyContext,
    report_pdf: bytes | None = None,
    language: str = "en",
    dated: bool = True,
) -> Bundle:
    """The reviewed ``findings`` as a validated FHIR Bundle (see the module's description). Not ``dated``, for a
    de-identified copy: no time of review (``issued``) and no reviewer in the resources' URLs, which then follow
    from the study's UID alone."""
    key = (study.study_uid, reviewer.revision) if dated else (study.study_uid,)
    patient_url, study_url, report_url = _urn("patient", *key), _urn("study", *key), _urn("report", *key)
    subject = {"reference": patient_url}
    observations = [
        (_urn("finding", finding.id, *key), _observation(finding, reviewer, subject, study_url))
        for finding in findings.findings
    ]
    report: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "RAD"}]}],
        "code": {"coding": [DENTAL_RADIOGRAPHY], "text": "Dental panoramic radiograph findings"},
        "subject": subject,
        "imagingStudy": [{"reference": study_url}],
        "result": [{"reference": url} for url, _ in observations],
        "conclusion": f"{len(observations)} finding(s) reviewed by a dentist",
    }
    if dated:
        report["issued"] = reviewer.reviewed_at.isoformat()
    if study.study_date:
        report["effectiveDateTime"] = study.study_date
    if report_pdf is not None:
        report["presentedForm"] = [
            {
                "contentType": "application/pdf",
                "language": language,
                "data": base64.b64encode(report_pdf).decode("ascii"),
                "title": "Oral health report",
            }
        ]
    entries = [
        {"fullUrl": report_url, "resource": DiagnosticReport.model_validate(report)},
        *({"fullUrl": url, "resource": observation} for url, observation in observations),
        {"fullUrl": study_url, "resource": _imaging_study(study, subject)},
        {"fullUrl": patient_url, "resource": _patient(patient)},
    ]
    return Bundle.model_validate({"resourceType": "Bundle", "type": "collection", "entry": entries})


def _observation(finding: Finding, reviewer: Reviewer, subject: dict[str, str], study_url: str) -> Observation:
    if finding.source == "model" and finding.id not in reviewer.confirmed:
        raise XrayReportError(f"finding {finding.id} waits for the dentist's review; review every finding first")
    method = (
        "marked by the reviewing dentist"
        if finding.source == "dentist"
        else "found by the model, confirmed by the reviewing dentist"
    )
    data: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": OBSERVATION_CATEGORY_SYSTEM, "code": "imaging", "display": "Imaging"}]}],
        "code": {
            "coding": [
                {"system": FHIR_FINDING_SYSTEM, "code": finding.type, "display": FINDING_MEANINGS[finding.type]}
            ],
            "text": FINDING_MEANINGS[finding.type],
        },
        "subject": subject,
        "method": {"text": method},
        "derivedFrom": [{"reference": study_url}],
        "valueBoolean": True,  # the finding is present
    }
    if finding.tooth:
        tooth = tooth_code(finding.tooth)
        data["bodySite"] = {
            "coding": [{"system": SNOMED_FHIR_SYSTEM, "code": tooth.value, "display": tooth.meaning}],
            "text": f"tooth {finding.tooth} (FDI)",
        }
    return Observation.model_validate(data)


def _imaging_study(study: StudyContext, subject: dict[str, str]) -> ImagingStudy:
    data: dict[str, Any] = {
        "resourceType": "ImagingStudy",
        "status": "available",
        "subject": subject,
        "identifier": [{"system": DICOM_UID_SYSTEM, "value": f"urn:oid:{study.study_uid}"}],
    }
    if study.study_date:
        data["started"] = study.study_date
    if study.image is not None:
        data["series"] = [
            {
                "uid": study.image.series_uid,
                "modality": {"system": DICOM_MODALITY_SYSTEM, "code": "PX"},
                "instance": [{"uid": study.image.sop_instance_uid, "sopClass": {"code": study.image.sop_class_uid}}],
            }
        ]
    return ImagingStudy.model_validate(data)


def _patient(identity: PatientIdentity) -> Patient:
    data: dict[str, Any] = {"resourceType": "Patient"}
    if identity.patient_id:
        data["identifier"] = [{"value": identity.patient_id}]
    if identity.name:
        data["name"] = [{"text": " ".join(part for part in identity.name.split("^") if part)}]
    if identity.birth_date:
        data["birthDate"] = identity.birth_date
    if identity.sex in _GENDERS:
        data["gender"] = _GENDERS[identity.sex]
    return Patient.model_validate(data)
