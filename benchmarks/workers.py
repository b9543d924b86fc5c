"""Analysis workers on PostgreSQL: uploads per second a front that only queues accepts, with and without analysis
running beside it, and analysis throughput with 1 and 2 worker processes (docs/workers.md).

    .venv/bin/python benchmarks/workers.py [--workers 1 2] [--backlog 30] [--during 20] [--rounds 3] [--database-url U]

Runs ``xrayreport serve --queue-only`` and ``xrayreport worker`` processes (the shipped model) on a new workspace in
a temporary folder, on ``--database-url`` (an empty PostgreSQL database) or else on a throwaway cluster made as the
tests make theirs (tests/web/postgres.py: initdb in /tmp, a unix socket only). Each round, for each worker count in
turn: ``--backlog`` synthetic panoramics (1200 x 600, xrayreport.web.demo's arch over noise) are uploaded with no
worker running, the workers are started (``--threads`` onnxruntime threads each; default the cores shared out), and
once they wait for work ``--during`` more are uploaded while they analyse; then every study is waited for. Uploads go
through benchmarks/web_load.py, ``--concurrency`` at a time. Prints per worker count the medians over the rounds:
uploads per second (scans / wall time of the upload phase) and the median upload's latency, idle and while
analysing, and analysis throughput (studies per second between the first and the last study's ``analysed_at``:
model loading is left out, uploads competing for the CPU are not), with each round's figures and the load average
before and after (the machine's other work counts too).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import httpx2 as httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from xrayreport.web.auth import add_user
from xrayreport.web.database import make_engine, make_sessions, upgrade
from xrayreport.web.demo import demo_scan_png
from xrayreport.web.models import Study, StudyStatus

REPO = Path(__file__).resolve().parents[1]
USER, PASSWORD = "bench", "a long benchmark passphrase"


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


web_load = _load(REPO / "benchmarks" / "web_load.py")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _xrayreport(*args: str, log: Path) -> subprocess.Popen[bytes]:
    env = {key: value for key, value in os.environ.items() if key != "XRAYREPORT_MODEL"}
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "xrayreport", *args], env=env, stdout=out, stderr=out)


def _wait_for(check: Callable[[], bool], what: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.1)


def _start_front(home: Path, url: str, port: int) -> subprocess.Popen[bytes]:
    front = _xrayreport(
        "serve", "--queue-only", "--port", str(port), "--home", str(home), "--database-url", url, log=home / "front.log"
    )

    def answers() -> bool:
        if front.poll() is not None:
            raise SystemExit(f"the front stopped:\n{(home / 'front.log').read_text()[-2000:]}")
        try:
            return httpx.get(f"http://127.0.0.1:{port}/login").status_code == 200
        except httpx.TransportError:
            return False

    _wait_for(answers, "the front")
    return front


def _start_workers(home: Path, url: str, count: int, threads: int, number: int) -> list[subprocess.Popen[bytes]]:
    logs = [home / f"worker-{number}-{count}-{i}.log" for i in range(count)]
    options = ["--home", str(home), "--database-url", url, "--threads", str(threads), "--poll-seconds", "0.2"]
    workers = [_xrayreport("worker", *options, log=log) for log in logs]
    _wait_for(lambda: all("waiting for studies" in log.read_text() for log in logs), "the workers")
    return workers


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        process.wait(timeout=60)


def _throughput(sessions: sessionmaker[Session], study_ids: list[str]) -> float:
    """Studies per second between the first and the last analysis to finish; waits until every one has."""

    def finished() -> list[Study]:
        with sessions() as db:
            studies = list(db.scalars(select(Study).where(Study.id.in_(study_ids))))
        return [s for s in studies if s.status not in (StudyStatus.QUEUED, StudyStatus.RUNNING)]

    _wait_for(lambda: len(finished()) == len(study_ids), "the analyses", timeout_s=900)
    studies = finished()
    failed = [s.id for s in studies if s.status != StudyStatus.DONE]
    if failed:
        raise SystemExit(f"{len(failed)} analyses did not succeed, e.g. study {failed[0]}")
    times = sorted(s.analysed_at for s in studies if s.analysed_at is not None)
    return (len(times) - 1) / (times[-1] - times[0]).total_seconds()


def _round(
    base: str,
    headers: dict[str, str],
    sessions: sessionmaker[Session],
    home: Path,
    url: str,
    count: int,
    threads: int,
    args: argparse.Namespace,
    seeds: Iterator[int],
    number: int,
) -> dict[str, float]:
    """One round with ``count`` workers: the backlog uploaded idle, the workers started, more uploaded while they
    analyse, every study waited for; the round's figures."""

    def scans(how_many: int) -> list[tuple[str, bytes]]:
        return [(f"scan-{seed}.png", demo_scan_png(seed)) for seed in [next(seeds) for _ in range(how_many)]]

    idle = web_load.run_load(base, headers, scans(args.backlog), args.concurrency, wait=False)
    workers = _start_workers(home, url, count, threads, number)
    busy = web_load.run_load(base, headers, scans(args.during), args.concurrency, wait=False)
    if idle.errors or busy.errors:
        raise SystemExit(f"uploads failed: {(idle.errors + busy.errors)[:3]}")
    rate = _throughput(sessions, idle.study_ids + busy.study_ids)
    _stop(workers)
    return {
        "idle uploads/s": len(idle.study_ids) / idle.upload_wall_seconds,
        "idle upload s": statistics.median(idle.upload_seconds),
        "busy uploads/s": len(busy.study_ids) / busy.upload_wall_seconds,
        "busy upload s": statistics.median(busy.upload_seconds),
        "studies/s": rate,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts (default: 1 2)")
    parser.add_argument("--backlog", type=int, default=30, help="scans queued before the workers start (default 30)")
    parser.add_argument("--during", type=int, default=20, help="scans uploaded while they analyse (default 20)")
    parser.add_argument("--concurrency", type=int, default=8, help="parallel uploads (default 8)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; medians are printed (default 3)")
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime threads per worker (default: shared)")
    parser.add_argument("--database-url", default=None, help="an empty PostgreSQL database (default: a throwaway one)")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="xrayreport-workers-") as folder:
        cluster = None
        url = args.database_url
        if url is None:
            postgres = _load(REPO / "tests" / "web" / "postgres.py")
            bin_dir = postgres.server_bin_dir()
            if bin_dir is None:
                raise SystemExit("no PostgreSQL server installed (initdb, pg_ctl); give --database-url")
            cluster = postgres.PostgresCluster(bin_dir).start()
            url = cluster.create_database("bench")
        try:
            home = Path(folder) / "home"
            home.mkdir(mode=0o700)
            engine = make_engine(url)
            upgrade(engine)
            sessions = make_sessions(engine)
            with sessions.begin() as db:
                add_user(db, USER, PASSWORD, ["assistant"])
            port = _free_port()
            front = _start_front(home, url, port)
            base = f"http://127.0.0.1:{port}"
            token = httpx.post(f"{base}/api/token", data={"username": USER, "password": PASSWORD}).json()
            headers = {"Authorization": f"Bearer {token['access_token']}"}
            seeds = iter(range(10**6))
            print(f"{cores} cores; backlog {args.backlog}, {args.during} during analysis, {args.concurrency} at a time")
            print(f"load average at the start: {os.getloadavg()[0]:.1f}")
            figures: dict[int, dict[str, list[float]]] = {count: {} for count in args.workers}
            try:
                for number in range(args.rounds):  # the worker counts take turns, so a change of load hits each
                    for count in args.workers:
                        threads = args.threads or max(1, cores // count)
                        shot = _round(base, headers, sessions, home, url, count, threads, args, seeds, number)
                        print(
                            f"round {number + 1}, {count} worker(s): "
                            + ", ".join(f"{v:.2f} {k}" for k, v in shot.items())
                        )
                        for key, value in shot.items():
                            figures[count].setdefault(key, []).append(value)
                print(f"load average at the end: {os.getloadavg()[0]:.1f}")
                for count, values in figures.items():
                    medians = {key: statistics.median(v) for key, v in values.items()}
                    print(
                        f"{count} worker(s) x {args.threads or max(1, cores // count)} thread(s): uploads "
                        f"{medians['idle uploads/s']:.1f}/s idle (median {medians['idle upload s']:.2f} s), "
                        f"{medians['busy uploads/s']:.1f}/s while analysing (median {medians['busy upload s']:.2f} s); "
                        f"analysis {medians['studies/s']:.2f} studies/s (medians of {args.rounds} rounds)"
                    )
            finally:
                _stop([front])
                engine.dispose()
        finally:
            if cluster is not None:
                cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
