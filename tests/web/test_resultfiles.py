"""``xrayreport dicom export`` and ``xrayreport fhir export``: a workspace's reviewed studies written to files, with
the workspace's identity or de-identified, and every mistake named in one line."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pydicom
import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle
from ingestion.dicom_factory import make_dicom

from xrayreport.cli import main
from xrayreport.export import pseudonym

from .conftest import USER, scan_png, upload, wait_for_findings


def _reviewed(client: TestClient, auth: dict[str, str], data: bytes, name: str, **fields: str) -> str:
    study_id = upload(client, auth, data, name, **fields)
    document = wait_for_findings(client, auth, study_id).json()
    assert client.put(f"/api/studies/{study_id}/findings", headers=auth, json=document).status_code == 200
    return study_id


def _home(client: TestClient) -> Path:
    home: Path = client.app.state.workspace.config.home  # type: ignore[attr-defined]
    return home


def test_a_studys_results_as_files_with_the_workspaces_identity(
    client: TestClient, auth: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study_id = _reviewed(client, auth, scan_png(70), "p.png", patient_name="Ana Silva", patient_id="W-1")
    out = tmp_path / "out"
    home = ["--home", str(_home(client))]
    assert main(["dicom", "export", study_id[:8], "-o", str(out), *home]) == 0
    files = sorted(p.name for p in (out / study_id).iterdir())
    assert files == ["overlay.dcm", "report.dcm", "sr.dcm"]
    sr = pydicom.dcmread(out / study_id / "sr.dcm")
    assert (str(sr.PatientName), sr.PatientID) == ("Ana Silva^", "W-1")
    report = pydicom.dcmread(out / study_id / "report.dcm")
    assert report.EncapsulatedDocument.startswith(b"%PDF-")  # the real report stage's PDF
    assert f"study {study_id[:8]}: {out / study_id / 'sr.dcm'}" in capsys.readouterr().out
    assert main(["fhir", "export", study_id, "-o", str(out), *home]) == 0
    bundle = Bundle.model_validate_json((out / study_id / "fhir.json").read_text())
    assert bundle.entry[-1].resource.identifier[0].value == "W-1"


def test_de_identified_files_carry_keys_not_people(client: TestClient, auth: dict[str, str], tmp_path: Path) -> None:
    scan = make_dicom(extra={"PatientID": "P-0042", "BurnedInAnnotation": "NO"})
    study_id = _reviewed(client, auth, scan, "pano.dcm")
    patient = client.get(f"/api/studies/{study_id}", headers=auth).json()["patient"]
    out = tmp_path / "out"
    command = ["dicom", "export", study_id, "-o", str(out), "--deidentify", "--home", str(_home(client))]
    assert main([*command, "--images"]) == 0
    secret = (_home(client) / "secret.key").read_text().strip().encode()
    folder = out / pseudonym(secret, "study", study_id)  # the study's key in the researcher's exports
    assert sorted(p.name for p in folder.iterdir()) == ["overlay.dcm", "scan.dcm", "sr.dcm"]
    source = pydicom.dcmread(io.BytesIO(scan), stop_before_pixels=True)
    for path in folder.iterdir():
        data = path.read_bytes()
        assert b"P-0042" not in data and b"Doe" not in data and source.StudyInstanceUID.encode() not in data
        assert pydicom.dcmread(path).PatientID == pseudonym(secret, "patient", str(patient))


def _strings(value: object) -> list[str]:
    """Every string in a JSON document, keys and values, wherever nested."""
    if isinstance(value, dict):
        return [*value, *(text for item in value.values() for text in _strings(item))]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return [value] if isinstance(value, str) else []


def test_a_de_identified_fhir_bundle_keeps_no_patient_field(
    client: TestClient, auth: dict[str, str], tmp_path: Path
) -> None:
    scan = make_dicom(extra={"PatientID": "P-0077", "AccessionNumber": "ACC-991", "StudyTime": "101500"})
    source = pydicom.dcmread(io.BytesIO(scan), stop_before_pixels=True)
    study_id = _reviewed(client, auth, scan, "pano.dcm")
    patient = client.get(f"/api/studies/{study_id}", headers=auth).json()["patient"]
    client.patch(f"/api/patients/{patient}", headers=auth, json={"email": "jane.doe@example.org", "language": "ru"})
    home, out = ["--home", str(_home(client))], tmp_path / "out"
    assert main(["fhir", "export", study_id, "-o", str(out), "--deidentify", *home]) == 0
    assert main(["dicom", "export", study_id, "-o", str(out), "--deidentify", *home]) == 0
    secret = (_home(client) / "secret.key").read_text().strip().encode()
    folder = out / pseudonym(secret, "study", study_id)
    text = (folder / "fhir.json").read_text()
    bundle = Bundle.model_validate_json(text)  # still a valid Bundle
    strings = _strings(json.loads(text))
    identifying = [
        "P-0077", "Doe", "Jane", "1980", "19800131", "2024", "20240615", "101500", "ACC-991", "Riverside",
        "jane.doe", source.StudyInstanceUID, source.SeriesInstanceUID, source.SOPInstanceUID, USER, study_id,
    ]  # fmt: skip
    assert [(s, bad) for s in strings for bad in identifying if bad in s] == []
    assert not {"name", "birthDate", "gender", "issued", "effectiveDateTime", "started", "presentedForm"} & set(strings)
    resources = {entry.resource.get_resource_type(): entry.resource for entry in bundle.entry}
    assert [i.value for i in resources["Patient"].identifier] == [pseudonym(secret, "patient", str(patient))]
    sr = pydicom.dcmread(folder / "sr.dcm")  # the de-identified DICOM copy names the same study and scan
    assert resources["ImagingStudy"].identifier[0].value == f"urn:oid:{sr.StudyInstanceUID}"
    reference = sr.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
    assert resources["ImagingStudy"].series[0].uid == reference.SeriesInstanceUID
    assert len([e for e in bundle.entry if e.resource.get_resource_type() == "Observation"]) == len(
        client.get(f"/api/studies/{study_id}/findings", headers=auth).json()["findings"]
    )


def test_mistakes_are_named_in_one_line(
    client: TestClient, auth: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study_id = _reviewed(client, auth, scan_png(71), "p.png")
    home = ["--home", str(_home(client))]
    out = ["-o", str(tmp_path / "out")]
    assert main(["dicom", "export", "0123456789", *out, *home]) == 1
    assert "no study in this workspace has an id starting so" in capsys.readouterr().err
    assert main(["dicom", "export", study_id[:4], *out, *home]) == 1
    assert "give at least 8 characters" in capsys.readouterr().err
    assert main(["dicom", "export", study_id, "--images", *out, *home]) == 1
    assert "--images goes with --deidentify" in capsys.readouterr().err
    assert main(["fhir", "export", study_id, *out, "--home", str(tmp_path / "nothing")]) == 1
    assert "holds no workspace" in capsys.readouterr().err
    pending = upload(client, auth, scan_png(72))
    wait_for_findings(client, auth, pending)
    assert main(["dicom", "export", pending, *out, *home]) == 1
    assert "has not reviewed every finding" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
