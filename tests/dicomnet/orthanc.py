"""A real Orthanc PACS (Debian package orthanc) for the tests: started on 127.0.0.1 with a temporary configuration
(free ports, its own storage folder, HTTP from this machine only, no authentication), stopped after the test.

Orthanc accepts DICOM only from the nodes in its configuration (``DicomModalities``, host checked), and the tests
use its REST API to put scans in, push them to the workspace and find what the workspace sent back.
"""

from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ORTHANC_AE = "ORTHANC"
START_TIMEOUT_S = 30.0
DICOMWEB_PLUGIN = "libOrthancDicomWeb.so"
PLUGIN_FOLDERS = (Path("/usr/share/orthanc/plugins"), Path("/usr/lib/orthanc"))
"""Where Debian's orthanc-dicomweb puts its plugin."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Orthanc:
    """A running Orthanc: its DICOM port and AE title, and its REST API (JSON in and out)."""

    def __init__(self, dicom_port: int, http_port: int, login: tuple[str, str] | None = None) -> None:
        self.dicom_port = dicom_port
        self._headers: dict[str, str] = {}
        if login is not None:
            self._headers["Authorization"] = "Basic " + base64.b64encode(":".join(login).encode()).decode()
        self.ae_title = ORTHANC_AE
        self.url = f"http://127.0.0.1:{http_port}"
        self.dicomweb_url = f"{self.url}/dicom-web"
        """The DICOMweb service's base URL, when the plugin is loaded."""

    def get(self, path: str) -> Any:
        return self._call(urllib.request.Request(self.url + path, headers=self._headers))

    def post(self, path: str, body: bytes | str | dict[str, Any] | list[Any]) -> Any:
        data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
        return self._call(
            urllib.request.Request(
                self.url + path, data=data if isinstance(data, bytes) else data.encode(), headers=self._headers
            )
        )

    def _call(self, request: urllib.request.Request) -> Any:
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    def instance(self, sop_instance_uid: str) -> dict[str, Any] | None:
        """Orthanc's record of the instance with this SOP Instance UID (its tags simplified), or ``None``."""
        found = [hit for hit in self.post("/tools/lookup", sop_instance_uid) if hit["Type"] == "Instance"]
        if not found:
            return None
        tags: dict[str, Any] = self.get(f"/instances/{found[0]['ID']}/simplified-tags")
        return tags


def dicomweb_plugin() -> Path:
    """The path of Orthanc's DICOMweb plugin; the test skips, saying how to install it, when it is missing."""
    for folder in PLUGIN_FOLDERS:
        found = sorted(folder.glob(f"{DICOMWEB_PLUGIN}*"))
        if found:
            return found[0]
    pytest.skip(
        "Orthanc's DICOMweb plugin is not installed: apt-get install orthanc-dicomweb "
        "(scripts/install-system-deps.sh --tests)"
    )


@contextmanager
def running_orthanc(
    folder: Path,
    modalities: dict[str, tuple[str, int]],
    dicomweb: bool = False,
    users: dict[str, str] | None = None,
) -> Iterator[Orthanc]:
    """Orthanc in ``folder``, knowing the DICOM nodes ``modalities`` (name -> (AE title, port) on 127.0.0.1), with
    its DICOMweb plugin when ``dicomweb`` and HTTP basic authentication for ``users`` (name -> password; the REST
    calls of :class:`Orthanc` log in as the first); the test skips, saying how to install it, when Orthanc is
    missing."""
    program = shutil.which("Orthanc") or shutil.which("/usr/sbin/Orthanc")
    if program is None:
        pytest.skip("Orthanc is not installed: apt-get install orthanc (scripts/install-system-deps.sh --tests)")
    dicom_port, http_port = free_port(), free_port()
    config = {
        "Name": "xrayreport-tests",
        "StorageDirectory": str(folder / "storage"),
        "IndexDirectory": str(folder / "index"),
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "DicomAet": ORTHANC_AE,
        "RemoteAccessAllowed": False,  # HTTP from this machine only
        "AuthenticationEnabled": users is not None,
        "RegisteredUsers": users or {},
        "DicomCheckCalledAet": True,
        "DicomAlwaysAllowEcho": False,
        "DicomAlwaysAllowStore": False,  # only the nodes below may store
        "DicomCheckModalityHost": True,
        "DicomModalities": {name: [ae, "127.0.0.1", port] for name, (ae, port) in modalities.items()},
        "DicomAssociationCloseDelay": 0,
        "Plugins": [str(dicomweb_plugin())] if dicomweb else [],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        "SaveJobs": False,
        "ConcurrentJobs": 1,
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "orthanc.json").write_text(json.dumps(config, indent=1))
    log = (folder / "orthanc.log").open("wb")
    process = subprocess.Popen([program, str(folder / "orthanc.json")], stdout=log, stderr=subprocess.STDOUT)
    orthanc = Orthanc(dicom_port, http_port, next(iter(users.items())) if users else None)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                orthanc.get("/system")
                # Its REST server may answer before its DICOM port listens: wait for both.
                socket.create_connection(("127.0.0.1", dicom_port), timeout=1).close()
                break
            except OSError:  # refused while it starts (urllib.error.URLError is an OSError)
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"Orthanc did not start; see {folder / 'orthanc.log'}") from None
                time.sleep(0.1)
        yield orthanc
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
