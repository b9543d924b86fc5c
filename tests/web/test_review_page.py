"""The review page in a real browser (Debian chromium driven by Playwright) on a busy scan: the viewer (zoom,
pan, fit, 1:1, the detail rendition, window/level, invert, settings kept), layers and the confidence filter,
findings by tooth reviewed by keyboard with undo, the tooth's crop and the chart. Screenshots at 1440x900 and
1024x768 go to ``$XRAYREPORT_SCREENSHOTS`` (default: the test's temporary folder) for people to look at."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from xrayreport.web.config import WebConfig

from .conftest import LiveServer, bearer_for, scan_png, signed_in_page
from .contrast import contrast_failures
from .doubles import dense_analyser

FULL_PANORAMIC = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "dc1000-subset" / "images" / "952.jpg"
"""A full-resolution panoramic (2943 x 1435), read in place; a synthetic scan of that size without it."""
FINDINGS = 30


@pytest.fixture
def busy_server(make_config: Callable[..., WebConfig], seed_home: Callable[[Path], None]) -> Iterator[LiveServer]:
    config = make_config(analyser=dense_analyser(FINDINGS))
    seed_home(config.home)
    with LiveServer(config) as server:
        yield server


def busy_study(server: LiveServer) -> str:
    """Upload the panoramic for a new patient and wait for its 30 findings; returns the study id."""
    data = FULL_PANORAMIC.read_bytes() if FULL_PANORAMIC.exists() else scan_png(7, width=2943, height=1435)
    auth = bearer_for(server.url)
    study = httpx2.post(
        f"{server.url}/api/studies",
        headers=auth,
        files={"file": ("pano.jpg", data)},
        data={"patient_name": "Vera Busy"},
        timeout=60,  # the server checks and stores a 2943 x 1435 scan: seconds on a busy 2-core machine
    ).json()
    for _ in range(400):
        if httpx2.get(f"{server.url}/api/studies/{study['id']}/findings", headers=auth, timeout=60).status_code == 200:
            return str(study["id"])
        time.sleep(0.05)
    raise AssertionError("the analysis did not finish")


def open_review(browser: Any, server: LiveServer, study_id: str, width: int = 1440, height: int = 900) -> Any:
    page = signed_in_page(browser, server.url, width, height)
    page.goto(f"{server.url}/studies/{study_id}")
    page.wait_for_selector(".plane.rendered")
    return page


def scale_of(page: Any) -> float:
    transform = page.eval_on_selector("#plane", "p => p.style.transform")
    return float(re.search(r"scale\(([\d.]+)\)", transform).group(1))


MIDDLE_PIXEL = """() => { const c = document.querySelector('.scan-canvas');
    return c.getContext('2d').getImageData(c.width >> 1, c.height >> 1, 1, 1).data[0]; }"""


def pixel(page: Any) -> int:
    """The rendered scan's grey value at the middle of the canvas."""
    return int(page.evaluate(MIDDLE_PIXEL))


def wait_for_pixel(page: Any, test: str) -> int:
    """Wait until the middle pixel ``v`` passes ``test`` (a JavaScript expression in ``v``); returns it."""
    page.wait_for_function(f"() => {{ const v = ({MIDDLE_PIXEL})(); return {test}; }}")
    return pixel(page)


def test_the_scan_fills_the_screen_and_zooms_pans_and_adjusts(
    browser: Any, busy_server: LiveServer, shots: Path
) -> None:
    study_id = busy_study(busy_server)
    page = open_review(browser, busy_server, study_id)
    page.screenshot(path=str(shots / "review-1440x900.png"))
    stage = page.locator("#stage").bounding_box()
    assert stage["width"] > 900 and stage["height"] > 450  # about two thirds of a 1440 x 900 screen
    assert page.get_attribute("#stage", "data-resolution") == "preview"
    fit = scale_of(page)
    preview_grey = pixel(page)

    page.mouse.move(stage["x"] + stage["width"] / 2, stage["y"] + stage["height"] / 2)
    for _ in range(4):
        page.mouse.wheel(0, -120)
    assert scale_of(page) == pytest.approx(fit * 1.25**4, rel=0.01)
    page.wait_for_selector("#stage[data-resolution=detail]")  # zoomed past the preview's pixels
    before = page.eval_on_selector("#plane", "p => p.style.transform")
    page.mouse.down()
    page.mouse.move(stage["x"] + stage["width"] / 2 - 200, stage["y"] + stage["height"] / 2 - 50, steps=4)
    page.mouse.up()
    assert page.eval_on_selector("#plane", "p => p.style.transform") != before
    page.click("button[data-view=actual]")
    assert page.inner_text("[data-view-readout]") == "100 %" and scale_of(page) == pytest.approx(1)
    page.screenshot(path=str(shots / "review-zoomed.png"))
    page.click("button[data-view=fit]")
    assert page.inner_text("[data-view-readout]") == "fit" and scale_of(page) == pytest.approx(fit)

    grey = pixel(page)
    page.click("details.menu:has-text('Image') summary")
    page.check("input[data-setting=invert]")
    wait_for_pixel(page, f"v === {255 - grey}")
    page.uncheck("input[data-setting=invert]")
    wait_for_pixel(page, f"v === {grey}")
    page.fill("input[data-setting=brightness]", "30")  # fill sends the range's input event
    wait_for_pixel(page, f"v > {grey}")
    page.check("input[data-setting=sharpen]")
    page.keyboard.press("Escape")
    page.reload()  # the settings are kept for this user
    page.wait_for_selector(".plane.rendered")
    assert page.input_value("input[data-setting=brightness]") == "30" and page.is_checked("input[data-setting=sharpen]")
    page.click("details.menu:has-text('Image') summary")
    page.click("button[data-view=reset]")
    assert page.input_value("input[data-setting=brightness]") == "0"
    wait_for_pixel(page, f"v === {preview_grey}")  # the page opened again on the preview
    page.close()


def shown(page: Any, selector: str) -> int:
    """How many elements matching ``selector`` are displayed."""
    return int(page.eval_on_selector_all(selector, "els => els.filter(e => e.getClientRects().length > 0).length"))


def test_layers_and_the_confidence_filter_never_hide_a_dentists_finding(
    browser: Any, busy_server: LiveServer, shots: Path
) -> None:
    study_id = busy_study(busy_server)
    page = open_review(browser, busy_server, study_id)
    problems = shown(page, "#overlay .finding.problem")
    assert problems > 5 and shown(page, "#overlay .tooth") == 30
    page.click("details.menu:has-text('Layers') summary")
    page.uncheck("input[data-layer=problem]")
    page.uncheck("input[data-layer=teeth]")
    assert shown(page, "#overlay .finding.problem") == 0 and shown(page, "#overlay .tooth") == 0
    assert shown(page, "#overlay .finding.treated") > 5
    page.check("input[data-layer=problem]")
    page.check("input[data-layer=teeth]")

    # a dentist's own finding with no score, then the filter at 60 %
    page.keyboard.press("Escape")
    page.locator('.ct[data-fdi="36"]').click()
    page.select_option("#add-type", "caries")
    page.click("#add-form button.primary")
    page.wait_for_selector("#finding-d1")
    page.click("details.menu:has-text('Layers') summary")
    page.fill("input[data-setting=minScore]", "60")
    scores = page.eval_on_selector_all(".finding-row", "rows => rows.map(r => [r.dataset.id, r.dataset.score])")
    kept = {i for i, score in scores if score == "" or float(score) >= 0.6}
    assert "d1" in kept and len(kept) < FINDINGS
    visible = page.eval_on_selector_all(".finding-row:not(.filtered)", "rows => rows.map(r => r.dataset.id)")
    drawn = page.eval_on_selector_all(
        "#overlay .finding", "gs => gs.filter(g => g.getClientRects().length > 0).map(g => g.dataset.id)"
    )
    boxed = set(page.eval_on_selector_all("#overlay .finding", "gs => gs.map(g => g.dataset.id)"))
    assert set(visible) == kept and set(drawn) == kept & boxed
    assert f"{FINDINGS + 1 - len(kept)} model finding(s) under 60 % hidden" in page.inner_text("#filtered")
    assert page.inner_text(".all-form button") == f"Accept all shown waiting ({len(kept) - 1})"
    page.screenshot(path=str(shots / "review-filtered.png"))
    page.click(".all-form button")  # accepts the findings shown, not those hidden
    page.wait_for_selector(".all-form button:text('(0)')")
    assert page.locator(".finding-row.pending").count() == FINDINGS + 1 - len(kept)
    page.close()


def test_keyboard_review_with_undo(browser: Any, busy_server: LiveServer, shots: Path) -> None:
    study_id = busy_study(busy_server)
    page = open_review(browser, busy_server, study_id)
    rows = page.eval_on_selector_all(".finding-row", "rows => rows.map(r => r.dataset.id)")
    page.focus("#stage")
    page.keyboard.press("j")
    first = rows[0]
    assert page.get_attribute(f"#finding-{first}", "aria-current") == "true"  # 18 missing: no box on the scan
    page.keyboard.press("j")
    assert "current" in page.get_attribute(f'#overlay .finding[data-id="{rows[1]}"]', "class")
    page.keyboard.press("k")
    assert page.get_attribute(f"#finding-{first}", "aria-current") == "true"

    page.keyboard.press("a")  # accept: the row stays and says so
    page.wait_for_selector(f"#finding-{first} .badge:text('accepted')")
    assert page.get_attribute(f"#finding-{first}", "aria-current") == "true"
    page.keyboard.press("u")
    page.wait_for_selector(f"#finding-{first} .badge:text('waiting')")

    page.keyboard.press("r")  # reject: gone, the next one is current
    page.wait_for_selector(f"#finding-{first}", state="detached")
    assert page.get_attribute(f"#finding-{rows[1]}", "aria-current") == "true"
    page.keyboard.press("Control+z")
    page.wait_for_selector(f"#finding-{first}")
    assert page.inner_text(f"#finding-{first} .badge") == "waiting"

    page.keyboard.press("l")  # relabel: the type menu, then Enter
    assert page.evaluate("document.activeElement.name") == "type"
    page.select_option(f"#finding-{first} select", "deep_caries")
    page.keyboard.press("Enter")
    page.wait_for_selector(f"#finding-{first} .badge:text('accepted')")
    assert page.input_value(f"#finding-{first} select") == "deep_caries"
    assert page.inner_text("#undo") == f"Undo relabel {first}"
    page.screenshot(path=str(shots / "review-keyboard.png"))
    page.keyboard.press("u")
    page.wait_for_selector(f"#finding-{first} .badge:text('waiting')")
    assert page.input_value(f"#finding-{first} select") != "deep_caries"

    audit = page.locator("table.audit tbody tr").all_inner_texts()
    assert [row.split("\t")[2].split()[0] for row in audit][:6] == ["undo", "edit", "undo", "reject", "undo", "accept"]
    auth = bearer_for(busy_server.url)
    document = httpx2.get(f"{busy_server.url}/api/studies/{study_id}/findings", headers=auth).json()
    assert len(document["findings"]) == FINDINGS
    assert (
        len(httpx2.get(f"{busy_server.url}/api/studies/{study_id}", headers=auth).json()["pending_findings"])
        == FINDINGS
    )
    page.close()


def test_findings_by_tooth_the_chart_and_the_tooth_crop(browser: Any, busy_server: LiveServer, shots: Path) -> None:
    study_id = busy_study(busy_server)
    page = open_review(browser, busy_server, study_id)
    groups = page.eval_on_selector_all(".tooth-group", "gs => gs.map(g => g.dataset.fdi)")
    chart = page.eval_on_selector_all(".ct", "cs => cs.map(c => c.dataset.fdi)")
    assert groups[:-1] == [fdi for fdi in chart if fdi in groups] and groups[-1] == ""  # chart order, no tooth last
    assert "missing" in page.inner_text('.ct[data-fdi="18"]') or page.get_attribute('.ct[data-fdi="18"]', "aria-label")

    page.hover("#finding-f1")
    assert "highlight" in page.get_attribute('#overlay .finding[data-id="f1"]', "class")
    page.hover('#overlay .tooth[data-fdi="21"] rect')
    assert "highlight" in page.get_attribute('.tooth-group[data-fdi="21"]', "class")

    tooth = page.get_attribute(".tooth-group:has(.finding-row.problem) ", "data-fdi")
    page.click(f'.ct[data-fdi="{tooth}"]')
    page.wait_for_selector("#tooth-card:not([hidden])")
    page.wait_for_selector("#stage[data-resolution=detail]")
    assert page.inner_text("#tooth-title").startswith(f"Tooth {tooth}: needs care")
    crop = page.eval_on_selector("#tooth-crop", "c => [c.width, c.height]")
    assert crop[0] > 100 and crop[1] > 300  # the tooth at full resolution
    assert page.locator("#tooth-findings li").count() == page.locator(f'.finding-row[data-tooth="{tooth}"]').count()
    page.screenshot(path=str(shots / "review-tooth.png"))

    page.click(f'.tooth-group[data-fdi="{tooth}"] .group-actions button[value=accept]')
    page.wait_for_selector(f'.tooth-group[data-fdi="{tooth}"] .finding-row.accepted')
    assert page.locator(f'.tooth-group[data-fdi="{tooth}"] .finding-row.pending').count() == 0
    page.click(f'.tooth-group[data-fdi="{tooth}"] .group-actions button[value=reject]')
    page.wait_for_selector(f'.tooth-group[data-fdi="{tooth}"]', state="detached")
    state = page.get_attribute(f'.ct[data-fdi="{tooth}"]', "aria-label")
    assert state == f"Tooth {tooth}: healthy"  # the chart follows the findings
    page.close()


@pytest.mark.parametrize(("width", "height"), [(1440, 900), (1024, 768)])
def test_screenshots_of_a_busy_scan(
    browser: Any, busy_server: LiveServer, shots: Path, width: int, height: int
) -> None:
    study_id = busy_study(busy_server)
    page = open_review(browser, busy_server, study_id, width, height)
    page.focus("#stage")
    page.keyboard.press("j")
    page.screenshot(path=str(shots / f"review-{width}x{height}.png"))
    page.screenshot(path=str(shots / f"review-{width}x{height}-full.png"), full_page=True)
    stage = page.locator("#stage").bounding_box()
    assert stage["width"] >= width * 0.55
    page.close()


def test_the_contrast_check_finds_text_under_wcag_aa(browser: Any) -> None:
    page = browser.new_page()
    page.set_content(
        """<body style="background:#fff">
        <p id="grey" style="color:#777">#777 on white: 4.48</p>
        <p id="enough" style="color:#767676">#767676 on white: 4.54</p>
        <p id="faded" style="color:#000; opacity:.3">black at 30 %: grey 178.5</p>
        <p id="large" style="color:#949494; font-size:24px">large text needs 3: 3.03</p>
        <div style="background:#000"><span id="dark" style="color:#333">#333 on black: 1.66</span></div>
        <button disabled style="color:#ccc">disabled: left out</button>
        <div hidden><p style="color:#eee">hidden: left out</p></div></body>"""
    )
    found = {f["element"]: (f["ratio"], f["needed"]) for f in contrast_failures(page)}
    assert found == {
        "p#grey": (pytest.approx(4.48, abs=0.01), 4.5),
        "p#faded": (pytest.approx(2.11, abs=0.01), 4.5),
        "span#dark": (pytest.approx(1.66, abs=0.01), 4.5),
    }
    page.close()


def test_the_review_page_meets_wcag_aa_contrast(browser: Any, busy_server: LiveServer) -> None:
    study_id = busy_study(busy_server)
    page = open_review(browser, busy_server, study_id)
    assert contrast_failures(page) == []
    page.focus("#stage")
    page.keyboard.press("j")
    page.keyboard.press("a")  # an accepted finding, the current row and its tooth's actions shown
    page.wait_for_selector(".finding-row.accepted.current")
    page.locator(".ct.state-problem").first.click()  # the tooth card
    page.wait_for_selector("#tooth-card:not([hidden])")
    page.hover(".finding-row.pending")
    assert contrast_failures(page) == []
    page.eval_on_selector_all(".finding-row .score", "spans => spans.forEach(s => { s.style.color = '#aaa'; })")
    grey = contrast_failures(page)  # the check reaches the page's own text
    assert {f["element"] for f in grey} == {"span.score"} and len(grey) == shown(page, ".finding-row .score")
    page.close()


def test_a_box_drawn_by_keyboard_a_tooth_relabelled_and_an_add_and_a_renumber_undone(
    browser: Any, busy_server: LiveServer, shots: Path
) -> None:
    study_id = busy_study(busy_server)
    page = open_review(browser, busy_server, study_id)
    fdi = page.eval_on_selector_all(  # the first tooth with a finding that is on the scan
        ".tooth-group",
        "gs => gs.map(g => g.dataset.fdi).find(n => document.querySelector(`#overlay .tooth[data-fdi='${n}']`))",
    )
    model_row = page.get_attribute(f'.tooth-group[data-fdi="{fdi}"] .finding-row', "data-id")
    tooth = page.eval_on_selector(
        f'#overlay .tooth[data-fdi="{fdi}"] rect', "r => ['x', 'y', 'width', 'height'].map(n => +r.getAttribute(n))"
    )
    page.click(f'.ct[data-fdi="{fdi}"]')  # picks the tooth: the box starts on it
    page.focus("#stage")
    page.keyboard.press("b")
    assert page.get_attribute("#draw-mode", "aria-pressed") == "true"
    scale = scale_of(page)
    for key in ("ArrowRight", "ArrowRight", "ArrowUp", "Shift+ArrowRight", "Shift+ArrowDown", "Shift+ArrowDown"):
        page.keyboard.press(key)
    page.keyboard.press("Enter")
    step = max(1.0, 8 / scale)  # 8 screen pixels
    x, y, w, h = tooth
    expected = (x + 2 * step, y - step, x + w + 3 * step, y + h + step)
    assert page.input_value("#add-box") == ",".join(str(int(v + 0.5)) for v in expected)
    assert page.evaluate("document.activeElement.id") == "add-type"
    page.screenshot(path=str(shots / "review-keyboard-box.png"))
    page.select_option("#add-type", "fracture")
    page.click("#add-form button.primary")
    page.wait_for_selector("#messages :text('Add d1: saved.')")
    assert page.inner_text("#undo") == "Undo add d1"
    assert page.get_attribute("#finding-d1", "data-tooth") == fdi

    page.fill("#teeth-card input[name=new_fdi]", "48")  # 48 is not on the scan: the last molar was 48, not 47
    page.select_option("#renumber-tooth", "47")
    page.click("#teeth-card button")
    page.wait_for_selector("#messages :text('Renumber 47 → 48: saved.')")
    assert page.inner_text("#undo") == "Undo renumber 47 → 48"
    assert page.locator('#overlay .tooth[data-fdi="47"]').count() == 0
    page.keyboard.press("Control+z")
    page.wait_for_selector('#overlay .tooth[data-fdi="47"]')
    assert page.locator('#overlay .tooth[data-fdi="48"]').count() == 0

    group = f'.tooth-group[data-fdi="{fdi}"]'
    page.hover(group)
    page.select_option(f"{group} .group-actions select", "crown")
    page.focus(f"{group} .group-actions select")
    page.keyboard.press("Enter")  # relabels the tooth's two findings
    page.wait_for_selector("#messages :text('Relabel 2 findings: saved.')")
    assert [page.input_value(f"#finding-{r} select") for r in (model_row, "d1")] == ["crown", "crown"]
    page.keyboard.press("Escape")
    page.keyboard.press("u")
    page.wait_for_selector(f"#finding-{model_row}.pending")
    assert page.input_value("#finding-d1 select") == "fracture"
    page.keyboard.press("u")  # and the add
    page.wait_for_selector("#finding-d1", state="detached")

    audit = page.locator("table.audit tbody tr").all_inner_texts()
    actions = [row.split("\t")[2].split()[0] for row in audit]
    assert actions == ["undo", "undo", "undo", "edit", "edit", "undo", "renumber", "add"]
    page.close()
