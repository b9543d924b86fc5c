"""A dentist's mark "checked: no burned-in text": without it the de-identified exports leave out images whose Burned
In Annotation is YES or missing; with it they hold them, saying NO; setting and withdrawing it are audited."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pydicom
import pytest
from fastapi.testclient import TestClient
from ingestion.dicom_factory import make_dicom

from xrayreport.cli import main
from xrayreport.export import pseudonym
from xrayreport.web.auth import add_user

from .conftest import USER, bearer, scan_png, upload, wait_for_findings
from .test_pages import login

RESEARCHER, PASSWORD = "rex", "a researcher's long passphrase"


def _reviewed(client: TestClient, auth: dict[str, str], data: bytes, name: str) -> str:
    study_id = upload(client, auth, data, name)
    document = wait_for_findings(client, auth, study_id).json()
    assert client.put(f"/api/studies/{study_id}/findings", headers=auth, json=document).status_code == 200
    return study_id


def _exported_images(client: TestClient) -> tuple[dict[str, pydicom.FileDataset], list[dict[str, str]]]:
    """The images (file name under studies/ -> data set) of the researcher's DICOM export, and what it left out."""
    researcher = bearer(client, RESEARCHER, PASSWORD)
    response = client.get("/api/exports/deidentified-dicom.zip?images=true", headers=researcher)
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    images = {
        name.split("/", 1)[1]: pydicom.dcmread(io.BytesIO(archive.read(name)))
        for name in archive.namelist()
        if name.endswith(("scan.dcm", "overlay.dcm"))
    }
    return images, json.loads(archive.read("manifest.json"))["left_out"]


def test_only_a_marked_scan_without_a_burned_in_flag_goes_into_the_research_exports(
    client: TestClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    auth = bearer(client)
    with client.app.state.workspace.sessions.begin() as db:  # type: ignore[attr-defined]
        add_user(db, RESEARCHER, PASSWORD, ["researcher"])
    scan = make_dicom(extra={"PatientID": "P-0042"})  # says nothing about burned-in text
    assert "BurnedInAnnotation" not in pydicom.dcmread(io.BytesIO(scan))
    study_id = _reviewed(client, auth, scan, "pano.dcm")
    home: Path = client.app.state.workspace.config.home  # type: ignore[attr-defined]
    secret = (home / "secret.key").read_text().strip().encode()
    key = pseudonym(secret, "study", study_id)

    images, left_out = _exported_images(client)
    assert images == {}  # as before the mark existed: the scan and its overlay are left out, with the reason
    assert sorted((item["study"], item["file"]) for item in left_out) == [(key, "overlay.dcm"), (key, "scan.dcm")]
    assert all("mark the scan checked free of burned-in text" in item["reason"] for item in left_out)

    answer = client.put(f"/api/studies/{study_id}/burned-in-check", headers=auth, json={"checked": True})
    assert answer.status_code == 200
    mark = answer.json()
    assert mark["checked"] is True and mark["checked_by"] == USER and mark["checked_at"]
    again = client.put(f"/api/studies/{study_id}/burned-in-check", headers=auth, json={"checked": True})
    assert again.json() == mark  # marking again keeps the first who and when, and is not audited twice
    audit = client.get(f"/api/studies/{study_id}/audit", headers=auth).json()
    entries = [e for e in audit if e["subject"] == "burned-in text check"]
    assert len(entries) == 1 and entries[0]["user"] == USER
    assert (entries[0]["before"], entries[0]["after"]) == ({"checked": False}, {"checked": True})

    images, left_out = _exported_images(client)
    assert sorted(images) == [f"{key}/overlay.dcm", f"{key}/scan.dcm"] and left_out == []
    assert all(ds.BurnedInAnnotation == "NO" and ds.PatientIdentityRemoved == "YES" for ds in images.values())
    out = tmp_path / "out"
    command = ["dicom", "export", study_id, "--deidentify", "--images", "--home", str(home)]
    assert main([*command, "-o", str(out)]) == 0
    assert sorted(p.name for p in (out / key).iterdir()) == ["overlay.dcm", "scan.dcm", "sr.dcm"]
    assert pydicom.dcmread(out / key / "scan.dcm").BurnedInAnnotation == "NO"
    assert "left out" not in capsys.readouterr().err

    withdrawn = client.put(f"/api/studies/{study_id}/burned-in-check", headers=auth, json={"checked": False})
    assert withdrawn.json() == {"checked": False, "checked_by": None, "checked_at": None}
    images, left_out = _exported_images(client)
    assert images == {} and len(left_out) == 2
    assert main([*command, "-o", str(tmp_path / "again")]) == 0
    assert len(capsys.readouterr().err.splitlines()) == 2  # overlay.dcm and scan.dcm left out
    assert len(client.get(f"/api/studies/{study_id}/audit", headers=auth).json()) == len(audit) + 1


def test_the_study_page_marks_a_scan_and_says_who_did(client: TestClient) -> None:
    study_id = upload(client, bearer(client), scan_png(80))
    csrf = login(client)
    page = client.get(f"/studies/{study_id}").text
    assert "Not\n    checked" in page and "Checked: no burned-in text" in page
    form = {"csrf": csrf, "checked": "true"}
    answer = client.post(f"/studies/{study_id}/burned-in-check", data=form, follow_redirects=False)
    assert answer.status_code == 303
    page = client.get(f"/studies/{study_id}").text
    assert f"Checked free of burned-in text by {USER}" in page and "Withdraw the mark" in page
    refused = client.post(f"/studies/{study_id}/burned-in-check", data={"checked": "true"}, follow_redirects=False)
    assert refused.status_code == 403  # no CSRF token


def test_marking_needs_a_known_study_and_a_boolean(client: TestClient) -> None:
    auth = bearer(client)
    study_id = upload(client, auth, scan_png(81))
    assert client.put("/api/studies/nope/burned-in-check", headers=auth, json={"checked": True}).status_code == 404
    for body in ({"checked": "perhaps"}, {}, {"checked": True, "by": "x"}):
        assert client.put(f"/api/studies/{study_id}/burned-in-check", headers=auth, json=body).status_code == 422
