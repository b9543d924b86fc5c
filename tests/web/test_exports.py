"""The researcher's de-identified DICOM export: every reviewed study's SR, and the images whose pixels are marked
free of burned-in text, under the same keys as the ZIP export and without anything that names anyone."""

from __future__ import annotations

import io
import json
import zipfile

import highdicom as hd
import pydicom
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle
from ingestion.dicom_factory import make_dicom

from xrayreport.web.auth import add_user

from .conftest import USER, bearer, scan_png, upload, wait_for_findings

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
        name: pydicom.dcmread(io.BytesIO(archive.read(name))) for name in archive.namelist() if name.endswith(".dcm")
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
    names = sorted(n.rsplit("/", 1)[-1] for n in plain.namelist())
    assert names == ["fhir.json", "fhir.json", "manifest.json", "sr.dcm", "sr.dcm"]


def _zip_export_keys(client: TestClient) -> dict[str, str]:
    """Study key -> patient key of the researcher's ZIP export (docs/exports.md)."""
    response = client.get("/api/exports/deidentified.zip", headers=bearer(client, RESEARCHER, PASSWORD))
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    records = [json.loads(archive.read(n)) for n in archive.namelist() if n.startswith("studies/")]
    return {record["study"]: record["patient"] for record in records}


def test_the_research_zip_holds_a_de_identified_fhir_bundle_per_study_and_no_identity(client: TestClient) -> None:
    auth = bearer(client)
    with client.app.state.workspace.sessions.begin() as db:  # type: ignore[attr-defined]
        add_user(db, RESEARCHER, PASSWORD, ["researcher"])
    identity = {
        "PatientName": "Doe^Jane^Q",
        "PatientID": "P-0077",
        "PatientBirthDate": "19800131",
        "StudyDate": "20240615",
        "StudyTime": "101500",
        "AccessionNumber": "ACC-991",
        "InstitutionName": "Riverside Dental",
        "BurnedInAnnotation": "NO",  # so that the scan itself is in the ZIP too
    }
    scan = make_dicom(extra=identity)
    source = pydicom.dcmread(io.BytesIO(scan), stop_before_pixels=True)
    dicom_study = upload(client, auth, scan, "Doe Jane 2024.dcm")
    _review(client, auth, dicom_study)
    png_study = upload(client, auth, scan_png(61), "ana.png", patient_name="Ana Silva", patient_id="W-9")
    patient = client.get(f"/api/studies/{png_study}", headers=auth).json()["patient"]
    client.patch(f"/api/patients/{patient}", headers=auth, json={"birth_date": "1975-03-04", "sex": "F"})
    _review(client, auth, png_study)

    researcher = bearer(client, RESEARCHER, PASSWORD)
    response = client.get("/api/exports/deidentified-dicom.zip?images=true", headers=researcher)
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    keys = _zip_export_keys(client)
    bundles = {name.split("/")[1]: archive.read(name) for name in archive.namelist() if name.endswith("fhir.json")}
    assert sorted(bundles) == sorted(keys)  # one Bundle per study, under the study's key
    for study_key, text in bundles.items():
        bundle = Bundle.model_validate_json(text)  # valid FHIR
        resources = {entry.resource.get_resource_type(): entry.resource for entry in bundle.entry}
        assert [i.value for i in resources["Patient"].identifier] == [keys[study_key]]
        sr = pydicom.dcmread(io.BytesIO(archive.read(f"studies/{study_key}/sr.dcm")))
        assert resources["ImagingStudy"].identifier[0].value == f"urn:oid:{sr.StudyInstanceUID}"  # the same study
    manifest = json.loads(archive.read("manifest.json"))
    assert [item["file"] for item in manifest["left_out"]] == ["overlay.dcm"]  # the PNG upload's: not checked
    everything = b"".join(archive.read(name) + name.encode() for name in archive.namelist())
    identifying = [
        "P-0077", "Doe", "Jane", "19800131", "1980-01-31", "20240615", "2024-06-15", "101500", "ACC-991",
        "Riverside", "Ana Silva", "W-9", "19750304", "1975-03-04", source.StudyInstanceUID, source.SeriesInstanceUID,
        source.SOPInstanceUID, USER, dicom_study, png_study,
    ]  # fmt: skip
    assert [text for text in identifying if text.encode() in everything] == []
