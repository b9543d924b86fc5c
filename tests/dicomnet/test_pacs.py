"""Sending results to a PACS: the clinic file's pacs: section, and C-STORE to a real Orthanc on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydicom.dataset import Dataset

from xrayreport.dicomnet.context import StudyContext
from xrayreport.dicomnet.pacs import PacsSettings, PacsSettingsError, SendError, pacs_settings_from_dict, send_objects

from .orthanc import ORTHANC_AE, free_port, running_orthanc
from .test_results import _results, _scan

WORKSPACE_AE = "XRAYREPORT"


def test_the_pacs_section_is_read_with_its_defaults() -> None:
    settings = pacs_settings_from_dict({"ae_title": " ORTHANC ", "host": "10.0.0.5", "port": 4242}, "clinic.yaml: pacs")
    assert settings == PacsSettings("ORTHANC", "10.0.0.5", 4242, "XRAYREPORT", 30.0, move_port=11112)
    assert settings.label == "ORTHANC at 10.0.0.5:4242"


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("orthanc:4242", "expected a mapping with 'ae_title', 'host' and 'port'"),
        ({"ae_title": "PACS", "host": "h"}, "give port"),
        ({"ae_title": "PACS", "host": "h", "port": 70000}, "port: expected a port number from 1 to 65535, got 70000"),
        ({"ae_title": "PACS", "host": "h", "port": "104"}, "port: expected a port number"),
        ({"ae_title": "A\\B", "host": "h", "port": 104}, "ae_title: 'A\\\\B' is not a DICOM AE title"),
        ({"ae_title": "PACS", "host": "h", "port": 104, "password": "x"}, "unknown key 'password'"),
        ({"ae_title": "PACS", "host": "h", "port": 104, "timeout_s": 0}, "timeout_s: expected seconds"),
        ({"ae_title": "PACS", "host": "h", "port": 104, "move_port": 0}, "move_port: expected a port number"),
    ],
)
def test_a_malformed_pacs_section_is_named(section: Any, message: str) -> None:
    with pytest.raises(PacsSettingsError, match=r"^clinic\.yaml: pacs") as raised:
        pacs_settings_from_dict(section, "clinic.yaml: pacs")
    assert message in str(raised.value)


def _objects() -> list[Dataset]:
    _, _, header = _scan()
    results = _results(StudyContext.from_dicom(header))
    assert results.pdf is not None
    return [results.structured_report, results.overlay, results.pdf]


def test_results_are_stored_on_orthanc_and_sending_again_keeps_one_copy(tmp_path: Path) -> None:
    with running_orthanc(tmp_path, {"xrayreport": (WORKSPACE_AE, free_port())}) as orthanc:
        settings = PacsSettings(ORTHANC_AE, "127.0.0.1", orthanc.dicom_port, WORKSPACE_AE, timeout_s=10)
        objects = _objects()
        sent = send_objects(settings, objects)
        assert [s.status for s in sent] == [0, 0, 0]
        for ds in objects:
            stored = orthanc.instance(ds.SOPInstanceUID)
            assert stored is not None and stored["StudyInstanceUID"] == ds.StudyInstanceUID
            assert stored["PatientID"] == "W-7"
        assert orthanc.get("/statistics")["CountInstances"] == 3
        send_objects(settings, objects)  # the same review again: the same UIDs, still three instances
        assert orthanc.get("/statistics")["CountInstances"] == 3
        assert orthanc.get("/statistics")["CountStudies"] == 1


def test_a_pacs_that_does_not_know_the_workspace_refuses_it_and_the_message_says_what_to_do(tmp_path: Path) -> None:
    with running_orthanc(tmp_path, {"xrayreport": (WORKSPACE_AE, free_port())}) as orthanc:
        stranger = PacsSettings(ORTHANC_AE, "127.0.0.1", orthanc.dicom_port, "STRANGER", timeout_s=10)
        with pytest.raises(SendError, match="rejected the association from STRANGER: add this workspace"):
            send_objects(stranger, _objects())
        assert orthanc.get("/statistics")["CountInstances"] == 0


def test_an_unreachable_pacs_is_named_with_what_to_check() -> None:
    nowhere = PacsSettings(ORTHANC_AE, "127.0.0.1", free_port(), WORKSPACE_AE, timeout_s=5)
    with pytest.raises(
        SendError, match=r"cannot reach the PACS ORTHANC at 127\.0\.0\.1:\d+ within 5 s: check its host"
    ):
        send_objects(nowhere, _objects())
