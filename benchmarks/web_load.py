"""Load test of the web workspace on loopback: many concurrent uploads, then wait until every study is analysed.

    python benchmarks/web_load.py --url http://127.0.0.1:8000 --user dr-lee --uploads 20 SCAN [SCAN...] < password

Reads the password from stdin, uploads the scans round-robin with ``--concurrency`` parallel clients,
polls until every study has left ``queued``/``running``, and prints medians. It refuses any server that
is not on this machine. ``tests/web/test_load.py`` runs the same code against a test server.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx2 as httpx

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass
class LoadResult:
    upload_seconds: list[float] = field(default_factory=list)
    study_ids: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    statuses: dict[str, str] = field(default_factory=dict)  # study id -> final status
    upload_wall_seconds: float = 0.0  # from the first upload until the last one was answered
    total_seconds: float = 0.0  # from the first upload until every study was analysed


def run_load(
    url: str,
    headers: dict[str, str],
    scans: list[tuple[str, bytes]],
    concurrency: int,
    timeout_s: float = 120,
    wait: bool = True,
) -> LoadResult:
    """Upload every scan (``concurrency`` at a time) and, with ``wait``, wait for all analyses; never raises for a
    failed request."""
    if urlsplit(url).hostname not in LOOPBACK:
        raise SystemExit(f"{url}: the load test only runs against a server on this machine ({', '.join(LOOPBACK)})")
    result = LoadResult()
    started = time.perf_counter()
    deadline = time.monotonic() + timeout_s

    def one(scan: tuple[str, bytes]) -> None:
        name, data = scan
        began = time.perf_counter()
        try:
            with httpx.Client(base_url=url, timeout=timeout_s) as client:
                response = client.post("/api/studies", headers=headers, files={"file": (name, data)})
        except httpx.HTTPError as exc:
            result.errors.append(f"{name}: {exc!r}")
            return
        result.upload_seconds.append(time.perf_counter() - began)
        if response.status_code != 201:
            result.errors.append(f"{name}: HTTP {response.status_code} {response.text[:200]}")
        else:
            result.study_ids.append(response.json()["id"])

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, scans))
    result.upload_wall_seconds = time.perf_counter() - started
    if not wait:
        return result
    with httpx.Client(base_url=url, timeout=timeout_s, headers=headers) as client:
        waiting = set(result.study_ids)
        while waiting and time.monotonic() < deadline:
            for study_id in sorted(waiting):
                status = client.get(f"/api/studies/{study_id}").json()["status"]
                if status not in ("queued", "running"):
                    result.statuses[study_id] = status
                    waiting.discard(study_id)
            if waiting:
                time.sleep(0.1)
        for study_id in waiting:
            result.statuses[study_id] = "timed out"
    result.total_seconds = time.perf_counter() - started
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scans", nargs="+", type=Path)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--user", required=True)
    parser.add_argument("--uploads", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    password = sys.stdin.readline().rstrip("\r\n")
    token = httpx.post(f"{args.url}/api/token", data={"username": args.user, "password": password}).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    files = [(path.name, path.read_bytes()) for path in args.scans]
    result = run_load(args.url, headers, [files[i % len(files)] for i in range(args.uploads)], args.concurrency)
    done = sum(status == "done" for status in result.statuses.values())
    print(f"uploads: {len(result.study_ids)}/{args.uploads} accepted, errors: {len(result.errors)}")
    print(
        f"upload time: median {statistics.median(result.upload_seconds):.2f} s, max {max(result.upload_seconds):.2f} s"
    )
    print(f"analysed: {done}/{len(result.study_ids)} in {result.total_seconds:.1f} s")
    for error in result.errors:
        print(f"  error: {error}")
    return 0 if not result.errors and done == args.uploads else 1


if __name__ == "__main__":
    sys.exit(main())
