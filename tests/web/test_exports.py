"""The researcher's de-identified DICOM export: every reviewed study's SR, and the images whose pixels are marked
free of burned-in text, under the same keys as the ZIP export and without anything that names anyone."""

from __future__ import annotations

import io
import json
import zipfile

import highdicom as hd
import pydicom
from fastapi.testclient import TestClient
from ingestion.dicom_factory import make_dicom

from xrayreport.web.auth import add_user

from .conftest import bearer, scan_png, upload, wait_for_findings

RESEARCHER, PASSWORD = "rex", "a researcher's long passphrase"


def _review(client: TestClient, auth: dict[str, str], study_id: str) -> None:
    document = wait_for_findings(client, auth, study_id).json()
    assert client.put(f"/api/studies/{study_id}/findings", headers=auth, json=document).status_code == 200


def test_the_dicom_export_is_de_identified_and_keyed_like_the_zip_export(client: TestClient) -> None:
    auth = bearer(client)
    with client.app.state.workspace.sessions.begin() as db:  # type: ignore[attr-defined]
        add_user(db, RESEARCHER, PASSWORD, ["researcher"])
    scan = make_dicom(extra={"PatientID": "P-0042", "InstitutionName": "Riverside Dental", "BurnedInAnnotation": "NO"})
    source = pydicom.dcmread(io.BytesIO(scan), stop_before_pixels=True)
    dicom_study = upload(client, auth, scan, "pano.dcm")
    _review(client, auth, dicom_study)
    png_study = upload(client, auth, scan_png(60), patient_name="Ana Silva", patient_id="W-9")
    _review(client, auth, png_study)
    researcher = bearer(client, RESEARCHER, PASSWORD)

    response = client.get("/api/exports/deidentified-dicom.zip?images=true", headers=researcher)
    assert response.status_code == 200 and response.headers["x-export-studies"] == "2"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["format"] == "xrayreport.dicom-export/1" and manifest["studies"] == 2
    keys = _zip_export_keys(client)
    files = {
        name: pydicom.dcmread(io.BytesIO(archive.read(name))) for name in archive.namelist() if name != "manifest.json"
    }
    assert sorted(name.split("/", 2)[2] for name in files) == ["overlay.dcm", "scan.dcm", "sr.dcm", "sr.dcm"]
    (left_out,) = manifest["left_out"]  # the upload's overlay: nothing says its pixels are free of text
    assert left_out["file"] == "overlay.dcm" and "Burned In Annotation (0028,0301) is YES" in left_out["reason"]
    everything = b"".join(archive.read(name) for name in archive.namelist())
    for identity in (
        b"P-0042",
        b"Doe",
        b"Riverside",
        b"Ana Silva",
        b"W-9",
        b"dr-lee",
        source.StudyInstanceUID.encode(),
    ):
        assert identity not in everything
    for name, ds in files.items():
        study_key = name.split("/")[1]
        assert ds.PatientID == keys[study_key] and ds.PatientIdentityRemoved == "YES"  # the ZIP export's keys
    sr = hd.sr.ComprehensiveSR.from_dataset(files[next(n for n in files if n.endswith("sr.dcm"))])
    assert sr.content.get_planar_roi_measurement_groups()  # the findings are there

    assert client.get("/api/exports/deidentified-dicom.zip", headers=auth).status_code == 403  # a dentist
    plain = zipfile.ZipFile(io.BytesIO(client.get("/api/exports/deidentified-dicom.zip", headers=researcher).content))
    assert sorted(n.rsplit("/", 1)[-1] for n in plain.namelist()) == ["manifest.json", "sr.dcm", "sr.dcm"]


def _zip_export_keys(client: TestClient) -> dict[str, str]:
    """Study key -> patient key of the researcher's ZIP export (docs/exports.md)."""
    response = client.get("/api/exports/deidentified.zip", headers=bearer(client, RESEARCHER, PASSWORD))
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    records = [json.loads(archive.read(n)) for n in archive.namelist() if n.startswith("studies/")]
    return {record["study"]: record["patient"] for record in records}
