"""A dentist's mark "checked: no burned-in text": without it the de-identified exports leave out images whose Burned
In Annotation is YES or missing; with it they hold them, saying NO; setting and withdrawing it are audited."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pydicom
import pytest
from fastapi.testclient import TestClient
from ingestion.dicom_factory import make_dicom

from xrayreport.cli import main
from xrayreport.export import pseudonym
from xrayreport.web.auth import add_user

from .conftest import BOTH_DATABASES, USER, bearer, scan_png, upload, wait_for_findings
from .test_pages import _csrf, login

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


def _zip_export(client: TestClient) -> tuple[zipfile.ZipFile, dict[str, Any]]:
    """The researcher's ZIP export with images (docs/exports.md) and its manifest."""
    response = client.get("/api/exports/deidentified.zip?images=true", headers=bearer(client, RESEARCHER, PASSWORD))
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    return archive, json.loads(archive.read("manifest.json"))


def test_the_zip_export_holds_pixels_only_of_scans_without_burned_in_text(
    client: TestClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    auth = bearer(client)
    with client.app.state.workspace.sessions.begin() as db:  # type: ignore[attr-defined]
        add_user(db, RESEARCHER, PASSWORD, ["researcher"])
    png_study = _reviewed(client, auth, scan_png(82), "pano.png")  # an image file: nothing says what is on it
    flagged = _reviewed(client, auth, make_dicom(extra={"BurnedInAnnotation": "NO"}), "flagged.dcm")
    home: Path = client.app.state.workspace.config.home  # type: ignore[attr-defined]
    secret = (home / "secret.key").read_text().strip().encode()
    png_key, flagged_key = pseudonym(secret, "study", png_study), pseudonym(secret, "study", flagged)

    archive, manifest = _zip_export(client)
    assert [name for name in archive.namelist() if name.startswith("images/")] == [f"images/{flagged_key}.png"]
    (left_out,) = manifest["left_out"]
    assert (left_out["study"], left_out["file"]) == (png_key, f"images/{png_key}.png")
    assert "is unknown (the scan came as an image file" in left_out["reason"]
    record = json.loads(archive.read(f"studies/{png_key}.json"))
    assert record["image"]["file"] is None and record["findings"]  # the findings stay: they carry no pixels
    assert main(["dataset", "export", "-o", str(tmp_path / "training"), "--home", str(home)]) == 0
    assert "left out 1 reviewed study whose scan may show burned-in text" in capsys.readouterr().out
    training = json.loads((tmp_path / "training" / "manifest.json").read_text())
    assert [item["study"] for item in training["left_out"]] == [png_key]  # the flagged DICOM is in it

    assert client.get(f"/api/studies/{png_study}", headers=auth).json()["burned_in_check"] is None
    client.put(f"/api/studies/{png_study}/burned-in-check", headers=auth, json={"checked": True})
    mark = client.get(f"/api/studies/{png_study}", headers=auth).json()["burned_in_check"]
    assert mark["checked_by"] == USER and mark["checked_at"].endswith("+00:00")
    archive, manifest = _zip_export(client)
    assert manifest["left_out"] == []
    assert json.loads(archive.read(f"studies/{png_key}.json"))["image"]["file"] == f"images/{png_key}.png"
    assert archive.read(f"images/{png_key}.png").startswith(b"\x89PNG")


def test_the_study_schema_documents_the_mark(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    answer = spec["paths"]["/api/studies/{study_id}"]["get"]["responses"]["200"]
    assert answer["content"]["application/json"]["schema"]["$ref"].endswith("/StudyOut")
    study = spec["components"]["schemas"]["StudyOut"]["properties"]
    assert "burned-in text" in study["burned_in_check"]["description"]
    assert all(field.get("description") for field in study.values())
    mark = spec["components"]["schemas"]["BurnedInMarkOut"]["properties"]
    assert set(mark) == {"checked_by", "checked_at"}


def _held_back(client: TestClient, auth: dict[str, str], page: int = 1) -> dict[str, Any]:
    answer = client.get(f"/api/burned-in-checks?page={page}", headers=auth)
    assert answer.status_code == 200, answer.text
    listing: dict[str, Any] = answer.json()
    return listing


@BOTH_DATABASES
def test_the_held_back_list_holds_the_reviewed_unmarked_scans_without_a_no_and_marks_them_at_once(
    client: TestClient,
) -> None:
    auth = bearer(client)
    with client.app.state.workspace.sessions.begin() as db:  # type: ignore[attr-defined]
        add_user(db, "dr-two", PASSWORD, ["dentist"])
    png = _reviewed(client, auth, scan_png(90), "pano.png")
    flagged_yes = _reviewed(client, auth, make_dicom(extra={"BurnedInAnnotation": "YES"}), "yes.dcm")
    no_flag = _reviewed(client, auth, make_dicom(extra={"PatientID": "P-7"}), "none.dcm")
    _reviewed(client, auth, make_dicom(extra={"BurnedInAnnotation": "NO"}), "no.dcm")
    marked_before = _reviewed(client, auth, scan_png(91), "marked.png")
    other = bearer(client, "dr-two", PASSWORD)
    assert client.put(f"/api/studies/{marked_before}/burned-in-check", headers=other, json={"checked": True}).is_success
    first_mark = client.get(f"/api/studies/{marked_before}", headers=auth).json()["burned_in_check"]
    unreviewed = upload(client, auth, scan_png(92), "waiting.png")  # its model findings wait for a dentist
    wait_for_findings(client, auth, unreviewed)

    listing = _held_back(client, auth)
    assert (listing["total"], listing["page"], listing["per_page"]) == (3, 1, 24)
    assert [s["id"] for s in listing["studies"]] == [no_flag, flagged_yes, png]  # newest upload first
    says = {s["id"]: (s["file_format"], s["burned_in_annotation"]) for s in listing["studies"]}
    assert says == {no_flag: ("DICOM", ""), flagged_yes: ("DICOM", "YES"), png: ("PNG", None)}
    assert all(s["image"] == f"/api/studies/{s['id']}/image.png" for s in listing["studies"])
    assert client.get(listing["studies"][0]["image"], headers=auth).content.startswith(b"\x89PNG")
    assert _held_back(client, auth, page=2)["studies"] == []

    # An unknown id marks none: the answer says how many, the list stays as it was.
    refused = client.post("/api/burned-in-checks", headers=auth, json={"study_ids": [png, "nope", "gone"]})
    assert refused.status_code == 404
    assert refused.json()["detail"] == "2 of the 3 studies asked for are not in this workspace; none was marked"
    assert _held_back(client, auth)["total"] == 3
    audit_before = {s: len(client.get(f"/api/studies/{s}/audit", headers=auth).json()) for s in (png, marked_before)}

    chosen = [png, flagged_yes, no_flag, marked_before, png]  # a repeated id counts once
    answer = client.post("/api/burned-in-checks", headers=auth, json={"study_ids": chosen})
    assert answer.status_code == 200, answer.text
    done = answer.json()
    assert (done["marked"], done["already_marked"]) == (3, 1)
    assert [s["id"] for s in done["studies"]] == [png, flagged_yes, no_flag, marked_before]
    assert all(s["checked_by"] == USER and s["checked_at"].endswith("+00:00") for s in done["studies"][:3])
    assert done["studies"][3]["checked_by"] == "dr-two" == first_mark["checked_by"]  # the first who and when stay
    assert done["studies"][3]["checked_at"] == first_mark["checked_at"]
    for study_id in (png, flagged_yes, no_flag):
        entries = [
            e
            for e in client.get(f"/api/studies/{study_id}/audit", headers=auth).json()
            if e["subject"] == "burned-in text check"
        ]
        assert len(entries) == 1 and entries[0]["user"] == USER
        assert (entries[0]["before"], entries[0]["after"]) == ({"checked": False}, {"checked": True})
    assert len(client.get(f"/api/studies/{png}/audit", headers=auth).json()) == audit_before[png] + 1
    assert len(client.get(f"/api/studies/{marked_before}/audit", headers=auth).json()) == audit_before[marked_before]
    assert _held_back(client, auth) == {"total": 0, "page": 1, "per_page": 24, "studies": []}


def test_the_bulk_mark_refuses_bad_bodies_and_other_roles(client: TestClient) -> None:
    auth = bearer(client)
    study_id = _reviewed(client, auth, scan_png(93), "pano.png")
    bodies: list[dict[str, Any]] = [
        {"study_ids": []},
        {},
        {"study_ids": [study_id] * 501},
        {"study_ids": [study_id], "by": "x"},
    ]
    for body in bodies:
        assert client.post("/api/burned-in-checks", headers=auth, json=body).status_code == 422
    assert client.get("/api/burned-in-checks?page=0", headers=auth).status_code == 422
    with client.app.state.workspace.sessions.begin() as db:  # type: ignore[attr-defined]
        add_user(db, RESEARCHER, PASSWORD, ["researcher"])
        add_user(db, "asa", PASSWORD, ["assistant"])
    for name in (RESEARCHER, "asa"):
        other = bearer(client, name, PASSWORD)
        assert client.get("/api/burned-in-checks", headers=other).status_code == 403
        refused = client.post("/api/burned-in-checks", headers=other, json={"study_ids": [study_id]})
        assert refused.status_code == 403
    assert _held_back(client, auth)["total"] == 1  # nothing marked by the refused calls


def test_the_held_back_page_marks_the_ticked_scans(client: TestClient) -> None:
    auth = bearer(client)
    first = _reviewed(client, auth, scan_png(94), "first.png")
    second = _reviewed(client, auth, scan_png(95), "second.png")
    csrf = login(client)
    assert 'href="/burned-in-checks">Burned-in text</a>' in client.get("/").text  # in the dentist's navigation
    page = client.get("/burned-in-checks").text
    assert "2 reviewed studies&#39; images are" in page
    assert page.index(f'src="/studies/{second}/image.png"') < page.index(f'src="/studies/{first}/image.png"')
    assert "image file, no DICOM header to say" in page and "Mark checked: no burned-in text" in page

    refused = client.post("/burned-in-checks", data={"study_ids": [first]}, follow_redirects=False)
    assert refused.status_code == 403  # no CSRF token
    nothing = client.post("/burned-in-checks", data={"csrf": csrf}, follow_redirects=True)
    assert "Nothing marked: tick the scans you have looked at first." in nothing.text
    unknown = client.post("/burned-in-checks", data={"csrf": csrf, "study_ids": [first, "nope"]})
    assert unknown.status_code == 404 and "1 of the 2 studies asked for is not in this workspace" in unknown.text

    answer = client.post("/burned-in-checks", data={"csrf": csrf, "study_ids": [first], "page": "1"})
    assert answer.status_code == 200 and str(answer.url).endswith("/burned-in-checks?page=1")
    assert "Marked 1 study checked: no burned-in text." in answer.text
    assert f'src="/studies/{first}/image.png"' not in answer.text and "1 reviewed study&#39;s images are" in answer.text
    assert client.get(f"/api/studies/{first}", headers=auth).json()["burned_in_check"]["checked_by"] == USER
    assert client.get("/burned-in-checks?page=5").status_code == 200  # past the last page: says so


def test_the_exports_page_counts_the_held_back_studies(client: TestClient) -> None:
    auth = bearer(client)
    _reviewed(client, auth, scan_png(96), "pano.png")
    with client.app.state.workspace.sessions.begin() as db:  # type: ignore[attr-defined]
        add_user(db, RESEARCHER, PASSWORD, ["researcher"])
        add_user(db, "both", PASSWORD, ["researcher", "dentist"])
    for name, link in ((RESEARCHER, False), ("both", True)):
        client.cookies.clear()
        form = {"username": name, "password": PASSWORD, "csrf": _csrf(client.get("/login").text), "next": "/exports"}
        page = client.post("/login", data=form).text
        assert "1 reviewed study is\n    held back for burned-in text" in page
        assert ('href="/burned-in-checks"' in page) is link  # a researcher cannot mark: the page names who can


def test_the_bulk_api_is_documented(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    listing = spec["paths"]["/api/burned-in-checks"]
    assert listing["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/HeldBackListOut"
    )
    assert "404" in listing["post"]["responses"]
    assert listing["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/BulkCheck")
    schemas = spec["components"]["schemas"]
    for name in ("HeldBackListOut", "HeldBackStudyOut", "BulkCheck", "BulkCheckOut", "MarkedStudyOut"):
        assert all(field.get("description") for field in schemas[name]["properties"].values()), name
