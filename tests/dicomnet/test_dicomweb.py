"""The clinic's DICOMweb server: the clinic file's dicomweb: section, and STOW-RS, QIDO-RS and WADO-RS against a real
Orthanc with its DICOMweb plugin (Debian orthanc-dicomweb) on 127.0.0.1."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pydicom
import pytest

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
        fetched = pydicom.dcmread(io.BytesIO(fetch_instance(settings, found)))
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
