"""Login throttling on POST /api/token and the login page, with a hand-driven clock (no sleeping)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from xrayreport.web import throttle
from xrayreport.web.config import WebConfig
from xrayreport.web.models import LoginFailure, User
from xrayreport.web.throttle import LoginLimits

from .conftest import BOTH_DATABASES, PASSWORD, USER, LiveServer
from .test_pages import _csrf

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Clock:
    """A clock that stands still until the test moves it."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def at(self, minutes: float) -> None:
        self.now = START + timedelta(minutes=minutes)


def _token(client: TestClient, password: str, username: str = USER) -> tuple[int, str | None]:
    response = client.post("/api/token", data={"username": username, "password": password})
    return response.status_code, response.headers.get("retry-after")


@BOTH_DATABASES
def test_five_failures_in_15_minutes_refuse_the_user_name_until_the_oldest_leaves_the_window(
    make_client: Callable[..., TestClient],
) -> None:
    clock = Clock()
    client = make_client(clock=clock)
    for minute in range(5):  # failures at 09:00, 09:01, 09:02, 09:03, 09:04
        clock.at(minute)
        assert _token(client, "wrong") == (401, None)
    clock.at(5)  # the 09:00 failure counts until 09:15: 600 s from now
    refused = client.post("/api/token", data={"username": USER, "password": PASSWORD})
    assert refused.status_code == 429 and refused.headers["retry-after"] == "600"
    assert refused.json() == {"detail": "too many failed logins; try again in 10 minutes"}
    clock.at(15 - 1 / 60)  # 09:14:59
    assert _token(client, PASSWORD) == (429, "1")  # even the right password: no guessing while refused
    clock.at(15)  # 09:00 has left the window; four failures count
    assert _token(client, "wrong") == (401, None)  # now 09:01 .. 09:04 and 09:15
    assert _token(client, PASSWORD) == (429, "60")  # until 09:01 + 15 min = 09:16
    clock.at(16)
    assert _token(client, PASSWORD) == (200, None)


def test_a_successful_login_clears_the_user_names_failures(make_client: Callable[..., TestClient]) -> None:
    clock = Clock()
    client = make_client(clock=clock, login_limits=LoginLimits(per_user=3))
    assert [_token(client, "wrong")[0] for _ in range(2)] == [401, 401]
    assert _token(client, PASSWORD) == (200, None)
    assert [_token(client, "wrong")[0] for _ in range(3)] == [401, 401, 401]  # three new tries, not one
    assert _token(client, PASSWORD) == (429, "900")  # all three at 09:00: free again at 09:15


def test_many_user_names_from_one_address_are_refused(make_client: Callable[..., TestClient]) -> None:
    clock = Clock()
    client = make_client(clock=clock, login_limits=LoginLimits(per_user=5, per_address=3))
    for minute, name in enumerate(("anna", "boris", "clara")):
        clock.at(minute)
        assert _token(client, "wrong", username=name) == (401, None)
    clock.at(10)
    assert _token(client, PASSWORD) == (429, "300")  # the address, not dr-lee, is over: 09:00 + 15 min
    clock.at(15)
    assert _token(client, PASSWORD) == (200, None)


def test_the_login_page_is_throttled_with_a_message_on_the_form(make_client: Callable[..., TestClient]) -> None:
    clock = Clock()
    client = make_client(clock=clock, login_limits=LoginLimits(per_user=2))
    csrf = _csrf(client.get("/login").text)
    form = {"username": USER, "csrf": csrf, "next": "/"}
    assert client.post("/login", data={**form, "password": "wrong"}).status_code == 401
    assert _token(client, "wrong") == (401, None)  # the page and the API count together
    clock.at(2.5)
    page = client.post("/login", data={**form, "password": PASSWORD}, follow_redirects=False)
    assert page.status_code == 429 and page.headers["retry-after"] == "750"
    assert "Too many failed logins; try again in 13 minutes." in page.text and 'name="password"' in page.text
    clock.at(15)
    page = client.post("/login", data={**form, "password": PASSWORD}, follow_redirects=False)
    assert page.status_code == 303


def test_failed_logins_keep_user_names_out_of_logs_and_the_database(
    make_client: Callable[..., TestClient], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = make_client(login_limits=LoginLimits(per_user=2))
    name = "Zhang Wei"  # a patient's name typed into the user name field
    assert [_token(client, "1975-09-14", username=name)[0] for _ in range(3)] == [401, 401, 429]
    logged = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith(("httpx", "httpcore")))
    assert "login refused: too many failed logins" in logged
    assert "Zhang" not in logged and "1975-09-14" not in logged
    with client.app.state.workspace.sessions() as db:  # type: ignore[attr-defined]
        keys = db.scalars(select(LoginFailure.key)).all()
    assert len(keys) == 4 and all(len(key) == 64 and "Zhang" not in key for key in keys)  # hashes only


@BOTH_DATABASES
def test_parallel_guesses_get_no_more_password_checks_than_the_limit(
    make_client: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = make_client(clock=Clock())
    checked = []
    real_authenticate = throttle.authenticate

    def counting_authenticate(db: Session, username: str, password: str) -> User | None:
        checked.append(password)
        return real_authenticate(db, username, password)

    monkeypatch.setattr(throttle, "authenticate", counting_authenticate)
    start = threading.Barrier(40)

    def guess(number: int) -> int:
        start.wait()
        return _token(client, f"guess {number}")[0]

    with ThreadPoolExecutor(40) as pool:
        answers = list(pool.map(guess, range(40)))
    guessed = len(checked)  # before the last login, whose own check would count too
    assert guessed <= 5 and answers.count(401) == guessed
    assert answers.count(429) == 40 - guessed
    # every checked guess is a counted failure, and the refused ones are not counted
    assert _token(client, PASSWORD)[0] == (429 if guessed == 5 else 200)


def test_forwarded_addresses_count_only_from_a_trusted_proxy(
    make_config: Callable[..., WebConfig], seed_home: Callable[[Path], None]
) -> None:
    import httpx2

    config = make_config(login_limits=LoginLimits(per_user=100, per_address=3))
    seed_home(config.home)

    def guesses(url: str, network: str) -> list[int]:
        return [
            httpx2.post(
                f"{url}/api/token",
                data={"username": f"user{i}", "password": "wrong"},
                headers={"X-Forwarded-For": f"{network}.{i}"},
            ).status_code
            for i in range(4)
        ]

    with LiveServer(config) as server:  # no proxy: a header any local client can send changes nothing
        assert guesses(server.url, "10.0.0") == [401, 401, 401, 429]
    with LiveServer(config, trusted_proxies=["127.0.0.1"]) as server:  # behind a proxy on this machine
        assert guesses(server.url, "10.0.1") == [401, 401, 401, 401]
