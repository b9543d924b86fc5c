"""A workspace's reviewed results written to files, for the command line (``xrayreport dicom export``, ``xrayreport
fhir export``): the workspace's home and database opened without a server, studies named by id or a unique start of
it, and each study's files in a folder of its own."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ..atomic_write import write_bytes_atomically
from ..errors import XrayReportError
from .config import WebConfig
from .models import Study
from .scans import ScanStore
from .studies import NotFoundError

MIN_PREFIX = 8
"""The fewest characters of a study id the command line takes (the web's file names use 8)."""


@dataclass(frozen=True)
class HomeSource:
    """A workspace's home and database, read without a server (a :class:`~.dicomresults.StudySource`)."""

    config: WebConfig
    sessions: sessionmaker[Session]
    scans: ScanStore


def open_home(home: Path | None, database_url: str | None) -> HomeSource:
    """The workspace at ``home`` (default ``$XRAYREPORT_HOME``) and ``database_url`` (default its SQLite), with the
    report renderer of its clinic file when the report stage can be loaded (``None`` otherwise)."""
    from .config import default_home
    from .database import make_engine, make_sessions, upgrade
    from .reports import default_renderer

    folder = home or default_home()
    if not (folder / "xrayreport.sqlite3").exists() and database_url is None:
        raise XrayReportError(f"{folder} holds no workspace: give its folder with --home (or $XRAYREPORT_HOME)")
    config = WebConfig(
        home=folder, analyser=None, renderer=default_renderer(folder / "clinic.yaml"), database_url=database_url
    )
    engine = make_engine(config.db_url)
    upgrade(engine)
    return HomeSource(config, make_sessions(engine), ScanStore(config.scans_dir))


def find_studies(source: HomeSource, names: Sequence[str]) -> list[tuple[str, int]]:
    """(study id, patient id) of each study named by its id or a unique start of it (at least :data:`MIN_PREFIX`
    characters); :class:`NotFoundError` names the first one that matches none or several."""
    found = []
    with source.sessions() as db:
        for name in names:
            if len(name) < MIN_PREFIX:
                raise XrayReportError(f"study {name!r}: give at least {MIN_PREFIX} characters of its id")
            matches = db.execute(select(Study.id, Study.patient_id).where(Study.id.startswith(name)).limit(2)).all()
            if len(matches) != 1:
                raise NotFoundError(
                    f"study {name!r}: {'no study' if not matches else 'several studies'} in this workspace "
                    f"{'has' if not matches else 'have'} an id starting so; the study page's address has the full id"
                )
            found.append((matches[0][0], matches[0][1]))
    return found


def write_files(folder: Path, files: dict[str, bytes]) -> list[Path]:
    """Write ``files`` (name -> content) into ``folder``, created as needed, each atomically; returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data in files.items():
        path = folder / name
        write_bytes_atomically(path, data)
        paths.append(path)
    return paths
