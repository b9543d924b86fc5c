"""The workspace in a real browser (Debian chromium driven by Playwright): log in, upload, wait for the
analysis, correct findings (reject, draw a box), download the report. Screenshots go to
``$XRAYREPORT_SCREENSHOTS`` (default: the test's temporary folder) for people to look at."""

from __future__ import annotations

import base64
import datetime
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import httpx2
import numpy as np
import pytest
from dicomnet.orthanc import ORTHANC_AE, free_port, running_orthanc
from dicomnet.senders import NODE_AE
from ingestion.dicom_factory import make_dicom
from PIL import Image

from xrayreport.web.config import WebConfig

from .conftest import PASSWORD, USER, LiveServer, bearer_for, scan_png, sign_in, signed_in_page

# A real panoramic makes the screenshots worth looking at; read in place, never copied into the repo.
REAL_PANORAMIC = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "tufts" / "images" / "1.jpg"


def test_log_in_upload_review_and_download_the_report(
    browser: Any, live_server: LiveServer, shots: Path, tmp_path: Path
) -> None:
    scan = REAL_PANORAMIC
    if not scan.exists():
        scan = tmp_path / "panoramic.png"
        scan.write_bytes(scan_png(40, width=1400, height=700))
    width, height = Image.open(scan).size
    page = browser.new_page(viewport={"width": 1500, "height": 1000})
    page.set_default_timeout(15_000)

    page.goto(live_server.url + "/")
    assert page.url.endswith("/login?next=/")
    page.fill("input[name=username]", USER)
    page.fill("input[name=password]", "wrong password")
    page.click("button.primary")
    assert page.locator(".flash.error").inner_text() == "Wrong user name or password."
    page.fill("input[name=username]", USER)
    page.fill("input[name=password]", PASSWORD)
    page.screenshot(path=str(shots / "1-login.png"))
    page.click("button.primary")
    page.wait_for_url(live_server.url + "/")

    page.fill("#upload-form input[name=name]", "Eva Browser")
    page.fill("#upload-form input[name=patient_id]", "E-123")
    page.set_input_files("#file-input", str(scan))
    page.screenshot(path=str(shots / "2-upload.png"))
    page.click("#upload-button")
    page.wait_for_url("**/studies/*")
    page.wait_for_selector("#status-badge:text('done')")
    page.wait_for_selector(".finding")
    page.screenshot(path=str(shots / "3-analysed.png"), full_page=True)
    assert page.locator(".finding-row").count() == 3

    page.click("#finding-f3 button[value=reject]")
    page.wait_for_selector("#finding-f3", state="detached")
    page.click("#finding-f2 button[value=accept]")
    page.wait_for_selector("#finding-f2 .badge:text('accepted')")
    page.select_option("#finding-f1 select[name=type]", "deep_caries")
    page.click("#finding-f1 button[value=relabel]")
    page.wait_for_selector("#finding-f1:has-text('deep caries')")

    # Click tooth 38 on the scan, then draw a box by dragging (dragging pans unless "Draw box" is on).
    page.locator('.tooth[data-fdi="38"] rect').click()
    assert page.input_value("#add-tooth") == "38"
    page.click("#draw-mode")
    box = page.locator("#overlay").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.8)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.55, box["y"] + box["height"] * 0.95, steps=5)
    page.mouse.up()
    drawn = [float(v) for v in page.input_value("#add-box").split(",")]
    assert drawn[0] == pytest.approx(width * 0.45, abs=4) and drawn[3] == pytest.approx(height * 0.95, abs=4)
    page.select_option("#add-type", "periapical_lesion")
    page.click("#add-form button.primary")
    page.wait_for_selector("#finding-d1")
    page.screenshot(path=str(shots / "4-reviewed.png"), full_page=True)
    audit = page.locator("table.audit tbody tr").all_inner_texts()
    assert len(audit) == 4 and all("dr-lee" in row for row in audit)

    page.select_option("#report-form select[name=lang]", "ru")
    with page.expect_download() as download_info:
        page.click("#report-form button[value=true]")
    download = download_info.value
    assert download.suggested_filename.endswith("-ru.pdf")
    pdf = Path(download.path()).read_bytes()
    assert pdf.startswith(b"%PDF")
    if shutil.which("pdftotext"):
        import subprocess

        text = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
        assert "finding f1 deep_caries 36" in text and "finding d1 periapical_lesion 38" in text
        assert "f3" not in text
    page.close()


DROP_FILES = """([zone, files]) => {
    const transfer = new DataTransfer();
    for (const [name, base64] of files) {
        const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
        transfer.items.add(new File([bytes], name, { type: "image/png" }));
    }
    zone.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true }));
}"""


def test_drop_several_scans_on_a_patient(browser: Any, live_server: LiveServer, shots: Path) -> None:
    page = signed_in_page(browser, live_server.url, 1400, 900)
    page.click("details summary")
    page.fill("details input[name=name]", "Gil Dropper")
    page.click("details button")
    page.wait_for_url("**/patients/*")

    files = [(f"scan-{i}.png", base64.b64encode(scan_png(60 + i)).decode()) for i in range(2)]
    files.append(("notes.png", base64.b64encode(b"these are notes, not a scan").decode()))
    page.evaluate(DROP_FILES, [page.query_selector("#drop-zone"), files])
    assert page.locator("#upload-list li").count() == 3
    page.click("#upload-button")
    page.wait_for_selector("#upload-list li.failed")
    assert page.locator("#upload-list li.done").count() == 2
    assert page.locator("#upload-list li.failed").inner_text().startswith("notes.png: not a DICOM, PNG, JPEG or TIFF")
    page.screenshot(path=str(shots / "5-drop.png"), full_page=True)
    page.click("text=Show the uploaded scans")
    page.wait_for_selector("table.list")
    assert page.locator("table.list tbody tr").count() == 2
    page.close()


class MovableClock:
    """The server's clock, today plus ``days`` (the browser cannot wait weeks for a patient to fall asleep)."""

    def __init__(self) -> None:
        self.days = 0

    def __call__(self) -> datetime.datetime:
        return datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=self.days)


def test_issue_track_recall_contact_and_print_the_letter(
    browser: Any, make_config: Callable[..., WebConfig], seed_home: Callable[[Path], None], shots: Path
) -> None:
    clock = MovableClock()
    config = make_config(clock=clock)
    seed_home(config.home)
    with LiveServer(config) as server:
        auth = bearer_for(server.url)
        study = httpx2.post(
            f"{server.url}/api/studies",
            headers=auth,
            files={"file": ("p.png", scan_png(80))},
            data={"patient_name": "Rita Recall"},
        ).json()
        for _ in range(200):
            document = httpx2.get(f"{server.url}/api/studies/{study['id']}/findings", headers=auth)
            if document.status_code == 200:
                break
            time.sleep(0.05)
        httpx2.put(f"{server.url}/api/studies/{study['id']}/findings", headers=auth, json=document.json())
        httpx2.put(f"{server.url}/api/patients/{study['patient']}/consent", headers=auth, json={"channel": "sms"})

        page = signed_in_page(browser, server.url, 1400, 1000)
        page.goto(f"{server.url}/studies/{study['id']}")
        page.click("#issue-form button")
        page.wait_for_url(f"**/patients/{study['patient']}#plan")
        assert page.locator("table.plan tbody tr").count() >= 3  # two fillings and the check-up
        page.screenshot(path=str(shots / "5-plan.png"), full_page=True)

        clock.days = 40  # a month and more without a visit: sleeping, category 1
        sign_in(page, server.url)  # again: the clock jumped past the page session's 12 hours
        page.goto(server.url + "/recalls")
        row = page.locator("table.recalls tbody tr")
        assert row.count() == 1 and "came, chief complaint not treated" in row.inner_text()
        assert "A filling, tooth 17" in row.inner_text()
        page.screenshot(path=str(shots / "6-recalls.png"), full_page=True)

        page.goto(f"{server.url}/patients/{study['patient']}")
        first = page.locator("table.plan tbody tr").first
        first.locator("select[name=state]").select_option("done")
        first.locator("input[name=on]").fill((datetime.date.today() + datetime.timedelta(days=40)).isoformat())
        first.locator("button").click()
        page.wait_for_selector(".flash.ok:text('Plan step saved.')")
        clock.days = 40 + 100  # three months after that visit: sleeping again, now category 3
        sign_in(page, server.url)  # again: the clock jumped past the page session's 12 hours
        page.goto(server.url + "/recalls")
        assert "some planned steps done, the rest not" in page.locator("table.recalls tbody tr").inner_text()

        page.locator("table.recalls tbody tr select[name=outcome]").select_option("call back")
        page.locator("table.recalls tbody tr button").click()
        page.wait_for_selector(".flash.ok")
        assert "Nobody to call today." in page.content()  # contacted: off the list for the interval
        assert "1</b> contacted within the last 14 days is left out until then." in page.content()
        page.screenshot(path=str(shots / "7-contacted.png"), full_page=True)

        letter = page.request.get(f"{server.url}/patients/{study['patient']}/recall-letter.pdf?lang=zh")
        assert letter.ok and letter.body().startswith(b"%PDF")
        page.close()


def test_pull_a_patients_scans_from_the_pacs(
    browser: Any, make_config: Callable[..., WebConfig], seed_home: Callable[[Path], None], shots: Path, tmp_path: Path
) -> None:
    move_port = free_port()  # no DICOM node runs in this server: the pull listens here while it lasts
    with running_orthanc(tmp_path / "orthanc", {"xrayreport": (NODE_AE, move_port)}) as orthanc:
        orthanc.post("/instances", make_dicom(extra={"PatientID": "B-PULL"}))
        config = make_config()
        seed_home(config.home)
        (config.home / "clinic.yaml").write_text(
            f"pacs: {{ae_title: {ORTHANC_AE}, host: 127.0.0.1, port: {orthanc.dicom_port}, move_port: {move_port}}}\n"
        )
        with LiveServer(config) as server:
            auth = bearer_for(server.url)
            patient = httpx2.post(
                f"{server.url}/api/patients", headers=auth, json={"name": "Bo Pull", "patient_id": "B-PULL"}
            ).json()
            page = signed_in_page(browser, server.url, 1400, 900)
            page.goto(f"{server.url}/patients/{patient['id']}")
            assert page.locator("text=No scans for this patient yet.").count() == 1
            page.click("#pull-form button")
            page.wait_for_selector(".flash.ok")
            assert page.locator(".flash.ok").inner_text() == "Pulled 1 scan(s) from the PACS: 1 new, 0 here already."
            assert page.locator("table.list tbody tr").count() == 1  # the scan, on the patient's page
            page.screenshot(path=str(shots / "9-pulled.png"), full_page=True)
            page.close()


def _panoramic_with_text(number: int, text: str | None) -> bytes:
    """Tufts panoramic ``number`` (a synthetic scan without the data set) as PNG, with ``text`` typed into its
    lower left corner as a panoramic unit would burn in a name and birth date; without ``text``, its bottom 12 rows
    cut off, since most Tufts scans carry a line of small text there themselves."""
    path = REAL_PANORAMIC.with_name(f"{number}.jpg")
    if path.exists():
        pixels = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    else:
        pixels = cv2.imdecode(np.frombuffer(scan_png(number, 1024, 533), np.uint8), cv2.IMREAD_GRAYSCALE)
    if text is None:
        pixels = np.ascontiguousarray(pixels[:-12])
    else:
        height = pixels.shape[0]
        cv2.putText(pixels, text, (12, height - 14), cv2.FONT_HERSHEY_SIMPLEX, 0.55, 255, 1, cv2.LINE_AA)
    ok, encoded = cv2.imencode(".png", pixels)
    assert ok
    return encoded.tobytes()


def test_a_dentist_marks_the_scans_held_back_for_burned_in_text(
    browser: Any, live_server: LiveServer, shots: Path
) -> None:
    auth = bearer_for(live_server.url)
    scans = {
        "typed": _panoramic_with_text(1, "DOE^JANE  1974-03-12  SMILE DENTAL"),
        "clean": _panoramic_with_text(4, None),
        "clean too": _panoramic_with_text(5, None),
    }
    ids = {}
    for name, data in scans.items():
        study = httpx2.post(
            f"{live_server.url}/api/studies",
            headers=auth,
            files={"file": (f"{name}.png", data)},
            data={"patient_name": f"Patient {name.title()}"},
            timeout=60,
        ).json()
        for _ in range(400):
            document = httpx2.get(f"{live_server.url}/api/studies/{study['id']}/findings", headers=auth, timeout=60)
            if document.status_code == 200:
                break
            time.sleep(0.05)
        reviewed = httpx2.put(
            f"{live_server.url}/api/studies/{study['id']}/findings", headers=auth, json=document.json(), timeout=60
        )
        assert reviewed.status_code == 200
        ids[name] = study["id"]

    page = signed_in_page(browser, live_server.url)  # 1440 x 900
    page.click("nav >> text=Burned-in text")
    page.wait_for_url("**/burned-in-checks")
    assert "3 reviewed studies' images are held back" in page.locator("#held-count").inner_text()
    page.wait_for_function("Array.from(document.images).every((img) => img.complete && img.naturalWidth > 0)")
    page.screenshot(path=str(shots / "10-burned-in.png"))
    shown = page.locator(".held img").first.bounding_box()
    assert shown["width"] >= 600  # two to a row at 1440 px: the typed line is still legible

    for name in ("clean", "clean too"):  # by keyboard: focus each box and press Space
        page.focus(f"input[value='{ids[name]}']")
        page.keyboard.press("Space")
    assert page.is_checked(f"input[value='{ids['clean']}']") and not page.is_checked(f"input[value='{ids['typed']}']")
    page.screenshot(path=str(shots / "11-burned-in-ticked.png"))
    page.click("text=Mark checked: no burned-in text")
    page.wait_for_selector(".flash.ok")
    assert page.locator(".flash.ok").inner_text().startswith("Marked 2 studies checked: no burned-in text.")
    assert page.locator(".held").count() == 1 and page.locator(f"#held-{ids['typed']}").count() == 1
    page.screenshot(path=str(shots / "12-burned-in-marked.png"))
    page.close()
