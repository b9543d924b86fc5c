"""Fixtures for the web tests: a real app on a temporary home (SQLite, or PostgreSQL where a test asks for
both databases), a user, tokens and scans."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from mail.smtp_server import SmtpServer  # tests/mail: a real SMTP server on 127.0.0.1

from xrayreport.web.app import create_app
from xrayreport.web.auth import add_user
from xrayreport.web.config import WebConfig
from xrayreport.web.database import make_engine, make_sessions, upgrade

from .doubles import analyse_for_tests, render_report_for_tests
from .postgres import SKIP_VARIABLE, PostgresCluster, server_bin_dir

USER, PASSWORD = "dr-lee", "correct horse battery"
BOTH_DATABASES = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
"""Runs a test on the default SQLite database and again on PostgreSQL."""


def scan_png(seed: int, width: int = 640, height: int = 320) -> bytes:
    """A distinct panoramic-sized greyscale PNG: a bright arch over noise, different for every ``seed``."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(20, 90, size=(height, width), dtype=np.uint8)
    cv2.ellipse(pixels, (width // 2, height // 3), (width * 2 // 5, height // 2), 0, 20, 160, 230, height // 8)
    ok, encoded = cv2.imencode(".png", pixels)
    assert ok
    return encoded.tobytes()


def _seed(url: str) -> None:
    """Migrate the database at ``url`` and add the user ``dr-lee``."""
    engine = make_engine(url)
    upgrade(engine)
    with make_sessions(engine).begin() as db:
        add_user(db, USER, PASSWORD, ["dentist"])
    engine.dispose()


@pytest.fixture(scope="session")
def seed_home(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Path], None]:
    """Gives a home a migrated database with the user ``dr-lee``, copied from one made once per session
    (migrating and hashing a password for every test would dominate the suite's time)."""
    template = tmp_path_factory.mktemp("template-home") / "xrayreport.sqlite3"
    _seed(f"sqlite:///{template}")

    def seed(home: Path) -> None:
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        shutil.copyfile(template, home / "xrayreport.sqlite3")

    return seed


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """A throwaway PostgreSQL cluster for the session (started in about a second); fails when the server is
    not installed, unless $XRAYREPORT_SKIP_POSTGRES=1 says to skip the PostgreSQL tests."""
    bin_dir = server_bin_dir()
    if bin_dir is None:
        message = (
            "the PostgreSQL server (initdb, pg_ctl) is not installed: run 'bash scripts/install-system-deps.sh "
            "--tests' as root (make test does), or set " + SKIP_VARIABLE + "=1 to skip the PostgreSQL tests"
        )
        if os.environ.get(SKIP_VARIABLE) == "1":
            pytest.skip(message)
        pytest.fail(message)
    cluster = PostgresCluster(bin_dir)
    try:
        yield cluster.start()
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def postgres_template(postgres: PostgresCluster) -> str:
    """A migrated PostgreSQL database with the user ``dr-lee``, copied for each test that asks for one."""
    _seed(postgres.create_database("seeded"))
    return "seeded"


@pytest.fixture
def database_url(request: pytest.FixtureRequest) -> str | None:
    """``None`` (the app's SQLite file in its home) unless a test is parametrised with "postgresql"
    (see :data:`BOTH_DATABASES`): then a fresh PostgreSQL database, migrated, with the user ``dr-lee``."""
    if getattr(request, "param", "sqlite") == "sqlite":
        return None
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    return cluster.create_database(template=request.getfixturevalue("postgres_template"))


@pytest.fixture
def make_config(tmp_path: Path, database_url: str | None) -> Callable[..., WebConfig]:
    def make(**overrides: Any) -> WebConfig:
        options: dict[str, Any] = {
            "home": tmp_path / "home",
            "database_url": database_url,
            "analyser": analyse_for_tests,
            "renderer": render_report_for_tests,
            "analysis_workers": 2,
        }
        options.update(overrides)
        return WebConfig(**options)

    return make


@pytest.fixture
def make_client(
    make_config: Callable[..., WebConfig], seed_home: Callable[[Path], None]
) -> Iterator[Callable[..., TestClient]]:
    """Start the real app (lifespan included) with config overrides; a user ``dr-lee`` exists."""
    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        config = make_config(**overrides)
        if config.database_url is None and not (config.home / "xrayreport.sqlite3").exists():
            seed_home(config.home)
        app: FastAPI = create_app(config)
        client = TestClient(app, base_url="http://127.0.0.1")
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in reversed(clients):
        client.__exit__(None, None, None)


REFUSED_ADDRESS = "refused@example.org"
"""The one recipient :func:`mail_server` refuses, as a server refuses an address it has no mailbox for."""


def mail_section(port: int) -> str:
    """The clinic file's ``mail:`` section for an SMTP server on 127.0.0.1 without TLS or login."""
    return f"mail: {{host: 127.0.0.1, port: {port}, security: none, sender: recall@smile.example}}\n"


@pytest.fixture
def mail_server(make_config: Callable[..., WebConfig]) -> Iterator[SmtpServer]:
    """A real SMTP server on 127.0.0.1 (tests/mail/smtp_server.py) that the workspace's clinic file, Smile Dental,
    sends e-mail through; it refuses :data:`REFUSED_ADDRESS`."""
    home = make_config().home
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    with SmtpServer(refuse=frozenset({REFUSED_ADDRESS})) as server:
        clinic = "name: Smile Dental\nphone: 555 0100\n" + mail_section(server.port)
        (home / "clinic.yaml").write_text(clinic, encoding="utf-8")
        yield server


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


def bearer(client: TestClient, username: str = USER, password: str = PASSWORD) -> dict[str, str]:
    response = client.post("/api/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
def auth(client: TestClient) -> dict[str, str]:
    return bearer(client)


def upload(client: TestClient, auth: dict[str, str], data: bytes, name: str = "pano.png", **fields: str) -> str:
    response = client.post("/api/studies", headers=auth, files={"file": (name, data)}, data=fields)
    assert response.status_code == 201, response.text
    study_id: str = response.json()["id"]
    return study_id


def wait_for_findings(client: TestClient, auth: dict[str, str], study_id: str, timeout_s: float = 20) -> Any:
    """Poll GET findings until it is no longer 202; returns the final response."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = client.get(f"/api/studies/{study_id}/findings", headers=auth)
        if response.status_code != 202 or time.monotonic() > deadline:
            return response
        time.sleep(0.05)


class LiveServer:
    """The real app served by uvicorn on 127.0.0.1 (a free port) in a background thread."""

    def __init__(self, config: WebConfig, trusted_proxies: list[str] | None = None) -> None:
        import uvicorn

        from xrayreport.web.command import uvicorn_config  # as `xrayreport serve` runs it

        self.config = config
        app = create_app(config)
        self.server = uvicorn.Server(uvicorn_config(app, "127.0.0.1", 0, trusted_proxies, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    @property
    def url(self) -> str:
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture
def live_server(make_config: Callable[..., WebConfig], seed_home: Callable[[Path], None]) -> Iterator[LiveServer]:
    config = make_config()
    seed_home(config.home)
    with LiveServer(config) as server:
        yield server


def bearer_for(url: str, username: str = USER, password: str = PASSWORD) -> dict[str, str]:
    """A bearer header from a live server."""
    import httpx2

    # Checking an argon2 password takes a second of CPU: on a loaded 2-core machine more than httpx's 5 s.
    response = httpx2.post(f"{url}/api/token", data={"username": username, "password": password}, timeout=60)
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


CHROMIUM = "/usr/bin/chromium"
# From STACK.md: playwright's own browser download fails here, Debian's chromium works with these.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium, headless, driven by Playwright (one per test module)."""
    if not Path(CHROMIUM).exists():
        if os.geteuid() == 0:
            pytest.fail(f"{CHROMIUM} is missing: run 'bash scripts/install-system-deps.sh --tests' (make test does)")
        pytest.skip(f"{CHROMIUM} is missing and this is not root: sudo apt-get install chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def signed_in_page(browser: Any, url: str, width: int = 1440, height: int = 900) -> Any:
    """A new browser page of ``width`` x ``height`` CSS px, signed in as :data:`USER` on the server at ``url``."""
    page = browser.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(15_000)
    sign_in(page, url)
    return page


def sign_in(page: Any, url: str) -> None:
    """Sign ``page`` in as :data:`USER` through the login form; returns on the start page."""
    page.goto(url + "/login")
    page.fill("input[name=username]", USER)
    page.fill("input[name=password]", PASSWORD)
    page.click("button.primary")
    page.wait_for_url(url + "/")


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """The folder screenshots go to for people to look at: ``$XRAYREPORT_SCREENSHOTS``, else the test's own."""
    folder = Path(os.environ.get("XRAYREPORT_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
