"""Recall list speed on a demo workspace: invented patients over two years (``xrayreport seed-demo``).

Usage: .venv/bin/python benchmarks/recall_list.py [--patients 50000] [--repeat 5]

Seeds a fresh SQLite workspace in a temporary folder, then prints the time of computing every patient's
standing once (what the first list after a server start does), the median time of the list from the kept
standings (``workspace_recall_list``) and of the whole ``GET /recalls`` page (login session, the list, the
page of the longest-waiting rows), with how many patients are listed and left out. The issue's target: the
page for 50,000 patients in under 1 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import statistics
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

from xrayreport.web.app import create_app
from xrayreport.web.auth import add_user
from xrayreport.web.config import WebConfig
from xrayreport.web.database import make_engine, make_sessions, upgrade
from xrayreport.web.demo import seed_demo
from xrayreport.web.recalls import workspace_recall_list
from xrayreport.web.scans import ScanStore
from xrayreport.web.standings import refresh_standings

PASSWORD = "benchmark passphrase"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder) / "home"
        config = WebConfig(home=home, analyser=None, renderer=None)
        config.ensure_home()
        engine = make_engine(config.db_url)
        upgrade(engine)
        started = time.perf_counter()
        with make_sessions(engine).begin() as db:
            seed_demo(db, ScanStore(config.scans_dir), args.patients, dt.date.today())
            add_user(db, "bench", PASSWORD, ["assistant"])
        print(f"seeded {args.patients} patients in {time.perf_counter() - started:.1f} s")
        engine.dispose()
        with TestClient(create_app(config), base_url="http://127.0.0.1") as client:
            workspace = client.app.state.workspace  # type: ignore[attr-defined]
            started = time.perf_counter()
            refresh_standings(workspace.sessions, workspace.sleep_rules)
            first = time.perf_counter() - started
            builds = []
            for _ in range(args.repeat):
                started = time.perf_counter()
                with workspace.sessions() as db:
                    found = workspace_recall_list(workspace, db)
                builds.append(time.perf_counter() - started)
            csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
            assert csrf is not None
            client.post("/login", data={"username": "bench", "password": PASSWORD, "csrf": csrf.group(1), "next": "/"})
            pages = []
            for _ in range(args.repeat):
                started = time.perf_counter()
                response = client.get("/recalls")
                pages.append(time.perf_counter() - started)
                assert response.status_code == 200
    print(
        f"listed {len(found.entries)}, left out without consent {found.without_consent}, "
        f"recently contacted {found.recently_contacted}"
    )
    print(f"standings of every patient computed once after a start: {first * 1e3:.0f} ms")
    print(f"recall list, median of {args.repeat}: {statistics.median(builds) * 1e3:.0f} ms")
    print(f"GET /recalls page, median of {args.repeat}: {statistics.median(pages) * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
