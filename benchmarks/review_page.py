"""How fast the review page opens and zooms on a busy scan, served on loopback and measured in Debian's chromium.

Usage: .venv/bin/python benchmarks/review_page.py [--scan PANORAMIC] [--findings 60] [--repeat 7]

Starts the workspace (uvicorn on 127.0.0.1, a fresh SQLite home, the shipped model), uploads the panoramic (by
default ../shared/datasets/dc1000-subset/images/952.jpg, 2943 x 1435), lets the model analyse it, then stores as the
dentist's document the model's teeth (or 32 teeth along an arch when it found fewer than 20) and ``--findings``
findings spread over them. Prints medians of ``--repeat`` runs, in milliseconds:

- the server's answer to GET /studies/{id} (the whole review page);
- the page opened in the browser until the scan is drawn with its findings (navigation start to the canvas);
- the full-resolution rendition: made and sent the first time, then sent from the store;
- one zoom step (a wheel notch) until the next frame, over 20 steps in and out, with the detail loaded;
- one accepted finding, from the click until the page's parts are swapped.

The issue's target: the page opens in under 1 s on loopback and zooming stays smooth (a step within a frame or two).
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx2
import uvicorn

from xrayreport.web.analysis import default_analyser
from xrayreport.web.app import create_app
from xrayreport.web.auth import add_user
from xrayreport.web.command import uvicorn_config
from xrayreport.web.config import WebConfig
from xrayreport.web.database import make_engine, make_sessions, upgrade

USER, PASSWORD = "bench", "benchmark passphrase"
DEFAULT_SCAN = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "dc1000-subset" / "images" / "952.jpg"
CHROMIUM = "/usr/bin/chromium"
TYPES = ("caries", "filling", "crown", "root_canal", "deep_caries", "periapical_lesion", "restoration", "implant")
ZOOM_STEPS = """async () => {
    const stage = document.getElementById("stage");
    const box = stage.getBoundingClientRect();
    const times = [];
    for (let i = 0; i < 20; i++) {
        const start = performance.now();
        stage.dispatchEvent(new WheelEvent("wheel", { deltaY: i < 10 ? -100 : 100, clientX: box.left + box.width / 2,
            clientY: box.top + box.height / 2, bubbles: true, cancelable: true }));
        await new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
        times.push(performance.now() - start);
    }
    return times;
}"""


def arch_teeth(width: int, height: int) -> list[dict[str, Any]]:
    """32 tooth boxes along an arch, the patient's right on the image's left (pixels)."""
    teeth = []
    for row, quadrants in enumerate((("1", "2"), ("4", "3"))):
        for side, quadrant in zip((-1, 1), quadrants, strict=True):
            for position in range(1, 9):
                offset = (position - 0.5) / 8 * 0.3
                centre = width * (0.5 + side * offset)
                top = height * ((0.3 if row == 0 else 0.52) - offset**2 * (1.2 if row == 0 else 0.8))
                box = [centre - width * 0.016, top, centre + width * 0.016, top + height * 0.17]
                teeth.append({"fdi": f"{quadrant}{position}", "box": box, "score": 0.95, "source": "model"})
    return teeth


def busy_document(document: dict[str, Any], count: int) -> dict[str, Any]:
    """The model's document with ``count`` findings spread over its teeth (an arch of 32 when it found few)."""
    teeth = document["teeth"] if len(document["teeth"]) >= 20 else arch_teeth(*_size(document))
    findings = []
    for index in range(count):
        tooth = teeth[index * 7 % len(teeth)]
        score = 0.3 + (index * 37 % 69) / 100
        findings.append(
            {
                "id": f"f{index + 1}",
                "type": TYPES[index % len(TYPES)],
                "tooth": tooth["fdi"],
                "box": tooth["box"],
                "source": "model",
                "score": score,
            }
        )
    return {**document, "teeth": teeth, "findings": findings}


def _size(document: dict[str, Any]) -> tuple[int, int]:
    return document["image"]["width"], document["image"]["height"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scan", type=Path, default=DEFAULT_SCAN)
    parser.add_argument("--findings", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder:
        config = WebConfig(home=Path(folder) / "home", analyser=default_analyser(), renderer=None)
        config.ensure_home()
        engine = make_engine(config.db_url)
        upgrade(engine)
        with make_sessions(engine).begin() as db:
            add_user(db, USER, PASSWORD, ["dentist"])
        engine.dispose()
        server = uvicorn.Server(uvicorn_config(create_app(config), "127.0.0.1", 0, None, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.02)
        url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
        try:
            study_id = prepare(url, args.scan, args.findings)
            measure(url, study_id, args.repeat, sync_playwright)
        finally:
            server.should_exit = True
            thread.join(timeout=30)


def prepare(url: str, scan: Path, count: int) -> str:
    token = httpx2.post(f"{url}/api/token", data={"username": USER, "password": PASSWORD}).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    study = httpx2.post(f"{url}/api/studies", headers=auth, files={"file": (scan.name, scan.read_bytes())}).json()
    while (answer := httpx2.get(f"{url}/api/studies/{study['id']}/findings", headers=auth)).status_code == 202:
        time.sleep(0.1)
    answer.raise_for_status()
    model = answer.json()
    document = busy_document(model, count)
    httpx2.put(f"{url}/api/studies/{study['id']}/findings", headers=auth, json=document).raise_for_status()
    # the dentist's document counts every finding confirmed: put them back waiting, as after an analysis
    with httpx2.Client(base_url=url) as page:
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.get("/login").text)
        assert csrf is not None
        page.post("/login", data={"username": USER, "password": PASSWORD, "csrf": csrf.group(1), "next": "/"})
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.get(f"/studies/{study['id']}").text)
        assert csrf is not None
        earlier = [f'{{"finding": {_json(f)}, "accepted": false}}' for f in document["findings"]]
        page.post(
            f"/studies/{study['id']}/review",
            data={"csrf": csrf.group(1), "action": "restore", "earlier": "[" + ",".join(earlier) + "]"},
        )
    print(
        f"scan {_size(model)[0]} x {_size(model)[1]} px; the model found {len(model['teeth'])} teeth; "
        f"{len(document['teeth'])} teeth and {count} findings waiting for review"
    )
    return str(study["id"])


def _json(item: dict[str, Any]) -> str:
    import json

    return json.dumps(item)


def measure(url: str, study_id: str, repeat: int, sync_playwright: Any) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox"])
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        page = context.new_page()
        page.goto(url + "/login")
        page.fill("input[name=username]", USER)
        page.fill("input[name=password]", PASSWORD)
        page.click("button.primary")
        page.wait_for_url(url + "/")
        server, opened, zooms, accepts = [], [], [], []
        detail_first = detail_kept = 0.0
        for run in range(repeat):
            started = time.perf_counter()
            assert page.request.get(f"{url}/studies/{study_id}").ok
            server.append(time.perf_counter() - started)
            page.goto(f"{url}/studies/{study_id}")
            page.wait_for_selector(".plane.rendered")
            opened.append(page.evaluate("performance.now()") / 1e3)
            started = time.perf_counter()
            assert page.request.get(f"{url}/studies/{study_id}/image.png?rendition=detail").ok
            if run == 0:
                detail_first = time.perf_counter() - started
            else:
                detail_kept = time.perf_counter() - started
            for _ in range(4):  # past the preview's pixels: the detail loads
                page.click("button[data-view=zoom-in]")
            page.wait_for_selector("#stage[data-resolution=detail]", state="attached")
            page.click("button[data-view=fit]")
            zooms += page.evaluate(ZOOM_STEPS)
            row = page.locator(".finding-row.pending").first
            started = time.perf_counter()
            row.locator("button[value=accept]").click()
            page.wait_for_selector(".flash.ok")
            accepts.append(time.perf_counter() - started)
            page.evaluate("document.getElementById('messages').textContent = ''")
        browser.close()
    print(f"GET /studies/{{id}} (server), median of {repeat}: {statistics.median(server) * 1e3:.0f} ms")
    print(f"page opened with the scan drawn (browser), median of {repeat}: {statistics.median(opened) * 1e3:.0f} ms")
    print(f"full-resolution rendition: first {detail_first * 1e3:.0f} ms (made), then {detail_kept * 1e3:.0f} ms")
    print(
        f"one zoom step to the next frame, median of {len(zooms)}: {statistics.median(zooms):.1f} ms "
        f"(slowest {max(zooms):.1f} ms)"
    )
    print(f"one finding accepted and the page swapped, median of {repeat}: {statistics.median(accepts) * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
