"""The login page tells a new workspace's first visitor how to create an account, and only then."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from xrayreport.cli import main
from xrayreport.web.app import create_app
from xrayreport.web.config import WebConfig

from .doubles import analyse_for_tests, render_report_for_tests

HINT = "No accounts yet: create one with <code>xrayreport users add NAME</code>, then log in."


def test_the_login_page_says_how_to_create_the_first_account(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = WebConfig(home=tmp_path, analyser=analyse_for_tests, renderer=render_report_for_tests)
    with TestClient(create_app(config), base_url="http://127.0.0.1") as client:
        assert HINT in client.get("/login").text
        monkeypatch.setattr("sys.stdin", io.StringIO("a long passphrase\n"))
        assert main(["users", "add", "dr-wu", "--password-stdin", "--home", str(tmp_path)]) == 0
        page = client.get("/login").text
        assert "No accounts yet" not in page
        assert 'name="username"' in page
