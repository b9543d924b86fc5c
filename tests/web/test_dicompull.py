"""Pulling studies from the clinic's DICOMweb server (POST /api/dicom/pull) and the issue's whole cycle against a real
Orthanc with its DICOMweb plugin on 127.0.0.1: pulled, analysed, reviewed, results stored back with STOW-RS."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pydicom
from dicomnet.orthanc import free_port, running_orthanc
from fastapi.testclient import TestClient
from ingestion.dicom_factory import make_dicom

from .conftest import bearer, wait_for_findings


def _clinic_file(home: Path, url: str) -> None:
    home.mkdir(exist_ok=True)
    (home / "clinic.yaml").write_text(f"name: Riverside Dental\ndicomweb:\n  url: {url}\n  timeout_s: 10\n")


def test_a_study_in_the_pacs_is_pulled_analysed_and_its_results_stored_back_with_stow_rs(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    with running_orthanc(tmp_path / "orthanc", {}, dicomweb=True) as orthanc:
        _clinic_file(tmp_path / "home", orthanc.dicomweb_url)
        client = make_client()
        auth = bearer(client)
        data = make_dicom(extra={"PatientID": "PULL-1"})
        source = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
        orthanc.post("/instances", data)
        orthanc.post("/instances", make_dicom(extra={"PatientID": "SOMEONE-ELSE"}))

        response = client.post("/api/dicom/pull", headers=auth, json={"patient_id": "PULL-1"})
        assert response.status_code == 200, response.text
        pulled = response.json()
        assert (len(pulled["studies"]), pulled["refused"], pulled["skipped"]) == (1, [], 0)
        (study,) = client.get("/api/studies", headers=auth).json()  # the other patient's scan stays in the PACS
        assert (study["id"], study["created_by"]) == (pulled["studies"][0], "dicom:DICOMweb")
        patient = client.get(f"/api/patients/{study['patient']}", headers=auth).json()
        assert patient["patient_id"] == "PULL-1"
        document = wait_for_findings(client, auth, study["id"]).json()
        assert document["findings"]  # analysed
        assert client.put(f"/api/studies/{study['id']}/findings", headers=auth, json=document).status_code == 200

        response = client.post(f"/api/studies/{study['id']}/dicom/send", headers=auth)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert (answer["pacs"], answer["via"]) == (f"DICOMweb {orthanc.dicomweb_url}", "STOW-RS")
        sent = {o["sop_instance_uid"] for o in answer["objects"]}
        assert len(sent) == 3
        studies = [orthanc.get(f"/studies/{s}") for s in orthanc.get("/studies")]
        (ours,) = [s for s in studies if s["MainDicomTags"]["StudyInstanceUID"] == source.StudyInstanceUID]
        instances = orthanc.get(f"/studies/{ours['ID']}/instances")
        assert {i["MainDicomTags"]["SOPInstanceUID"] for i in instances} == {source.SOPInstanceUID} | sent
        for uid in sent:
            stored = orthanc.instance(uid)
            assert stored is not None and stored["PatientID"] == "PULL-1"

        # Pulled again, the study now holds the results too: the scan is the study it was, the rest is not a scan.
        again = client.post("/api/dicom/pull", headers=auth, json={"study_uid": source.StudyInstanceUID}).json()
        assert (again["studies"], again["skipped"]) == (pulled["studies"], 3)  # the SR, the overlay and the PDF
        assert len(client.get("/api/studies", headers=auth).json()) == 1


def test_pulling_needs_a_dicomweb_server_and_says_what_to_check(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    client = make_client()
    auth = bearer(client)
    response = client.post("/api/dicom/pull", headers=auth, json={"patient_id": "P-1"})
    assert response.status_code == 503 and "add a dicomweb: section" in response.json()["detail"]
    for body in ({}, {"patient_id": "P-1", "study_uid": "1.2.3"}, {"study_uid": "1.2.x"}, {"patient_id": ""}):
        assert client.post("/api/dicom/pull", headers=auth, json=body).status_code == 422
    _clinic_file(tmp_path / "home", f"http://127.0.0.1:{free_port()}/dicom-web")
    response = client.post("/api/dicom/pull", headers=auth, json={"patient_id": "SECRET-ID"})
    assert response.status_code == 503 and "cannot reach the DICOMweb" in response.json()["detail"]
    assert "SECRET-ID" not in response.json()["detail"]
