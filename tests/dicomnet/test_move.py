"""Pulling with C-FIND and C-MOVE from a real Orthanc on 127.0.0.1 that knows the workspace's node (AE title XRAYREPORT
at a free port): into a Storage SCP started for the pull, or into the node already running; and the one-line errors."""

from __future__ import annotations

import io
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from ingestion.dicom_factory import make_dicom
from pydicom import dcmread
from pydicom.dataset import Dataset

from xrayreport.dicomnet import NodeConfig
from xrayreport.dicomnet.move import PullError
from xrayreport.dicomnet.pacs import PacsSettings
from xrayreport.dicomnet.pull import PullResult, pull_studies
from xrayreport.dicomnet.receive import Receiver
from xrayreport.dicomnet.scp import StorageSCP

from .conftest import stored
from .orthanc import ORTHANC_AE, Orthanc, free_port, running_orthanc
from .senders import NODE_AE, radiograph


def _file(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _put_patient(orthanc: Orthanc, patient_id: str) -> str:
    """Two panoramic studies of ``patient_id``, a CT image and a DX image whose Modality says CT (each its own study),
    and a panoramic of another patient; the Study Instance UID of the first panoramic."""
    first = make_dicom(extra={"PatientID": patient_id})
    for data in (first, make_dicom(extra={"PatientID": patient_id}), make_dicom(extra={"PatientID": "SOMEONE-ELSE"})):
        orthanc.post("/instances", data)
    ct_as_dx = radiograph(patient_id)
    ct_as_dx.Modality = "CT"
    for ds in (radiograph(patient_id, modality="CT"), ct_as_dx):
        orthanc.post("/instances", _file(ds))
    return str(dcmread(io.BytesIO(first), stop_before_pixels=True).StudyInstanceUID)


def _settings(orthanc: Orthanc, move_port: int, calling: str = NODE_AE) -> PacsSettings:
    return PacsSettings(ORTHANC_AE, "127.0.0.1", orthanc.dicom_port, calling, timeout_s=10, move_port=move_port)


def test_a_patients_studies_are_moved_into_a_node_started_for_the_pull_once(tmp_path: Path, receiver: Receiver) -> None:
    port = free_port()
    with running_orthanc(tmp_path / "orthanc", {"xrayreport": (NODE_AE, port)}) as orthanc:
        first = _put_patient(orthanc, "MOVE-7")
        settings = _settings(orthanc, port)
        pulled = pull_studies(settings, receiver, patient_id="MOVE-7")
        assert (len(pulled.studies), pulled.refused, pulled.skipped) == (2, (), 2)  # the CT series are left
        studies = stored(receiver.sessions)
        assert [(patient_id, study.created_by) for patient_id, study in studies] == [("MOVE-7", "dicom:ORTHANC")] * 2
        assert {study.id for _, study in studies} == set(pulled.studies)
        again = pull_studies(settings, receiver, patient_id="MOVE-7")
        assert set(again.studies) == set(pulled.studies) and len(stored(receiver.sessions)) == 2  # nothing twice
        (one,) = pull_studies(settings, receiver, study_uid=first).studies
        assert one in pulled.studies
        assert pull_studies(settings, receiver, patient_id="NOBODY") == PullResult((), (), 0)


def test_the_running_node_receives_the_move_when_it_accepts_the_pacs(
    tmp_path: Path, make_receiver: Callable[..., Receiver]
) -> None:
    port = free_port()
    receiver = make_receiver()
    with running_orthanc(tmp_path / "orthanc", {"xrayreport": (NODE_AE, port)}) as orthanc:
        orthanc.post("/instances", make_dicom(extra={"PatientID": "MOVE-8"}))
        deaf = StorageSCP(NodeConfig(("PANO1",), NODE_AE, port=port), receiver)
        deaf.start()
        try:
            with pytest.raises(PullError, match="does not accept associations from the PACS's AE title ORTHANC"):
                pull_studies(_settings(orthanc, free_port()), receiver, patient_id="MOVE-8", node=deaf)
        finally:
            deaf.stop()
        node = StorageSCP(NodeConfig(("PANO1", ORTHANC_AE), NODE_AE, port=port), receiver)
        node.start()
        try:
            # move_port is not used: the running node is the destination (and holds the port).
            pulled = pull_studies(_settings(orthanc, port), receiver, patient_id="MOVE-8", node=node)
        finally:
            node.stop()
        assert (len(pulled.studies), pulled.refused) == (1, ())
        assert [patient_id for patient_id, _ in stored(receiver.sessions)] == ["MOVE-8"]


def test_move_failures_are_one_line_without_the_patient_id(tmp_path: Path, receiver: Receiver) -> None:
    port = free_port()
    with running_orthanc(tmp_path / "orthanc", {"xrayreport": (NODE_AE, port)}) as orthanc:
        orthanc.post("/instances", make_dicom(extra={"PatientID": "SECRET-9"}))
        failures = []
        stranger = _settings(orthanc, port, calling="STRANGER")
        with pytest.raises(PullError, match="rejected the association from STRANGER: add this workspace") as raised:
            pull_studies(stranger, receiver, patient_id="SECRET-9")
        failures.append(str(raised.value))
        other = StorageSCP(NodeConfig((ORTHANC_AE,), "ELSEWHERE", port=0), receiver)  # an AE title Orthanc lacks
        other.start()
        try:
            # Orthanc answers 0xC000 for a destination it does not know (the standard's 0xA801 is named too).
            unknown = r"C-MOVE status 0xC000\): check that its DICOM nodes list AE title ELSEWHERE"
            with pytest.raises(PullError, match=unknown) as raised:
                pull_studies(_settings(orthanc, port), receiver, patient_id="SECRET-9", node=other)
        finally:
            other.stop()
        failures.append(str(raised.value))
        with pytest.raises(PullError, match=r"could not send an image here \(C-MOVE status 0xC000\)") as raised:
            pull_studies(_settings(orthanc, free_port()), receiver, patient_id="SECRET-9")  # not where Orthanc sends
        failures.append(str(raised.value))
        busy = rf"cannot listen for DICOM on 127\.0\.0\.1:{port} .*move_port sets the port"
        with socket.create_server(("127.0.0.1", port)), pytest.raises(PullError, match=busy) as raised:
            pull_studies(_settings(orthanc, port), receiver, patient_id="SECRET-9")  # another program holds move_port
        failures.append(str(raised.value))
        assert stored(receiver.sessions) == []
    with pytest.raises(PullError, match=r"cannot reach the PACS ORTHANC at 127\.0\.0\.1:\d+ within 10 s") as raised:
        pull_studies(_settings(orthanc, port), receiver, patient_id="SECRET-9")  # Orthanc has stopped
    failures.append(str(raised.value))
    assert all("SECRET-9" not in text and "\n" not in text for text in failures)
