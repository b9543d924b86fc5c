"""Visits: recorded by hand, or imported from the practice-management system's CSV (all rows or none)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from .conftest import BOTH_DATABASES, bearer, scan_png, upload, wait_for_findings
from .test_pages import login
from .test_throttle import Clock


def _patient_with_plan(client: TestClient, patient_id: str, seed: int) -> int:
    auth = bearer(client)
    study_id = upload(client, auth, scan_png(seed), patient_name="Visit Test", patient_id=patient_id)
    document = wait_for_findings(client, auth, study_id).json()
    client.put(f"/api/studies/{study_id}/findings", headers=auth, json=document)
    client.post(f"/api/studies/{study_id}/issue", headers=auth)
    number: int = client.get(f"/api/studies/{study_id}", headers=auth).json()["patient"]
    return number


def _import(client: TestClient, text: str) -> tuple[int, dict[str, object]]:
    response = client.post("/api/visits/import", headers=bearer(client), files={"file": ("a.csv", text.encode())})
    return response.status_code, response.json()


@BOTH_DATABASES
def test_an_import_records_visits_and_marks_the_treated_steps_done(make_client: Callable[..., TestClient]) -> None:
    clock = Clock()  # 2026-03-02
    client = make_client(clock=clock)
    patient = _patient_with_plan(client, "PMS-7", 70)
    clock.at(60 * 24 * 20)  # 2026-03-22
    bad = (
        "patient_id,date,treatment,teeth\n"
        "PMS-7,2026-03-10,filling,36\n"
        "PMS-8,2026-03-10,,\n"  # nobody has this ID here
        "PMS-7,2026-03-11,implant,\n"  # no implant step is planned
    )
    status, answer = _import(client, bad)
    assert status == 422
    assert answer["problems"] == [
        {"line": 3, "problem": "no patient with the ID 'PMS-8' in the workspace"},
        {"line": 4, "problem": "the patient has no open 'implant' step to mark done"},
    ]
    plan = client.get(f"/api/patients/{patient}/plan", headers=bearer(client)).json()
    assert all(s["state"] == "planned" for s in plan)  # nothing of the bad file was stored
    good = "patient_id,date,treatment,teeth\nPMS-7,2026-03-10,filling,36\nPMS-7,2026-03-12,,\n"
    assert _import(client, good) == (200, {"visits": 2, "steps_done": 1})
    plan = client.get(f"/api/patients/{patient}/plan", headers=bearer(client)).json()
    fillings = {tuple(s["teeth"]): (s["state"], s["on"]) for s in plan if s["treatment"] == "filling"}
    assert fillings == {("17",): ("planned", None), ("36",): ("done", "2026-03-10")}
    audit = client.get(f"/api/patients/{patient}/audit", headers=bearer(client)).json()
    assert audit[0]["action"] == "done"


def test_a_visit_by_hand_counts_for_the_recall_list(make_client: Callable[..., TestClient]) -> None:
    clock = Clock()
    client = make_client(clock=clock)
    patient = _patient_with_plan(client, "PMS-9", 71)
    client.put(f"/api/patients/{patient}/consent", headers=bearer(client), json={"channel": "phone"})
    clock.at(60 * 24 * 40)  # 2026-04-11: asleep since 2026-04-02
    assert len(client.get("/api/recalls", headers=bearer(client)).json()["entries"]) == 1
    added = client.post(f"/api/patients/{patient}/visits", headers=bearer(client), json={"on": "2026-04-10"})
    assert added.status_code == 201
    assert client.get("/api/recalls", headers=bearer(client)).json()["entries"] == []  # came yesterday
    future = client.post(f"/api/patients/{patient}/visits", headers=bearer(client), json={"on": "2026-05-01"})
    assert future.status_code == 422 and "in the future" in future.json()["detail"]


def test_the_import_page_lists_the_bad_rows(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    csrf = login(client)
    page = client.post(
        "/visits/import", data={"csrf": csrf}, files={"file": ("a.csv", b"patient_id,date\nX,tomorrow\n")}
    )
    assert page.status_code == 422
    assert "Nothing was imported" in page.text and "line 2: date &#39;tomorrow&#39; is not a date" in page.text
    page = client.post("/visits/import", data={"csrf": csrf}, files={"file": ("a.csv", "é".encode("latin-1"))})
    assert page.status_code == 422 and "not UTF-8" in page.text
