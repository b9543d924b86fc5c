"""The JSON API against the real app: auth, upload, analysis states, review, reports, errors."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from xrayreport.errors import XrayReportError
from xrayreport.findings import Findings
from xrayreport.ingestion import Radiograph
from xrayreport.report.fonts import MissingFontError

from .conftest import BOTH_DATABASES, bearer, scan_png, upload, wait_for_findings
from .doubles import BlockingAnalyser


@BOTH_DATABASES
def test_token_needs_the_right_password(client: TestClient) -> None:
    wrong = client.post("/api/token", data={"username": "dr-lee", "password": "nope"})
    unknown = client.post("/api/token", data={"username": "nobody", "password": "nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"detail": "wrong user name or password"}
    assert (
        client.post("/api/token", data={"username": "dr-lee", "password": "correct horse battery"}).status_code == 200
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/patients"),
        ("post", "/api/patients"),
        ("get", "/api/patients/1"),
        ("patch", "/api/patients/1"),
        ("get", "/api/patients/1/audit"),
        ("post", "/api/studies"),
        ("get", "/api/studies"),
        ("get", "/api/studies/abc/findings"),
        ("put", "/api/studies/abc/findings"),
        ("get", "/api/studies/abc/report.pdf"),
        ("get", "/api/studies/abc/image.png"),
        ("get", "/api/studies/abc/audit"),
    ],
)
def test_every_api_call_needs_a_bearer_token(client: TestClient, method: str, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer forged.token.value"}):
        response = client.request(method, path, headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert "/api/token" in response.json()["detail"]


@BOTH_DATABASES
def test_upload_analyse_and_read_the_findings(client: TestClient, auth: dict[str, str]) -> None:
    data = scan_png(1)
    study_id = upload(client, auth, data, patient_name="Anna Test", patient_id="A-1", birth_date="1990-05-01")
    response = wait_for_findings(client, auth, study_id)
    assert response.status_code == 200
    assert response.headers["x-findings-version"] == "model"
    document = response.json()
    assert document["image"] == {
        "width": 640,
        "height": 320,
        "sha256": hashlib.sha256(data).hexdigest(),
        "source": "pano.png",
        "pixel_spacing_mm": None,
    }
    assert [f["id"] for f in document["findings"]] == ["f1", "f2", "f3"]
    study = client.get(f"/api/studies/{study_id}", headers=auth).json()
    assert study["status"] == "done"
    assert study["pending_findings"] == ["f1", "f2", "f3"]
    patients = client.get("/api/patients", params={"q": "anna"}, headers=auth).json()
    assert [(p["name"], p["patient_id"], p["birth_date"]) for p in patients] == [("Anna Test", "A-1", "1990-05-01")]
    image = client.get(f"/api/studies/{study_id}/image.png", headers=auth)
    assert image.headers["content-type"] == "image/png" and image.content.startswith(b"\x89PNG")


@BOTH_DATABASES
def test_findings_answer_202_while_the_analysis_runs(make_client: Callable[..., TestClient]) -> None:
    analyser = BlockingAnalyser()
    client = make_client(analyser=analyser)
    auth = bearer(client)
    study_id = upload(client, auth, scan_png(2))
    assert analyser.started.wait(10)
    running = client.get(f"/api/studies/{study_id}/findings", headers=auth)
    assert running.status_code == 202
    assert running.json()["status"] == "running"
    analyser.release()
    assert wait_for_findings(client, auth, study_id).status_code == 200


def test_a_known_patient_id_reuses_the_patient_and_dicom_fields_fill_the_rest(
    client: TestClient, auth: dict[str, str]
) -> None:
    from ingestion.dicom_factory import PATIENT, make_dicom  # tests/ingestion: generated DICOM files

    first = client.post("/api/studies", headers=auth, files={"file": ("a.dcm", make_dicom())}).json()
    second = upload(client, auth, scan_png(3), patient_id=PATIENT["PatientID"])
    assert client.get(f"/api/studies/{second}", headers=auth).json()["patient"] == first["patient"]
    (patient,) = client.get("/api/patients", headers=auth).json()
    assert patient == {
        "id": first["patient"],
        "name": "Doe Jane Q",
        "patient_id": "P-0042",
        "birth_date": "1980-01-31",
        "sex": "F",
        "language": None,
        "email": None,
    }


@pytest.mark.parametrize(
    ("data", "status", "words"),
    [
        (b"", 422, "empty"),
        (b"%PDF-1.7 not a scan" * 10, 415, "PDF"),
        (b"hello, this is text and not an image at all" * 5, 415, ""),
        (scan_png(4)[:300], 422, ""),
    ],
    ids=["empty", "pdf", "text", "truncated-png"],
)
def test_files_that_are_not_scans_are_refused_with_a_message(
    client: TestClient, auth: dict[str, str], data: bytes, status: int, words: str
) -> None:
    response = client.post("/api/studies", headers=auth, files={"file": ("scan.png", data)})
    assert response.status_code == status, response.text
    assert words in response.json()["detail"]
    assert client.get("/api/studies", headers=auth).json() == []


def test_uploads_over_the_limit_are_refused_with_413(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_upload_bytes=50_000)
    auth = bearer(client)
    big = scan_png(5, width=1200, height=600)  # noise does not compress: well over 50 kB
    assert len(big) > 50_000
    response = client.post("/api/studies", headers=auth, files={"file": ("big.png", big)})
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]
    assert client.get("/api/studies", headers=auth).json() == []


def test_streamed_bodies_over_the_limit_are_cut_off(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_upload_bytes=10_000)
    auth = bearer(client)

    def chunks() -> Any:  # no Content-Length: the limit must hold while the body streams in
        for _ in range(2000):
            yield b"x" * 1024

    response = client.post(
        "/api/studies",
        headers={**auth, "Content-Type": "multipart/form-data; boundary=zzz"},
        content=chunks(),
    )
    assert response.status_code == 413
    declared = client.post("/api/studies", headers=auth, files={"file": ("big.png", b"x" * 2_000_000)})
    assert declared.status_code == 413  # refused from its Content-Length, before the body is read


@BOTH_DATABASES
def test_put_stores_the_reviewed_document_and_audits_each_change(client: TestClient, auth: dict[str, str]) -> None:
    study_id = upload(client, auth, scan_png(6))
    document = wait_for_findings(client, auth, study_id).json()
    document["findings"] = [f for f in document["findings"] if f["id"] != "f3"]  # reject caries on 17
    document["findings"][0]["type"] = "deep_caries"  # relabel f1
    document["findings"].append(
        {"id": "d1", "type": "periapical_lesion", "tooth": "46", "box": [10, 10, 50, 60], "source": "dentist"}
    )
    stored = client.put(f"/api/studies/{study_id}/findings", headers=auth, json=document)
    assert stored.status_code == 200, stored.text
    assert stored.json()["changes"] == 3
    reviewed = client.get(f"/api/studies/{study_id}/findings", headers=auth)
    assert reviewed.headers["x-findings-version"] == "reviewed"
    assert [(f["id"], f["type"]) for f in reviewed.json()["findings"]] == [
        ("f1", "deep_caries"),
        ("f2", "filling"),
        ("d1", "periapical_lesion"),
    ]
    assert reviewed.json()["review"]["reviewed_by"] == "dr-lee"
    audit = client.get(f"/api/studies/{study_id}/audit", headers=auth).json()
    changes = {(a["action"], a["subject"]): (a["before"], a["after"]) for a in audit}
    assert set(changes) == {("add", "finding d1"), ("edit", "finding f1"), ("reject", "finding f3")}
    assert changes[("edit", "finding f1")][0]["type"] == "caries"
    assert changes[("edit", "finding f1")][1]["type"] == "deep_caries"
    assert changes[("reject", "finding f3")][1] is None
    assert all(a["user"] == "dr-lee" and a["at"] for a in audit)
    assert client.get(f"/api/studies/{study_id}", headers=auth).json()["pending_findings"] == []


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda d: d["findings"][0].update(box=[100, 100, 50, 50]), "findings[0].box"),
        (lambda d: d["findings"][0].update(type="cavity"), "findings[0].type"),
        (lambda d: d["image"].update(sha256="0" * 64), "not this study's scan"),
        (lambda d: d.pop("teeth"), "teeth"),
    ],
    ids=["reversed-box", "unknown-type", "other-scan", "missing-teeth"],
)
def test_put_refuses_invalid_documents_naming_the_field(
    client: TestClient, auth: dict[str, str], change: Callable[[dict[str, Any]], Any], words: str
) -> None:
    study_id = upload(client, auth, scan_png(7))
    document = wait_for_findings(client, auth, study_id).json()
    change(document)
    response = client.put(f"/api/studies/{study_id}/findings", headers=auth, json=document)
    assert response.status_code == 422
    assert words in response.json()["detail"]
    assert client.get(f"/api/studies/{study_id}/findings", headers=auth).headers["x-findings-version"] == "model"


@pytest.mark.parametrize("value", [float("nan"), float("inf")], ids=["NaN", "Infinity"])
def test_put_refuses_numbers_json_cannot_hold_and_the_findings_stay_readable(
    client: TestClient, auth: dict[str, str], value: float
) -> None:
    study_id = upload(client, auth, scan_png(17))
    document = wait_for_findings(client, auth, study_id).json()
    document["image"]["pixel_spacing_mm"] = [0.1, value]
    body = json.dumps(document)  # Python writes NaN and Infinity, as a careless client would
    response = client.put(
        f"/api/studies/{study_id}/findings", headers={**auth, "Content-Type": "application/json"}, content=body
    )
    assert response.status_code == 422
    assert "image.pixel_spacing_mm[1]" in response.json()["detail"]
    assert client.get(f"/api/studies/{study_id}/findings", headers=auth).status_code == 200


def test_put_bounds_the_number_of_findings_and_the_size_of_the_body(client: TestClient, auth: dict[str, str]) -> None:
    study_id = upload(client, auth, scan_png(18))
    document = wait_for_findings(client, auth, study_id).json()
    finding = {"type": "caries", "tooth": "36", "box": [10, 10, 50, 60], "source": "dentist"}
    document["findings"] = [{**finding, "id": f"d{i}"} for i in range(1001)]
    response = client.put(f"/api/studies/{study_id}/findings", headers=auth, json=document)
    assert response.status_code == 422
    assert "1001 entries, more than the 1000" in response.json()["detail"]
    document["findings"] = [{**finding, "id": f"d{i}"} for i in range(100_000)]  # about 8 MB
    response = client.put(f"/api/studies/{study_id}/findings", headers=auth, json=document)
    assert response.status_code == 413
    document["findings"] = [{**finding, "id": "d1", "note": "n" * 2001}]
    response = client.put(f"/api/studies/{study_id}/findings", headers=auth, json=document)
    assert response.status_code == 422 and "findings[0].note: 2001 characters" in response.json()["detail"]
    assert client.get(f"/api/studies/{study_id}/audit", headers=auth).json() == []


@pytest.mark.parametrize("limit", [-1, 0, 501])
def test_the_study_list_limit_stays_within_1_to_500(client: TestClient, auth: dict[str, str], limit: int) -> None:
    assert client.get("/api/studies", headers=auth, params={"limit": limit}).status_code == 422


def test_a_file_name_longer_than_255_characters_is_shortened_keeping_its_extension(
    client: TestClient, auth: dict[str, str]
) -> None:
    study_id = upload(client, auth, scan_png(19), name="x" * 1000 + ".png")
    source = wait_for_findings(client, auth, study_id).json()["image"]["source"]
    assert len(source) == 255 and source.startswith("xxx") and source.endswith("\u2026.png")


def _pdf_text(pdf: bytes) -> str:
    return subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()


@BOTH_DATABASES
def test_report_uses_the_reviewed_findings_else_the_models(client: TestClient, auth: dict[str, str]) -> None:
    study_id = upload(client, auth, scan_png(8), patient_name="Boris Test")
    document = wait_for_findings(client, auth, study_id).json()
    first = client.get(f"/api/studies/{study_id}/report.pdf", params={"lang": "ru"}, headers=auth)
    assert first.status_code == 200 and first.headers["content-type"] == "application/pdf"
    assert "attachment" in first.headers["content-disposition"]
    text = _pdf_text(first.content)
    assert "language ru" in text and "patient Boris Test" in text
    assert all(f"finding {i}" in text for i in ("f1", "f2", "f3"))
    document["findings"] = [f for f in document["findings"] if f["id"] == "f2"]
    assert client.put(f"/api/studies/{study_id}/findings", headers=auth, json=document).status_code == 200
    text = _pdf_text(client.get(f"/api/studies/{study_id}/report.pdf", headers=auth).content)
    assert "finding f2 filling 46" in text and "f1" not in text and "f3" not in text


def test_report_language_must_be_known(client: TestClient, auth: dict[str, str]) -> None:
    study_id = upload(client, auth, scan_png(9))
    wait_for_findings(client, auth, study_id)
    response = client.get(f"/api/studies/{study_id}/report.pdf", params={"lang": "de"}, headers=auth)
    assert response.status_code == 422
    assert response.json()["detail"] == "unknown report language 'de'; valid report languages are: en, ru, zh"


def test_without_a_report_stage_the_report_answers_503(make_client: Callable[..., TestClient]) -> None:
    client = make_client(renderer=None)
    auth = bearer(client)
    study_id = upload(client, auth, scan_png(10))
    wait_for_findings(client, auth, study_id)
    response = client.get(f"/api/studies/{study_id}/report.pdf", headers=auth)
    assert response.status_code == 503
    assert "report stage could not be loaded" in response.json()["detail"]


def test_a_report_without_a_font_for_its_text_answers_503_naming_the_package(
    make_client: Callable[..., TestClient],
) -> None:
    def no_chinese_font(
        radiograph: Radiograph, findings: Findings, language: str, previous: Findings | None = None
    ) -> bytes:
        raise MissingFontError("no installed font has Chinese characters: install fonts-wqy-microhei")

    client = make_client(renderer=no_chinese_font)
    auth = bearer(client)
    study_id = upload(client, auth, scan_png(11))
    wait_for_findings(client, auth, study_id)
    response = client.get(f"/api/studies/{study_id}/report.pdf?lang=zh", headers=auth)
    assert response.status_code == 503 and "fonts-wqy-microhei" in response.json()["detail"]


def test_without_a_detection_stage_studies_are_marked_unavailable(make_client: Callable[..., TestClient]) -> None:
    client = make_client(analyser=None)
    auth = bearer(client)
    study_id = upload(client, auth, scan_png(11))
    response = client.get(f"/api/studies/{study_id}/findings", headers=auth)
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert "no detection model is installed" in response.json()["detail"]
    report = client.get(f"/api/studies/{study_id}/report.pdf", headers=auth)
    assert report.status_code == 422 and "no findings yet" in report.json()["detail"]


def test_a_failing_analyser_marks_the_study_failed_with_its_message(make_client: Callable[..., TestClient]) -> None:
    def broken(radiograph: Radiograph) -> Findings:
        raise XrayReportError("model file models/teeth.onnx is missing")

    client = make_client(analyser=broken)
    auth = bearer(client)
    study_id = upload(client, auth, scan_png(12))
    response = wait_for_findings(client, auth, study_id)
    assert response.status_code == 409
    assert response.json() == {"status": "failed", "detail": "analysis failed: model file models/teeth.onnx is missing"}


def test_findings_for_another_image_are_not_stored(make_client: Callable[..., TestClient]) -> None:
    from dataclasses import replace

    from .doubles import analyse_for_tests

    def confused(radiograph: Radiograph) -> Findings:
        document = analyse_for_tests(radiograph)
        return replace(document, image=replace(document.image, sha256="1" * 64))

    client = make_client(analyser=confused)
    auth = bearer(client)
    response = wait_for_findings(client, auth, upload(client, auth, scan_png(13)))
    assert response.status_code == 409
    assert "another image" in response.json()["detail"]


def _patient_of(client: TestClient, auth: dict[str, str], study_id: str) -> int:
    number: int = client.get(f"/api/studies/{study_id}", headers=auth).json()["patient"]
    return number


@BOTH_DATABASES
def test_patch_corrects_patient_details_audited_as_on_the_page_and_the_report_carries_them(
    client: TestClient, auth: dict[str, str]
) -> None:
    from .test_pages import _audit_rows, login  # imported here: test_pages imports this module

    study_id = upload(client, auth, scan_png(14), patient_name="Gus Test", birth_date="1975-06-07")
    patient = _patient_of(client, auth, study_id)
    details = client.get(f"/api/patients/{patient}", headers=auth)
    assert details.status_code == 200
    assert details.json() == {
        "id": patient,
        "name": "Gus Test",
        "patient_id": None,
        "birth_date": "1975-06-07",
        "sex": None,
        "language": None,
        "email": None,
    }

    change = {"name": " Gus Edited ", "patient_id": "G-7", "sex": "m", "language": "ZH", "email": " gus@example.com "}
    edited = client.patch(f"/api/patients/{patient}", headers=auth, json=change)
    assert edited.status_code == 200, edited.text
    expected = {
        "id": patient,
        "name": "Gus Edited",
        "patient_id": "G-7",
        "birth_date": "1975-06-07",
        "sex": "M",
        "language": "zh",
        "email": "gus@example.com",
    }
    assert edited.json() == expected  # the birth date, left out, is kept
    assert client.get(f"/api/patients/{patient}", headers=auth).json() == expected
    (entry,) = client.get(f"/api/patients/{patient}/audit", headers=auth).json()
    assert entry["user"] == "dr-lee" and entry["at"]
    assert (entry["action"], entry["subject"]) == ("edit", "patient details")
    before = {"name": "Gus Test", "patient_id": None, "sex": None, "language": None, "email": None}
    assert entry["before"] == before  # only what changed
    assert entry["after"] == {k: expected[k] for k in before}
    login(client)  # the page lists the API's change as one of its own
    (row,) = _audit_rows(client.get(f"/patients/{patient}").text, "Changes to the details")
    assert row.endswith(
        "dr-lee edit patient details name: Gus Test, patient ID: —, sex: —, language: —, e-mail address: — "
        "name: Gus Edited, patient ID: G-7, sex: M, language: zh, e-mail address: gus@example.com"
    )
    assert client.get(f"/api/studies/{study_id}/audit", headers=auth).json() == []  # the findings' trail is apart

    assert client.patch(f"/api/patients/{patient}", headers=auth, json=change).json() == expected
    assert client.patch(f"/api/patients/{patient}", headers=auth, json={}).json() == expected
    assert len(client.get(f"/api/patients/{patient}/audit", headers=auth).json()) == 1  # nothing changed twice
    cleared = client.patch(f"/api/patients/{patient}", headers=auth, json={"patient_id": None, "sex": ""})
    assert cleared.json() == {**expected, "patient_id": None, "sex": None}
    latest, _first = client.get(f"/api/patients/{patient}/audit", headers=auth).json()
    assert (latest["before"], latest["after"]) == ({"patient_id": "G-7", "sex": "M"}, {"patient_id": None, "sex": None})

    assert wait_for_findings(client, auth, study_id).status_code == 200
    report = client.get(f"/api/studies/{study_id}/report.pdf", headers=auth)
    text = _pdf_text(report.content)
    assert "patient Gus Edited" in text and "patient ID None born 1975-06-07 sex None" in text
    assert "Gus Test" not in text
    assert "language zh" in text and report.headers["content-disposition"].endswith('-zh.pdf"')  # the patient's
    assert "language ru" in _pdf_text(client.get(f"/api/studies/{study_id}/report.pdf?lang=ru", headers=auth).content)


@BOTH_DATABASES
def test_bad_patient_details_are_refused_with_422_naming_each_field(client: TestClient, auth: dict[str, str]) -> None:
    other = client.post("/api/patients", headers=auth, json={"name": "Other Patient", "patient_id": "OTHER-1"}).json()
    created = client.post("/api/patients", headers=auth, json={"name": "Hana Test", "birth_date": "1990-01-02"})
    assert created.status_code == 201
    patient = created.json()
    dates = {"birth_date": "use the form YYYY-MM-DD, e.g. 1984-03-27"}
    cases = [
        ({"birth_date": "02.01.1990"}, dates),
        ({"birth_date": "1990-02-30"}, dates),
        ({"sex": "X"}, {"sex": "use F, M or O, or leave it empty when unknown"}),
        (
            {"name": "N" * 201, "patient_id": "P" * 65, "sex": "female"},
            {
                "name": "use at most 200 characters",
                "patient_id": "use at most 64 characters",
                "sex": "use F, M or O, or leave it empty when unknown",
            },
        ),
        (
            {"language": "fr", "email": "jane doe@example.com"},
            {
                "language": "use en, zh, ru, or leave it empty when not chosen",
                "email": "an e-mail address has no spaces or line breaks; check what was typed",
            },
        ),
        ({"email": "jane.example.com"}, {"email": "use the form name@example.com, with one @"}),
        ({"email": "j" * 243 + "@example.com"}, {"email": "use at most 254 characters"}),  # 255 characters
        (
            {"patient_id": " OTHER-1 "},
            {"patient_id": f"'OTHER-1' is patient #{other['id']}'s already; check the ID, or upload to that patient"},
        ),
    ]
    for change, fields in cases:
        response = client.patch(f"/api/patients/{patient['id']}", headers=auth, json=change)
        assert response.status_code == 422, change
        assert response.json() == {"detail": "; ".join(f"{k}: {v}" for k, v in fields.items()), "fields": fields}
    for change, field in (({"birthdate": "1990-01-02"}, "birthdate"), ({"name": 5}, "name")):  # FastAPI's own 422
        response = client.patch(f"/api/patients/{patient['id']}", headers=auth, json=change)
        assert response.status_code == 422
        assert [error["loc"] for error in response.json()["detail"]] == [["body", field]]
    assert client.get(f"/api/patients/{patient['id']}", headers=auth).json() == patient
    assert client.get(f"/api/patients/{patient['id']}/audit", headers=auth).json() == []

    refused = client.post("/api/patients", headers=auth, json={"name": "Ivo Test", "birth_date": "1990-13-01"})
    assert refused.status_code == 422 and refused.json()["fields"] == dates  # creating checks the same way
    assert [p["name"] for p in client.get("/api/patients", headers=auth).json()] == ["Hana Test", "Other Patient"]


def test_unknown_patient_is_404(client: TestClient, auth: dict[str, str]) -> None:
    for response in (
        client.get("/api/patients/999", headers=auth),
        client.patch("/api/patients/999", headers=auth, json={"name": "Someone"}),
        client.get("/api/patients/999/audit", headers=auth),
    ):
        assert response.status_code == 404
        assert "no patient #999" in response.json()["detail"]
    assert client.get("/api/patients", headers=auth).json() == []


def test_unknown_study_is_404(client: TestClient, auth: dict[str, str]) -> None:
    response = client.get("/api/studies/0123/findings", headers=auth)
    assert response.status_code == 404
    assert "no study '0123'" in response.json()["detail"]


def test_openapi_documents_the_api(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {
        "/api/token",
        "/api/studies",
        "/api/studies/{study_id}/findings",
        "/api/studies/{study_id}/report.pdf",
    } <= set(paths)
    assert "/login" not in paths


def test_openapi_documents_the_patient_calls(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    details = spec["paths"]["/api/patients/{patient}"]
    assert set(details) == {"get", "patch"}

    def ref(response: dict[str, Any]) -> str:
        ref: str = response["content"]["application/json"]["schema"]["$ref"]
        return ref.rsplit("/", 1)[1]

    assert ref(details["get"]["responses"]["200"]) == ref(details["patch"]["responses"]["200"]) == "PatientOut"
    assert ref(details["patch"]["requestBody"]) == "PatientChange"
    assert ref(details["patch"]["responses"]["422"]) == "PatientProblems"
    assert "404" in details["get"]["responses"] and "404" in details["patch"]["responses"]
    schemas = spec["components"]["schemas"]
    fields = {"name", "patient_id", "birth_date", "sex", "language", "email"}
    assert set(schemas["PatientOut"]["properties"]) == {"id", *fields}
    assert set(schemas["PatientChange"]["properties"]) == fields
    assert schemas["PatientChange"]["additionalProperties"] is False
    audit = spec["paths"]["/api/patients/{patient}/audit"]["get"]["responses"]["200"]
    assert audit["content"]["application/json"]["schema"]["items"]["$ref"].endswith("/AuditEntryOut")
