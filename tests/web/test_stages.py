"""The web app with the real stages wired in: the ONNX detector (a tiny untrained export) and the report."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from xrayreport.report import LANGUAGES
from xrayreport.web.analysis import default_analyser
from xrayreport.web.reports import REPORT_LANGUAGES, default_renderer

from .conftest import bearer, scan_png, upload, wait_for_findings


def test_the_language_picker_offers_the_report_languages() -> None:
    assert set(REPORT_LANGUAGES) == set(LANGUAGES)


def test_a_missing_model_leaves_analysis_unavailable_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("XRAYREPORT_MODEL", str(tmp_path / "absent.onnx"))
    with caplog.at_level(logging.WARNING):
        assert default_analyser() is None
    assert "automatic analysis is unavailable: detection model not found at" in caplog.text


def test_the_real_detector_analyses_uploads(
    make_client: Callable[..., TestClient], tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XRAYREPORT_MODEL", str(tiny_model))
    analyser = default_analyser()
    assert analyser is not None
    client = make_client(analyser=analyser)
    auth = bearer(client)
    response = wait_for_findings(client, auth, upload(client, auth, scan_png(50, width=800, height=400)))
    assert response.status_code == 200, response.text
    document = response.json()
    assert document["model"] == {"name": "tiny", "version": "0.0.1"}
    assert (document["image"]["width"], document["image"]["height"]) == (800, 400)
    assert document["quality"]["verdict"] in ("ok", "doubtful", "unusable")


@pytest.mark.parametrize("lang", ["en", "zh", "ru"])
def test_the_real_report_is_made_from_the_reviewed_findings(make_client: Callable[..., TestClient], lang: str) -> None:
    renderer = default_renderer()
    assert renderer is not None
    client = make_client(renderer=renderer)
    auth = bearer(client)
    study_id = upload(client, auth, scan_png(51, width=800, height=400), patient_name="Fiona Report")
    document = wait_for_findings(client, auth, study_id).json()
    document["findings"] = [f for f in document["findings"] if f["type"] == "filling"]
    assert client.put(f"/api/studies/{study_id}/findings", headers=auth, json=document).status_code == 200
    response = client.get(f"/api/studies/{study_id}/report.pdf", params={"lang": lang}, headers=auth)
    assert response.status_code == 200, response.text
    assert response.content.startswith(b"%PDF")
    text = subprocess.run(["pdftotext", "-", "-"], input=response.content, capture_output=True, check=True).stdout
    assert "Fiona Report" in text.decode()
