"""The login page tells a new workspace's first visitor how to create an account, and only then."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from xrayreport.web.app import create_app
from xrayreport.web.auth import add_user
from xrayreport.web.config import WebConfig
from xrayreport.web.database import make_engine, make_sessions

from .doubles import analyse_for_tests, render_report_for_tests

HINT = "No accounts yet: create one with <code>xrayreport users add NAME</code>, then log in."


def test_the_login_page_says_how_to_create_the_first_account(tmp_path: Path) -> None:
    config = WebConfig(home=tmp_path, analyser=analyse_for_tests, renderer=render_report_for_tests)
    with TestClient(create_app(config), base_url="http://127.0.0.1") as client:
        assert HINT in client.get("/login").text
        engine = make_engine(config.db_url)
        with make_sessions(engine).begin() as db:
            add_user(db, "dr-wu", "a long passphrase")
        engine.dispose()
        page = client.get("/login").text
        assert "No accounts yet" not in page
        assert 'name="username"' in page
