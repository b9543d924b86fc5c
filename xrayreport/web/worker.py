"""Analysis workers: separate processes (``xrayreport worker``) that analyse what a web front queues, so one
workspace on PostgreSQL is served by a front and any number of analysis machines (docs/workers.md).

A worker takes one study at a time with ``SELECT ... FOR UPDATE SKIP LOCKED``: two workers never take the same
study, and neither waits for a row the other is taking. It marks the study running under a lease (its id and an
expiry, both in the database, the expiry in the database's clock so the machines' clocks do not matter), renews
the lease every third of its length while it analyses, and stores the outcome only while the lease is still its
own. A study whose lease ran out (its worker was killed, or its machine lost) is taken over by the next worker
that looks, counted as interrupted as a server stop counts it (:func:`~.analysis.resume`). Analysis and storing are
the web server's own (:func:`~.analysis.analyse_study`, :meth:`~.analysis.AnalysisOutcome.store`).

Workers read the scans and the installed models from the workspace's home folder, which every machine mounts.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import ColumnElement, Engine, and_, func, or_, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from ..detection.detector import Detector
from ..errors import XrayReportError
from .analysis import QUEUE_CHANNEL, Analyser, AnalysisOutcome, analyse_study, resume
from .models import Study, StudyStatus
from .modelstore import active_model, model_path
from .scans import ScanStore

log = logging.getLogger(__name__)

DEFAULT_LEASE_S = 60.0
DEFAULT_POLL_S = 5.0
"""Seconds between looks for work when no front's notification comes: for a lease that ran out, which nothing
announces, and for a notification that was lost."""

AnalyserSource = Callable[[Session], Analyser | None]
"""The analyser to use for the study being taken, read in the transaction that takes it."""


def require_postgresql(database_url: str, what: str) -> None:
    """Refuse ``what`` (a worker, a front that only queues) on any database but PostgreSQL: SQLite has no row locks
    to share a queue between processes, and a workspace on SQLite analyses in its own process."""
    backend = make_url(database_url).get_backend_name()
    if backend != "postgresql":
        raise XrayReportError(
            f"{what} needs the workspace on PostgreSQL (--database-url postgresql+psycopg://...); on {backend} "
            "the process that receives the scans analyses them itself (docs/workers.md)"
        )


def worker_id() -> str:
    """A name for this worker process: its machine, its process id and a random part (at most 64 characters)."""
    return f"{socket.gethostname()[:40]}-{os.getpid()}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class Claim:
    """A study this worker took, and what analysing it needs."""

    study_id: str
    scan_file: str
    source_name: str
    analyser: Analyser | None


class QueueNotifications:
    """Wake-ups from the fronts: a PostgreSQL connection of its own, out of the pool and in autocommit, that
    LISTENs on :data:`~.analysis.QUEUE_CHANNEL`. Any failure of it is logged once and leaves the worker polling;
    the next :meth:`listen` connects again."""

    WAIT_SLICE_S = 0.25
    """Longest stretch waited without looking at the stop event: a stopped worker leaves within it."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._connection: psycopg.Connection[Any] | None = None
        self._failing = False

    def listen(self) -> None:
        """LISTEN, unless already listening. Called before each look for work, so that a study queued between the
        look and :meth:`wait` is not missed: its notification waits in the connection."""
        if self._connection is not None and not self._connection.closed:
            return
        try:
            pooled = self._engine.raw_connection()
            connection = pooled.driver_connection
            pooled.detach()  # this connection stays out of the pool, closed by close()
            if not isinstance(connection, psycopg.Connection):  # another driver, e.g. postgresql+psycopg2://
                pooled.close()
                raise psycopg.NotSupportedError("notifications need the psycopg driver (postgresql+psycopg://)")
            connection.rollback()  # the pool's first connect may have left a transaction open
            connection.autocommit = True
            connection.execute(f"LISTEN {QUEUE_CHANNEL}")
        except (SQLAlchemyError, psycopg.Error) as exc:
            self._failed(exc)
            return
        self._connection, self._failing = connection, False

    def wait(self, timeout_s: float, stop: threading.Event) -> None:
        """Until a front announces a queued study, ``stop`` is set, or ``timeout_s`` seconds have passed."""
        deadline = time.monotonic() + timeout_s
        connection = self._connection
        try:
            while connection is not None and not stop.is_set() and (left := deadline - time.monotonic()) > 0:
                if next(connection.notifies(timeout=min(left, self.WAIT_SLICE_S), stop_after=1), None) is not None:
                    for _ in connection.notifies(timeout=0):  # one look serves every study announced meanwhile
                        pass
                    return
        except psycopg.Error as exc:
            self._failed(exc)
        stop.wait(max(0.0, deadline - time.monotonic()))

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _failed(self, exc: Exception) -> None:
        if not self._failing:
            log.warning("not listening for new studies (%s); looking for them every poll instead", type(exc).__name__)
        self._failing = True
        self.close()


class Worker:
    """Takes queued studies one at a time and analyses them under a lease (see the module docstring).

    ``lease_s``: seconds a study stays this worker's without a renewal (renewed every third of it); a killed worker's
    study is taken over that long after its last renewal. ``poll_s``: seconds to wait when nothing is queued, unless
    ``notifications`` wake the worker sooner (a front announcing a queued study).
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        scans: ScanStore,
        analysers: AnalyserSource,
        lease_s: float = DEFAULT_LEASE_S,
        poll_s: float = DEFAULT_POLL_S,
        name: str | None = None,
        notifications: QueueNotifications | None = None,
    ) -> None:
        if lease_s <= 0 or poll_s <= 0:
            raise XrayReportError("the lease and the polling interval must be positive numbers of seconds")
        self.name = name or worker_id()
        self.lease_s = lease_s
        self.poll_s = poll_s
        self._sessions = sessions
        self._scans = scans
        self._analysers = analysers
        self._notifications = notifications
        self._stop = threading.Event()

    def run(self) -> int:
        """Analyse studies until :meth:`stop` is called (the study in hand is finished first); returns how many."""
        analysed = 0
        try:
            while not self._stop.is_set():
                if self._notifications is not None:
                    self._notifications.listen()
                try:
                    if self.run_once():
                        analysed += 1
                        continue
                except SQLAlchemyError as exc:  # a database restart: a study in hand is taken over once its lease ends
                    log.warning("the database did not answer (%s); trying again", type(exc).__name__)
                if self._notifications is not None:
                    self._notifications.wait(self.poll_s, self._stop)
                else:
                    self._stop.wait(self.poll_s)
        finally:
            if self._notifications is not None:
                self._notifications.close()
        return analysed

    def stop(self) -> None:
        self._stop.set()

    def run_once(self) -> bool:
        """Take one study and analyse it; ``False`` when none is waiting."""
        claim = self.claim()
        if claim is None:
            return False
        with self._renewing(claim.study_id):
            outcome = analyse_study(claim.analyser, self._scans, claim.study_id, claim.scan_file, claim.source_name)
        self.finish(claim.study_id, outcome)
        return True

    def claim(self) -> Claim | None:
        """The oldest study that is queued or whose lease ran out, now running under this worker's lease."""
        claimable = or_(
            Study.status == StudyStatus.QUEUED,
            and_(Study.status == StudyStatus.RUNNING, Study.lease_expires < func.now()),
        )
        with self._sessions.begin() as db:
            while True:
                study = db.scalar(
                    select(Study).where(claimable).order_by(Study.created_at).limit(1).with_for_update(skip_locked=True)
                )
                if study is None:
                    return None
                if study.status == StudyStatus.RUNNING:
                    log.info("study %s: the lease of worker %s ran out; taking it over", study.id, study.lease_owner)
                    if not resume(study, analysis_available=True):
                        continue  # failed for good; flushed before the next query, which no longer finds it
                study.status, study.lease_owner = StudyStatus.RUNNING, self.name
                study.lease_expires = self._lease_end()
                return Claim(study.id, study.scan_file, study.source_name, self._analysers(db))

    def finish(self, study_id: str, outcome: AnalysisOutcome) -> bool:
        """Store ``outcome`` unless the study is no longer this worker's (its lease ran out and another worker took
        it over: that worker stores its own); returns whether it was stored."""
        with self._sessions.begin() as db:
            study = db.get(Study, study_id, with_for_update=True)
            if study is None or study.status != StudyStatus.RUNNING or study.lease_owner != self.name:
                log.warning("study %s: no longer this worker's (its lease ran out); its result is dropped", study_id)
                return False
            outcome.store(study)
            return True

    def _lease_end(self) -> ColumnElement[datetime]:
        """Now plus the lease, in the database's clock."""
        return func.now() + timedelta(seconds=self.lease_s)

    @contextmanager
    def _renewing(self, study_id: str) -> Iterator[None]:
        """Renew this worker's lease on ``study_id`` every third of its length until the block ends."""
        done = threading.Event()

        def renew() -> None:
            while not done.wait(self.lease_s / 3):
                try:
                    with self._sessions.begin() as db:
                        renewed = db.scalar(
                            update(Study)
                            .where(Study.id == study_id, Study.lease_owner == self.name)
                            .values(lease_expires=self._lease_end())
                            .returning(Study.id)
                        )
                except SQLAlchemyError as exc:  # the database may be back before the lease runs out
                    log.warning("study %s: could not renew the lease (%s)", study_id, type(exc).__name__)
                    continue
                if renewed is None:
                    log.warning("study %s: the lease was lost while analysing", study_id)
                    return

        thread = threading.Thread(target=renew, name="lease", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()


class ActiveModelAnalyser:
    """The analyser of the workspace's active model (:mod:`.modelstore`), loaded once and again whenever an admin
    activates another; ``default`` (the server's default model) when none is active or the active one does not
    load, as the web server does. ``threads``: onnxruntime threads of a loaded model (``None``: all cores)."""

    def __init__(self, home: Path, default: Analyser, threads: int | None = None) -> None:
        self._home = home
        self._threads = threads
        self._default = default
        self._folder: str | None = None
        self._analyser = default

    def __call__(self, db: Session) -> Analyser:
        model = active_model(db)
        folder = None if model is None else model.folder
        if folder != self._folder:
            self._folder, self._analyser = folder, self._default
            if model is not None:
                try:
                    self._analyser = Detector(model_path(self._home, model), self._threads).analyze
                    log.info("analysing with %s %s from now on", model.name, model.version)
                except XrayReportError as exc:
                    log.warning("the active model does not load (%s); analysing with the default model", exc)
        return self._analyser


def run_until_signalled(worker: Worker) -> int:
    """Run ``worker`` until SIGTERM or SIGINT, which let it finish the study in hand; returns how many it analysed."""
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signal_number, lambda *_: worker.stop())
    log.info("analysis worker %s waiting for studies", worker.name)
    analysed = worker.run()
    log.info("analysis worker %s stopped after %d studies", worker.name, analysed)
    return analysed
