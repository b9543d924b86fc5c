"""Issuing a report tracks its plan: steps on the patient, their states changed on the page and the API, audited."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from .conftest import BOTH_DATABASES, bearer, scan_png, upload, wait_for_findings
from .test_pages import _csrf, login
from .test_throttle import Clock


def _reviewed_study(client: TestClient, auth: dict[str, str], seed: int) -> tuple[str, int]:
    study_id = upload(client, auth, scan_png(seed), patient_name="Plan Test")
    document = wait_for_findings(client, auth, study_id).json()
    assert client.put(f"/api/studies/{study_id}/findings", headers=auth, json=document).status_code == 200
    return study_id, client.get(f"/api/studies/{study_id}", headers=auth).json()["patient"]


def _fillings(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted((s for s in steps if s["treatment"] == "filling"), key=lambda s: s["teeth"])


@BOTH_DATABASES
def test_issuing_tracks_the_plan_and_states_change_with_what_they_need(make_client: Callable[..., TestClient]) -> None:
    clock = Clock()  # 2026-03-02, the day the scan is issued
    client = make_client(clock=clock)
    auth = bearer(client)
    study_id, patient = _reviewed_study(client, auth, 50)
    issued = client.post(f"/api/studies/{study_id}/issue", headers=auth)
    assert issued.status_code == 200, issued.text
    fillings = _fillings(issued.json()["steps"])
    assert [(s["teeth"], s["stage"], s["due_by"], s["state"]) for s in fillings] == [
        (["17"], "restore", "2026-03-30", "planned"),  # the caries of the test model, 4 weeks on
        (["36"], "restore", "2026-03-30", "planned"),
    ]
    plan = client.get(f"/api/patients/{patient}/plan", headers=auth).json()
    assert {s["id"] for s in plan} == {s["id"] for s in issued.json()["steps"]}
    step = fillings[0]["id"]

    def change(**body: Any) -> Any:  # a fresh token: the clock moves past a token's lifetime
        return client.patch(f"/api/plan-steps/{step}", headers=bearer(client), json=body)

    refused = change(state="booked")
    assert refused.status_code == 422 and "needs its date" in refused.json()["detail"]
    assert change(state="booked", on="2026-03-20").json()["on"] == "2026-03-20"
    clock.at(60 * 24 * 18)  # 2026-03-20
    done = change(state="done", on="2026-03-20").json()
    assert (done["state"], done["on"]) == ("done", "2026-03-20")
    refused = change(state="declined", reason="too expensive")
    assert refused.status_code == 422 and "a done step cannot become declined" in refused.json()["detail"]
    assert change(state="planned").json()["on"] is None  # marked done by mistake: reopened
    audit = client.get(f"/api/patients/{patient}/audit", headers=bearer(client)).json()
    assert [a["action"] for a in audit] == ["planned", "done", "booked", "issue"]
    assert audit[1]["before"]["state"] == "booked" and audit[1]["after"]["state"] == "done"
    assert all(a["user"] == "dr-lee" for a in audit)


def test_issuing_again_replaces_untouched_steps_and_keeps_the_rest(make_client: Callable[..., TestClient]) -> None:
    client = make_client(clock=Clock())
    auth = bearer(client)
    study_id, patient = _reviewed_study(client, auth, 51)
    first = client.post(f"/api/studies/{study_id}/issue", headers=auth).json()["steps"]
    booked = _fillings(first)[0]["id"]  # the filling of 17
    client.patch(f"/api/plan-steps/{booked}", headers=auth, json={"state": "booked", "on": "2026-03-10"})
    again = client.post(f"/api/studies/{study_id}/issue", headers=auth).json()["steps"]
    assert len(again) == len(first) - 1 and booked not in {s["id"] for s in again}
    plan = client.get(f"/api/patients/{patient}/plan", headers=auth).json()
    assert len(plan) == len(first)  # the booked step and the new untouched ones, none twice
    assert [(s["teeth"], s["state"]) for s in _fillings(plan)] == [(["17"], "booked"), (["36"], "planned")]


def test_a_report_with_findings_waiting_for_review_is_not_issued(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    auth = bearer(client)
    study_id = upload(client, auth, scan_png(52))
    wait_for_findings(client, auth, study_id)
    response = client.post(f"/api/studies/{study_id}/issue", headers=auth)
    assert response.status_code == 409 and "3 finding(s) still wait for review" in response.json()["detail"]


def test_on_the_pages_a_dentist_issues_and_the_patient_page_changes_a_step(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(clock=Clock())
    study_id, patient = _reviewed_study(client, bearer(client), 53)
    csrf = login(client)
    issued = client.post(f"/studies/{study_id}/issue", data={"csrf": csrf}, follow_redirects=False)
    assert issued.status_code == 303 and issued.headers["location"] == f"/patients/{patient}#plan"
    page = client.get(f"/patients/{patient}").text
    assert "Report issued;" in page and "A filling" in page and "2026-03-30" in page
    step = _fillings(client.get(f"/api/patients/{patient}/plan", headers=bearer(client)).json())[1]["id"]
    form = {"csrf": _csrf(page), "state": "declined", "reason": ""}
    assert "say why the step is declined" in client.post(f"/patients/{patient}/plan/{step}", data=form).text
    page = client.post(f"/patients/{patient}/plan/{step}", data={**form, "reason": "wants a second opinion"}).text
    assert "Plan step saved." in page and "wants a second opinion" in page
    assert "declined, reason: wants a second opinion" in page  # the audit row's after
    assert "plan step(s) tracked" in page
    elsewhere = client.post(f"/patients/{patient + 1}/plan/{step}", data=form, follow_redirects=False)
    assert elsewhere.status_code == 303  # another patient's address does not reach this patient's step
    assert "no plan step" in client.get(f"/patients/{patient}").text


def test_a_family_puts_its_members_next_steps_together(make_client: Callable[..., TestClient]) -> None:
    client = make_client(clock=Clock())
    auth = bearer(client)
    mother_study, mother = _reviewed_study(client, auth, 54)
    client.post(f"/api/studies/{mother_study}/issue", headers=auth)
    child = client.post("/api/patients", headers=auth, json={"name": "Kira Orlova"}).json()["id"]
    family = client.put(f"/api/patients/{child}/family", headers=auth, json={"with_patient": mother}).json()
    assert family["name"] == "Orlova" and [m["patient"] for m in family["members"]] == [mother, child]
    assert family["members"][0]["open_steps"] and family["members"][1]["open_steps"] == []
    refused = client.put(f"/api/patients/{child}/family", headers=auth, json={"with_patient": child})
    assert refused.status_code == 422 and "cannot be linked to themselves" in refused.json()["detail"]
    login(client)
    page = client.get(f"/families/{family['id']}").text
    assert "The Orlova family" in page and "Kira Orlova" in page and "A filling (17), due by 2026-03-30" in page
    letter = client.get(f"/api/families/{family['id']}/letter.pdf", headers=bearer(client))
    printed = subprocess.run(["pdftotext", "-", "-"], input=letter.content, capture_output=True, check=True).stdout
    text = " ".join(printed.decode().split())
    assert "Dear Orlova family," in text and "Kira Orlova: check-up" in text
    assert "Plan Test: A filling — tooth 17 (planned by 30 March 2026)" in text
    assert client.delete(f"/api/patients/{child}/family", headers=bearer(client)).status_code == 204
    left = client.get(f"/api/families/{family['id']}", headers=bearer(client)).json()["members"]
    assert [m["patient"] for m in left] == [mother]


def test_a_later_scan_proposes_the_filling_done_and_plans_nothing_twice(make_client: Callable[..., TestClient]) -> None:
    client = make_client(clock=Clock())
    auth = bearer(client)
    first, patient = _reviewed_study(client, auth, 55)
    earlier = _fillings(client.post(f"/api/studies/{first}/issue", headers=auth).json()["steps"])
    later = client.post(
        "/api/studies", headers=auth, files={"file": ("later.png", scan_png(56))}, data={"patient": str(patient)}
    ).json()["id"]
    document = wait_for_findings(client, auth, later).json()
    document["findings"] = [dict(f, type="filling") if f["tooth"] == "36" else f for f in document["findings"]]
    client.put(f"/api/studies/{later}/findings", headers=auth, json=document)
    added = client.post(f"/api/studies/{later}/issue", headers=auth).json()["steps"]
    assert not [s for s in added if s["treatment"] == "filling"]  # 17 is open from the first plan already
    plan = {s["id"]: s for s in client.get(f"/api/patients/{patient}/plan", headers=auth).json()}
    filling_36 = plan[earlier[1]["id"]]
    assert filling_36["teeth"] == ["36"] and filling_36["proposal"] == {
        "state": "done",
        "on": "2026-03-02",
        "because": "filling on 36",
    }
    assert plan[earlier[0]["id"]]["proposal"] is None  # 17 is still carious
    login(client)
    page = client.get(f"/patients/{patient}").text
    assert "The scan of 2026-03-02 shows filling on 36: done?" in page and ">Confirm</button>" in page
    form = {"csrf": _csrf(page), "state": "done", "on": "2026-03-02"}
    client.post(f"/patients/{patient}/plan/{filling_36['id']}", data=form)
    confirmed = {s["id"]: s for s in client.get(f"/api/patients/{patient}/plan", headers=auth).json()}
    assert (confirmed[filling_36["id"]]["state"], confirmed[filling_36["id"]]["proposal"]) == ("done", None)
