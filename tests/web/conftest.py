"""Fixtures for the web tests: a real app on a temporary home (SQLite), a user, tokens and scans."""

from __future__ import annotations

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

from xrayreport.web.app import create_app
from xrayreport.web.auth import add_user
from xrayreport.web.config import WebConfig
from xrayreport.web.database import make_engine, make_sessions, upgrade

from .doubles import analyse_for_tests, render_report_for_tests

USER, PASSWORD = "dr-lee", "correct horse battery"


def scan_png(seed: int, width: int = 640, height: int = 320) -> bytes:
    """A distinct panoramic-sized greyscale PNG: a bright arch over noise, different for every ``seed``."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(20, 90, size=(height, width), dtype=np.uint8)
    cv2.ellipse(pixels, (width // 2, height // 3), (width * 2 // 5, height // 2), 0, 20, 160, 230, height // 8)
    ok, encoded = cv2.imencode(".png", pixels)
    assert ok
    return encoded.tobytes()


@pytest.fixture(scope="session")
def seed_home(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Path], None]:
    """Gives a home a migrated database with the user ``dr-lee``, copied from one made once per session
    (migrating and hashing a password for every test would dominate the suite's time)."""
    template = tmp_path_factory.mktemp("template-home") / "xrayreport.sqlite3"
    engine = make_engine(f"sqlite:///{template}")
    upgrade(engine)
    with make_sessions(engine).begin() as db:
        add_user(db, USER, PASSWORD)
    engine.dispose()

    def seed(home: Path) -> None:
        home.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template, home / "xrayreport.sqlite3")

    return seed


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., WebConfig]:
    def make(**overrides: Any) -> WebConfig:
        options: dict[str, Any] = {
            "home": tmp_path / "home",
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
        if not (config.home / "xrayreport.sqlite3").exists():
            seed_home(config.home)
        app: FastAPI = create_app(config)
        client = TestClient(app, base_url="http://127.0.0.1")
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in reversed(clients):
        client.__exit__(None, None, None)


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

    def __init__(self, config: WebConfig) -> None:
        import uvicorn

        self.config = config
        self.server = uvicorn.Server(
            uvicorn.Config(create_app(config), host="127.0.0.1", port=0, access_log=False, log_level="warning")
        )
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

    response = httpx2.post(f"{url}/api/token", data={"username": username, "password": password})
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}
