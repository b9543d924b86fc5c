"""Comparing two scans of one patient: the API's change list, its refusals, the page with linked viewers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
from fastapi.testclient import TestClient

from xrayreport.web.reports import default_renderer

from .conftest import (
    LiveServer,
    bearer,
    bearer_for,
    scan_png,
    signed_in_page,
    upload,
    wait_for_findings,
)
from .contrast import contrast_failures
from .test_api import _pdf_text
from .test_pages import login


def _reviewed(client: TestClient, auth: dict[str, str], study_id: str, changes: dict[str, str | None]) -> None:
    """Review the study's findings of the test analyser (f1 caries 36, f2 filling 46, f3 caries 17): each finding
    id in ``changes`` gets that type, or goes (``None``); ``d<n>`` ids are added as the dentist's, on their tooth
    given as ``type@tooth``."""
    document = wait_for_findings(client, auth, study_id).json()
    findings = []
    for finding in document["findings"]:
        kind = changes.get(finding["id"], finding["type"])
        if kind is not None:
            findings.append({**finding, "type": kind})
    for finding_id, added in changes.items():
        if finding_id.startswith("d") and added:
            kind, tooth = added.split("@")
            findings.append({"id": finding_id, "type": kind, "tooth": tooth, "box": None, "source": "dentist"})
    document["findings"] = findings
    assert client.put(f"/api/studies/{study_id}/findings", headers=auth, json=document).status_code == 200


def two_scans(client: TestClient, auth: dict[str, str]) -> tuple[int, str, str]:
    """A patient with an earlier and a later reviewed scan: caries on 36 filled, caries on 17 grown deep, the
    filling on 46 kept, a periapical lesion new on 46, tooth 38 newly missing; returns (patient, earlier, later)."""
    earlier = upload(client, auth, scan_png(50), patient_name="Cora Compare")
    _reviewed(client, auth, earlier, {})
    patient = client.get(f"/api/studies/{earlier}", headers=auth).json()["patient"]
    later = upload(client, auth, scan_png(51), patient=str(patient))
    _reviewed(
        client, auth, later, {"f1": "filling", "f3": "deep_caries", "d1": "periapical_lesion@46", "d2": "missing@38"}
    )
    return patient, earlier, later


def test_the_api_lists_what_changed_on_each_tooth(client: TestClient) -> None:
    auth = bearer(client)
    patient, earlier, later = two_scans(client, auth)
    response = client.get(
        f"/api/patients/{patient}/comparison", params={"earlier": earlier, "later": later}, headers=auth
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["earlier"]["study"] == earlier and body["later"]["study"] == later and body["later"]["width"] == 640
    assert [
        (c["kind"], c["tooth"], [f["type"] for f in c["earlier"]], [f["type"] for f in c["later"]])
        for c in body["changes"]
    ] == [
        ("worsened", "17", ["caries"], ["deep_caries"]),
        ("new_lesion", "46", [], ["periapical_lesion"]),
        ("treated", "36", ["caries"], ["filling"]),
        ("newly_missing", "38", [], ["missing"]),
    ]
    tooth_36 = next(c for c in body["changes"] if c["tooth"] == "36")
    assert len(tooth_36["earlier_box"]) == 4 and len(tooth_36["later_box"]) == 4
    schema = client.get("/openapi.json").json()
    operation = schema["paths"]["/api/patients/{patient}/comparison"]["get"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/ComparisonOut")
    assert "treated" in schema["components"]["schemas"]["ChangeOut"]["properties"]["kind"]["description"]


def test_teeth_the_dentist_renumbered_on_the_later_scan_are_matched_by_their_place(client: TestClient) -> None:
    auth = bearer(client)
    earlier = upload(client, auth, scan_png(55), patient_name="Rena Number")
    _reviewed(client, auth, earlier, {})  # the model's numbers kept: f1 caries on "36"
    patient = client.get(f"/api/studies/{earlier}", headers=auth).json()["patient"]
    later = upload(client, auth, scan_png(56), patient=str(patient))
    _reviewed(client, auth, later, {"f1": "filling"})
    csrf = login(client)
    for old, new in (("35", "34"), ("36", "35"), ("37", "36"), ("38", "37")):  # the lower left, one place inwards
        answer = client.post(
            f"/studies/{later}/review",
            data={"csrf": csrf, "action": "renumber", "tooth": old, "new_fdi": new},
            follow_redirects=False,
        )
        assert answer.status_code == 303
    body = client.get(
        f"/api/patients/{patient}/comparison", params={"earlier": earlier, "later": later}, headers=auth
    ).json()
    assert [(c["kind"], c["tooth"], c["earlier_tooth"], c["later_tooth"]) for c in body["changes"]] == [
        ("unchanged", "17", "17", "17"),
        ("treated", "35", "36", "35"),  # the caries on the earlier "36" filled: not a tooth lost and one new
    ]
    teeth = {
        side: {t["fdi"]: t["box"] for t in client.get(f"/api/studies/{study}/findings", headers=auth).json()["teeth"]}
        for side, study in (("earlier", earlier), ("later", later))
    }
    assert body["changes"][1]["earlier_box"] == teeth["earlier"]["36"]
    assert body["changes"][1]["later_box"] == teeth["later"]["35"] == teeth["earlier"]["36"]  # same place
    page = client.get(f"/patients/{patient}/compare").text
    assert "<b>35</b> (numbered 36 on the earlier scan) treated since: caries → filling" in page
    assert 'data-earlier-tooth="36" data-later-tooth="35"' in page


def test_wrong_comparisons_are_refused_with_the_reason(client: TestClient) -> None:
    auth = bearer(client)
    patient, earlier, later = two_scans(client, auth)
    stranger = upload(client, auth, scan_png(52), patient_name="Someone Else")

    def ask(number: int, first: str, second: str) -> tuple[int, str]:
        answer = client.get(f"/api/patients/{number}/comparison?earlier={first}&later={second}", headers=auth)
        return answer.status_code, answer.json()["detail"]

    assert ask(patient, later, earlier) == (
        422,
        f"the earlier scan ({_day(client, later)}) was taken after the later one ({_day(client, earlier)}); swap them",
    )
    assert ask(patient, earlier, earlier) == (422, "pick two different scans to compare")
    status, detail = ask(patient, earlier, stranger)
    assert status == 404 and detail == f"no scan {stranger!r} of patient #{patient}; pick one of their scans"
    assert ask(patient + 100, earlier, later)[0] == 404
    missing = client.get(f"/api/patients/{patient}/comparison?earlier={earlier}", headers=auth)
    assert missing.status_code == 422 and "later" in missing.text


def _day(client: TestClient, study_id: str) -> str:
    return str(client.get(f"/api/studies/{study_id}", headers=bearer(client)).json()["created_at"])[:10]


def test_the_page_shows_the_changes_and_the_patient_page_links_to_it(client: TestClient) -> None:
    auth = bearer(client)
    patient, earlier, later = two_scans(client, auth)
    login(client)
    assert f'href="/patients/{patient}/compare"' in client.get(f"/patients/{patient}").text
    page = client.get(f"/patients/{patient}/compare").text  # the last two scans
    assert 'id="stage-earlier"' in page and f"/studies/{later}/image.png?rendition=detail" in page
    assert "grown: caries → deep caries" in page and "treated since: caries → filling" in page
    assert "new lesion: periapical lesion" in page and "<b>38</b> newly missing\n" in page
    swapped = client.get(f"/patients/{patient}/compare", params={"earlier": later, "later": earlier})
    assert swapped.status_code == 422 and "swap them" in swapped.text
    alone = client.post("/api/patients", headers=auth, json={"name": "One Scan"}).json()["id"]
    refused = client.get(f"/patients/{alone}/compare")
    assert refused.status_code == 422 and "fewer than two analysed scans" in refused.text


def test_linked_viewers_and_a_change_shown_on_both_scans(browser: Any, live_server: LiveServer, shots: Path) -> None:
    auth = bearer_for(live_server.url)
    with httpx2.Client(base_url=live_server.url, headers=auth) as api:
        patient, _, _ = two_scans(api, auth)  # type: ignore[arg-type]  (httpx answers as TestClient does)
    page = signed_in_page(browser, live_server.url)
    page.goto(f"{live_server.url}/patients/{patient}")
    page.click("#compare-link")
    page.wait_for_selector("#stage-later .plane.rendered")
    page.screenshot(path=str(shots / "compare-1440x900.png"))
    assert contrast_failures(page) == []  # WCAG AA (tests/web/contrast.py)

    transform = "s => s.querySelector('.plane').style.transform"
    page.click("button[data-view=zoom-in]")
    page.click("button[data-view=zoom-in]")
    assert page.eval_on_selector("#stage-earlier", transform) != page.eval_on_selector("#stage-earlier", "s => ''")
    scale = lambda side: float(page.eval_on_selector(f"#stage-{side}", transform).split("scale(")[1].rstrip(")"))  # noqa: E731
    assert scale("later") == scale("earlier")  # same size scans: the same zoom
    stage = page.locator("#stage-later").bounding_box()
    before = page.eval_on_selector("#stage-earlier", transform)
    page.mouse.move(stage["x"] + 200, stage["y"] + 100)
    page.mouse.down()
    page.mouse.move(stage["x"] + 120, stage["y"] + 60, steps=3)
    page.mouse.up()
    assert page.eval_on_selector("#stage-earlier", transform) != before  # panning the later scan moved the earlier

    page.click(".change.treated .change-link")
    for side in ("earlier", "later"):
        assert "selected" in page.get_attribute(f'#stage-{side} .tooth[data-fdi="36"]', "class")
    assert scale("earlier") > 1.0
    page.screenshot(path=str(shots / "compare-tooth.png"))
    assert contrast_failures(page) == []  # the picked change too
    page.set_viewport_size({"width": 1024, "height": 768})
    page.click("button[data-view=fit]")
    page.screenshot(path=str(shots / "compare-1024x768.png"), full_page=True)
    page.close()


def test_the_report_of_a_later_scan_says_what_changed_since_the_last_reviewed_one(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client()
    auth = bearer(client)
    patient, earlier, later = two_scans(client, auth)
    text = _pdf_text(client.get(f"/api/studies/{later}/report.pdf", headers=auth).content)
    assert "since None: caries filling caries" in text  # the earlier scan's findings (a PNG: no study date)
    assert "since" not in _pdf_text(client.get(f"/api/studies/{earlier}/report.pdf", headers=auth).content)
    waiting = upload(client, auth, scan_png(53), patient=str(patient))  # analysed, not reviewed: not "last"
    wait_for_findings(client, auth, waiting)
    newest = upload(client, auth, scan_png(54), patient=str(patient))
    _reviewed(client, auth, newest, {})
    text = _pdf_text(client.get(f"/api/studies/{newest}/report.pdf", headers=auth).content)
    assert "since None: filling filling deep_caries periapical_lesion missing" in text


def test_the_real_report_has_its_since_your_last_xray_section(make_client: Callable[..., TestClient]) -> None:
    renderer = default_renderer()
    assert renderer is not None
    client = make_client(renderer=renderer)
    auth = bearer(client)
    _, _, later = two_scans(client, auth)
    response = client.get(f"/api/studies/{later}/report.pdf", params={"lang": "en"}, headers=auth)
    assert response.status_code == 200, response.text
    text = " ".join(_pdf_text(response.content).split())
    assert "Since your last X-ray ✓ Treated since then: well done. • Tooth 36: A filling + New since then:" in text
    assert "• Tooth 17: A deep cavity (deep tooth decay), grown since then" in text
    assert "• Tooth 38: A missing tooth" in text
