"""The FHIR export: a Bundle with the DiagnosticReport, an Observation per finding, the ImagingStudy and the Patient,
checked by parsing it back with the fhir.resources R4B models."""

from __future__ import annotations

import base64
import json

import pytest
from dicomnet.test_results import PATIENT, PDF, _findings, _reviewer, _scan
from fhir.resources.R4B.bundle import Bundle

from xrayreport.dicomnet.context import Reviewer, StudyContext
from xrayreport.errors import XrayReportError
from xrayreport.fhir.report import report_bundle


def _bundle() -> tuple[dict[str, dict[str, object]], StudyContext]:
    _, radiograph, header = _scan()
    study = StudyContext.from_dicom(header)
    bundle = report_bundle(_findings(radiograph), _reviewer(), PATIENT, study, PDF, "ru")
    parsed = Bundle.model_validate_json(bundle.model_dump_json())  # validates every resource again
    assert parsed.type == "collection"
    resources = json.loads(parsed.model_dump_json())["entry"]
    return {entry["fullUrl"]: entry["resource"] for entry in resources}, study


def test_the_report_lists_each_finding_and_carries_the_pdf() -> None:
    resources, study = _bundle()
    (report,) = [r for r in resources.values() if r["resourceType"] == "DiagnosticReport"]
    assert report["status"] == "final" and report["code"]["coding"][0]["code"] == "1290849002"
    assert len(report["result"]) == 2 and all(ref["reference"] in resources for ref in report["result"])
    (form,) = report["presentedForm"]
    assert (form["contentType"], form["language"]) == ("application/pdf", "ru")
    assert base64.b64decode(form["data"]) == PDF
    (imaging,) = [r for r in resources.values() if r["resourceType"] == "ImagingStudy"]
    assert report["imagingStudy"][0]["reference"] in resources
    assert imaging["identifier"][0] == {"system": "urn:dicom:uid", "value": f"urn:oid:{study.study_uid}"}
    assert study.image is not None
    assert imaging["series"][0]["instance"][0]["uid"] == study.image.sop_instance_uid
    assert report["effectiveDateTime"] == "2024-06-15"


def test_each_observation_names_its_type_and_its_tooth_in_snomed_ct() -> None:
    resources, _ = _bundle()
    observations = {r["code"]["coding"][0]["code"]: r for r in resources.values() if r["resourceType"] == "Observation"}
    caries, missing = observations["caries"], observations["missing"]
    assert caries["bodySite"]["coding"] == [
        {"system": "http://snomed.info/sct", "code": "866006002", "display": "Mandibular left first molar tooth"}
    ]
    assert caries["bodySite"]["text"] == "tooth 36 (FDI)"
    assert caries["method"]["text"] == "found by the model, confirmed by the reviewing dentist"
    assert missing["bodySite"]["coding"][0]["code"] == "866005003"  # 46
    assert missing["method"]["text"] == "marked by the reviewing dentist"
    assert all(o["derivedFrom"][0]["reference"] in resources for o in observations.values())


def test_the_patient_is_exactly_the_identity_given() -> None:
    resources, _ = _bundle()
    (patient,) = [r for r in resources.values() if r["resourceType"] == "Patient"]
    assert patient == {
        "resourceType": "Patient",
        "identifier": [{"value": "W-7"}],
        "name": [{"text": "Doe Jane"}],
        "birthDate": "1980-01-31",
        "gender": "female",
    }


def test_an_unreviewed_finding_is_refused() -> None:
    _, radiograph, header = _scan()
    reviewer = Reviewer("dr-lee", _reviewer().reviewed_at, frozenset(), "Riverside Dental")
    with pytest.raises(XrayReportError, match="finding f1 waits for the dentist's review"):
        report_bundle(_findings(radiograph), reviewer, PATIENT, StudyContext.from_dicom(header))
