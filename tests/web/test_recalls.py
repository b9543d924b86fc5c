"""The recall list in the workspace: consent recorded and withdrawn (audited), sleeping patients listed with
their reason, the CSV for the phone."""

from __future__ import annotations

import csv
import io
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from xrayreport.web.config import WebConfig
from xrayreport.web.families import family_language
from xrayreport.web.models import Family, Patient

from .conftest import BOTH_DATABASES, bearer, scan_png, upload, wait_for_findings
from .test_pages import _csrf, login
from .test_throttle import Clock


def _issued_patient(client: TestClient, seed: int, name: str) -> int:
    auth = bearer(client)
    study_id = upload(client, auth, scan_png(seed), patient_name=name)
    document = wait_for_findings(client, auth, study_id).json()
    client.put(f"/api/studies/{study_id}/findings", headers=auth, json=document)
    assert client.post(f"/api/studies/{study_id}/issue", headers=auth).status_code == 200
    patient: int = client.get(f"/api/studies/{study_id}", headers=auth).json()["patient"]
    return patient


@BOTH_DATABASES
def test_sleeping_patients_with_consent_are_listed_with_their_reason(make_client: Callable[..., TestClient]) -> None:
    clock = Clock()  # 2026-03-02: both patients come and get a plan
    client = make_client(clock=clock)
    agreed = _issued_patient(client, 60, "=HYPERLINK(1)")  # a name a spreadsheet would run as a formula
    silent = _issued_patient(client, 61, "No Consent")
    consent = {"channel": "sms", "time_window": "after 6 pm"}
    assert client.put(f"/api/patients/{agreed}/consent", headers=bearer(client), json=consent).status_code == 200
    refused = client.put(f"/api/patients/{silent}/consent", headers=bearer(client), json={"channel": "pigeon"})
    assert refused.status_code == 422 and "valid contact channels are: email, letter, phone, sms" in refused.text
    clock.at(60 * 24 * 30)  # 2026-04-01: 30 days, nobody sleeps yet (category 1 waits a month)
    nobody = {"entries": [], "without_consent": 0, "recently_contacted": 0}
    assert client.get("/api/recalls", headers=bearer(client)).json() == nobody
    clock.at(60 * 24 * 31)  # 2026-04-02: a month after 2026-03-02
    found = client.get("/api/recalls", headers=bearer(client)).json()
    assert found["without_consent"] == 1
    (entry,) = found["entries"]
    assert entry["patient"] == agreed and entry["contact"] == "sms, after 6 pm" and entry["waited_days"] == 31
    assert entry["category"] == "came, chief complaint not treated"
    assert entry["reason"] in (
        "A filling, tooth 17: due by 2026-03-30, not booked",
        "A filling, tooth 36: due by 2026-03-30, not booked",
    )
    rows = list(csv.reader(io.StringIO(client.get("/api/recalls.csv", headers=bearer(client)).text)))
    assert rows[0][:3] == ["patient", "name", "category"] and rows[1][1] == "'=HYPERLINK(1)"
    login(client)
    page = client.get("/recalls").text
    assert "1</b> more without that consent are left out" in page and "after 6 pm" in page
    form = {"csrf": _csrf(page), "channel": "sms", "outcome": "call back", "back": "recalls"}
    page = client.post(f"/patients/{agreed}/contacts", data=form).text  # the list's own form
    assert "Contact with =HYPERLINK(1) recorded (call back)." in page and "Nobody to call today." in page
    assert client.get("/api/recalls", headers=bearer(client)).json()["recently_contacted"] == 1
    clock.at(60 * 24 * (31 + 14))  # 14 days after the contact: listed again
    assert [e["patient"] for e in client.get("/api/recalls", headers=bearer(client)).json()["entries"]] == [agreed]
    contacts = client.get(f"/api/patients/{agreed}/contacts", headers=bearer(client)).json()
    assert contacts == [{"on": "2026-04-02", "channel": "sms", "outcome": "call back", "by": "dr-lee"}]
    refused = client.post(
        f"/api/patients/{agreed}/contacts", headers=bearer(client), json={"channel": "sms", "outcome": "maybe"}
    )
    assert (
        refused.status_code == 422
        and "valid contact outcomes are: booked, call back, declined, sent, unreachable" in refused.text
    )
    assert client.delete(f"/api/patients/{agreed}/consent", headers=bearer(client)).status_code == 204
    assert client.get("/api/recalls", headers=bearer(client)).json()["without_consent"] == 2
    audit = client.get(f"/api/patients/{agreed}/audit", headers=bearer(client)).json()
    assert [a["action"] for a in audit[:2]] == ["withdraw", "consent"]


def test_consent_on_the_patient_page(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    patient = _issued_patient(client, 62, "Page Consent")
    csrf = login(client)
    page = client.post(
        f"/patients/{patient}/consent",
        data={"csrf": csrf, "action": "record", "channel": "phone", "time_window": "mornings"},
    ).text
    assert "Consent recorded." in page and "Agreed to be contacted by <b>phone, mornings</b>" in page
    page = client.post(f"/patients/{patient}/consent", data={"csrf": csrf, "action": "withdraw"}).text
    assert "Consent withdrawn." in page and "No consent to be contacted" in page


def test_the_clinic_file_sets_the_waiting_times(
    make_client: Callable[..., TestClient], make_config: Callable[..., WebConfig], seed_home: Callable[[Path], None]
) -> None:
    home = make_config().home
    seed_home(home)
    (home / "clinic.yaml").write_text("recalls:\n  sleeping_after_months: {not_treated: 2}\n", encoding="utf-8")
    clock = Clock()
    client = make_client(clock=clock)
    patient = _issued_patient(client, 63, "Two Months")
    client.put(f"/api/patients/{patient}/consent", headers=bearer(client), json={"channel": "phone"})
    clock.at(60 * 24 * 31)  # 2026-04-02: a month on; this clinic waits two
    assert client.get("/api/recalls", headers=bearer(client)).json()["entries"] == []
    clock.at(60 * 24 * 61)  # 2026-05-02
    assert [e["patient"] for e in client.get("/api/recalls", headers=bearer(client)).json()["entries"]] == [patient]


def test_the_recall_letter_and_message_name_the_open_steps(make_client: Callable[..., TestClient]) -> None:
    client = make_client(clock=Clock())
    patient = _issued_patient(client, 64, "Letter Test")
    message = client.get(f"/api/patients/{patient}/recall-message?lang=ru", headers=bearer(client))
    assert message.status_code == 200
    assert message.json()["text"].startswith("Ваша стоматологическая клиника: напоминаем о вашем плане лечения:")
    pdf = client.get(f"/api/patients/{patient}/recall-letter.pdf", headers=bearer(client))
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = " ".join(
        subprocess.run(["pdftotext", "-", "-"], input=pdf.content, capture_output=True).stdout.decode().split()
    )
    assert "Dear Letter Test," in text and "When you came on 2 March 2026" in text
    assert "A filling — tooth 17 (planned by 30 March 2026)" in text
    card = client.get(f"/api/patients/{patient}/next-visit-card.pdf", headers=bearer(client))
    printed = subprocess.run(["pdftotext", "-", "-"], input=card.content, capture_output=True, check=True).stdout
    card_text = " ".join(printed.decode().split())
    assert "Your next visit Letter Test A filling — tooth 17 (planned by 30 March 2026)" in card_text
    unknown = client.get(f"/api/patients/{patient}/recall-message?lang=fr", headers=bearer(client))
    assert unknown.status_code == 422 and "valid letter languages are: en, ru, zh" in unknown.text


def _pdf_text(pdf: bytes) -> str:
    printed = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout
    return " ".join(printed.decode().split())


def test_letters_cards_and_messages_are_in_the_patients_language_unless_another_is_asked(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(clock=Clock())
    auth = bearer(client)
    patient = _issued_patient(client, 67, "Olga Test")
    assert client.patch(f"/api/patients/{patient}", headers=auth, json={"language": "ru"}).status_code == 200
    message = client.get(f"/api/patients/{patient}/recall-message", headers=auth).json()
    assert message["lang"] == "ru" and message["text"].startswith("Ваша стоматологическая клиника: напоминаем")
    asked = client.get(f"/api/patients/{patient}/recall-message?lang=en", headers=auth).json()
    assert asked["lang"] == "en" and asked["text"].startswith("Your dental clinic: a reminder about your dental plan")
    letter = client.get(f"/api/patients/{patient}/recall-letter.pdf", headers=auth)
    assert letter.headers["content-disposition"] == f'inline; filename="recall-letter-{patient}-ru.pdf"'
    assert "Здравствуйте, Olga Test!" in _pdf_text(letter.content)
    letter = client.get(f"/api/patients/{patient}/recall-letter.pdf?lang=zh", headers=auth)
    assert "Olga Test，您好：" in _pdf_text(letter.content)
    card = client.get(f"/api/patients/{patient}/next-visit-card.pdf", headers=auth)
    assert card.headers["content-disposition"] == f'inline; filename="next-visit-{patient}-ru.pdf"'
    login(client)
    page = client.get(f"/patients/{patient}").text
    assert '<option value="ru" selected>Русский</option>' in page and "<dd>Русский</dd>" in page
    printed = client.get(f"/patients/{patient}/recall-letter.pdf")  # the page's own link, without ?lang=
    assert printed.headers["content-disposition"].endswith(f'recall-letter-{patient}-ru.pdf"')
    (study,) = client.get(f"/api/studies?patient={patient}", headers=auth).json()
    assert '<option value="ru" selected>Русский</option>' in client.get(f"/studies/{study['id']}").text
    report = client.get(f"/studies/{study['id']}/report.pdf")  # the report too, unless asked otherwise
    assert report.headers["content-disposition"].endswith('-ru.pdf"')
    assert client.get(f"/studies/{study['id']}/report.pdf?lang=zh").headers["content-disposition"].endswith('-zh.pdf"')


@pytest.mark.parametrize(
    ("chosen", "language"),
    [
        ((), None),  # the letter is then in English
        ((None, None), None),
        ((None, "ru"), "ru"),
        (("zh", "ru", "zh"), "zh"),
        (("ru", "ru", "zh", None), "ru"),
        (("ru", "zh"), "zh"),  # a tie: the first of en, zh, ru
        (("ru", "en"), "en"),
    ],
)
def test_a_family_letter_is_in_the_language_most_members_chose(
    chosen: tuple[str | None, ...], language: str | None
) -> None:
    family = Family(name="Doe", members=[Patient(language=code) for code in chosen])
    assert family_language(family) == language


def test_the_family_letter_defaults_to_the_members_language(make_client: Callable[..., TestClient]) -> None:
    client = make_client(clock=Clock())
    auth = bearer(client)
    first = _issued_patient(client, 68, "Na Li")
    second = client.post("/api/patients", headers=auth, json={"name": "Wei Li"}).json()["id"]
    family = client.put(f"/api/patients/{first}/family", headers=auth, json={"with_patient": second}).json()["id"]
    path = f"/api/families/{family}/letter.pdf"
    assert client.get(path, headers=auth).headers["content-disposition"].endswith(f'family-letter-{family}-en.pdf"')
    client.patch(f"/api/patients/{second}", headers=auth, json={"language": "zh"})
    letter = client.get(path, headers=auth)
    assert letter.headers["content-disposition"].endswith(f'family-letter-{family}-zh.pdf"')
    assert "Li一家，您好：" in _pdf_text(letter.content)  # one member chose Chinese, the other nothing
    assert client.get(f"{path}?lang=ru", headers=auth).headers["content-disposition"].endswith('-ru.pdf"')
    login(client)
    assert '<option value="zh" selected>' in client.get(f"/families/{family}").text


def test_the_dashboard_counts_what_happened(
    make_client: Callable[..., TestClient], make_config: Callable[..., WebConfig]
) -> None:
    home = make_config().home
    home.mkdir(parents=True, exist_ok=True)
    (home / "clinic.yaml").write_text(
        "prices:\n  currency: EUR\n  items:\n    filling: {amount: 80, includes: the filling}\n", encoding="utf-8"
    )
    clock = Clock()
    client = make_client(clock=clock)
    patient = _issued_patient(client, 65, "Figure One")
    _issued_patient(client, 66, "Figure Two")
    client.put(f"/api/patients/{patient}/consent", headers=bearer(client), json={"channel": "phone"})
    steps = client.get(f"/api/patients/{patient}/plan", headers=bearer(client)).json()
    filling = next(s for s in steps if s["treatment"] == "filling")
    client.patch(f"/api/plan-steps/{filling['id']}", headers=bearer(client), json={"state": "done", "on": "2026-03-02"})
    clock.at(60 * 24 * 40)  # 2026-04-11
    client.post(
        f"/api/patients/{patient}/contacts", headers=bearer(client), json={"channel": "phone", "outcome": "booked"}
    )
    figures = {
        f["title"]: {b["label"]: b["value"] for b in f["bars"]}
        for f in client.get("/api/dashboard", headers=bearer(client)).json()
    }
    assert figures["Patients seen, per month"]["2026-03"] == 2 and figures["Patients seen, per month"]["2026-04"] == 0
    assert figures["Patients seen who have a plan"] == {"with a plan": 2, "without": 0}
    assert figures["Plan steps by stage and state"]["restore: done"] == 1
    assert figures["Sleeping patients by category"]["came, chief complaint not treated"] == 1  # Figure Two
    assert figures["Recall contacts this month by outcome"]["booked"] == 1
    value = figures["Lifetime value per patient (EUR)"]
    assert value["bill per visit"] == 40.0 and value["visits per year"] == 1.0 and value["lifetime value"] == 40.0
    login(client)
    page = client.get("/dashboard").text
    assert "Patients seen, per month" in page and "<svg" in page and " style=" not in page
