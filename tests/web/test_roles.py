"""Roles on every route: each role gets exactly what the README promises, on the pages and the API alike."""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from mail.smtp_server import SmtpServer

from xrayreport.detection.detector import MODELS_DIR
from xrayreport.web.auth import add_user

from .conftest import PASSWORD, USER, bearer, scan_png, upload, wait_for_findings
from .test_pages import _csrf

ROLES = {"admin": "ann", "dentist": USER, "assistant": "asa", "researcher": "rex"}
OTHER_PASSWORD = "another long passphrase"
EVERYONE = frozenset(ROLES)
CLINICAL = frozenset({"dentist", "assistant"})

# (method, path, roles allowed): every route of the app but logging in and out, static files and the docs.
# {study} is a reviewed study, {patient} its patient, {later} a later scan of theirs; "target" is a user the admin's
# calls act on.
API_ROUTES: list[tuple[str, str, frozenset[str]]] = [
    ("delete", "/api/token", EVERYONE),
    ("get", "/api/findings.schema.json", EVERYONE),
    ("get", "/api/patients", CLINICAL),
    ("post", "/api/patients", CLINICAL),
    ("get", "/api/patients/{patient}", CLINICAL),
    ("patch", "/api/patients/{patient}", CLINICAL),
    ("get", "/api/patients/{patient}/audit", CLINICAL),
    ("post", "/api/studies", CLINICAL),
    ("get", "/api/studies", CLINICAL),
    ("get", "/api/studies/{study}", CLINICAL),
    ("get", "/api/studies/{study}/findings", CLINICAL),
    ("put", "/api/studies/{study}/findings", frozenset({"dentist"})),
    ("get", "/api/studies/{study}/audit", CLINICAL),
    ("get", "/api/studies/{study}/image.png", CLINICAL),
    ("get", "/api/studies/{study}/report.pdf", CLINICAL),  # an assistant: once reviewed (see below)
    ("get", "/api/studies/{study}/dicom/sr.dcm", CLINICAL),
    ("get", "/api/studies/{study}/dicom/overlay.dcm", CLINICAL),
    ("get", "/api/studies/{study}/dicom/report.dcm", CLINICAL),
    ("post", "/api/studies/{study}/dicom/send", CLINICAL),  # 503 here: no PACS (see NO_SERVICE_HERE)
    ("post", "/api/dicom/pull", CLINICAL),  # 503 here: no DICOMweb server (see NO_SERVICE_HERE)
    ("get", "/api/studies/{study}/fhir", CLINICAL),
    ("get", "/api/users", frozenset({"admin"})),
    ("post", "/api/users", frozenset({"admin"})),
    ("patch", "/api/users/{username}", frozenset({"admin"})),
    ("delete", "/api/users/{username}/sessions", frozenset({"admin"})),
    ("get", "/api/exports/deidentified.zip", frozenset({"researcher"})),
    ("get", "/api/exports/deidentified-dicom.zip", frozenset({"researcher"})),
    ("post", "/api/studies/{study}/issue", frozenset({"dentist"})),
    ("get", "/api/patients/{patient}/plan", CLINICAL),
    ("patch", "/api/plan-steps/{step}", CLINICAL),
    ("get", "/api/recalls", CLINICAL),
    ("get", "/api/recalls.csv", CLINICAL),
    ("post", "/api/patients/{patient}/recall-mail", CLINICAL),  # before the consent to e-mail is changed below
    ("put", "/api/patients/{patient}/consent", CLINICAL),
    ("delete", "/api/patients/{patient}/consent", CLINICAL),
    ("post", "/api/patients/{patient}/contacts", CLINICAL),
    ("get", "/api/patients/{patient}/contacts", CLINICAL),
    ("post", "/api/patients/{patient}/visits", CLINICAL),
    ("post", "/api/visits/import", CLINICAL),
    ("get", "/api/patients/{patient}/recall-letter.pdf", CLINICAL),
    ("get", "/api/patients/{patient}/recall-message", CLINICAL),
    ("get", "/api/patients/{patient}/next-visit-card.pdf", CLINICAL),
    ("put", "/api/patients/{patient}/family", CLINICAL),
    ("get", "/api/families/{family}", CLINICAL),
    ("get", "/api/families/{family}/letter.pdf", CLINICAL),
    ("delete", "/api/patients/{patient}/family", CLINICAL),
    ("get", "/api/dashboard", frozenset({"admin", "dentist"})),
    ("get", "/api/patients/{patient}/comparison?earlier={study}&later={later}", CLINICAL),
    ("get", "/api/exports/training.zip", frozenset({"researcher"})),
    ("put", "/api/studies/{study}/training", frozenset({"dentist"})),
    ("put", "/api/studies/{study}/burned-in-check", frozenset({"dentist"})),
    ("get", "/api/burned-in-checks", frozenset({"dentist"})),
    ("post", "/api/burned-in-checks", frozenset({"dentist"})),
    ("post", "/api/reanalysis", frozenset({"dentist"})),
    ("get", "/api/agreement", frozenset({"admin", "dentist"})),
    ("get", "/api/models", frozenset({"admin"})),
    ("post", "/api/models", frozenset({"admin"})),
    ("get", "/api/models/{model}", frozenset({"admin"})),
    ("post", "/api/models/{model}/comparison", frozenset({"admin"})),
    ("post", "/api/models/{model}/activate", frozenset({"admin"})),
    ("post", "/api/models/use-default", frozenset({"admin"})),  # after activate: a model is in use
]
PAGE_ROUTES: list[tuple[str, str, frozenset[str]]] = [
    ("get", "/", EVERYONE),  # admins and researchers are sent on to their own page
    ("post", "/patients", CLINICAL),
    ("get", "/patients/{patient}", CLINICAL),
    ("get", "/patients/{patient}/edit", CLINICAL),
    ("post", "/patients/{patient}/edit", CLINICAL),
    ("post", "/upload", CLINICAL),
    ("get", "/studies/{study}", CLINICAL),
    ("get", "/studies/{study}/status", CLINICAL),
    ("get", "/studies/{study}/image.png", CLINICAL),
    ("post", "/studies/{study}/review", frozenset({"dentist"})),
    ("get", "/studies/{study}/report.pdf", CLINICAL),
    ("get", "/studies/{study}/dicom/sr.dcm", CLINICAL),
    ("get", "/studies/{study}/dicom/overlay.dcm", CLINICAL),
    ("get", "/studies/{study}/dicom/report.dcm", CLINICAL),
    ("get", "/studies/{study}/fhir.json", CLINICAL),
    ("post", "/studies/{study}/dicom/send", CLINICAL),  # no PACS here: the study page says so
    ("post", "/patients/{patient}/pull", CLINICAL),  # no PACS here: the patient page says so
    ("get", "/admin/users", frozenset({"admin"})),
    ("post", "/admin/users", frozenset({"admin"})),
    ("get", "/exports", frozenset({"researcher"})),
    ("get", "/exports/deidentified.zip", frozenset({"researcher"})),
    ("get", "/exports/deidentified-dicom.zip", frozenset({"researcher"})),
    ("post", "/studies/{study}/issue", frozenset({"dentist"})),
    ("post", "/patients/{patient}/plan/{step}", CLINICAL),
    ("get", "/recalls", CLINICAL),
    ("get", "/recalls.csv", CLINICAL),
    ("post", "/patients/{patient}/consent", CLINICAL),
    ("post", "/patients/{patient}/contacts", CLINICAL),
    ("post", "/patients/{patient}/recall-mail", CLINICAL),
    ("post", "/patients/{patient}/visits", CLINICAL),
    ("get", "/visits/import", CLINICAL),
    ("post", "/visits/import", CLINICAL),
    ("get", "/patients/{patient}/recall-letter.pdf", CLINICAL),
    ("get", "/patients/{patient}/next-visit-card.pdf", CLINICAL),
    ("post", "/patients/{patient}/family", CLINICAL),
    ("get", "/families/{family}", CLINICAL),
    ("get", "/families/{family}/letter.pdf", CLINICAL),
    ("get", "/dashboard", frozenset({"admin", "dentist"})),
    ("get", "/patients/{patient}/compare", CLINICAL),
    ("get", "/exports/training.zip", frozenset({"researcher"})),
    ("post", "/studies/{study}/training", frozenset({"dentist"})),
    ("post", "/studies/{study}/burned-in-check", frozenset({"dentist"})),
    ("get", "/burned-in-checks", frozenset({"dentist"})),
    ("post", "/burned-in-checks", frozenset({"dentist"})),  # nothing ticked: the page says so
    ("post", "/studies/{study}/reanalyse", frozenset({"dentist"})),
    ("get", "/agreement", frozenset({"admin", "dentist"})),
    ("get", "/admin/models", frozenset({"admin"})),
    ("post", "/admin/models", frozenset({"admin"})),  # without files: the page says what is missing
    ("post", "/admin/models/{model}", frozenset({"admin"})),  # an unknown action: the page says so
    ("post", "/admin/models/use-default", frozenset({"admin"})),  # the default in use already: the page says so
]
UNGUARDED = {("post", "/api/token"), ("get", "/login"), ("post", "/login"), ("post", "/logout")}
NO_SERVICE_HERE = {("post", "/api/studies/{study}/dicom/send"), ("post", "/api/dicom/pull")}
"""Routes whose service this clinic lacks (no PACS in its clinic file): allowed roles get 503, not 403;
tests/web/test_dicomresults.py and test_dicompull.py use a real PACS."""


@pytest.fixture
def clinic(make_client: Callable[..., TestClient], mail_server: SmtpServer) -> tuple[TestClient, dict[str, str]]:
    """A workspace with one user per role, a user ``target`` and a reviewed study whose patient may be e-mailed
    (through ``mail_server``); returns the client and the path parameters."""
    client = make_client()
    with client.app.state.workspace.sessions.begin() as db:  # type: ignore[attr-defined]
        for role, name in ROLES.items():
            if name != USER:
                add_user(db, name, OTHER_PASSWORD, [role])
        add_user(db, "target", OTHER_PASSWORD, ["assistant"])
    auth = bearer(client)
    study_id = upload(client, auth, scan_png(40), patient_name="Role Test")
    document = wait_for_findings(client, auth, study_id).json()
    assert client.put(f"/api/studies/{study_id}/findings", headers=auth, json=document).status_code == 200
    patient = client.get(f"/api/studies/{study_id}", headers=auth).json()["patient"]
    client.patch(f"/api/patients/{patient}", headers=auth, json={"email": "role.test@example.org"})
    client.put(f"/api/patients/{patient}/consent", headers=auth, json={"channel": "email"})
    step = client.post(f"/api/studies/{study_id}/issue", headers=auth).json()["steps"][0]["id"]
    other = client.post("/api/patients", headers=auth, json={"name": "Other Member"}).json()["id"]
    family = client.put(f"/api/patients/{patient}/family", headers=auth, json={"with_patient": other}).json()["id"]
    later = upload(client, auth, scan_png(45), patient=str(patient))
    wait_for_findings(client, auth, later)
    installed = client.post("/api/models", headers=bearer(client, "ann", OTHER_PASSWORD), files=shipped_model_files())
    assert installed.status_code == 201, installed.text
    return client, {
        "study": study_id,
        "patient": str(patient),
        "username": "target",
        "step": str(step),
        "other": str(other),
        "family": str(family),
        "later": later,
        "model": str(installed.json()["id"]),
    }


def shipped_model_files(version: str | None = None) -> list[tuple[str, tuple[str, bytes]]]:
    """The shipped detector and its second stage as an upload, the detector's version replaced when given."""
    files = []
    for name in ("detector-v1.onnx", "detector-v1.json", "tooth-findings-v1.onnx", "tooth-findings-v1.json"):
        data = (MODELS_DIR / name).read_bytes()
        if version is not None and name == "detector-v1.json":
            data = json.dumps({**json.loads(data), "version": version}).encode()
        files.append(("files", (name, data)))
    return files


def _password(role: str) -> str:
    return PASSWORD if ROLES[role] == USER else OTHER_PASSWORD


def _request_body(
    method: str, path: str, client: TestClient, auth: dict[str, str], study: str, other: int = 0
) -> dict[str, Any]:
    """A valid body for the calls that need one, so that an allowed call gets past validation."""
    if path.endswith("/findings") and method == "put":
        return {"json": client.get(f"/api/studies/{study}/findings", headers=auth).json()}
    if path == "/api/studies":
        return {"files": {"file": ("p.png", scan_png(41))}} if method == "post" else {}
    if path == "/api/users" and method == "post":
        return {"json": {"username": "newbie", "password": OTHER_PASSWORD, "roles": ["assistant"]}}
    if path.startswith("/api/users/") and method == "patch":
        return {"json": {"roles": ["assistant"]}}
    if path == "/api/models" and method == "post":
        return {"files": shipped_model_files(version="9.9.9")}
    if path.endswith("/training") and method == "put":
        return {"json": {"excluded": False}}
    if path.endswith("/burned-in-check"):
        return {"json": {"checked": False}}
    if path == "/api/burned-in-checks" and method == "post":
        return {"json": {"study_ids": [study]}}
    if path == "/api/dicom/pull":
        return {"json": {"patient_id": "P-1"}}
    if path == "/api/reanalysis":
        return {"json": {"studies": [study]}}
    if path.endswith("/family") and method == "put":
        return {"json": {"with_patient": other}}
    if path == "/api/visits/import":
        return {"files": {"file": ("visits.csv", b"patient_id,date\n")}}
    if path.endswith("/visits") and method == "post":
        return {"json": {"on": "2026-01-05"}}
    if path.endswith("/contacts") and method == "post":
        return {"json": {"channel": "phone", "outcome": "call back"}}
    if path.endswith("/consent") and method == "put":
        return {"json": {"channel": "phone", "time_window": "mornings"}}
    if path.startswith("/api/plan-steps/"):
        return {"json": {"state": "booked", "on": "2027-01-05"}}
    if method in ("post", "patch"):
        return {"json": {"name": "X"}}
    return {}


@pytest.mark.parametrize("role", list(ROLES))
def test_each_role_reaches_exactly_its_api_routes(clinic: tuple[TestClient, dict[str, str]], role: str) -> None:
    client, params = clinic
    answers = {}
    for method, template, allowed in API_ROUTES:
        auth = bearer(client, ROLES[role], _password(role))  # a fresh token: DELETE /api/token ends one
        path = template.format(**params)
        body = _request_body(method, path, client, bearer(client), params["study"], int(params["other"]))
        response = client.request(method, path, headers=auth, **body)
        answers[(method, template)] = response.status_code
        if role in allowed and (method, template) in NO_SERVICE_HERE:
            assert response.status_code == 503, (method, template, response.status_code, response.text)
        elif role in allowed:
            assert response.status_code < 400, (method, template, response.status_code, response.text)
        else:
            assert response.status_code == 403, (method, template, response.status_code)
            assert f"your roles ({role})" in response.json()["detail"]
    assert answers


@pytest.mark.parametrize("role", list(ROLES))
def test_each_role_reaches_exactly_its_pages(clinic: tuple[TestClient, dict[str, str]], role: str) -> None:
    client, params = clinic
    page = client.get("/login")
    csrf = _csrf(page.text)
    form = {"username": ROLES[role], "password": _password(role), "csrf": csrf, "next": "/"}
    assert client.post("/login", data=form, follow_redirects=False).status_code == 303
    csrf = _csrf(client.get("/login").text)
    for method, template, allowed in PAGE_ROUTES:
        path = template.format(**params)
        data = {"csrf": csrf, "action": "end_sessions", "username": "target", "name": "X", "state": "booked"}
        if method == "post" and path.endswith("/review"):
            data = {"csrf": csrf, "action": "add", "type": "caries", "tooth": "36"}
        files = {
            "/upload": {"files": ("p.png", scan_png(42))},
            "/visits/import": {"file": ("visits.csv", b"patient_id,date\n")},
        }.get(path)
        if method == "post":
            response = client.post(path, data=data, files=files, follow_redirects=False)
        else:
            response = client.get(path, follow_redirects=False)
        if role in allowed:
            assert response.status_code < 400, (method, template, response.status_code)
        else:
            assert response.status_code == 403, (method, template, response.status_code)
            assert f"your roles ({role})" in response.text


def test_the_route_tables_cover_every_route(clinic: tuple[TestClient, dict[str, str]]) -> None:
    client, _ = clinic
    listed = {(m, re.sub(r"\{\w+\}", "{}", p.split("?")[0])) for m, p, _ in API_ROUTES + PAGE_ROUTES} | UNGUARDED
    for route in client.app.routes:  # type: ignore[attr-defined]
        if not isinstance(route, APIRoute):
            continue  # the docs and the static files
        for method in route.methods:
            key = (method.lower(), re.sub(r"\{\w+\}", "{}", route.path))
            assert key in listed, f"{key} has no roles in this test: add it to API_ROUTES or PAGE_ROUTES"


def test_an_assistant_prints_a_report_only_after_a_dentist_reviewed_it(
    clinic: tuple[TestClient, dict[str, str]],
) -> None:
    client, _ = clinic
    study_id = upload(client, bearer(client), scan_png(43))
    wait_for_findings(client, bearer(client), study_id)
    assistant = bearer(client, "asa", OTHER_PASSWORD)
    refused = client.get(f"/api/studies/{study_id}/report.pdf", headers=assistant)
    assert refused.status_code == 403 and "a dentist has not reviewed" in refused.json()["detail"]
    assert client.get(f"/api/studies/{study_id}/report.pdf", headers=bearer(client)).status_code == 200  # issued
    document = client.get(f"/api/studies/{study_id}/findings", headers=bearer(client)).json()
    client.put(f"/api/studies/{study_id}/findings", headers=bearer(client), json=document)
    assert client.get(f"/api/studies/{study_id}/report.pdf", headers=assistant).status_code == 200


def test_the_last_admin_cannot_lose_admin(clinic: tuple[TestClient, dict[str, str]]) -> None:
    client, _ = clinic
    admin = bearer(client, "ann", OTHER_PASSWORD)
    response = client.patch("/api/users/ann", headers=admin, json={"roles": ["dentist"]})
    assert response.status_code == 422 and "only admin" in response.json()["detail"]
    response = client.patch("/api/users/target", headers=admin, json={"roles": ["wizard"]})
    assert response.status_code == 422 and "valid roles are: admin, assistant, dentist, researcher" in response.text


def test_ending_a_users_sessions_ends_their_tokens_and_role_changes_apply_at_once(
    clinic: tuple[TestClient, dict[str, str]],
) -> None:
    client, _ = clinic
    admin = bearer(client, "ann", OTHER_PASSWORD)
    target = bearer(client, "target", OTHER_PASSWORD)
    assert client.get("/api/patients", headers=target).status_code == 200
    assert client.patch("/api/users/target", headers=admin, json={"roles": ["researcher"]}).status_code == 200
    assert client.get("/api/patients", headers=target).status_code == 403
    assert client.delete("/api/users/target/sessions", headers=admin).status_code == 204
    assert client.get("/api/exports/deidentified.zip", headers=target).status_code == 401


def test_the_export_holds_no_identity_unless_asked(clinic: tuple[TestClient, dict[str, str]]) -> None:
    client, params = clinic
    client.patch(
        f"/api/patients/{params['patient']}",
        headers=bearer(client),
        json={"patient_id": "PID-777", "birth_date": "1990-06-15", "sex": "F"},
    )
    researcher = bearer(client, "rex", OTHER_PASSWORD)
    plain = client.get("/api/exports/deidentified.zip", headers=researcher)
    assert plain.status_code == 200 and plain.headers["x-export-studies"] == "1"
    archive = zipfile.ZipFile(io.BytesIO(plain.content))
    names = archive.namelist()
    assert names[-1] == "manifest.json" and len(names) == 2
    text = b"".join(archive.read(n) for n in names).decode()
    for identity in ("Role Test", "PID-777", "1990", params["study"], "p.png", "dr-lee"):
        assert identity not in text
    record = json.loads(archive.read(names[0]))
    assert set(record) == {"format", "study", "patient", "image", "model", "teeth", "findings"}
    unchecked = client.get("/api/exports/deidentified.zip?images=true", headers=researcher)
    assert json.loads(zipfile.ZipFile(io.BytesIO(unchecked.content)).read(names[0]))["image"]["file"] is None
    mark = {"checked": True}  # the upload's pixels go once a dentist has looked for burned-in text
    assert client.put(f"/api/studies/{params['study']}/burned-in-check", headers=bearer(client), json=mark).is_success
    full = client.get("/api/exports/deidentified.zip?images=true&age=true&sex=true", headers=researcher)
    archive = zipfile.ZipFile(io.BytesIO(full.content))
    again = json.loads(archive.read(f"studies/{record['study']}.json"))  # the same keys from one export to the next
    assert again["patient"] == record["patient"] and again["sex"] == "F" and isinstance(again["age_years"], int)
    assert archive.read(again["image"]["file"]).startswith(b"\x89PNG")
