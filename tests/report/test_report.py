"""Whole reports rendered from hand-written findings on real panoramics, in English, Chinese and Russian."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import logging
import re
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

import pytest

from xrayreport.cli import main
from xrayreport.errors import FindingsError
from xrayreport.findings import Finding, Findings, Patient, Study, Tooth, findings_from_dict, load_findings
from xrayreport.ingestion import load_scan
from xrayreport.report import Messages, build_report, clinic_from_dict
from xrayreport.report.render import html_to_pdf, render_html, render_pdf

FIXTURES = Path(__file__).parent / "fixtures"
SCANS = {
    "healthy": "tufts/images/9.jpg",
    "many_caries": "tufts/images/20.jpg",
    "edentulous": "tufts/images/44.jpg",
    "child": "tufts/images/15.jpg",
    "no_tooth_numbers": "dc1000-subset/images/979.jpg",
}
TODAY = dt.date(2026, 3, 2)
# Text each report must contain (pdftotext joins lines, so keep phrases short).
EXPECTED = {
    "en": ["Your oral health report", "What we found", "Your next visit", "About this report"],
    "zh": ["您的口腔健康报告", "我们的发现", "您的下次就诊", "关于本报告"],
    "ru": ["Отчёт о здоровье полости рта", "Что мы нашли", "Ваш следующий визит", "Об этом отчёте"],
}
PER_FIXTURE = {
    ("many_caries", "en"): [
        "Ivan Petrov",
        "Tooth 14",
        "A deep cavity",
        "by 16 March 2026",
        "Missing teeth: 17, 27, 36, 47",
    ],
    ("many_caries", "ru"): ["Зуб 14", "до 16 марта 2026", "Осмотр каждые 3 месяца"],
    ("many_caries", "zh"): ["14 号牙", "2026年3月16日"],
    ("healthy", "en"): ["Lena Healthy", "A filling", "around March 2027", "Check-up every 12 months"],
    ("healthy", "ru"): ["Осмотр каждые 12 месяцев", "ориентировочно: март 2027"],
    ("edentulous", "en"): ["A tooth that cannot come through", "Wisdom teeth not present: 28, 38, 48"],
    ("child", "en"): ["Tooth 85", "baby second molar", "8 years"],
    ("child", "zh"): ["小明", "8 岁", "第二乳磨牙"],
    ("no_tooth_numbers", "en"): ["Tooth not identified", "The teeth could not be numbered", "A cavity (tooth decay)"],
}


def pdftotext(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True).stdout


def page_count(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True, text=True).stdout
    return int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))


def embedded_image_widths(pdf: Path) -> list[int]:
    listing = subprocess.run(["pdfimages", "-list", str(pdf)], check=True, capture_output=True, text=True).stdout
    return [int(line.split()[3]) for line in listing.splitlines()[2:]]


@pytest.mark.parametrize("lang", ["en", "zh", "ru"])
@pytest.mark.parametrize("name", list(SCANS))
def test_report_renders_cleanly_in_every_language(
    name: str, lang: str, datasets_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    radiograph = load_scan(datasets_dir / SCANS[name])
    findings = load_findings(FIXTURES / f"{name}.json")
    messages = Messages(lang)
    with caplog.at_level(logging.WARNING):
        view = build_report(radiograph, findings, messages, today=TODAY)
        pdf = tmp_path / "report.pdf"
        pdf.write_bytes(render_pdf(view, messages))
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert messages.missing == set(), f"untranslated: {sorted(messages.missing)}"
    text = " ".join(pdftotext(pdf).split())
    for phrase in EXPECTED[lang] + PER_FIXTURE.get((name, lang), []):
        assert phrase in text
    assert 2 <= page_count(pdf) <= 4
    assert min(radiograph.width, 1600) in embedded_image_widths(pdf)  # the X-ray figure


def test_numbers_on_the_xray_match_the_findings_list(datasets_dir: Path) -> None:
    radiograph = load_scan(datasets_dir / SCANS["many_caries"])
    view = build_report(radiograph, load_findings(FIXTURES / "many_caries.json"), Messages("en"), today=TODAY)
    listed = [(item.number, group.title) for group in view.found for item in group.items]
    assert [n for n, _ in listed] == list(range(1, 11))
    # Left to right on the upper row first: tooth 16 (patient's upper right) gets number 1.
    assert listed[0] == (1, "Tooth 16")
    assert ("Tooth 37" in {title for _, title in listed}) and view.next_visit_date == "by 16 March 2026"


class _CountingHandler(http.server.BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[str]:
    _CountingHandler.hits = []
    server = http.server.HTTPServer(("127.0.0.1", 0), _CountingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_markup_in_patient_and_clinic_fields_is_escaped_and_nothing_is_fetched(
    datasets_dir: Path, http_server: str
) -> None:
    data = json.loads((FIXTURES / "healthy.json").read_text(encoding="utf-8"))
    data["patient"]["name"] = f'<script>alert(1)</script><img src="{http_server}/name.png">'
    data["review"]["reviewed_by"] = f'<link rel="stylesheet" href="{http_server}/style.css">'
    clinic = clinic_from_dict(
        {"name": f'<img src="{http_server}/clinic.png">', "address": "<b>bold</b>"}, Path("."), "clinic.yaml"
    )
    radiograph = load_scan(datasets_dir / SCANS["healthy"])
    messages = Messages("en")
    view = build_report(radiograph, findings_from_dict(data), messages, clinic=clinic, today=TODAY)
    html = render_html(view, messages)
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html and '<img src="http' not in html
    render_pdf(view, messages)
    assert _CountingHandler.hits == []


def test_renderer_refuses_external_resources_even_in_raw_html(http_server: str) -> None:
    html = (
        f'<html><body><img src="{http_server}/x.png"><link rel="stylesheet" href="{http_server}/s.css">x</body></html>'
    )
    assert html_to_pdf(html)[:5] == b"%PDF-"
    assert _CountingHandler.hits == []


def test_findings_of_another_scan_are_refused(datasets_dir: Path) -> None:
    radiograph = load_scan(datasets_dir / SCANS["healthy"])
    with pytest.raises(FindingsError, match="another file"):
        build_report(radiograph, load_findings(FIXTURES / "many_caries.json"), Messages("en"))
    with pytest.raises(FindingsError, match="2943x1435 image"):
        build_report(radiograph, load_findings(FIXTURES / "no_tooth_numbers.json"), Messages("en"))


def test_clinic_prices_logo_and_universal_numbering(datasets_dir: Path, tmp_path: Path) -> None:
    logo = tmp_path / "logo.svg"
    logo.write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"><rect width="40" height="20"/></svg>'
    )
    clinic = clinic_from_dict(
        {
            "name": "Smile Clinic",
            "phone": "+7 495 000 00 00",
            "logo": "logo.svg",
            "numbering": "universal",
            "prices": {
                "currency": "RUB",
                "items": {
                    "filling": {
                        "amount": 4500,
                        "includes": {"en": "anaesthesia and the filling", "ru": "анестезия и пломба"},
                    },
                    "checkup": {"amount": 3000, "includes": "examination and cleaning"},
                },
            },
        },
        tmp_path,
        "clinic.yaml",
    )
    radiograph = load_scan(datasets_dir / SCANS["many_caries"])
    messages = Messages("ru")
    view = build_report(radiograph, load_findings(FIXTURES / "many_caries.json"), messages, clinic=clinic, today=TODAY)
    html = render_html(view, messages)
    assert "data:image/svg+xml;base64," in html
    assert "анестезия и пломба" in html
    spaced = html.replace("\u00a0", " ").replace("\u202f", " ")  # CLDR's no-break spaces vary by release
    assert "5 × 4 500,00 ₽ = 22 500,00 ₽" in spaced  # five fillings, Russian number format
    assert view.found[0].title == "Зуб 3"  # FDI 16 is Universal 3


def test_cli_writes_pdf_and_html_and_fails_in_one_line(
    datasets_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XRAYREPORT_MODEL", str(tmp_path / "no-model.onnx"))
    scan = str(datasets_dir / SCANS["child"])
    out = tmp_path / "child.html"
    assert (
        main(["report", scan, "-o", str(out), "--findings", str(FIXTURES / "child.json"), "--lang", "zh", "--html"])
        == 0
    )
    assert "小明" in out.read_text(encoding="utf-8") and "85 号牙" in out.read_text(encoding="utf-8")
    args = [
        "report",
        scan,
        "-o",
        str(out),
        "--findings",
        str(FIXTURES / "child.json"),
        "--html",
        "--numbering",
        "universal",
    ]
    assert main(args) == 0
    assert "Tooth T" in out.read_text(encoding="utf-8")  # FDI 85 is Universal T
    assert main(["report", scan, "-o", str(tmp_path / "x.pdf")]) == 1
    err = capsys.readouterr().err
    assert "detection model not found" in err and "or pass --findings FILE" in err
    bad = json.loads((FIXTURES / "child.json").read_text(encoding="utf-8"))
    bad["findings"][0]["tooth"] = "19"
    (tmp_path / "bad.json").write_text(json.dumps(bad), encoding="utf-8")
    assert main(["report", scan, "-o", str(tmp_path / "x.pdf"), "--findings", str(tmp_path / "bad.json")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "findings[0].tooth" in err
    assert not (tmp_path / "x.pdf").exists()


def test_cli_without_findings_analyses_the_scan_and_says_no_dentist_confirmed_it(
    tiny_model: Path, datasets_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "report.html"
    scan = str(datasets_dir / SCANS["healthy"])
    assert main(["report", scan, "-o", str(out), "--model", str(tiny_model), "--html"]) == 0
    html = out.read_text(encoding="utf-8")
    assert "These findings have not been confirmed by a dentist yet." in html
    assert "Software (tiny, version 0.0.1)" in html


SINCE = {
    "en": [
        "Since your last X-ray (2 March 2025)",
        "Treated since then: well done.",
        "Tooth 26: A filling",
        "Tooth 36: taken out",
        "New since then:",
        "Tooth 14: A deep cavity (deep tooth decay), grown since then",
        "Tooth 46: An infection at the root tip (periapical lesion)",
        "Unchanged, still waiting for care:",
        "Tooth 16: A cavity (tooth decay)",
    ],
    "zh": ["自您上次拍片（2025年3月2日）以来", "此后已治疗：做得很好。", "此后新出现：", "没有变化，仍在等待治疗："],
    "ru": ["С прошлого снимка (2 марта 2025 г.)", "Вылечено с тех пор: отличная работа.", "Новое с тех пор:"],
}


def _previous_scan(findings: Findings) -> Findings:
    """A year earlier, by hand: 26 carious (filled since), 14 carious (deep since), 16 carious (still), 36 a
    residual root (taken out since), the crown on 46 without its lesion, the root canal on 37; nothing else."""
    earlier = [("caries", "26"), ("caries", "14"), ("caries", "16"), ("residual_root", "36"), ("crown", "46")]
    earlier.append(("root_canal", "37"))
    return replace(
        findings,
        teeth=(*findings.teeth, Tooth("36", None)),
        findings=tuple(Finding(f"e{i}", kind, tooth, None, "dentist") for i, (kind, tooth) in enumerate(earlier)),
        study=Study(date="2025-03-02"),
    )


@pytest.mark.parametrize("lang", ["en", "zh", "ru"])
def test_since_your_last_xray_names_what_was_treated_what_is_new_and_what_waits(
    lang: str, datasets_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    radiograph = load_scan(datasets_dir / SCANS["many_caries"])
    findings = load_findings(FIXTURES / "many_caries.json")
    messages = Messages(lang)
    with caplog.at_level(logging.WARNING):
        view = build_report(radiograph, findings, messages, today=TODAY, previous=_previous_scan(findings))
        pdf = tmp_path / "report.pdf"
        pdf.write_bytes(render_pdf(view, messages))
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert messages.missing == set(), f"untranslated: {sorted(messages.missing)}"
    assert view.since is not None and [g.kind for g in view.since.groups] == ["treated", "new", "waiting"]
    assert len(view.since.groups[1].lines) == 6  # 14 grown, 24, 25, 35, 45 new cavities, 46 its lesion
    text = " ".join(pdftotext(pdf).split())
    for phrase in SINCE[lang]:
        assert phrase in text
    assert 2 <= page_count(pdf) <= 4


def test_the_same_findings_again_say_nothing_changed_but_what_still_waits(datasets_dir: Path) -> None:
    radiograph = load_scan(datasets_dir / SCANS["healthy"])
    findings = load_findings(FIXTURES / "healthy.json")
    view = build_report(radiograph, findings, Messages("en"), today=TODAY, previous=findings)
    assert view.since is not None and view.since.title == "Since your last X-ray (2 March 2026)"
    assert view.since.groups == () and view.since.nothing_new == "Nothing has changed on your teeth since then."
    assert build_report(radiograph, findings, Messages("en"), today=TODAY).since is None


def test_cli_previous_adds_since_your_last_xray_and_refuses_what_cannot_be_earlier(
    datasets_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scan = str(datasets_dir / SCANS["many_caries"])
    findings = load_findings(FIXTURES / "many_caries.json")  # 2026-03-02, no patient ID
    earlier = replace(_previous_scan(findings), image=replace(findings.image, sha256="1" * 64))

    def run(previous: Findings, this: Findings = findings) -> int:
        (tmp_path / "previous.json").write_text(previous.to_json(), encoding="utf-8")
        (tmp_path / "this.json").write_text(this.to_json(), encoding="utf-8")
        args = ["report", scan, "-o", str(tmp_path / "r.html"), "--html", "--findings", str(tmp_path / "this.json")]
        return main([*args, "--previous", str(tmp_path / "previous.json")])

    assert run(earlier) == 0
    text = " ".join(re.sub(r"<[^>]+>", " ", (tmp_path / "r.html").read_text(encoding="utf-8")).split())
    for phrase in SINCE["en"]:
        assert phrase in text
    capsys.readouterr()
    identified = replace(findings, patient=Patient(name="Ivan Petrov", id="P-2"))
    refusals = [
        ("the earlier findings are of this same scan", findings, findings),
        ("the earlier findings are of another patient (the patient IDs differ)", earlier, identified),
        ("of a scan taken after this one", replace(earlier, study=Study(date="2026-04-01")), findings),
    ]
    for message, previous, this in refusals:
        earlier_with_id = replace(previous, patient=Patient(id="P-1")) if this is identified else previous
        assert run(earlier_with_id, this) == 1
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and "P-1" not in err and "2026" not in err
    assert run(replace(earlier, patient=Patient(id="P-2")), identified) == 0  # the same patient
