"""The recall by e-mail: through a real SMTP server on 127.0.0.1, in the patient's language, with the letter
attached; recorded as a contact and audited; refused with what to do when it may not or cannot be sent."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from mail.smtp_server import SmtpServer, unused_port

from .conftest import BOTH_DATABASES, REFUSED_ADDRESS, bearer, mail_section
from .test_pages import _csrf, login
from .test_recalls import _issued_patient
from .test_throttle import Clock

ADDRESS = "olga.test@example.org"
SECRETS = ("Olga", "olga", "Напоминание", "Здравствуйте", "напоминаем")


def _mailable_patient(client: TestClient, seed: int, email: str = ADDRESS) -> int:
    """An issued patient who chose Russian, gave ``email`` and agreed to be contacted by e-mail in the evening."""
    auth = bearer(client)
    patient = _issued_patient(client, seed, "Olga Test")
    assert client.patch(f"/api/patients/{patient}", headers=auth, json={"language": "ru", "email": email}).is_success
    consent = {"channel": "email", "time_window": "evenings"}
    assert client.put(f"/api/patients/{patient}/consent", headers=auth, json=consent).status_code == 200
    return patient


def _pdf_text(pdf: bytes) -> str:
    printed = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout
    return " ".join(printed.decode().split())


@BOTH_DATABASES
def test_the_recall_goes_by_e_mail_in_the_patients_language_and_counts_as_a_contact(
    make_client: Callable[..., TestClient], mail_server: SmtpServer
) -> None:
    clock = Clock()  # 2026-03-02: the patient comes and gets a plan
    client = make_client(clock=clock)
    auth = bearer(client)
    patient = _mailable_patient(client, 70)
    clock.at(60 * 24 * 31)  # 2026-04-02: a month on, on the recall list
    auth = bearer(client)  # the first token is long expired
    assert [e["patient"] for e in client.get("/api/recalls", headers=auth).json()["entries"]] == [patient]

    sent = client.post(f"/api/patients/{patient}/recall-mail", headers=auth)
    assert sent.status_code == 201, sent.text
    assert sent.json() == {"on": "2026-04-02", "channel": "email", "outcome": "sent", "by": "dr-lee"}
    (received,) = mail_server.received
    assert received.recipients == [ADDRESS] and received.sender == "recall@smile.example"
    message = received.message
    assert message["To"] == ADDRESS and message["From"] == "Smile Dental <recall@smile.example>"
    assert message["Subject"] == "Напоминание от вашего стоматолога"
    body = message.get_body(("plain",))
    assert body is not None
    lines = body.get_content().replace("\r\n", "\n").split("\n")
    assert lines[0] == "Здравствуйте, Olga Test!"
    assert lines[2].startswith("Smile Dental: напоминаем о вашем плане лечения: ")
    assert lines[2].endswith("Запишитесь на приём по телефону 555 0100.")
    assert lines[4:6] == ["С уважением,", "Smile Dental"]
    (letter,) = message.iter_attachments()
    assert letter.get_filename() == "recall-letter-ru.pdf" and letter.get_content_type() == "application/pdf"
    assert "Здравствуйте, Olga Test!" in _pdf_text(letter.get_content())

    found = client.get("/api/recalls", headers=auth).json()
    assert found["entries"] == [] and found["recently_contacted"] == 1  # contacted: off the list for 14 days
    clock.at(60 * 24 * (31 + 14))
    auth = bearer(client)
    assert [e["patient"] for e in client.get("/api/recalls", headers=auth).json()["entries"]] == [patient]
    assert client.get(f"/api/patients/{patient}/contacts", headers=auth).json() == [sent.json()]
    latest = client.get(f"/api/patients/{patient}/audit", headers=auth).json()[0]
    assert (latest["action"], latest["subject"], latest["user"]) == ("send", "recall e-mail", "dr-lee")
    assert (latest["before"], latest["after"]) == (None, {"email": ADDRESS, "language": "ru"})


def test_without_consent_to_e_mail_or_an_address_it_answers_409(
    make_client: Callable[..., TestClient], mail_server: SmtpServer
) -> None:
    client = make_client(clock=Clock())
    auth = bearer(client)
    patient = _mailable_patient(client, 71, email="")
    path = f"/api/patients/{patient}/recall-mail"
    cases = [
        (lambda: None, "this patient has no e-mail address; add it on their details page"),
        (
            lambda: client.put(f"/api/patients/{patient}/consent", headers=auth, json={"channel": "sms"}),
            "this patient agreed to be contacted by sms, not e-mail; record a new consent if they chose e-mail",
        ),
        (
            lambda: client.delete(f"/api/patients/{patient}/consent", headers=auth),
            "this patient has not agreed to be contacted (or withdrew); record their consent, channel email, first",
        ),
    ]
    for change, detail in cases:
        change()
        refused = client.post(path, headers=auth)
        assert (refused.status_code, refused.json()["detail"]) == (409, detail)
    assert mail_server.received == [] and client.get(f"/api/patients/{patient}/contacts", headers=auth).json() == []


def test_without_mail_set_up_or_when_the_server_refuses_it_answers_503_and_records_nothing(
    make_client: Callable[..., TestClient], mail_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = make_client(clock=Clock())
    auth = bearer(client)
    patient = _mailable_patient(client, 72, email=REFUSED_ADDRESS)
    path = f"/api/patients/{patient}/recall-mail"
    refused = client.post(path, headers=auth)
    assert (refused.status_code, refused.json()["detail"]) == (
        503,
        f"the mail server 127.0.0.1:{mail_server.port} refused the recipient (550); check the patient's e-mail address",
    )
    clinic = client.app.state.workspace.config.home / "clinic.yaml"  # type: ignore[attr-defined]
    closed_port = unused_port()
    clinic.write_text("name: Smile Dental\n" + mail_section(closed_port), encoding="utf-8")
    unreachable = client.post(path, headers=auth)
    assert (unreachable.status_code, unreachable.json()["detail"]) == (
        503,
        f"cannot reach the mail server 127.0.0.1:{closed_port} (Connection refused); check mail: host and port",
    )
    clinic.write_text("name: Smile Dental\n", encoding="utf-8")
    not_set_up = client.post(path, headers=auth)
    assert (not_set_up.status_code, not_set_up.json()["detail"]) == (
        503,
        "e-mail is not set up on this server: add a mail: section (host, sender) to clinic.yaml in the workspace's "
        "folder (see docs/mail.md)",
    )
    clinic.write_text("name: Smile Dental\nmail: {host: 127.0.0.1, sender: recall@smile.example, password: x}\n")
    broken = client.post(path, headers=auth)
    assert broken.status_code == 503 and "mail: password: never put the password in this file" in broken.text
    assert mail_server.received == [] and client.get(f"/api/patients/{patient}/contacts", headers=auth).json() == []
    # The test's HTTP client and the test SMTP server (the clinic's mail server) log what they like; the rest is ours.
    ours = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore", "mail."))]
    logged = "\n".join(r.getMessage() for r in ours)
    assert "a recall e-mail was not sent: the mail server 127.0.0.1" in logged
    assert not [s for s in (*SECRETS, "refused@") if s in logged + refused.text + unreachable.text], logged


def test_the_log_of_a_sent_recall_names_nobody(
    make_client: Callable[..., TestClient], mail_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = make_client(clock=Clock())
    patient = _mailable_patient(client, 73)
    assert client.post(f"/api/patients/{patient}/recall-mail", headers=bearer(client)).status_code == 201
    ours = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore", "mail."))]
    logged = "\n".join(r.getMessage() for r in ours)
    assert f"e-mail handed to 127.0.0.1:{mail_server.port} (1 attachment(s))" in logged
    assert f"POST /api/patients/{patient}/recall-mail 201" in logged
    assert not [s for s in SECRETS if s in logged], logged


def test_the_patient_page_sends_it_when_everything_is_in_place(
    make_client: Callable[..., TestClient], mail_server: SmtpServer
) -> None:
    client = make_client(clock=Clock())
    auth = bearer(client)
    patient = _mailable_patient(client, 74)
    login(client)
    page = client.get(f"/patients/{patient}").text
    assert "Send by e-mail</button>" in page and f"in Русский, to {ADDRESS}" in page
    page = client.post(f"/patients/{patient}/recall-mail", data={"csrf": _csrf(page)}).text
    assert "Recall e-mail sent and recorded as a contact." in page
    assert "<td>2026-03-02</td><td>dr-lee</td><td>email</td><td>sent</td>" in page
    assert len(mail_server.received) == 1
    client.put(f"/api/patients/{patient}/consent", headers=auth, json={"channel": "phone"})
    page = client.get(f"/patients/{patient}").text
    assert "Send by e-mail" not in page and "by e-mail is not available" not in page  # they chose the phone
    client.put(f"/api/patients/{patient}/consent", headers=auth, json={"channel": "email"})
    clinic = client.app.state.workspace.config.home / "clinic.yaml"  # type: ignore[attr-defined]
    clinic.write_text("name: Smile Dental\n", encoding="utf-8")
    page = client.get(f"/patients/{patient}").text
    assert "Send by e-mail</button>" not in page
    assert "Sending the recall by e-mail is not available: e-mail is not set up on this server" in page
    forged = client.post(f"/patients/{patient}/recall-mail", data={}, follow_redirects=False)
    assert forged.status_code == 403 and len(mail_server.received) == 1
