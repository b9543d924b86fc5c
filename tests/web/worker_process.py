"""An analysis worker process for the tests: :class:`xrayreport.web.worker.Worker` run as ``xrayreport worker`` runs
it (:func:`~xrayreport.web.worker.run_until_signalled`), with the test double analyser taking a set time per scan
and writing ``start``/``end``, the scan's SHA-256 and the worker's name to a log as each analysis begins and ends.

    PYTHONPATH=tests python -m web.worker_process DATABASE_URL SCANS_DIR LOG --lease-seconds S --seconds-per-scan S
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from xrayreport.findings import Findings
from xrayreport.ingestion import Radiograph
from xrayreport.web.database import make_engine, make_sessions
from xrayreport.web.scans import ScanStore
from xrayreport.web.worker import Worker, run_until_signalled

from .doubles import analyse_for_tests


def _append(log: Path, line: str) -> None:
    # One write of one short line to a file opened for appending: the two workers' lines never interleave.
    descriptor = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(descriptor, (line + "\n").encode())
    finally:
        os.close(descriptor)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("database_url")
    parser.add_argument("scans", type=Path)
    parser.add_argument("log", type=Path)
    parser.add_argument("--lease-seconds", type=float, required=True)
    parser.add_argument("--seconds-per-scan", type=float, required=True)
    args = parser.parse_args()
    engine = make_engine(args.database_url)
    worker = Worker(make_sessions(engine), ScanStore(args.scans), lambda _db: analyse, args.lease_seconds, 0.05)

    def analyse(radiograph: Radiograph) -> Findings:
        _append(args.log, f"start {radiograph.sha256} {worker.name}")
        time.sleep(args.seconds_per_scan)
        findings = analyse_for_tests(radiograph)
        _append(args.log, f"end {radiograph.sha256} {worker.name}")
        return findings

    _append(args.log, f"ready - {worker.name}")
    run_until_signalled(worker)
    engine.dispose()


if __name__ == "__main__":
    main()
