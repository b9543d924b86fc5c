"""The API's DICOM results of a reviewed study: SR, overlay capture and report PDF, for an image upload and for a
scan that came as DICOM."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Callable
from pathlib import Path

import highdicom as hd
import pydicom
from dicomnet.dicom3tools import dciodvfy_errors
from dicomnet.orthanc import free_port, running_orthanc
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle
from ingestion.dicom_factory import make_dicom

from xrayreport.dicomnet import NodeConfig
from xrayreport.dicomnet.context import derived_uid

from .conftest import bearer, scan_png, upload, wait_for_findings
from .test_comparisons import two_scans
from .test_pages import _csrf, login

KINDS = ("sr", "overlay", "report")


def _reviewed(client: TestClient, auth: dict[str, str], data: bytes, name: str, **fields: str) -> str:
    study_id = upload(client, auth, data, name, **fields)
    document = wait_for_findings(client, auth, study_id).json()
    assert client.put(f"/api/studies/{study_id}/findings", headers=auth, json=document).status_code == 200
    return study_id


def _get(client: TestClient, auth: dict[str, str], study_id: str, kind: str) -> pydicom.Dataset:
    response = client.get(f"/api/studies/{study_id}/dicom/{kind}.dcm", headers=auth)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/dicom"
    assert response.content[128:132] == b"DICM"
    return pydicom.dcmread(io.BytesIO(response.content))


def test_an_uploads_results_carry_the_workspaces_patient_and_one_study(
    client: TestClient, auth: dict[str, str], tmp_path: Path
) -> None:
    study_id = _reviewed(client, auth, scan_png(7), "pano.png", patient_name="Ana Silva", patient_id="W-1")
    objects = {kind: _get(client, auth, study_id, kind) for kind in KINDS}
    for ds in objects.values():
        assert dciodvfy_errors(ds, tmp_path) == []
        assert (str(ds.PatientName), ds.PatientID) == ("Ana Silva^", "W-1")  # the whole name, parts unknown
        assert ds.StudyInstanceUID == derived_uid("study", study_id)
    sr = hd.sr.ComprehensiveSR.from_dataset(objects["sr"])
    document = client.get(f"/api/studies/{study_id}/findings", headers=auth).json()
    assert len(sr.content.get_planar_roi_measurement_groups()) == sum(1 for f in document["findings"] if f["box"])
    pdf = objects["report"].EncapsulatedDocument[: objects["report"].EncapsulatedDocumentLength]
    printed = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    assert "patient Ana Silva" in printed  # the test renderer's report
    again = _get(client, auth, study_id, "sr")
    assert again.SOPInstanceUID == objects["sr"].SOPInstanceUID  # the same review: the same object


def test_a_dicom_scans_results_keep_its_study_and_name(client: TestClient, auth: dict[str, str]) -> None:
    data = make_dicom()
    source = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
    study_id = _reviewed(client, auth, data, "pano.dcm")
    sr = _get(client, auth, study_id, "sr")
    assert sr.StudyInstanceUID == source.StudyInstanceUID
    assert str(sr.PatientName) == "Doe^Jane^Q"  # the scan's own person name: the workspace still has its words
    evidence = sr.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
    assert evidence.SeriesInstanceUID == source.SeriesInstanceUID
    client.patch(f"/api/patients/{_patient(client, auth, study_id)}", headers=auth, json={"name": "Jane Roe"})
    assert str(_get(client, auth, study_id, "overlay").PatientName) == "Jane Roe^"  # corrected: the workspace's


def _patient(client: TestClient, auth: dict[str, str], study_id: str) -> int:
    patient: int = client.get(f"/api/studies/{study_id}", headers=auth).json()["patient"]
    return patient


def test_results_wait_for_the_review_and_bad_requests_are_named(client: TestClient, auth: dict[str, str]) -> None:
    study_id = upload(client, auth, scan_png(8))
    wait_for_findings(client, auth, study_id)
    for kind in KINDS:
        response = client.get(f"/api/studies/{study_id}/dicom/{kind}.dcm", headers=auth)
        assert response.status_code == 409 and "has not reviewed every finding" in response.json()["detail"]
    assert client.get("/api/studies/nosuch/dicom/sr.dcm", headers=auth).status_code == 404
    reviewed = _reviewed(client, auth, scan_png(9), "p.png")
    response = client.get(f"/api/studies/{reviewed}/dicom/report.dcm?lang=xx", headers=auth)
    assert response.status_code == 422


def test_without_a_report_renderer_the_pdf_is_unavailable_and_the_rest_works(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(renderer=None)
    auth = bearer(client)
    study_id = _reviewed(client, auth, scan_png(10), "p.png")
    assert client.get(f"/api/studies/{study_id}/dicom/report.dcm", headers=auth).status_code == 503
    assert client.get(f"/api/studies/{study_id}/dicom/sr.dcm", headers=auth).status_code == 200


def test_orthanc_sends_a_scan_and_gets_the_reviewed_results_back_in_its_study(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    """The whole chain on 127.0.0.1: a PACS (Orthanc) sends a panoramic to the workspace's DICOM node, it is
    analysed and reviewed, and the SR, overlay and report go back to the PACS into the scan's own study."""
    node_port = free_port()
    with running_orthanc(tmp_path / "orthanc", {"xrayreport": ("XRAYREPORT", node_port)}) as orthanc:
        home = tmp_path / "home"
        home.mkdir()
        (home / "clinic.yaml").write_text(
            f"name: Riverside Dental\npacs:\n  ae_title: ORTHANC\n  host: 127.0.0.1\n  port: {orthanc.dicom_port}\n"
        )
        client = make_client(dicom=NodeConfig(allowed_callers=(orthanc.ae_title,), port=node_port))
        auth = bearer(client)
        data = make_dicom(extra={"PatientID": "ORTH-1"})
        source = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
        pushed = orthanc.post("/instances", data)
        orthanc.post("/modalities/xrayreport/store", pushed["ID"])  # Orthanc's C-STORE to the workspace
        (study,) = client.get("/api/studies", headers=auth).json()
        assert study["created_by"] == "dicom:ORTHANC"
        document = wait_for_findings(client, auth, study["id"]).json()
        assert client.put(f"/api/studies/{study['id']}/findings", headers=auth, json=document).status_code == 200

        response = client.post(f"/api/studies/{study['id']}/dicom/send", headers=auth)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["pacs"] == f"ORTHANC at 127.0.0.1:{orthanc.dicom_port}"
        assert [o["sop_class"] for o in answer["objects"]] == [
            "Comprehensive SR Storage",
            "Secondary Capture Image Storage",
            "Encapsulated PDF Storage",
        ]
        (orthanc_study,) = orthanc.get("/studies")
        instances = orthanc.get(f"/studies/{orthanc_study}/instances")
        assert len(instances) == 4  # the scan and its three results, in one study
        assert {i["MainDicomTags"]["SOPInstanceUID"] for i in instances} == {source.SOPInstanceUID} | {
            o["sop_instance_uid"] for o in answer["objects"]
        }
        sr = orthanc.instance(answer["objects"][0]["sop_instance_uid"])
        assert sr is not None and sr["StudyInstanceUID"] == source.StudyInstanceUID and sr["PatientID"] == "ORTH-1"
        audit = client.get(f"/api/studies/{study['id']}/audit", headers=auth).json()
        assert (audit[0]["action"], audit[0]["subject"]) == ("sent", "DICOM results to the PACS")


def test_sending_without_a_pacs_says_how_to_set_one_up(client: TestClient, auth: dict[str, str]) -> None:
    study_id = _reviewed(client, auth, scan_png(11), "p.png")
    response = client.post(f"/api/studies/{study_id}/dicom/send", headers=auth)
    assert response.status_code == 503 and "add a pacs: section" in response.json()["detail"]


def test_the_fhir_bundle_of_a_reviewed_study(client: TestClient, auth: dict[str, str]) -> None:
    study_id = _reviewed(client, auth, scan_png(12), "p.png", patient_name="Ana Silva", patient_id="W-2")
    response = client.get(f"/api/studies/{study_id}/fhir", headers=auth)
    assert response.status_code == 200 and response.headers["content-type"] == "application/fhir+json"
    bundle = Bundle.model_validate_json(response.text)
    kinds = [entry.resource.get_resource_type() for entry in bundle.entry]
    document = client.get(f"/api/studies/{study_id}/findings", headers=auth).json()
    assert kinds == ["DiagnosticReport"] + ["Observation"] * len(document["findings"]) + ["ImagingStudy", "Patient"]
    patient = bundle.entry[-1].resource
    assert (patient.name[0].text, patient.identifier[0].value) == ("Ana Silva", "W-2")
    assert bundle.entry[0].resource.presentedForm[0].contentType == "application/pdf"
    unreviewed = upload(client, auth, scan_png(13))
    wait_for_findings(client, auth, unreviewed)
    assert client.get(f"/api/studies/{unreviewed}/fhir", headers=auth).status_code == 409


def _pdf_text(pdf: bytes) -> str:
    return subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()


def test_the_dicom_and_fhir_reports_say_what_changed_since_the_last_reviewed_scan(
    client: TestClient, auth: dict[str, str]
) -> None:
    _, earlier, later = two_scans(client, auth)
    since = "since None: caries filling caries"  # the test renderer's line: the earlier scan's findings
    report = _get(client, auth, later, "report")
    assert since in _pdf_text(report.EncapsulatedDocument[: report.EncapsulatedDocumentLength])
    bundle = Bundle.model_validate_json(client.get(f"/api/studies/{later}/fhir", headers=auth).text)
    assert since in _pdf_text(bundle.entry[0].resource.presentedForm[0].data)
    first = _get(client, auth, earlier, "report")
    assert "since" not in _pdf_text(first.EncapsulatedDocument[: first.EncapsulatedDocumentLength])


def test_the_study_page_offers_the_results_and_sending_them(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    closed = free_port()  # nothing listens there: the PACS is down
    (home / "clinic.yaml").write_text(
        f"pacs:\n  ae_title: ORTHANC\n  host: 127.0.0.1\n  port: {closed}\n  timeout_s: 2\n"
    )
    client = make_client()
    study_id = _reviewed(client, bearer(client), scan_png(14), "p.png")
    login(client)
    page = client.get(f"/studies/{study_id}").text
    for link in ("dicom/sr.dcm", "dicom/overlay.dcm", "dicom/report.dcm", "fhir.json"):
        assert f'href="/studies/{study_id}/{link}"' in page
        response = client.get(f"/studies/{study_id}/{link}")
        assert response.status_code == 200 and response.headers["content-disposition"].startswith("attachment")
    assert f"to ORTHANC at 127.0.0.1:{closed}" in page
    sent = client.post(f"/studies/{study_id}/dicom/send", data={"csrf": _csrf(page)}, follow_redirects=True)
    assert sent.status_code == 200 and f"cannot reach the PACS ORTHANC at 127.0.0.1:{closed}" in sent.text
    assert client.post(f"/studies/{study_id}/dicom/send", data={"csrf": "forged"}).status_code == 403
    pending = upload(client, bearer(client), scan_png(15))
    wait_for_findings(client, bearer(client), pending)
    assert "dicom/sr.dcm" not in client.get(f"/studies/{pending}").text
