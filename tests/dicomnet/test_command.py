"""``xrayreport dicom listen`` as a program (killed with SIGKILL mid-transfer, stopped with SIGTERM), its
settings, and the DICOM node inside ``xrayreport serve``."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from web.doubles import analyse_for_tests, render_report_for_tests

from xrayreport.cli import main
from xrayreport.dicomnet import NodeConfig
from xrayreport.dicomnet.scp import VERIFICATION
from xrayreport.ingestion import load_scan
from xrayreport.web.app import create_app
from xrayreport.web.config import WebConfig
from xrayreport.web.database import make_engine, make_sessions

from .conftest import scan_files, stored
from .senders import associate, radiograph, send

_LISTENING = re.compile(r"DICOM node XRAYREPORT listening on 127\.0\.0\.1:(\d+)")


class Listener:
    """``xrayreport dicom listen`` (or the ``command`` given, which runs a node) on a free port of 127.0.0.1,
    accepting PANO1, with ``model`` (default: none, which is faster); its log in ``home``."""

    def __init__(self, home: Path, *command: str, model: Path | None = None) -> None:
        self.log = home / "listen.log"
        start = self.log.stat().st_size if self.log.exists() else 0
        env = {**os.environ, "XRAYREPORT_MODEL": str(model or home / "no-model.onnx")}
        command = command or ("dicom", "listen", "--port", "0", "--allow", "PANO1")
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "xrayreport", *command, "--home", str(home)], env=env, stderr=log
            )
        deadline = time.monotonic() + 60
        while not (found := _LISTENING.search(self.log.read_text()[start:])):
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.process.kill()
                raise AssertionError(f"the node did not start: {self.log.read_text()[-2000:]}")
            time.sleep(0.05)
        self.port = int(found.group(1))

    def stop(self) -> int:
        """SIGTERM; the exit code."""
        self.process.terminate()
        return self.process.wait(timeout=30)


def test_a_listener_killed_during_transfers_loses_nothing_it_acknowledged(tmp_path: Path) -> None:
    images = [radiograph(f"QV-{number:04d}") for number in range(20)]
    acknowledged: list[str] = []
    listener = Listener(tmp_path)

    def send_until_cut() -> None:
        association = associate(listener.port)
        for image in images:
            if association.send_c_store(image).get("Status") != 0x0000:
                return  # no answer: the listener is gone
            acknowledged.append(image.PatientID)

    sender = threading.Thread(target=send_until_cut)
    sender.start()
    deadline = time.monotonic() + 30
    while len(acknowledged) < 3 and time.monotonic() < deadline:
        time.sleep(0.001)
    listener.process.send_signal(signal.SIGKILL)
    listener.process.wait(timeout=10)
    sender.join(timeout=30)
    assert 3 <= len(acknowledged) < len(images)

    sessions = make_sessions(make_engine(f"sqlite:///{tmp_path / 'xrayreport.sqlite3'}"))
    studies = stored(sessions)
    assert set(acknowledged) <= {patient_id for patient_id, _ in studies}  # everything acknowledged is there
    for _, study in studies:
        assert load_scan(tmp_path / "scans" / study.scan_file).sha256 == study.sha256

    listener = Listener(tmp_path)  # its start removes what the kill left half-written
    try:
        leftovers = set(scan_files(tmp_path / "scans")) - {
            name for _, study in studies for name in (study.scan_file, study.scan_file.replace(".scan", ".preview.png"))
        }
        assert leftovers == set()
        assert send(listener.port, *images) == [0x0000] * len(images)  # the sender sends it all again
    finally:
        assert listener.stop() == 0
    assert sorted(patient_id for patient_id, _ in stored(sessions)) == [image.PatientID for image in images]
    logged = listener.log.read_text()
    assert "stored a PX image from 'PANO1'" in logged
    assert "QV-0" not in logged and "Doe" not in logged


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ([], "name the devices that may send to the DICOM node: the calling AE title set in each"),
        (["--allow", "PANO\\1"], "allowed caller: 'PANO\\\\1' is not a DICOM AE title; use 1-16 printable ASCII"),
        (["--allow", "PANO1", "--ae-title", "X" * 17], "the node's AE title: 'XXXXXXXXXXXXXXXXX' is not a DICOM"),
        (["--allow", "PANO1", "--port", "70000"], "port 70000 is out of range; use 1-65535"),
    ],
)
def test_listen_refuses_bad_settings_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str], message: str
) -> None:
    assert main(["dicom", "listen", "--home", str(tmp_path / "home"), *options]) == 1
    error = capsys.readouterr().err
    assert error.startswith(f"xrayreport: error: {message}") and error.count("\n") == 1
    assert not (tmp_path / "home").exists()


def test_listen_on_a_port_in_use_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XRAYREPORT_MODEL", str(tmp_path / "no-model.onnx"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["dicom", "listen", "--home", str(tmp_path), "--port", str(port), "--allow", "PANO1"]) == 1
    assert capsys.readouterr().err == (
        f"xrayreport: error: cannot listen for DICOM on 127.0.0.1:{port} (Address already in use): another program "
        "may use that port (pick another), the address may not be this machine's, and ports below 1024 need root\n"
    )


_WITHOUT_PYNETDICOM = """
import sys
sys.modules["pynetdicom"] = None  # import raises ModuleNotFoundError, as if not installed
from xrayreport.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize(
    "command",
    [["dicom", "listen", "--allow", "PANO1"], ["serve", "--dicom-port", "11112", "--dicom-allow", "PANO1"]],
    ids=" ".join,
)
def test_without_the_dicom_extra_it_says_what_to_install(tmp_path: Path, command: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _WITHOUT_PYNETDICOM, *command, "--home", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr == (
        "xrayreport: error: the DICOM node needs the [dicom] extra (pynetdicom is missing): "
        "pip install 'xrayreport[dicom]'\n"
    )


def test_serve_refuses_a_dicom_port_without_the_devices_allowed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--dicom-port", "11112", "--home", str(tmp_path)]) == 1
    assert "(dicom listen --allow TITLE, serve --dicom-allow TITLE; repeat" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_serve_with_a_dicom_port_runs_the_node(tmp_path: Path) -> None:
    port = _free_port()
    command = ("serve", "--port", str(_free_port()), "--dicom-port", str(port), "--dicom-allow", "PANO1")
    server = Listener(tmp_path, *command)
    try:
        assert server.port == port
        echo = associate(port, VERIFICATION)
        assert echo.send_c_echo().Status == 0x0000
        echo.release()
    finally:
        assert server.stop() in (0, -signal.SIGTERM)  # uvicorn re-raises the signal after shutting down
    assert "DICOM node XRAYREPORT stopped" in server.log.read_text()


def test_the_workspace_runs_the_node_while_it_runs(tmp_path: Path) -> None:
    port = _free_port()
    config = WebConfig(
        home=tmp_path,
        analyser=analyse_for_tests,
        renderer=render_report_for_tests,
        dicom=NodeConfig(allowed_callers=("PANO1",), port=port),
    )
    with TestClient(create_app(config)):
        assert send(port, radiograph("P-SERVE")) == [0x0000]
    assert not associate(port).is_established  # stopped with the app
    studies = stored(make_sessions(make_engine(config.db_url)))
    assert [(patient_id, study.created_by) for patient_id, study in studies] == [("P-SERVE", "dicom:PANO1")]
