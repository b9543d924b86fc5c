"""Pulling studies from the clinic's PACS (POST /api/dicom/pull, the patient page's "Pull from PACS") against a real
Orthanc on 127.0.0.1: the issue's whole cycle over DICOMweb (pulled, analysed, reviewed, results stored back with
STOW-RS), and C-FIND / C-MOVE to the DICOM node running in the server."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path

import pydicom
from dicomnet.orthanc import ORTHANC_AE, free_port, running_orthanc
from dicomnet.senders import NODE_AE
from fastapi.testclient import TestClient
from ingestion.dicom_factory import make_dicom

from xrayreport.dicomnet import NodeConfig

from .conftest import bearer, wait_for_findings
from .test_pages import _csrf, login


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
    assert response.status_code == 503
    assert "add a dicomweb: section (url) or a pacs: section" in response.json()["detail"]
    patient = client.post("/api/patients", headers=auth, json={"name": "Pat", "patient_id": "SECRET-ID"}).json()["id"]
    login(client)
    assert "Pull from PACS" not in client.get(f"/patients/{patient}").text  # no PACS, no button
    for body in ({}, {"patient_id": "P-1", "study_uid": "1.2.3"}, {"study_uid": "1.2.x"}, {"patient_id": ""}):
        assert client.post("/api/dicom/pull", headers=auth, json=body).status_code == 422
    _clinic_file(tmp_path / "home", f"http://127.0.0.1:{free_port()}/dicom-web")
    response = client.post("/api/dicom/pull", headers=auth, json={"patient_id": "SECRET-ID"})
    assert response.status_code == 503 and "cannot reach the DICOMweb" in response.json()["detail"]
    assert "SECRET-ID" not in response.json()["detail"]
    page = client.get(f"/patients/{patient}").text
    pulled = client.post(f"/patients/{patient}/pull", data={"csrf": _csrf(page)}, follow_redirects=True)
    assert pulled.status_code == 200 and "cannot reach the DICOMweb" in pulled.text


def test_the_patient_page_pulls_the_patients_scans_from_a_pacs_with_c_move_to_the_running_node(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    node_port = free_port()
    with running_orthanc(tmp_path / "orthanc", {"xrayreport": (NODE_AE, node_port)}) as orthanc:
        home = tmp_path / "home"
        home.mkdir()
        (home / "clinic.yaml").write_text(
            f"pacs:\n  ae_title: {ORTHANC_AE}\n  host: 127.0.0.1\n  port: {orthanc.dicom_port}\n  timeout_s: 10\n"
        )
        client = make_client(dicom=NodeConfig(allowed_callers=(ORTHANC_AE,), port=node_port))
        auth = bearer(client)
        orthanc.post("/instances", make_dicom(extra={"PatientID": "PULL-2"}))
        orthanc.post("/instances", make_dicom(extra={"PatientID": "SOMEONE-ELSE"}))
        patient = client.post("/api/patients", headers=auth, json={"name": "Pat Pull", "patient_id": "PULL-2"}).json()
        nameless = client.post("/api/patients", headers=auth, json={"name": "No Id"}).json()
        login(client)

        page = client.get(f"/patients/{patient['id']}").text
        assert 'id="pull-form"' in page and f"in ORTHANC at 127.0.0.1:{orthanc.dicom_port}, by their Patient ID" in page
        pulled = client.post(f"/patients/{patient['id']}/pull", data={"csrf": _csrf(page)}, follow_redirects=True)
        assert "Pulled 1 scan(s) from the PACS: 1 new, 0 here already." in pulled.text
        (study,) = client.get("/api/studies", headers=auth).json()  # the other patient's scan stays in the PACS
        assert (study["patient"], study["created_by"]) == (patient["id"], f"dicom:{ORTHANC_AE}")
        assert f'href="/studies/{study["id"]}"' in pulled.text
        again = client.post(f"/patients/{patient['id']}/pull", data={"csrf": _csrf(page)}, follow_redirects=True)
        assert "Pulled 1 scan(s) from the PACS: 0 new, 1 here already." in again.text
        response = client.post("/api/dicom/pull", headers=auth, json={"patient_id": "PULL-2"})
        assert response.status_code == 200
        assert response.json() == {"studies": [study["id"]], "refused": [], "skipped": 0}
        assert wait_for_findings(client, auth, study["id"]).json()["findings"]  # analysed

        page = client.get(f"/patients/{nameless['id']}").text
        assert "<button disabled>Pull from PACS</button>" in page and "add the Patient ID (Edit details)" in page
        refused = client.post(f"/patients/{nameless['id']}/pull", data={"csrf": _csrf(page)}, follow_redirects=True)
        assert "This patient has no Patient ID to find their scans by in the PACS" in refused.text
        assert client.post(f"/patients/{patient['id']}/pull", data={"csrf": "forged"}).status_code == 403
    stopped = client.post(f"/patients/{patient['id']}/pull", data={"csrf": _csrf(page)}, follow_redirects=True)
    (message,) = re.findall(r'<p class="flash error" role="status">([^<]*)</p>', stopped.text)
    assert message.startswith(f"cannot reach the PACS {ORTHANC_AE} at 127.0.0.1:{orthanc.dicom_port} within 10 s")
    assert "PULL-2" not in message
