"""The pages: login with CSRF, upload, the review steps (each audited) and issuing the report."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from .conftest import BOTH_DATABASES, PASSWORD, USER, bearer, scan_png, upload, wait_for_findings
from .test_api import _pdf_text


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "the page has no CSRF field"
    return match.group(1)


def login(client: TestClient) -> str:
    """Log the test client in through the form; returns the session's CSRF token."""
    token = _csrf(client.get("/login").text)
    response = client.post(
        "/login", data={"username": USER, "password": PASSWORD, "csrf": token, "next": "/"}, follow_redirects=False
    )
    assert response.status_code == 303 and response.headers["location"] == "/"
    return _csrf(client.get("/").text)


def test_pages_redirect_to_login_and_back(client: TestClient) -> None:
    response = client.get("/patients/1", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login?next=/patients/1"
    page = client.get("/login", params={"next": "https://evil.example/"})
    assert 'name="next" value="/"' in page.text  # only same-site paths are followed after login


def test_login_needs_the_form_csrf_token_and_the_right_password(client: TestClient) -> None:
    client.get("/login")
    forged = client.post("/login", data={"username": USER, "password": PASSWORD, "csrf": "x"}, follow_redirects=False)
    assert forged.status_code == 403 and "reload the page" in forged.text
    token = _csrf(client.get("/login").text)
    wrong = client.post("/login", data={"username": USER, "password": "wrong", "csrf": token})
    assert wrong.status_code == 401 and "Wrong user name or password" in wrong.text
    csrf = login(client)
    assert csrf != token  # a new session, with a new CSRF token, after logging in
    assert "dr-lee" in client.get("/").text


def test_posts_without_the_session_csrf_token_are_refused(client: TestClient) -> None:
    login(client)
    for path, data in (("/patients", {"name": "X"}), ("/studies/abc/review", {"action": "accept"})):
        response = client.post(path, data=data, follow_redirects=False)
        assert response.status_code == 403


def test_bearer_tokens_do_not_open_pages(client: TestClient) -> None:
    response = client.get("/", headers=bearer(client), follow_redirects=False)
    assert response.status_code == 303


def test_upload_form_creates_the_patient_and_redirects(client: TestClient) -> None:
    csrf = login(client)
    response = client.post(
        "/upload",
        data={"csrf": csrf, "name": "Clara Test", "patient_id": "C-9", "birth_date": "2001-02-03"},
        files=[("files", ("a.png", scan_png(20))), ("files", ("b.png", scan_png(21))), ("files", ("c.txt", b"text"))],
        follow_redirects=False,
    )
    assert response.status_code == 303
    page = client.get(response.headers["location"]).text
    assert "Clara Test" in page and "C-9" in page and "2001-02-03" in page
    assert "2 scan(s) uploaded" in page
    assert "c.txt" in page  # the refused file is named with the reason
    assert page.count('href="/studies/') == 2


def test_upload_answers_json_to_the_page_script(client: TestClient) -> None:
    csrf = login(client)
    ok = client.post(
        "/upload", data={"csrf": csrf}, files={"files": ("a.png", scan_png(22))}, headers={"Accept": "application/json"}
    )
    assert ok.status_code == 201 and ok.json()["url"] == f"/studies/{ok.json()['id']}"
    bad = client.post(
        "/upload", data={"csrf": csrf}, files={"files": ("a.png", b"%PDF-1.4")}, headers={"Accept": "application/json"}
    )
    assert bad.status_code == 415 and "PDF" in bad.json()["detail"]


@pytest.fixture
def reviewed(client: TestClient) -> tuple[TestClient, str, str]:
    """A logged-in client, its CSRF token and an analysed study (f1 caries 36, f2 filling 46, f3 caries 17)."""
    csrf = login(client)
    auth = bearer(client)
    study_id = upload(client, auth, scan_png(23), patient_name="Dora Test")
    assert wait_for_findings(client, auth, study_id).status_code == 200
    return client, csrf, study_id


def _review(client: TestClient, study_id: str, **form: str) -> str:
    response = client.post(f"/studies/{study_id}/review", data=form, follow_redirects=False)
    assert response.status_code == 303
    return client.get(f"/studies/{study_id}").text


def _audit_rows(page: str, heading: str = "Audit trail") -> list[str]:
    body = page.split(heading, 1)[1].split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [
        re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip() for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def test_each_review_step_changes_the_document_and_is_audited(reviewed: tuple[TestClient, str, str]) -> None:
    client, csrf, study_id = reviewed
    auth = bearer(client)
    page = client.get(f"/studies/{study_id}").text
    assert "3 to review" in page and "Review the 3 waiting finding(s) first" in page

    _review(client, study_id, csrf=csrf, action="accept", finding="f2")
    _review(client, study_id, csrf=csrf, action="reject", finding="f3")
    _review(client, study_id, csrf=csrf, action="relabel", finding="f1", type="deep_caries")
    _review(client, study_id, csrf=csrf, action="add", type="periapical_lesion", tooth="", box="10,20,110,220")
    _review(client, study_id, csrf=csrf, action="add", type="missing", tooth="38")
    page = _review(client, study_id, csrf=csrf, action="renumber", tooth="36", new_fdi="34")

    document = client.get(f"/api/studies/{study_id}/findings", headers=auth).json()
    assert [(f["id"], f["type"], f["tooth"], f["source"]) for f in document["findings"]] == [
        ("f1", "deep_caries", "34", "model"),
        ("f2", "filling", "46", "model"),
        ("d1", "periapical_lesion", None, "dentist"),
        ("d2", "missing", "38", "dentist"),
    ]
    assert document["findings"][2]["box"] == [10, 20, 110, 220]
    tooth_38 = next(t for t in document["teeth"] if t["fdi"] == "38")
    assert document["findings"][3]["box"] == tooth_38["box"]  # a finding on a picked tooth takes its box
    assert "34" in [t["fdi"] for t in document["teeth"]] and "36" not in [t["fdi"] for t in document["teeth"]]

    rows = _audit_rows(page)
    assert len(rows) == 6 and all(" dr-lee " in f" {row} " for row in rows)
    assert rows[0].endswith("dr-lee renumber tooth 36 tooth 36 tooth 34")
    assert rows[1].endswith("add finding d2 — missing, tooth 38, box " + ",".join(f"{v:.0f}" for v in tooth_38["box"]))
    assert rows[2].endswith("add finding d1 — periapical lesion, box 10,20,110,220")
    assert "edit finding f1 caries, tooth 36, box" in rows[3] and "deep caries, tooth 36, box" in rows[3]
    assert "reject finding f3 caries, tooth 17, box" in rows[4] and rows[4].endswith("—")
    assert "accept finding f2 filling, tooth 46, box" in rows[5]
    assert "to review" not in page  # f1 was relabelled, f2 accepted, f3 rejected: nothing waits
    assert "Download PDF" in page


def test_review_errors_are_shown_not_stored(reviewed: tuple[TestClient, str, str]) -> None:
    client, csrf, study_id = reviewed
    page = _review(client, study_id, csrf=csrf, action="renumber", tooth="36", new_fdi="46")
    assert "tooth 46 is already on this scan" in page
    page = _review(client, study_id, csrf=csrf, action="relabel", finding="f1", type="cavity")
    assert "unknown finding type &#39;cavity&#39;; valid finding types are: bridge, caries" in page
    page = _review(client, study_id, csrf=csrf, action="renumber", tooth="36", new_fdi="99")
    assert "unknown FDI tooth number &#39;99&#39;" in page
    assert "No changes yet." in page


def test_the_page_report_waits_for_every_finding_to_be_reviewed(reviewed: tuple[TestClient, str, str]) -> None:
    client, csrf, study_id = reviewed
    waiting = client.get(f"/studies/{study_id}/report.pdf", params={"lang": "zh"})
    assert waiting.status_code == 409 and "3 finding(s) still wait for review" in waiting.text
    _review(client, study_id, csrf=csrf, action="reject", finding="f3")
    _review(client, study_id, csrf=csrf, action="accept_all")
    preview = client.get(f"/studies/{study_id}/report.pdf", params={"lang": "zh"})
    assert preview.status_code == 200 and preview.headers["content-disposition"].startswith("inline")
    download = client.get(f"/studies/{study_id}/report.pdf", params={"lang": "zh", "download": "true"})
    assert download.headers["content-disposition"].startswith("attachment")


def test_scan_images_need_a_login(
    reviewed: tuple[TestClient, str, str], make_client: Callable[..., TestClient]
) -> None:
    client, _csrf_token, study_id = reviewed
    assert client.get(f"/studies/{study_id}/image.png").headers["content-type"] == "image/png"
    client.cookies.clear()
    assert client.get(f"/studies/{study_id}/image.png", follow_redirects=False).status_code == 303


def test_without_analysis_the_dentist_reviews_by_hand(make_client: Callable[..., TestClient]) -> None:
    client = make_client(analyser=None)
    csrf = login(client)
    response = client.post(
        "/upload", data={"csrf": csrf}, files={"files": ("a.png", scan_png(24))}, headers={"Accept": "application/json"}
    )
    study_id = response.json()["id"]
    page = client.get(f"/studies/{study_id}").text
    assert "Automatic analysis is not available on this server" in page
    assert "Add the findings you see first" in page and "Download PDF" not in page
    page = _review(client, study_id, csrf=csrf, action="add", type="caries", tooth="36", box="100,100,150,180")
    assert "Download PDF" in page
    document = client.get(f"/api/studies/{study_id}/findings", headers=bearer(client)).json()
    assert document["model"]["name"] == "none (manual review)"
    assert [(f["type"], f["tooth"], f["box"]) for f in document["findings"]] == [("caries", "36", [100, 100, 150, 180])]


def test_patient_fields_are_escaped_in_pages(client: TestClient) -> None:
    csrf = login(client)
    name = '<img src=x onerror="alert(1)">'
    client.post("/patients", data={"csrf": csrf, "name": name})
    page = client.get("/").text
    assert name not in page and "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in page


def _new_patient(client: TestClient, csrf: str, **fields: str) -> int:
    response = client.post("/patients", data={"csrf": csrf, **fields}, follow_redirects=False)
    return int(response.headers["location"].rsplit("/", 1)[1])


@BOTH_DATABASES
def test_patient_details_are_corrected_audited_and_reach_the_report(reviewed: tuple[TestClient, str, str]) -> None:
    client, csrf, study_id = reviewed
    auth = bearer(client)
    patient = client.get(f"/api/studies/{study_id}", headers=auth).json()["patient"]
    assert f'href="/patients/{patient}/edit"' in client.get(f"/patients/{patient}").text
    form = client.get(f"/patients/{patient}/edit").text
    assert 'name="name" value="Dora Test"' in form and 'name="patient_id" value=""' in form
    assert '<option value="" selected>unknown</option>' in form

    details = {"name": "Dora Edited", "patient_id": "D-2", "birth_date": "1981-03-01", "sex": "f"}
    saved = client.post(f"/patients/{patient}/edit", data={"csrf": csrf, **details}, follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"] == f"/patients/{patient}"
    page = client.get(f"/patients/{patient}").text
    assert "Patient details saved." in page and "<dd>D-2</dd>" in page and "<dd>1981-03-01</dd>" in page
    (row,) = _audit_rows(page, "Changes to the details")
    assert row.endswith(
        "dr-lee edit patient details name: Dora Test, patient ID: —, birth date: —, sex: — "
        "name: Dora Edited, patient ID: D-2, birth date: 1981-03-01, sex: F"
    )
    again = client.post(f"/patients/{patient}/edit", data={"csrf": csrf, **details})
    assert "Nothing changed." in again.text and len(_audit_rows(again.text, "Changes to the details")) == 1
    client.post(f"/patients/{patient}/edit", data={"csrf": csrf, **details, "patient_id": "", "sex": ""})
    (latest, _first) = _audit_rows(client.get(f"/patients/{patient}").text, "Changes to the details")
    assert latest.endswith("edit patient details patient ID: D-2, sex: F patient ID: —, sex: —")  # only what changed

    assert client.get(f"/api/studies/{study_id}/audit", headers=auth).json() == []  # the findings' trail is apart
    _review(client, study_id, csrf=csrf, action="accept_all")
    text = _pdf_text(client.get(f"/api/studies/{study_id}/report.pdf", headers=auth).content)
    assert "patient Dora Edited" in text and "patient ID None born 1981-03-01 sex None" in text


def test_the_patient_page_sets_the_language_and_e_mail_address(client: TestClient) -> None:
    csrf = login(client)
    patient = _new_patient(client, csrf, name="Ivan Test")
    form = client.get(f"/patients/{patient}/edit").text
    assert '<option value="">not chosen (English)</option>' in form and 'name="email" type="email" value=""' in form
    typed = {"csrf": csrf, "name": "Ivan Test", "language": "ru", "email": "ivan@"}
    refused = client.post(f"/patients/{patient}/edit", data=typed)
    assert refused.status_code == 422 and "E-mail address: use the form name@example.com, with one @." in refused.text
    assert 'value="ivan@"' in refused.text and '<option value="ru" selected>' in refused.text  # as typed
    page = client.post(f"/patients/{patient}/edit", data={**typed, "email": "ivan@example.com"}).text
    assert "Patient details saved." in page and "<dd>Русский</dd>" in page and "<dd>ivan@example.com</dd>" in page
    (row,) = _audit_rows(page, "Changes to the details")
    assert row.endswith("language: —, e-mail address: — language: ru, e-mail address: ivan@example.com")


@BOTH_DATABASES
def test_bad_patient_details_show_the_form_again_and_change_nothing(client: TestClient) -> None:
    csrf = login(client)
    _new_patient(client, csrf, name="Other Patient", patient_id="OTHER-1")
    patient = _new_patient(client, csrf, name="Emil Test", birth_date="1990-01-02")
    cases = [
        ({"birth_date": "02.01.1990"}, "Birth date: use the form YYYY-MM-DD, e.g. 1984-03-27."),
        ({"sex": "X"}, "Sex: use F, M or O, or leave it empty when unknown."),
        ({"name": "N" * 201, "sex": "female"}, "Name: use at most 200 characters; sex: use F, M or O"),
        ({"patient_id": "OTHER-1"}, "Patient ID: &#39;OTHER-1&#39; is patient #1&#39;s already"),
    ]
    for change, message in cases:
        typed = {"name": "Emil Test", "patient_id": "", "birth_date": "1990-01-02", "sex": "", **change}
        response = client.post(f"/patients/{patient}/edit", data={"csrf": csrf, **typed})
        assert response.status_code == 422 and message in response.text, change
        assert f'name="name" value="{typed["name"]}"' in response.text  # what the dentist typed is kept
    page = client.get(f"/patients/{patient}").text
    assert "<dd>1990-01-02</dd>" in page and "N" * 201 not in page and "OTHER-1" not in page
    assert "No changes yet." in page


def test_patient_details_need_a_login_the_csrf_token_and_a_known_patient(client: TestClient) -> None:
    assert client.get("/patients/1/edit", follow_redirects=False).headers["location"] == "/login?next=/patients/1/edit"
    csrf = login(client)
    patient = _new_patient(client, csrf, name="Fay Test")
    forged = client.post(f"/patients/{patient}/edit", data={"name": "Someone Else"}, follow_redirects=False)
    assert forged.status_code == 403 and "Fay Test" in client.get(f"/patients/{patient}").text
    assert client.get("/patients/999/edit").status_code == 404
    missing = client.post("/patients/999/edit", data={"csrf": csrf, "name": "X"})
    assert missing.status_code == 404 and "no patient #999" in missing.text


def test_a_tooths_findings_are_reviewed_at_once_and_a_step_is_undone(reviewed: tuple[TestClient, str, str]) -> None:
    client, csrf, study_id = reviewed
    auth = bearer(client)
    before = {f["id"]: f for f in client.get(f"/api/studies/{study_id}/findings", headers=auth).json()["findings"]}
    client.post(f"/studies/{study_id}/review", data={"csrf": csrf, "action": "accept", "finding": ["f1", "f3"]})
    _review(client, study_id, csrf=csrf, action="reject", finding=["f1", "f2"])
    document = client.get(f"/api/studies/{study_id}/findings", headers=auth).json()
    assert [f["id"] for f in document["findings"]] == ["f3"]
    assert client.get(f"/api/studies/{study_id}", headers=auth).json()["pending_findings"] == []

    # undo the reject: f1 comes back confirmed (it was accepted), f2 waiting for review again
    earlier = [{"finding": before["f1"], "accepted": True}, {"finding": before["f2"], "accepted": False}]
    page = _review(client, study_id, csrf=csrf, action="restore", earlier=json.dumps(earlier))
    document = client.get(f"/api/studies/{study_id}/findings", headers=auth).json()
    assert sorted(f["id"] for f in document["findings"]) == ["f1", "f2", "f3"]
    assert client.get(f"/api/studies/{study_id}", headers=auth).json()["pending_findings"] == ["f2"]
    rows = _audit_rows(page)
    assert "undo finding f2 — filling, tooth 46" in rows[0]
    assert "undo finding f1 — caries, tooth 36" in rows[1]
    assert 'id="finding-f2"' in page and "1 to review" in page

    # undo an accept: the finding waits again, unchanged
    earlier = [{"finding": before["f3"], "accepted": False}]
    _review(client, study_id, csrf=csrf, action="restore", earlier=json.dumps(earlier))
    assert sorted(client.get(f"/api/studies/{study_id}", headers=auth).json()["pending_findings"]) == ["f2", "f3"]


def test_a_tooths_findings_are_relabelled_at_once_and_an_add_and_a_renumber_are_undone(
    reviewed: tuple[TestClient, str, str],
) -> None:
    client, csrf, study_id = reviewed
    auth = bearer(client)

    def findings() -> list[tuple[str, str, str | None]]:
        document = client.get(f"/api/studies/{study_id}/findings", headers=auth).json()
        return [(f["id"], f["type"], f["tooth"]) for f in document["findings"]]

    _review(client, study_id, csrf=csrf, action="add", type="caries", tooth="36")
    _review(client, study_id, csrf=csrf, action="relabel", finding=["f1", "d1"], type="deep_caries")
    assert findings() == [
        ("f1", "deep_caries", "36"),
        ("f2", "filling", "46"),
        ("f3", "caries", "17"),
        ("d1", "deep_caries", "36"),
    ]
    waiting = client.get(f"/api/studies/{study_id}", headers=auth).json()["pending_findings"]
    assert waiting == ["f2", "f3"]  # f1 relabelled: confirmed

    tooth_36 = next(
        t for t in client.get(f"/api/studies/{study_id}/findings", headers=auth).json()["teeth"] if t["fdi"] == "36"
    )
    _review(client, study_id, csrf=csrf, action="renumber", tooth="36", new_fdi="34")
    page = _review(
        client, study_id, csrf=csrf, action="restore", earlier=json.dumps([{"tooth": tooth_36, "now": "34"}])
    )
    assert findings()[0] == ("f1", "deep_caries", "36") and findings()[3] == ("d1", "deep_caries", "36")
    teeth = client.get(f"/api/studies/{study_id}/findings", headers=auth).json()["teeth"]
    assert tooth_36 in teeth and "34" not in [t["fdi"] for t in teeth]  # its number, and the model's again
    page = _review(client, study_id, csrf=csrf, action="restore", earlier=json.dumps([{"added": "d1"}]))
    assert [f[0] for f in findings()] == ["f1", "f2", "f3"]
    rows = _audit_rows(page)
    assert "undo finding d1 deep caries, tooth 36" in rows[0] and rows[0].endswith("—")
    assert rows[1].endswith("dr-lee undo tooth 34 tooth 34 tooth 36")
    assert rows[2].endswith("dr-lee renumber tooth 36 tooth 36 tooth 34")

    stale = _review(client, study_id, csrf=csrf, action="restore", earlier=json.dumps([{"added": "d1"}]))
    assert "unknown finding &#39;d1&#39;" in stale  # undone already: nothing to undo
    _review(client, study_id, csrf=csrf, action="renumber", tooth="36", new_fdi="34")
    _review(client, study_id, csrf=csrf, action="renumber", tooth="35", new_fdi="36")
    taken = _review(
        client, study_id, csrf=csrf, action="restore", earlier=json.dumps([{"tooth": tooth_36, "now": "34"}])
    )
    assert "tooth 36 is on this scan again; renumber that tooth first" in taken


@pytest.mark.parametrize(
    ("earlier", "message"),
    [
        ("not json", "undo: expected a JSON list of {&#34;finding&#34;: {...}, &#34;accepted&#34;: true or false}"),
        ('[{"added": 3}]', "{&#34;added&#34;: ID} (a finding added) or {&#34;tooth&#34;: {...}, &#34;now&#34;: FDI}"),
        ('[{"tooth": {"fdi": "36", "box": null}, "now": "99"}]', "unknown tooth on this scan &#39;99&#39;"),
        ('[{"finding": {"id": "f1"}, "accepted": "yes"}]', "undo: expected a JSON list"),
        (
            '[{"finding": {"id": "f1", "type": "wart"}, "accepted": true}]',
            "invalid findings document: field findings[0]",
        ),
    ],
)
def test_a_bad_undo_is_refused_with_a_message(
    reviewed: tuple[TestClient, str, str], earlier: str, message: str
) -> None:
    client, csrf, study_id = reviewed
    page = _review(client, study_id, csrf=csrf, action="restore", earlier=earlier)
    assert message in page and "No changes yet." in page
