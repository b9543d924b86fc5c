"""``analyze --ray ADDRESS``: joining a Ray cluster started with ``ray start --head`` (one CPU, token
authentication, as Ray starts a head by default) gives the plain loop's files; more workers than it can place, a
refused token and an address where nothing listens each end in one line within seconds.

The head runs for the module (about 6 s to start here); each ``analyze`` runs as its own process, since a Ray
initialised in the test process would be used instead of the address."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from xrayreport.cli import main

ray = pytest.importorskip("ray", reason="Ray analysis needs the [archive] extra")

RAY = Path(sys.executable).with_name("ray")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class Head:
    address: str
    token: str


@pytest.fixture(scope="module")
def head() -> Iterator[Head]:
    """``ray start --head --block`` with one CPU on 127.0.0.1, its token in the environment (so nothing is written
    to ~/.ray); stopped afterwards by killing its own process group, which holds every process it started."""
    token = secrets.token_hex(32)
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="ray") as temp:  # short: Ray's socket paths must fit 107 bytes
        log = Path(temp) / "head.log"
        command = [
            str(RAY),
            "start",
            "--head",
            "--block",
            f"--port={port}",
            "--num-cpus=1",
            "--include-dashboard=false",
            f"--dashboard-port={free_port()}",
            "--node-ip-address=127.0.0.1",
            f"--temp-dir={temp}",
            "--disable-usage-stats",
        ]
        env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token}
        with log.open("wb") as out:
            process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 90
            while "Ray runtime started" not in log.read_text():
                assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.1)
            yield Head(f"127.0.0.1:{port}", token)
        finally:
            # Killed outright: ray start --block outlives a SIGTERM by seconds, and the head keeps no state worth
            # a clean stop (its folder goes with it).
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def analyze(*args: str, token: str | None) -> subprocess.CompletedProcess[str]:
    """``xrayreport analyze ARGS`` in its own process, with the cluster's token (``None``: without token
    authentication, as a shell where RAY_AUTH_MODE is not set)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("RAY_")}
    if token is not None:
        env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token)
    command = [sys.executable, "-m", "xrayreport", "analyze", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def scans(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("scans")
    rng = np.random.default_rng(5)
    for name in ("a.png", "b.jpg"):
        assert cv2.imwrite(str(folder / name), rng.integers(0, 255, size=(400, 800), dtype=np.uint8))
    return folder


def files(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def test_a_running_cluster_joined_by_address_writes_the_plain_loops_files(
    head: Head, scans: Path, tiny_model: Path, tmp_path: Path
) -> None:
    plain, on_ray = tmp_path / "plain", tmp_path / "ray"
    assert main(["analyze", str(scans), "-o", str(plain), "--model", str(tiny_model)]) == 0
    run = analyze(str(scans), "-o", str(on_ray), "--model", str(tiny_model), "--ray", head.address, token=head.token)
    assert run.returncode == 0, run.stderr[-3000:]
    assert sorted(files(on_ray)) == ["a.json", "b.json"] and files(on_ray) == files(plain)
    # Only xrayreport's own lines: Ray's start-up and token warnings stay off stderr.
    own = ("xrayreport: warning: ", "[1/2] ", "[2/2] ", "analysed 2 of 2 scans")
    assert all(line.startswith(own) for line in run.stderr.splitlines()), run.stderr
    assert run.stderr.splitlines()[-1] == f"analysed 2 of 2 scans into {on_ray}"


def test_more_workers_than_the_cluster_can_place_is_one_line_not_a_wait(
    head: Head, scans: Path, tiny_model: Path, tmp_path: Path
) -> None:
    started = time.monotonic()
    args = (str(scans), "-o", str(tmp_path / "out"), "--model", str(tiny_model), "--ray", head.address)
    run = analyze(*args, "--workers", "2", token=head.token)
    assert time.monotonic() - started < 60
    assert run.returncode == 1
    assert run.stderr == (
        "xrayreport: error: --workers 2 of --threads 1 need more CPUs than the Ray cluster's nodes have: it holds 1 "
        "such workers; give --workers 1 or fewer\n"
    )
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_cluster_that_refuses_this_process_its_token_is_one_error_within_seconds(
    head: Head, scans: Path, tmp_path: Path
) -> None:
    started = time.monotonic()
    run = analyze(str(scans), "-o", str(tmp_path / "out"), "--ray", head.address, token=None)
    assert time.monotonic() - started < 30  # Ray's own default: 20 attempts, a second apart
    assert run.returncode == 1
    assert run.stderr.splitlines()[-1] == (
        f"xrayreport: error: the Ray cluster at {head.address} refused this process: it uses token authentication "
        "(Ray's default for ray start); set RAY_AUTH_MODE=token here, with the cluster's token in ~/.ray/auth_token "
        "or RAY_AUTH_TOKEN"
    )
    assert "Traceback" not in run.stderr


def test_an_address_where_nothing_listens_is_one_error_at_once(
    scans: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert not ray.is_initialized()  # else --ray would use this process's Ray
    port = free_port()  # bound and closed again: nothing listens there
    started = time.monotonic()
    assert main(["analyze", str(scans), "-o", str(tmp_path / "out"), "--ray", f"127.0.0.1:{port}"]) == 1
    assert time.monotonic() - started < 10
    assert capsys.readouterr().err == (
        f"xrayreport: error: nothing answers at 127.0.0.1:{port} (Connection refused); check the address (ray "
        "status on the head node shows it) or leave it out for a local cluster\n"
    )
    assert main(["analyze", str(scans), "-o", str(tmp_path / "out"), "--ray", "head-node"]) == 1
    assert capsys.readouterr().err == (
        "xrayreport: error: 'head-node' is not a Ray address; give HOST:PORT, ray://HOST:PORT or auto\n"
    )
    assert not ray.is_initialized()
