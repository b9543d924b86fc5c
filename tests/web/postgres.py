"""A throwaway PostgreSQL cluster for the web tests: initdb in a temporary folder, served on a unix socket
only (no TCP port to collide with), fsync off, stopped and deleted afterwards.

PostgreSQL refuses to run as root, so under root (CI) the server runs as the ``postgres`` user the Debian
package creates, else as ``nobody``; the tests, still root, connect through the socket with trust auth.
"""

from __future__ import annotations

import itertools
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine

SKIP_VARIABLE = "XRAYREPORT_SKIP_POSTGRES"
SERVER_OPTIONS = "-c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off"


def server_bin_dir() -> Path | None:
    """The folder with ``initdb`` and ``pg_ctl``: from PATH, else the newest Debian ``/usr/lib/postgresql/N/bin``."""
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).resolve().parent
    debian = [p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/initdb") if (p.parent / "pg_ctl").exists()]
    return max(debian, key=lambda p: int(re.sub(r"\D", "", p.parent.name) or 0), default=None)


class PostgresCluster:
    """A running cluster in ``folder`` (data, socket, log); :meth:`create_database` gives a URL per database."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.folder = Path(tempfile.mkdtemp(prefix="xrayreport-pg-", dir="/tmp"))  # short: socket paths are limited
        self._names = itertools.count(1)
        self._run_as: dict[str, Any] = {}
        if os.geteuid() == 0:
            account = _server_account()
            self._run_as = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
            os.chown(self.folder, account.pw_uid, account.pw_gid)

    def _run(self, *args: str) -> None:
        result = subprocess.run(
            args, cwd=self.folder, capture_output=True, text=True, env={**os.environ, "LC_ALL": "C"}, **self._run_as
        )
        if result.returncode != 0:
            log = self.folder / "server.log"
            detail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}\n{detail}")

    def start(self) -> PostgresCluster:
        data = str(self.folder / "data")
        self._run(str(self.bin_dir / "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "-N")
        options = f"-k {self.folder} {SERVER_OPTIONS}"
        log = str(self.folder / "server.log")
        self._run(str(self.bin_dir / "pg_ctl"), "-D", data, "-l", log, "-o", options, "-w", "start")
        return self

    def stop(self) -> None:
        if (self.folder / "data" / "postmaster.pid").exists():
            self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@/{database}?host={self.folder}"

    def create_database(self, name: str | None = None, template: str | None = None) -> str:
        """A new database (a copy of the database ``template`` when given, else empty); returns its URL."""
        name = name or f"test_{next(self._names)}"
        engine = create_engine(self.url("postgres"), isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        engine.dispose()
        return self.url(name)


def _server_account() -> pwd.struct_passwd:
    """The account a root-started server runs as: ``postgres`` (the Debian package makes it), else ``nobody``."""
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        return pwd.getpwnam("nobody")
