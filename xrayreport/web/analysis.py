"""Analysis in the background: the analyser interface, a worker pool, and recovery after a restart.

A study's state lives in the database (``queued`` -> ``running`` -> ``done`` | ``failed``, or
``unavailable`` when no analyser is installed), so a server killed mid-analysis loses nothing: on
start, :meth:`AnalysisRunner.recover` queues again what was left queued or running, and gives up
(``failed``) on a scan that was running during several crashes in a row.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from sqlalchemy import select
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
"""A scan whose analysis was cut short by this many server stops is marked failed, not retried forever."""


def default_analyser() -> Analyser | None:
    """The detection stage's model (``$XRAYREPORT_MODEL``, else the shipped one), loaded once.

    ``None`` when the model or onnxruntime is missing; the reason is logged and studies are then
    marked ``unavailable`` rather than given invented findings.
    """
    try:
        from ..detection.detector import Detector

        return Detector().analyze
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


class AnalysisRunner:
    """Runs the analyser on queued studies in a small thread pool; the database holds every state."""

    def __init__(
        self, analyser: Analyser | None, sessions: sessionmaker[Session], scans: ScanStore, workers: int = 1
    ) -> None:
        self.analyser = analyser
        self._sessions = sessions
        self._scans = scans
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="analysis")

    def submit(self, study_id: str) -> None:
        """Queue one study (already committed with status ``queued``) for analysis."""
        self._pool.submit(self._run_logged, study_id)

    def recover(self) -> int:
        """Queue again the studies a previous server left queued or running; returns how many."""
        requeued = []
        with self._sessions.begin() as db:
            stale = db.scalars(select(Study).where(Study.status.in_([StudyStatus.QUEUED, StudyStatus.RUNNING]))).all()
            for study in stale:
                if study.status == StudyStatus.RUNNING:
                    study.interrupted_runs += 1
                if study.interrupted_runs >= MAX_INTERRUPTED_RUNS:
                    study.status = StudyStatus.FAILED
                    study.status_message = (
                        f"the analysis of this scan was interrupted {study.interrupted_runs} times by a server "
                        "stop; it is not retried again. Review the scan by hand or upload it again"
                    )
                elif self.analyser is None:
                    study.status, study.status_message = StudyStatus.UNAVAILABLE, ANALYSIS_UNAVAILABLE
                else:
                    study.status = StudyStatus.QUEUED
                    requeued.append(study.id)
        for study_id in requeued:
            self.submit(study_id)
        if requeued:
            log.info("re-queued %d studies left unfinished by the previous server run", len(requeued))
        return len(requeued)

    def shutdown(self) -> None:
        """Stop taking work; analyses already running finish, queued ones resume on the next start."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _run_logged(self, study_id: str) -> None:
        try:
            self._run(study_id)
        except Exception:  # a bug in an analyser must not kill the worker thread silently
            log.exception("analysis of study %s crashed", study_id)
            self._finish(study_id, None, "the analyser crashed on this scan; the error is in the server log")

    def _run(self, study_id: str) -> None:
        with self._sessions.begin() as db:
            study = db.get(Study, study_id)
            if study is None or study.status != StudyStatus.QUEUED:
                return
            study.status = StudyStatus.RUNNING
            scan_name, source_name = study.scan_file, study.source_name
        if self.analyser is None:
            self._finish(study_id, None, ANALYSIS_UNAVAILABLE, unavailable=True)
            return
        started = datetime.now(UTC)
        try:
            radiograph = self._scans.load(scan_name, source_name)
            findings = check_findings_match(self.analyser(radiograph), radiograph)
        except XrayReportError as exc:
            self._finish(study_id, None, f"analysis failed: {exc}")
            return
        seconds = (datetime.now(UTC) - started).total_seconds()
        log.info(
            "study %s analysed in %.1f s: %d teeth, %d findings",
            study_id,
            seconds,
            len(findings.teeth),
            len(findings.findings),
        )
        self._finish(study_id, findings, None)

    def _finish(self, study_id: str, findings: Findings | None, message: str | None, unavailable: bool = False) -> None:
        with self._sessions.begin() as db:
            study = db.get(Study, study_id)
            if study is None:
                return
            if findings is not None:
                study.status, study.model_findings, study.status_message = StudyStatus.DONE, findings.to_json(), None
            else:
                study.status = StudyStatus.UNAVAILABLE if unavailable else StudyStatus.FAILED
                study.status_message = message
            study.analysed_at = datetime.now(UTC)
