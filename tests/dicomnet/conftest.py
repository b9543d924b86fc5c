"""Fixtures for the DICOM node tests: a workspace on a temporary home (migrated SQLite, scan store, analysis
runner with the web tests' analyser double) and a node listening on 127.0.0.1 at a port the system picks."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker
from web.doubles import analyse_for_tests

from xrayreport.dicomnet import NodeConfig
from xrayreport.dicomnet.receive import Receiver
from xrayreport.dicomnet.scp import StorageSCP
from xrayreport.web.analysis import Analyser, AnalysisRunner
from xrayreport.web.config import DEFAULT_MAX_UPLOAD_BYTES
from xrayreport.web.database import make_engine, make_sessions, upgrade
from xrayreport.web.models import Patient, Study, utc_now
from xrayreport.web.scans import ScanStore

from .senders import CALLING_AE

DATABASE = "xrayreport.sqlite3"


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty workspace database at the newest migration, made once and copied for each test."""
    path = tmp_path_factory.mktemp("template") / DATABASE
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture
def engine(tmp_path: Path, migrated_database: Path) -> Iterator[Engine]:
    shutil.copyfile(migrated_database, tmp_path / DATABASE)
    engine = make_engine(f"sqlite:///{tmp_path / DATABASE}")
    yield engine
    engine.dispose()


@pytest.fixture
def make_receiver(tmp_path: Path, engine: Engine) -> Iterator[Callable[..., Receiver]]:
    """Receivers into the test's workspace (``max_bytes`` as asked, else the upload default; ``analyser`` the web
    tests' double unless ``None``, as on a server without the model); their runners are shut down after the test."""
    runners: list[AnalysisRunner] = []

    def make(max_bytes: int = DEFAULT_MAX_UPLOAD_BYTES, analyser: Analyser | None = analyse_for_tests) -> Receiver:
        sessions = make_sessions(engine)
        scans = ScanStore(tmp_path / "scans")
        runners.append(AnalysisRunner(analyser, sessions, scans))
        return Receiver(sessions, scans, runners[-1], max_bytes, utc_now)

    yield make
    for runner in runners:
        runner.shutdown()


@pytest.fixture
def receiver(make_receiver: Callable[..., Receiver]) -> Receiver:
    return make_receiver()


@pytest.fixture
def make_node(make_receiver: Callable[..., Receiver]) -> Iterator[Callable[..., StorageSCP]]:
    """Started nodes (AE title XRAYREPORT, accepting ``PANO1`` only) around a new receiver (``max_bytes`` as
    asked); stopped after the test."""
    nodes: list[StorageSCP] = []

    def make(max_bytes: int = DEFAULT_MAX_UPLOAD_BYTES) -> StorageSCP:
        node = StorageSCP(NodeConfig(allowed_callers=(CALLING_AE,), port=0), make_receiver(max_bytes))
        node.start()
        nodes.append(node)
        return node

    yield make
    for node in nodes:
        node.stop()


@pytest.fixture
def node(make_node: Callable[..., StorageSCP]) -> StorageSCP:
    return make_node()


def stored(sessions: sessionmaker[Session]) -> list[tuple[str | None, Study]]:
    """Every study in the workspace with its patient's ID, oldest first."""
    with sessions() as db:
        rows = db.execute(select(Patient.external_id, Study).join(Study.patient).order_by(Study.created_at))
        return [(patient_id, study) for patient_id, study in rows]


def scan_files(folder: Path) -> list[str]:
    """The names in a scan store's folder, but its lock file."""
    return sorted(path.name for path in folder.iterdir() if path.name != ".lock") if folder.exists() else []
