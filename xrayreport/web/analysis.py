"""Analysis in the background: the analyser interface, a worker pool, and recovery after a restart.

A study's state lives in the database (``queued`` -> ``running`` -> ``done`` | ``failed``, or
``unavailable`` when no analyser is installed), so a server killed mid-analysis loses nothing: on
start, :meth:`AnalysisRunner.recover` queues again what was left queued or running, and gives up
(``failed``) on a scan that was running during several crashes in a row.

With ``queue_only`` (PostgreSQL) the server analyses nothing itself: the queued rows are the queue that
``xrayreport worker`` processes take studies from (:mod:`.worker`), with the same :func:`analyse_study` and
:meth:`AnalysisOutcome.store`; a study a worker is analysing carries its lease and is left to the workers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from ..errors import XrayReportError
from ..findings import Findings, findings_from_dict
from ..ingestion import Radiograph
from .models import Study, StudyStatus
from .scans import ScanStore

log = logging.getLogger(__name__)

Analyser = Callable[[Radiograph], Findings]
"""Finds teeth and findings on one scan: Radiograph in, a findings document for that scan out."""

ANALYSIS_UNAVAILABLE = (
    "automatic analysis is not available on this server (no detection model is installed; the server log "
    "says why); review the scan by hand: add the findings you see, then issue the report"
)
MAX_INTERRUPTED_RUNS = 2
"""A scan whose analysis was cut short by this many server or worker stops is marked failed, not retried forever."""
CRASHED = "the analyser crashed on this scan; the error is in the log of the server or analysis worker"
QUEUE_CHANNEL = "xrayreport_queue"
"""The PostgreSQL channel a front that only queues NOTIFYs when it queues a study; idle workers LISTEN on it
(:class:`~.worker.QueueNotifications`). The payload is empty: the queued rows are the queue."""


def default_analyser(threads: int | None = None) -> Analyser | None:
    """The detection stage's model (``$XRAYREPORT_MODEL``, else the shipped one), loaded once, running on
    ``threads`` onnxruntime threads (``None``: all cores).

    ``None`` when the model or onnxruntime is missing; the reason is logged and studies are then
    marked ``unavailable`` rather than given invented findings.
    """
    try:
        from ..detection.detector import Detector

        return Detector(threads=threads).analyze
    except (ImportError, XrayReportError) as exc:
        log.warning("automatic analysis is unavailable: %s", exc)
        return None


def check_findings_match(findings: Findings, radiograph: Radiograph) -> Findings:
    """Validate an analyser's output against the schema and against the scan it was made from."""
    document = findings_from_dict(findings.to_dict())
    image = document.image
    if (image.width, image.height, image.sha256) != (radiograph.width, radiograph.height, radiograph.sha256):
        raise XrayReportError(
            f"the analyser returned findings for another image ({image.width}x{image.height}, "
            f"sha256 {image.sha256[:12]}...) than the scan ({radiograph.width}x{radiograph.height}, "
            f"sha256 {radiograph.sha256[:12]}...)"
        )
    return document


@dataclass(frozen=True)
class AnalysisOutcome:
    """What analysing one study came to: its findings, or the message saying why there are none."""

    findings: Findings | None
    message: str | None = None
    unavailable: bool = False  # no analyser is installed, rather than this scan failing

    def store(self, study: Study) -> None:
        """Write the outcome into ``study`` (status, findings or message, analysis time); ends any worker's lease."""
        if self.findings is not None:
            study.status, study.model_findings, study.status_message = StudyStatus.DONE, self.findings.to_json(), None
        else:
            study.status = StudyStatus.UNAVAILABLE if self.unavailable else StudyStatus.FAILED
            study.status_message = self.message
        study.analysed_at = datetime.now(UTC)
        study.lease_owner = study.lease_expires = None


def analyse_study(
    analyser: Analyser | None, scans: ScanStore, study_id: str, scan_file: str, source_name: str
) -> AnalysisOutcome:
    """Analyse the stored scan ``scan_file`` of study ``study_id``; a scan that cannot be read, findings that do not
    match it and an analyser that crashes (logged, with its traceback) all come back as a failed outcome."""
    if analyser is None:
        return AnalysisOutcome(None, ANALYSIS_UNAVAILABLE, unavailable=True)
    started = datetime.now(UTC)
    try:
        radiograph = scans.load(scan_file, source_name)
        findings = check_findings_match(analyser(radiograph), radiograph)
    except XrayReportError as exc:
        return AnalysisOutcome(None, f"analysis failed: {exc}")
    except Exception:  # a bug in an analyser must fail this study, not the thread or worker process analysing it
        log.exception("analysis of study %s crashed", study_id)
        return AnalysisOutcome(None, CRASHED)
    seconds = (datetime.now(UTC) - started).total_seconds()
    log.info(
        "study %s analysed in %.1f s: %d teeth, %d findings",
        study_id,
        seconds,
        len(findings.teeth),
        len(findings.findings),
    )
    return AnalysisOutcome(findings)


def resume(study: Study, analysis_available: bool) -> bool:
    """Put a study that a stopped server or worker left queued or running back in the queue; returns whether it is.

    A running one counts as interrupted; once :data:`MAX_INTERRUPTED_RUNS` are counted it is marked failed instead
    (a scan that kills whatever analyses it is not retried forever), and without an analyser it is ``unavailable``.
    """
    if study.status == StudyStatus.RUNNING:
        study.interrupted_runs += 1
    study.lease_owner = study.lease_expires = None
    if study.interrupted_runs >= MAX_INTERRUPTED_RUNS:
        study.status = StudyStatus.FAILED
        study.status_message = (
            f"the analysis of this scan was interrupted {study.interrupted_runs} times (the server or an analysis "
            "worker stopped); it is not retried again. Review the scan by hand or upload it again"
        )
        return False
    if not analysis_available:
        study.status, study.status_message = StudyStatus.UNAVAILABLE, ANALYSIS_UNAVAILABLE
        return False
    study.status = StudyStatus.QUEUED
    return True


class AnalysisRunner:
    """Runs the analyser on queued studies in a small thread pool; the database holds every state.

    ``queue_only``: studies are only queued here, for ``xrayreport worker`` processes to analyse (see the module
    docstring); ``analyser`` then only says whether analysis is installed.
    """

    def __init__(
        self,
        analyser: Analyser | None,
        sessions: sessionmaker[Session],
        scans: ScanStore,
        workers: int = 1,
        queue_only: bool = False,
    ) -> None:
        self.analyser = analyser
        self.queue_only = queue_only
        self._sessions = sessions
        self._scans = scans
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="analysis")

    def submit(self, study_id: str) -> None:
        """Queue one study (already committed with status ``queued``) for analysis: in this process, or in
        ``queue_only`` mode by waking the idle workers (the committed row is all a worker needs)."""
        if self.queue_only:
            self._wake_workers()
        else:
            self._pool.submit(self._run_logged, study_id)

    def _wake_workers(self) -> None:
        # A notification that is lost costs the study a worker's polling interval, never the study itself.
        try:
            with self._sessions.begin() as db:
                db.execute(select(func.pg_notify(QUEUE_CHANNEL, "")))
        except SQLAlchemyError as exc:
            log.warning(
                "could not wake the analysis workers (%s); they find the study when they next look", type(exc).__name__
            )

    def recover(self) -> int:
        """Queue again the studies a previous server left queued or running; returns how many.

        Studies under a worker's lease are the workers' to take over (:mod:`.worker`); in ``queue_only`` mode the
        queued ones wait for them as they are, and only runs of an earlier in-process server are resumed.
        """
        requeued = []
        left = [StudyStatus.RUNNING] if self.queue_only else [StudyStatus.QUEUED, StudyStatus.RUNNING]
        with self._sessions.begin() as db:
            stale = db.scalars(
                select(Study).where(Study.status.in_(left), Study.lease_owner.is_(None)).with_for_update()
            ).all()
            for study in stale:
                if resume(study, self.queue_only or self.analyser is not None):
                    requeued.append(study.id)
        for study_id in requeued:
            self.submit(study_id)
        if requeued:
            log.info("re-queued %d studies left unfinished by the previous server run", len(requeued))
        return len(requeued)

    def shutdown(self, finish_queued: bool = False) -> None:
        """Stop taking work; analyses already running finish, and queued ones too when ``finish_queued`` (else they
        resume on the next start)."""
        self._pool.shutdown(wait=True, cancel_futures=not finish_queued)

    def _run_logged(self, study_id: str) -> None:
        try:
            self._run(study_id)
        except Exception:  # a database error must not kill the worker thread silently either
            log.exception("analysis of study %s crashed", study_id)
            self._finish(study_id, AnalysisOutcome(None, CRASHED))

    def _run(self, study_id: str) -> None:
        with self._sessions.begin() as db:
            # Locked: a worker process taking the same study (a front not started with queue_only) commits first.
            study = db.get(Study, study_id, with_for_update=True)
            if study is None or study.status != StudyStatus.QUEUED:
                return
            study.status = StudyStatus.RUNNING
            scan_name, source_name = study.scan_file, study.source_name
        self._finish(study_id, analyse_study(self.analyser, self._scans, study_id, scan_name, source_name))

    def _finish(self, study_id: str, outcome: AnalysisOutcome) -> None:
        with self._sessions.begin() as db:
            study = db.get(Study, study_id)
            if study is not None:
                outcome.store(study)
