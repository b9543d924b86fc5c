"""The clinic's DICOMweb server: the clinic file's dicomweb: section, and STOW-RS, QIDO-RS and WADO-RS against a real
Orthanc with its DICOMweb plugin (Debian orthanc-dicomweb) on 127.0.0.1."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.uid import DigitalXRayImageStorageForPresentation

from xrayreport.cli import main
from xrayreport.dicomnet.dicomweb import (
    DicomWebError,
    DicomWebSettings,
    DicomWebSettingsError,
    dicomweb_settings_from_dict,
    fetch_instance,
    find_instances,
    store_objects,
)
from xrayreport.dicomnet.pacs import SendError
from xrayreport.dicomnet.pull import pull_studies
from xrayreport.dicomnet.receive import Receiver
from xrayreport.web.config import DEFAULT_MAX_UPLOAD_BYTES
from xrayreport.web.database import make_engine, make_sessions

from .conftest import scan_files, stored
from .orthanc import free_port, running_orthanc
from .senders import radiograph
from .test_pacs import _objects

USER, PASSWORD, PASSWORD_ENV = "xrayreport", "s3cret-for-tests", "XRAYREPORT_TEST_DICOMWEB_PASSWORD"


def test_the_dicomweb_section_is_read_with_its_defaults() -> None:
    settings = dicomweb_settings_from_dict({"url": "https://pacs.example/dicom-web/"}, "clinic.yaml: dicomweb")
    assert settings == DicomWebSettings("https://pacs.example/dicom-web", None, None, 30.0)
    assert settings.label == "DICOMweb https://pacs.example/dicom-web"
    local = {"url": "http://127.0.0.1:8042/dicom-web", "username": "u", "password_env": "P", "timeout_s": 5}
    assert dicomweb_settings_from_dict(local, "c") == DicomWebSettings("http://127.0.0.1:8042/dicom-web", "u", "P", 5.0)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("http://pacs/dicom-web", "expected a mapping with 'url'"),
        ({}, "url: expected the service's http:// or https:// address"),
        ({"url": "ftp://pacs/dicom-web"}, "url: expected the service's http:// or https:// address"),
        ({"url": "https://me:pw@pacs/dicom-web"}, "without a user or a query"),
        ({"url": "https://pacs/dicom-web", "password": "x"}, "password: never put the password in this file"),
        ({"url": "https://pacs/dicom-web", "username": "u"}, "give both 'username' and 'password_env'"),
        ({"url": "http://pacs/dicom-web", "username": "u", "password_env": "P"}, "logging in needs an https:// url"),
        ({"url": "https://pacs/dicom-web", "port": 8042}, "unknown key 'port'"),
        ({"url": "https://pacs/dicom-web", "timeout_s": True}, "timeout_s: expected seconds"),
    ],
)
def test_a_malformed_dicomweb_section_is_named(section: Any, message: str) -> None:
    with pytest.raises(DicomWebSettingsError, match=r"^clinic\.yaml: dicomweb") as raised:
        dicomweb_settings_from_dict(section, "clinic.yaml: dicomweb")
    assert message in str(raised.value)


def test_results_are_stored_with_stow_rs_and_found_with_qido_rs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    with running_orthanc(tmp_path, {}, dicomweb=True, users={USER: PASSWORD}) as orthanc:
        settings = DicomWebSettings(orthanc.dicomweb_url, USER, PASSWORD_ENV, timeout_s=10)
        objects = _objects()
        sent = store_objects(settings, objects)
        assert [(s.sop_instance_uid, s.status) for s in sent] == [(ds.SOPInstanceUID, 0) for ds in objects]
        for ds in objects:
            stored = orthanc.instance(ds.SOPInstanceUID)
            assert stored is not None and stored["StudyInstanceUID"] == ds.StudyInstanceUID
        store_objects(settings, objects)  # the same review again: the same UIDs, still three instances
        assert orthanc.get("/statistics")["CountInstances"] == 3
        found = find_instances(settings, patient_id="W-7")
        assert sorted(i.sop_instance_uid for i in found) == sorted(ds.SOPInstanceUID for ds in objects)
        assert {i.study_uid for i in found} == {objects[0].StudyInstanceUID}
        assert find_instances(settings, patient_id="nobody") == []
        assert len(find_instances(settings, study_uid=objects[0].StudyInstanceUID)) == 3


def test_an_instance_is_fetched_with_wado_rs_as_it_was_stored(tmp_path: Path) -> None:
    scan = radiograph("P-WADO")
    buffer = io.BytesIO()
    scan.save_as(buffer, enforce_file_format=True)
    with running_orthanc(tmp_path, {}, dicomweb=True) as orthanc:
        orthanc.post("/instances", buffer.getvalue())
        settings = DicomWebSettings(orthanc.dicomweb_url, timeout_s=10)
        (found,) = find_instances(settings, patient_id="P-WADO")
        assert (found.sop_instance_uid, found.sop_class_uid) == (scan.SOPInstanceUID, scan.SOPClassUID)
        fetched = pydicom.dcmread(io.BytesIO(fetch_instance(settings, found, DEFAULT_MAX_UPLOAD_BYTES)))
        with pytest.raises(DicomWebError, match="sent an instance over the 100 bytes upload limit"):
            fetch_instance(settings, found, 100)  # Orthanc says the length: refused before reading the body
    assert fetched.file_meta.TransferSyntaxUID == scan.file_meta.TransferSyntaxUID
    assert fetched.PixelData == scan.PixelData and fetched.PatientID == "P-WADO"


def test_a_wrong_password_or_an_unreachable_server_says_what_to_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "wrong")
    with running_orthanc(tmp_path, {}, dicomweb=True, users={USER: PASSWORD}) as orthanc:
        settings = DicomWebSettings(orthanc.dicomweb_url, USER, PASSWORD_ENV, timeout_s=10)
        with pytest.raises(SendError, match=r"refused to store results \(HTTP 401\): check the user and password"):
            store_objects(settings, _objects())
        with pytest.raises(DicomWebError, match=r"refused to search studies \(HTTP 401\)") as raised:
            find_instances(settings, patient_id="W-7")
        assert "W-7" not in str(raised.value)
        monkeypatch.delenv(PASSWORD_ENV)
        with pytest.raises(SendError, match=f"set the environment variable {PASSWORD_ENV}"):
            store_objects(settings, _objects())
        assert orthanc.get("/statistics")["CountInstances"] == 0
    nowhere = DicomWebSettings(f"http://127.0.0.1:{free_port()}/dicom-web", timeout_s=5)
    with pytest.raises(SendError, match=r"cannot reach the DICOMweb http://127\.0\.0\.1:\d+/dicom-web within 5 s"):
        store_objects(nowhere, _objects())


STUDY_UID, SERIES_UID, INSTANCE_UID = (
    "1.2.826.0.1.3680043.9.7.1",
    "1.2.826.0.1.3680043.9.7.2",
    "1.2.826.0.1.3680043.9.7.3",
)
HUGE = 64 * 2**20
"""What the oversized server below sends at most: far past the limits the tests set, and more than loopback's socket
buffers hold, so that it can tell how much the client read."""


class OversizedDicomWeb:
    """A DICOMweb server on 127.0.0.1 whose QIDO-RS finds one DX instance and whose WADO-RS answers it with a
    multipart body of :data:`HUGE` bytes, streamed without a Content-Length (``announce``: with its length), counting
    what it managed to send before the client hung up."""

    def __init__(self, announce: bool = False) -> None:
        self.announce = announce
        self.sent = 0
        self.finished = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/dicom-web"

    def __enter__(self) -> OversizedDicomWeb:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                path = self.path.split("?")[0].removeprefix("/dicom-web")
                if path == "/studies":
                    self._json([{"0020000D": {"vr": "UI", "Value": [STUDY_UID]}}])
                elif path == f"/studies/{STUDY_UID}/instances":
                    item = {
                        "0020000E": SERIES_UID,
                        "00080018": INSTANCE_UID,
                        "00080016": DigitalXRayImageStorageForPresentation,
                    }
                    self._json([{tag: {"vr": "UI", "Value": [uid]} for tag, uid in item.items()}])
                else:
                    self._endless_instance()

            def _json(self, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/dicom+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _endless_instance(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", 'multipart/related; type="application/dicom"; boundary=b0und')
                if server.announce:
                    self.send_header("Content-Length", str(HUGE))
                self.end_headers()  # HTTP/1.0 without a length: the body ends when the connection does
                part = b"--b0und\r\nContent-Type: application/dicom\r\n\r\n" + b"\0" * 128 + b"DICM"
                chunk = b"\0" * 2**18
                try:
                    self.wfile.write(part)
                    while server.sent < HUGE:
                        self.wfile.write(chunk)
                        server.sent += len(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client stopped reading: what this test wants
                finally:
                    server.finished.set()

        return Handler


@pytest.mark.parametrize("announce", [False, True])
def test_an_oversized_wado_answer_is_cut_at_the_upload_limit_and_nothing_is_stored(
    make_receiver: Callable[..., Receiver], tmp_path: Path, announce: bool
) -> None:
    receiver = make_receiver(max_bytes=2**20)
    with OversizedDicomWeb(announce) as server:
        settings = DicomWebSettings(server.url, timeout_s=10)
        with pytest.raises(DicomWebError) as caught:
            pull_studies(settings, receiver, patient_id="P-1")
        assert server.finished.wait(10)
    assert str(caught.value) == (
        f"the DICOMweb {server.url} sent an instance over the 1 MiB upload limit (--max-upload-mib); nothing of it was "
        "stored: raise the limit if the image is genuine, else check the server"
    )
    assert server.sent < HUGE / 2  # the client hung up long before the end (the rest sat in socket buffers)
    assert stored(receiver.sessions) == [] and scan_files(tmp_path / "scans") == []


def test_dicom_pull_ends_an_oversized_answer_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    home.mkdir()
    with OversizedDicomWeb() as server:
        (home / "clinic.yaml").write_text(f"dicomweb:\n  url: {server.url}\n  timeout_s: 10\n")
        command = ["dicom", "pull", "--home", str(home), "--patient-id", "P-1", "--max-upload-mib", "2"]
        assert main(command) == 1
    assert capsys.readouterr().err == (
        f"xrayreport: error: the DICOMweb {server.url} sent an instance over the 2 MiB upload limit "
        "(--max-upload-mib); nothing of it was stored: raise the limit if the image is genuine, else check the server\n"
    )
    engine = make_engine(f"sqlite:///{home / 'xrayreport.sqlite3'}")
    assert stored(make_sessions(engine)) == [] and scan_files(home / "scans") == []
    engine.dispose()
