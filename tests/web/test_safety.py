"""Safety: no patient data in logs, nothing lost across a restart, the schema matches its migrations."""

from __future__ import annotations

import logging
import os
import re
import stat
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import inspect, select

from xrayreport.web.analysis import MAX_INTERRUPTED_RUNS
from xrayreport.web.app import create_app
from xrayreport.web.auth import add_user
from xrayreport.web.config import WebConfig
from xrayreport.web.database import alembic_config, make_engine, make_sessions, upgrade
from xrayreport.web.models import Base, Study, StudyStatus, User
from xrayreport.web.roles import Role

from .conftest import bearer, scan_png, upload, wait_for_findings
from .doubles import BlockingAnalyser
from .test_pages import login


def test_no_patient_data_in_the_logs(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    from ingestion.dicom_factory import make_dicom  # tests/ingestion: generated DICOM files (Doe^Jane^Q, P-0042)

    caplog.set_level(logging.DEBUG)
    auth = bearer(client)
    study_id = upload(
        client,
        auth,
        scan_png(30),
        name="Zhang_Wei_pano.png",
        patient_name="Zhang Wei",
        patient_id="ZW-7781",
        birth_date="1975-09-14",
    )
    wait_for_findings(client, auth, study_id)
    dicom = client.post("/api/studies", headers=auth, files={"file": ("scan.dcm", make_dicom())}).json()["id"]
    wait_for_findings(client, auth, dicom)
    client.get("/api/patients", params={"q": "Zhang Wei"}, headers=auth)
    client.get(f"/api/studies/{study_id}/report.pdf", headers=auth)
    login(client)
    client.get("/", params={"q": "Zhang"})
    client.get(f"/studies/{study_id}")
    # The test's own HTTP client logs the URLs it calls; everything else is the server's.
    server = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    logged = "\n".join(record.getMessage() for record in server)
    assert f"GET /studies/{study_id} 200" in logged  # requests are logged ...
    for secret in ("Zhang", "ZW-7781", "1975-09-14", "Doe", "Jane", "P-0042", "1980-01-31", "19800131"):
        assert secret not in logged  # ... without names, IDs, birth dates or searches


def test_hostile_dicoms_leave_no_patient_data_in_answers_or_logs(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    # DICOMs whose Modality, transfer syntax or image elements hold the patient's name, ID or birth date:
    # the refusals (API JSON, the upload page's message) and the logs name the element, never the value.
    from ingestion.fuzz_corpus import SECRETS
    from ingestion.hostile_files import hostile_dicoms

    caplog.set_level(logging.DEBUG)
    auth = bearer(client)
    csrf = login(client)
    answers = []
    for hostile in hostile_dicoms():
        api = client.post("/api/studies", headers=auth, files={"file": (hostile.name, hostile.content)})
        assert 400 <= api.status_code < 500, api.text
        page = client.post("/upload", data={"csrf": csrf}, files=[("files", (hostile.name, hostile.content))])
        assert hostile.name in page.text  # the refused file is named, with the reason
        answers += [api.text, page.text]
    server = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    text = "\n".join(answers + [record.getMessage() for record in server]).lower()
    assert not [secret for secret in SECRETS if secret.lower() in text]


def test_an_unfinished_analysis_resumes_after_a_restart(make_client: Callable[..., TestClient]) -> None:
    analyser = BlockingAnalyser()
    first = make_client(analyser=analyser)
    auth = bearer(first)
    study_id = upload(first, auth, scan_png(31))
    assert analyser.started.wait(10)
    sessions = first.app.state.workspace.sessions  # type: ignore[attr-defined]
    with sessions() as db:
        assert db.get(Study, study_id).status == StudyStatus.RUNNING
    # The server dies here: its worker never reports back. A new server on the same home picks the study up.
    second = make_client()
    response = wait_for_findings(second, bearer(second), study_id)
    assert response.status_code == 200
    assert response.json()["model"]["name"] == "test-double-analyser"
    analyser.release()


def test_a_scan_interrupted_again_and_again_is_marked_failed(
    make_config: Callable[..., WebConfig], seed_home: Callable[[Path], None]
) -> None:
    config = make_config()
    seed_home(config.home)
    with TestClient(create_app(config)) as client:
        study_id = upload(client, bearer(client), scan_png(32))
        wait_for_findings(client, bearer(client), study_id)
    engine = make_engine(config.db_url)
    with make_sessions(engine).begin() as db:  # as a server killed during its previous attempts leaves it
        study = db.get(Study, study_id)
        assert study is not None
        study.status, study.model_findings = StudyStatus.RUNNING, None
        study.interrupted_runs = MAX_INTERRUPTED_RUNS - 1
    with TestClient(create_app(config)) as client:
        response = client.get(f"/api/studies/{study_id}/findings", headers=bearer(client))
    assert response.status_code == 409
    assert f"interrupted {MAX_INTERRUPTED_RUNS} times" in response.json()["detail"]


def test_uploads_live_under_random_names_outside_served_folders(
    client: TestClient, make_config: Callable[..., WebConfig]
) -> None:
    auth = bearer(client)
    study_id = upload(client, auth, scan_png(33), name="Jane Doe 2024.png")
    home = make_config().home
    stored = sorted(p.name for p in (home / "scans").iterdir() if p.name != ".lock")  # .lock: see ScanStore
    assert len(stored) == 2 and all(len(name.split(".")[0]) == 32 for name in stored)
    assert not any("Jane" in name or name.endswith(".tmp") for name in stored)
    assert client.get(f"/static/../scans/{stored[0]}").status_code == 404
    assert study_id not in stored[0]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migrations_match_the_models(tmp_path: Path, request: pytest.FixtureRequest, backend: str) -> None:
    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    else:
        engine = make_engine(request.getfixturevalue("postgres").create_database())
    upgrade(engine)
    upgrade(engine)  # a second run (every server start) is a no-op
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
        assert set(inspect(connection).get_table_names()) == {"alembic_version", *Base.metadata.tables}
        if backend == "sqlite":
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    with make_sessions(engine)() as db:
        assert db.scalars(select(Study)).all() == []
    engine.dispose()


def test_files_left_by_an_interrupted_upload_are_removed_on_start(
    make_client: Callable[..., TestClient], make_config: Callable[..., WebConfig]
) -> None:
    client = make_client()
    study_id = upload(client, bearer(client), scan_png(34))
    scans = make_config().scans_dir
    kept = sorted(p.name for p in scans.iterdir())
    orphan, temporary, fresh = scans / f"{'a' * 32}.scan", scans / ".x.scan.123.tmp", scans / f"{'b' * 32}.scan"
    for path in (orphan, temporary, fresh, orphan.with_suffix(".preview.png")):
        path.write_bytes(b"left over")
    old = time.time() - 7200
    for path in (orphan, temporary, orphan.with_suffix(".preview.png")):
        os.utime(path, (old, old))
    for path in scans.iterdir():
        if path.name in kept:
            os.utime(path, (old, old))  # old, but its study refers to it
    make_client()  # a second server start on the same home
    assert sorted(p.name for p in scans.iterdir()) == sorted([*kept, fresh.name])  # fresh: maybe still uploading
    assert wait_for_findings(client, bearer(client), study_id).status_code == 200


def test_a_new_home_is_private_to_the_server_user(tmp_path: Path) -> None:
    home = tmp_path / "new" / "home"
    create_app(WebConfig(home=home, analyser=None, renderer=None))
    assert stat.S_IMODE(home.stat().st_mode) == 0o700  # scans hold patient data: this user only
    assert stat.S_IMODE((home / "secret.key").stat().st_mode) == 0o600


def test_a_restart_after_a_crash_removes_every_leftover_however_recent(
    make_config: Callable[..., WebConfig], seed_home: Callable[[Path], None]
) -> None:
    config = make_config()
    seed_home(config.home)
    with TestClient(create_app(config), base_url="http://127.0.0.1") as client:
        study_id = upload(client, bearer(client), scan_png(35))
        assert wait_for_findings(client, bearer(client), study_id).status_code == 200
    kept = sorted(p.name for p in config.scans_dir.iterdir())
    # what a server killed a moment ago, mid-upload, leaves behind
    leftovers = [f"{'c' * 32}.scan", f"{'c' * 32}.preview.png", f".{'d' * 32}.scan.x1y2.tmp"]
    for name in leftovers:
        (config.scans_dir / name).write_bytes(b"left over")
    with TestClient(create_app(config), base_url="http://127.0.0.1") as client:
        assert sorted(p.name for p in config.scans_dir.iterdir()) == kept
        assert client.get(f"/api/studies/{study_id}/image.png", headers=bearer(client)).status_code == 200


def test_an_existing_home_and_everything_written_in_it_become_private(
    make_config: Callable[..., WebConfig], seed_home: Callable[[Path], None]
) -> None:
    config = make_config()
    config.home.mkdir(mode=0o755, parents=True)
    config.home.chmod(0o755)  # made by hand, or by an older version
    with TestClient(create_app(config), base_url="http://127.0.0.1") as client:
        assert stat.S_IMODE(config.home.stat().st_mode) == 0o700
        with client.app.state.workspace.sessions.begin() as db:  # type: ignore[attr-defined]
            add_user(db, "dr-new", "a long enough password", ["dentist"])
        auth = bearer(client, "dr-new", "a long enough password")
        wait_for_findings(client, auth, upload(client, auth, scan_png(36)))
    written = [p for p in config.home.rglob("*") if p.is_file() and p.name != ".lock"]
    assert {p.name for p in written} >= {"xrayreport.sqlite3", "secret.key"}
    assert len([p for p in written if p.parent == config.scans_dir]) == 2  # the scan and its preview
    assert {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in written} == {p.name: "0o600" for p in written}
    assert stat.S_IMODE(config.scans_dir.stat().st_mode) == 0o700


def test_an_old_database_file_open_to_others_is_made_private(tmp_path: Path) -> None:
    database = tmp_path / "old.sqlite3"
    database.write_bytes(b"")
    database.chmod(0o644)
    make_engine(f"sqlite:///{database}").dispose()
    assert stat.S_IMODE(database.stat().st_mode) == 0o600


def test_every_answer_carries_the_security_headers_and_pages_need_no_inline_code(client: TestClient) -> None:
    auth = bearer(client)
    study_id = upload(client, auth, scan_png(37))
    wait_for_findings(client, auth, study_id)
    answers = {
        "login page": client.get("/login"),
        "API list": client.get("/api/studies", headers=auth),
        "API error": client.get("/api/studies/nope", headers=auth),
        "scan image": client.get(f"/api/studies/{study_id}/image.png", headers=auth),
        "static file": client.get("/static/review.js"),
    }
    login(client)
    answers["home page"] = client.get("/")
    answers["review page"] = client.get(f"/studies/{study_id}")
    for what, response in answers.items():
        headers = response.headers
        policy = headers.get("content-security-policy", "")
        assert "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy, what
        assert headers.get("x-frame-options") == "DENY", what
        assert headers.get("x-content-type-options") == "nosniff", what
        assert headers.get("referrer-policy") == "no-referrer", what
        assert "cache-control" in headers, what
    assert answers["API list"].headers["cache-control"] == "no-store"  # patient data stays out of caches
    for what in ("home page", "review page"):
        html = answers[what].text
        assert " style=" not in html, what  # the policy allows no inline style or script
        assert all("src=" in tag for tag in re.findall(r"<script[^>]*>", html)), what


@pytest.mark.parametrize(
    ("base_url", "secure_cookies", "secure"),
    [("http://127.0.0.1", False, False), ("https://127.0.0.1", False, True), ("http://127.0.0.1", True, True)],
    ids=["plain-http", "https-without-the-flag", "flag"],
)
def test_the_session_cookie_is_secure_whenever_the_request_came_over_https(
    make_client: Callable[..., TestClient], base_url: str, secure_cookies: bool, secure: bool
) -> None:
    client = make_client(secure_cookies=secure_cookies)
    client.base_url = base_url  # type: ignore[assignment]
    response = client.get("/login")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("xrayreport_session=") and "httponly" in cookie.lower()
    assert ("; secure" in cookie.lower()) is secure
    assert ("strict-transport-security" in response.headers) is secure


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_accounts_from_before_roles_keep_what_they_could_do(
    tmp_path: Path, request: pytest.FixtureRequest, backend: str
) -> None:
    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    else:
        engine = make_engine(request.getfixturevalue("postgres").create_database())
    command.upgrade(alembic_config(engine), "0004")
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO users (username, password_hash, created_at) VALUES ('old-timer', 'x', '2026-01-01')"
        )
    upgrade(engine)
    with make_sessions(engine)() as db:
        user = db.scalars(select(User)).one()
        assert user.roles == (Role.ADMIN, Role.DENTIST)
    engine.dispose()
