"""``xrayreport users`` and ``xrayreport serve`` on the command line."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from xrayreport.cli import main
from xrayreport.web.app import create_app
from xrayreport.web.config import WebConfig

from .doubles import analyse_for_tests, render_report_for_tests


def _users(monkeypatch: pytest.MonkeyPatch, home: Path, *args: str, stdin: str = "") -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main(["users", *args, "--home", str(home)])


def test_users_add_then_log_in_with_that_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _users(monkeypatch, tmp_path, "add", "dr-wu", "--password-stdin", stdin="a long passphrase\n") == 0
    assert _users(monkeypatch, tmp_path, "list") == 0
    assert "dr-wu\tcreated " in capsys.readouterr().out
    config = WebConfig(home=tmp_path, analyser=analyse_for_tests, renderer=render_report_for_tests)
    with TestClient(create_app(config)) as client:
        response = client.post("/api/token", data={"username": "dr-wu", "password": "a long passphrase"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("name", "password", "message"),
    [
        (
            "dr wu",
            "a long passphrase",
            "invalid user name 'dr wu': use 1-64 letters, digits, dots, dashes or underscores",
        ),
        ("dr-wu", "short", "the password is too short: use at least 8 characters"),
        ("dr-li", "a long passphrase", "user 'dr-li' exists already; pick another name"),
    ],
)
def test_users_add_refuses_bad_input_in_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    password: str,
    message: str,
) -> None:
    assert _users(monkeypatch, tmp_path, "add", "dr-li", "--password-stdin", stdin="first passphrase\n") == 0
    capsys.readouterr()
    assert _users(monkeypatch, tmp_path, "add", name, "--password-stdin", stdin=password + "\n") == 1
    assert capsys.readouterr().err == f"xrayreport: error: {message}\n"


def test_home_defaults_to_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from xrayreport.web.config import default_home

    monkeypatch.setenv("XRAYREPORT_HOME", str(tmp_path / "clinic"))
    assert default_home() == tmp_path / "clinic"
    monkeypatch.delenv("XRAYREPORT_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_home() == tmp_path / "data" / "xrayreport"
