"""Analysis workers on PostgreSQL (xrayreport.web.worker): a front that only queues, worker processes that take each
study once under a lease, a killed worker's study finished by another, and the refusals on SQLite."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from dicomnet.senders import radiograph, send
from dicomnet.test_command import Listener
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from xrayreport.cli import main
from xrayreport.errors import XrayReportError
from xrayreport.web.analysis import MAX_INTERRUPTED_RUNS, QUEUE_CHANNEL, analyse_study
from xrayreport.web.app import create_app
from xrayreport.web.config import WebConfig
from xrayreport.web.database import make_engine, make_sessions
from xrayreport.web.models import Study, StudyStatus
from xrayreport.web.scans import ScanStore
from xrayreport.web.worker import ActiveModelAnalyser, QueueNotifications, Worker

from .conftest import bearer, scan_png, upload
from .doubles import TEST_MODEL, BlockingAnalyser, analyse_for_tests
from .postgres import PostgresCluster

ON_POSTGRESQL = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
TESTS = Path(__file__).resolve().parents[1]


def _sessions(client: TestClient) -> sessionmaker[Session]:
    sessions: sessionmaker[Session] = client.app.state.workspace.sessions  # type: ignore[attr-defined]
    return sessions


def _wait_until_analysed(sessions: sessionmaker[Session], study_ids: list[str], timeout_s: float) -> list[Study]:
    deadline = time.monotonic() + timeout_s
    while True:
        with sessions() as db:
            studies = [db.get(Study, study_id) for study_id in study_ids]
            for study in studies:
                assert study is not None
                db.expunge(study)
        if all(s is not None and s.status not in (StudyStatus.QUEUED, StudyStatus.RUNNING) for s in studies):
            return [s for s in studies if s is not None]
        assert time.monotonic() < deadline, "the workers did not analyse every study in time"
        time.sleep(0.05)


def _log_lines(log: Path) -> list[tuple[str, str, str]]:
    """The worker processes' log: (``ready``, ``start`` or ``end``, the scan's SHA-256, the worker's name)."""
    lines = log.read_text().splitlines() if log.exists() else []
    return [(kind, sha256, name) for kind, sha256, name in (line.split(" ") for line in lines)]


def _pid(name: str) -> int:
    return int(name.split("-")[-2])  # worker_id(): machine-pid-random


@pytest.fixture
def start_workers(tmp_path: Path, make_config: Callable[..., WebConfig]) -> Iterator[Callable[..., list[str]]]:
    """Starts worker processes (tests/web/worker_process.py) on the test's PostgreSQL database and home; returns
    their names once all are waiting. Afterwards each one still alive is stopped with SIGTERM and must exit 0."""
    processes: list[subprocess.Popen[bytes]] = []
    log = tmp_path / "analyses.log"

    def start(count: int, lease_s: float, seconds_per_scan: float) -> list[str]:
        config = make_config()
        assert config.database_url is not None
        env = {**os.environ, "PYTHONPATH": str(TESTS)}
        command = [sys.executable, "-m", "web.worker_process", config.database_url, str(config.scans_dir), str(log)]
        options = ["--lease-seconds", str(lease_s), "--seconds-per-scan", str(seconds_per_scan)]
        for _ in range(count):
            processes.append(subprocess.Popen([*command, *options], env=env, stderr=subprocess.PIPE))
        deadline = time.monotonic() + 30
        while len(ready := [name for kind, _, name in _log_lines(log) if kind == "ready"]) < count:
            assert time.monotonic() < deadline and all(p.poll() is None for p in processes), "a worker did not start"
            time.sleep(0.05)
        return ready

    yield start
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        _, stderr = process.communicate(timeout=30)
        assert process.returncode in (0, -signal.SIGKILL), stderr.decode()[-2000:]


@ON_POSTGRESQL
def test_two_workers_analyse_fifty_uploads_each_exactly_once(
    make_client: Callable[..., TestClient], start_workers: Callable[..., list[str]], tmp_path: Path
) -> None:
    client = make_client(queue_only=True)
    auth = bearer(client)
    workers = start_workers(2, lease_s=10, seconds_per_scan=0.05)
    scans = [scan_png(500 + i, 400, 200) for i in range(50)]
    study_ids = [upload(client, auth, data) for data in scans]  # while the workers analyse the first ones
    studies = _wait_until_analysed(_sessions(client), study_ids, timeout_s=40)
    lines = _log_lines(tmp_path / "analyses.log")
    expected = Counter(study.sha256 for study in studies)
    assert len(expected) == 50
    assert Counter(sha256 for kind, sha256, _ in lines if kind == "start") == expected
    assert Counter(sha256 for kind, sha256, _ in lines if kind == "end") == expected
    assert {name for kind, _, name in lines if kind == "end"} == set(workers)  # both took a share
    for study in studies:
        model = study.model_document()
        assert study.status == StudyStatus.DONE and model is not None
        assert model.model == TEST_MODEL and model.image.sha256 == study.sha256
        assert (study.lease_owner, study.lease_expires, study.interrupted_runs) == (None, None, 0)


@ON_POSTGRESQL
def test_a_killed_workers_study_is_finished_by_the_other_once_its_lease_runs_out(
    make_client: Callable[..., TestClient], start_workers: Callable[..., list[str]], tmp_path: Path
) -> None:
    client = make_client(queue_only=True)
    workers = start_workers(2, lease_s=1.0, seconds_per_scan=3.0)
    study_id = upload(client, bearer(client), scan_png(600))
    log = tmp_path / "analyses.log"
    deadline = time.monotonic() + 10
    while not (starts := [name for kind, _, name in _log_lines(log) if kind == "start"]):
        assert time.monotonic() < deadline, "no worker took the study"
        time.sleep(0.02)
    first = starts[0]
    time.sleep(1.5)  # longer than the lease: the first worker's renewals keep the study from the other
    assert [name for kind, _, name in _log_lines(log) if kind == "start"] == [first]
    os.kill(_pid(first), signal.SIGKILL)
    (study,) = _wait_until_analysed(_sessions(client), [study_id], timeout_s=15)
    (other,) = set(workers) - {first}
    lines = _log_lines(log)
    assert [(kind, name) for kind, _, name in lines if kind != "ready"] == [
        ("start", first),
        ("start", other),
        ("end", other),
    ]
    assert study.status == StudyStatus.DONE and study.model_findings is not None
    assert (study.interrupted_runs, study.lease_owner, study.lease_expires) == (1, None, None)


def _worker(client: TestClient, name: str = "w1") -> Worker:
    workspace = client.app.state.workspace  # type: ignore[attr-defined]
    return Worker(workspace.sessions, workspace.scans, lambda _db: analyse_for_tests, lease_s=30, name=name)


@ON_POSTGRESQL
def test_a_worker_skips_a_study_another_is_taking_instead_of_waiting(make_client: Callable[..., TestClient]) -> None:
    client = make_client(queue_only=True)
    auth = bearer(client)
    older, newer = upload(client, auth, scan_png(601)), upload(client, auth, scan_png(602))
    worker = _worker(client)
    with _sessions(client).begin() as other:  # another worker in the middle of taking the older study
        other.get(Study, older, with_for_update=True)
        claim = worker.claim()
        assert claim is not None and claim.study_id == newer
    claim = worker.claim()
    assert claim is not None and claim.study_id == older
    assert worker.claim() is None
    with _sessions(client)() as db:
        study = db.get(Study, older)
        assert study is not None and (study.status, study.lease_owner) == (StudyStatus.RUNNING, "w1")
        assert study.lease_expires is not None
        assert timedelta(seconds=25) < study.lease_expires - datetime.now(UTC) <= timedelta(seconds=30)


def _set_running(client: TestClient, study_id: str, owner: str | None, expires_in_s: float, runs: int = 0) -> None:
    with _sessions(client).begin() as db:
        study = db.get(Study, study_id)
        assert study is not None
        study.status, study.lease_owner, study.interrupted_runs = StudyStatus.RUNNING, owner, runs
        study.lease_expires = None if owner is None else datetime.now(UTC) + timedelta(seconds=expires_in_s)


@ON_POSTGRESQL
def test_only_a_lease_that_ran_out_is_taken_over_and_a_scan_interrupted_again_fails(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(queue_only=True)
    auth = bearer(client)
    study_id = upload(client, auth, scan_png(603))
    worker = _worker(client)
    _set_running(client, study_id, "gone", expires_in_s=60)
    assert worker.claim() is None  # its worker is alive and renewing
    _set_running(client, study_id, "gone", expires_in_s=-1)
    claim = worker.claim()
    assert claim is not None and claim.study_id == study_id
    outcome = analyse_study(claim.analyser, client.app.state.workspace.scans, study_id, claim.scan_file, "x.png")  # type: ignore[attr-defined]
    assert worker.finish(study_id, outcome)
    with _sessions(client)() as db:
        study = db.get(Study, study_id)
        assert study is not None and study.status == StudyStatus.DONE
        assert (study.interrupted_runs, study.lease_owner, study.lease_expires) == (1, None, None)
    again = upload(client, auth, scan_png(604))
    _set_running(client, again, "gone", expires_in_s=-1, runs=MAX_INTERRUPTED_RUNS - 1)
    assert worker.claim() is None
    with _sessions(client)() as db:
        study = db.get(Study, again)
        assert study is not None and study.status == StudyStatus.FAILED and study.lease_owner is None
        assert f"interrupted {MAX_INTERRUPTED_RUNS} times" in (study.status_message or "")


@ON_POSTGRESQL
def test_a_result_is_dropped_once_another_worker_took_the_study_over(make_client: Callable[..., TestClient]) -> None:
    client = make_client(queue_only=True)
    study_id = upload(client, bearer(client), scan_png(605))
    slow, other = _worker(client, "slow"), _worker(client, "other")
    claim = slow.claim()
    assert claim is not None
    _set_running(client, study_id, "slow", expires_in_s=-1)  # it took longer than its lease, without renewals
    assert other.claim() is not None
    outcome = analyse_study(claim.analyser, client.app.state.workspace.scans, study_id, claim.scan_file, "x.png")  # type: ignore[attr-defined]
    assert not slow.finish(study_id, outcome)
    with _sessions(client)() as db:
        study = db.get(Study, study_id)
        assert study is not None and study.model_findings is None
        assert (study.status, study.lease_owner) == (StudyStatus.RUNNING, "other")


@ON_POSTGRESQL
def test_a_front_that_only_queues_analyses_nothing_and_leaves_leased_studies_to_the_workers(
    make_client: Callable[..., TestClient],
) -> None:
    analyser = BlockingAnalyser()
    client = make_client(queue_only=True, analyser=analyser)
    auth = bearer(client)
    leased, unleased = upload(client, auth, scan_png(606)), upload(client, auth, scan_png(607))
    assert not analyser.started.wait(0.5)
    _set_running(client, leased, "w1", expires_in_s=60)
    _set_running(client, unleased, None, expires_in_s=0)  # an analysis of the server before, in-process
    client.__exit__(None, None, None)
    restarted = make_client(queue_only=True, analyser=analyser)
    with _sessions(restarted)() as db:
        kept, resumed = db.get(Study, leased), db.get(Study, unleased)
        assert kept is not None and (kept.status, kept.lease_owner, kept.interrupted_runs) == ("running", "w1", 0)
        assert resumed is not None and (resumed.status, resumed.interrupted_runs) == (StudyStatus.QUEUED, 1)
    assert not analyser.started.wait(0.5)
    analyser.release()


def test_workers_and_a_front_that_only_queues_need_postgresql(
    make_config: Callable[..., WebConfig], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(XrayReportError, match="needs the workspace on PostgreSQL"):
        create_app(make_config(queue_only=True))
    assert main(["worker", "--home", str(tmp_path / "home")]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "xrayreport worker needs the workspace on PostgreSQL" in error
    assert main(["serve", "--queue-only", "--home", str(tmp_path / "home")]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "a server that only queues analyses needs the workspace on PostgreSQL" in error
    assert main(["dicom", "listen", "--queue-only", "--allow", "PANO1", "--home", str(tmp_path / "home")]) == 1
    assert capsys.readouterr().err == (
        "xrayreport: error: a DICOM node that only queues analyses needs the workspace on PostgreSQL (--database-url "
        "postgresql+psycopg://...); on sqlite the process that receives the scans analyses them itself "
        "(docs/workers.md)\n"
    )
    assert not (tmp_path / "home" / "xrayreport.sqlite3").exists()


@ON_POSTGRESQL
def test_a_dicom_node_that_only_queues_leaves_a_received_scan_to_a_worker(
    make_config: Callable[..., WebConfig], tiny_model: Path
) -> None:
    config = make_config()
    assert config.database_url is not None
    config.ensure_home()  # the listener's log goes there
    command = ("dicom", "listen", "--port", "0", "--allow", "PANO1", "--queue-only")
    listener = Listener(config.home, *command, "--database-url", config.database_url, model=tiny_model)
    engine = make_engine(config.database_url)
    sessions = make_sessions(engine)
    try:
        assert send(listener.port, radiograph("QUEUE-1")) == [0x0000]
        time.sleep(1.0)  # an in-process analysis with the tiny model takes a fraction of this
        with sessions() as db:
            (study,) = db.scalars(select(Study)).all()
            assert (study.status, study.lease_owner, study.model_findings) == (StudyStatus.QUEUED, None, None)
        worker = Worker(sessions, ScanStore(config.scans_dir), lambda _db: analyse_for_tests, lease_s=30)
        assert worker.run_once()
    finally:
        assert listener.stop() == 0
    with sessions() as db:
        (study,) = db.scalars(select(Study)).all()
        model = study.model_document()
        assert study.status == StudyStatus.DONE and model is not None and model.model == TEST_MODEL
        assert study.source_name.endswith(".dcm") and (study.lease_owner, study.interrupted_runs) == (None, 0)
    engine.dispose()


@ON_POSTGRESQL
def test_the_worker_command_analyses_with_the_shipped_model_and_stops_on_sigterm(
    make_client: Callable[..., TestClient], make_config: Callable[..., WebConfig]
) -> None:
    client = make_client(queue_only=True)
    study_id = upload(client, bearer(client), scan_png(608))
    config = make_config()
    assert config.database_url is not None
    env = {key: value for key, value in os.environ.items() if key != "XRAYREPORT_MODEL"}
    command = ["worker", "--home", str(config.home), "--database-url", config.database_url, "--poll-seconds", "0.1"]
    worker = subprocess.Popen([sys.executable, "-m", "xrayreport", *command], env=env, stderr=subprocess.PIPE)
    try:
        (study,) = _wait_until_analysed(_sessions(client), [study_id], timeout_s=60)
    finally:
        worker.send_signal(signal.SIGTERM)
        _, stderr = worker.communicate(timeout=30)
    model = study.model_document()
    assert study.status == StudyStatus.DONE and model is not None and model.model != TEST_MODEL
    assert worker.returncode == 0, stderr.decode()[-2000:]
    assert "stopped after 1 studies" in stderr.decode()


@ON_POSTGRESQL
def test_a_worker_analyses_with_the_model_an_admin_activates_on_the_front(
    make_client: Callable[..., TestClient],
) -> None:
    from .test_modelstore import with_admin_and_researcher
    from .test_roles import shipped_model_files

    client = make_client(queue_only=True)
    admin, _ = with_admin_and_researcher(client)
    auth = bearer(client)
    workspace = client.app.state.workspace  # type: ignore[attr-defined]
    worker = Worker(workspace.sessions, workspace.scans, ActiveModelAnalyser(workspace.config.home, analyse_for_tests))

    def analysed_by(seed: int) -> tuple[str, str]:
        study_id = upload(client, auth, scan_png(seed))
        assert worker.run_once()
        with workspace.sessions() as db:
            model = db.get(Study, study_id).model_document().model
        return model.name, model.version

    assert analysed_by(609) == (TEST_MODEL.name, TEST_MODEL.version)  # none installed: the worker's default
    installed = client.post("/api/models", headers=admin, files=shipped_model_files(version="9.0.0")).json()
    assert client.post(f"/api/models/{installed['id']}/activate", headers=admin).status_code == 200
    assert analysed_by(610) == ("detector-v1", "9.0.0")
    assert client.post("/api/models/use-default", headers=admin).status_code == 200
    assert analysed_by(611) == (TEST_MODEL.name, TEST_MODEL.version)


@ON_POSTGRESQL
def test_an_idle_worker_is_woken_by_the_fronts_notification_long_before_its_next_poll(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(queue_only=True)
    auth = bearer(client)
    workspace = client.app.state.workspace  # type: ignore[attr-defined]
    notifications = QueueNotifications(workspace.engine)
    worker = Worker(
        workspace.sessions, workspace.scans, lambda _db: analyse_for_tests, poll_s=60, notifications=notifications
    )
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        listening = select(func.count()).where(text("query = :listen")).select_from(text("pg_stat_activity"))
        deadline = time.monotonic() + 10
        with workspace.sessions() as db:
            while db.scalar(listening, {"listen": f"LISTEN {QUEUE_CHANNEL}"}) != 1:
                assert time.monotonic() < deadline, "the worker did not LISTEN"
                time.sleep(0.05)
                db.rollback()  # a fresh snapshot of pg_stat_activity
        time.sleep(0.3)  # it has looked, found nothing queued, and waits: its next poll is a minute away
        queued_at = time.monotonic()
        study_id = upload(client, auth, scan_png(612))
        (study,) = _wait_until_analysed(workspace.sessions, [study_id], timeout_s=30)
        assert study.status == StudyStatus.DONE and time.monotonic() - queued_at < 3
    finally:
        stopped_at = time.monotonic()
        worker.stop()
        thread.join(timeout=10)
    assert not thread.is_alive() and time.monotonic() - stopped_at < 2  # a stop is not left to the next poll either


def test_a_worker_waits_out_a_database_that_does_not_answer(
    postgres: PostgresCluster, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = make_engine(postgres.url("not_created_yet"))
    worker = Worker(make_sessions(engine), ScanStore(tmp_path), lambda _db: analyse_for_tests, poll_s=0.05)
    analysed: list[int] = []
    thread = threading.Thread(target=lambda: analysed.append(worker.run()))
    thread.start()
    time.sleep(0.5)
    assert thread.is_alive()
    worker.stop()
    thread.join(timeout=10)
    assert analysed == [0]
    assert "the database did not answer (OperationalError); trying again" in caplog.text
    engine.dispose()
