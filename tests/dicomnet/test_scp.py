"""The Storage SCP on 127.0.0.1, with pynetdicom and dcmtk (echoscu, storescu) as the senders."""

from __future__ import annotations

import io
import logging
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from ingestion.dicom_factory import make_dicom
from pydicom import uid
from pydicom.dataset import Dataset
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.dsutils import encode

from xrayreport.dicomnet.scp import MAX_ASSOCIATIONS, STORAGE_SOP_CLASSES, VERIFICATION, StorageSCP
from xrayreport.web.models import StudyStatus

from .conftest import scan_files, stored
from .senders import associate, dcmtk, radiograph, send

# A-ASSOCIATE-RJ (PS3.8 table 9-21): rejected-permanent, by the service user, and why.
REJECTED_PERMANENT, SERVICE_USER, CALLING_AE_NOT_RECOGNISED, CALLED_AE_NOT_RECOGNISED = 0x01, 0x01, 0x03, 0x07
REJECTED_TRANSIENT, PRESENTATION, LIMIT = 0x02, 0x03, 0x02  # "local limit exceeded", from the presentation layer
ABSTRACT_SYNTAX_NOT_SUPPORTED = 0x03
"""A presentation context's result when its SOP class is not served (PS3.8 table 9-18)."""
# Modalities the synthetic images of each accepted SOP class carry.
_MODALITY = {
    uid.DigitalXRayImageStorageForPresentation: "PX",
    uid.DigitalXRayImageStorageForProcessing: "DX",
    uid.DigitalIntraOralXRayImageStorageForPresentation: "IO",
    uid.DigitalIntraOralXRayImageStorageForProcessing: "IO",
    uid.ComputedRadiographyImageStorage: "CR",
    uid.SecondaryCaptureImageStorage: "OT",
}


def test_c_echo_is_answered(node: StorageSCP) -> None:
    association = associate(node.port, VERIFICATION)
    assert association.send_c_echo().Status == 0x0000
    association.release()


def test_echoscu_gets_an_answer(node: StorageSCP) -> None:
    result = subprocess.run(
        [dcmtk("echoscu"), "-aet", "PANO1", "-aec", "XRAYREPORT", "127.0.0.1", str(node.port)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("calling", "called", "reason"),
    [("OTHER", "XRAYREPORT", CALLING_AE_NOT_RECOGNISED), ("PANO1", "ANY-SCP", CALLED_AE_NOT_RECOGNISED)],
)
def test_an_unknown_calling_or_called_ae_title_is_rejected_at_association(
    node: StorageSCP, calling: str, called: str, reason: int, caplog: pytest.LogCaptureFixture
) -> None:
    association = associate(node.port, calling_ae=calling, called_ae=called)
    assert association.is_rejected
    answer = association.acceptor.primitive
    assert answer is not None
    assert (answer.result, answer.result_source, answer.diagnostic) == (REJECTED_PERMANENT, SERVICE_USER, reason)
    assert f"association from {calling!r} at 127.0.0.1 rejected" in caplog.text


def test_one_association_over_the_limit_is_rejected_until_one_ends(
    node: StorageSCP, caplog: pytest.LogCaptureFixture
) -> None:
    open_ones = [associate(node.port, VERIFICATION) for _ in range(MAX_ASSOCIATIONS)]
    assert all(association.is_established for association in open_ones)
    over = associate(node.port, VERIFICATION)
    answer = over.acceptor.primitive
    assert over.is_rejected and answer is not None
    assert (answer.result, answer.result_source, answer.diagnostic) == (REJECTED_TRANSIENT, PRESENTATION, LIMIT)
    assert f"{MAX_ASSOCIATIONS} associations are open already" in caplog.text
    open_ones.pop().release()
    deadline = time.monotonic() + 10  # the node sees the released association end a moment later
    while not (again := associate(node.port, VERIFICATION)).is_established and time.monotonic() < deadline:
        time.sleep(0.05)
    assert again.is_established
    for association in (again, *open_ones):
        association.release()


def test_echoscu_from_an_unknown_calling_ae_title_is_rejected(node: StorageSCP) -> None:
    result = subprocess.run(
        [dcmtk("echoscu"), "-aet", "OTHER", "-aec", "XRAYREPORT", "127.0.0.1", str(node.port)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert "Reason: Calling AE Title Not Recognized" in result.stderr


def test_every_accepted_image_class_becomes_a_study_of_its_patient(node: StorageSCP) -> None:
    images = []
    for number, sop_class in enumerate(STORAGE_SOP_CLASSES):
        image = radiograph(f"P-{number}", _MODALITY[sop_class])
        image.SOPClassUID = sop_class
        images.append(image)
    assert send(node.port, *images) == [0x0000] * len(images)
    studies = stored(node.receiver.sessions)
    assert [patient_id for patient_id, _ in studies] == [f"P-{n}" for n in range(len(images))]
    assert {study.created_by for _, study in studies} == {"dicom:PANO1"}
    assert [study.modality for _, study in studies] == [_MODALITY[c] for c in STORAGE_SOP_CLASSES]
    assert len(scan_files(node.receiver.scans.folder)) == 2 * len(images)  # each scan and its preview


def test_a_received_image_is_analysed_like_an_upload(node: StorageSCP) -> None:
    assert send(node.port, radiograph("P-7")) == [0x0000]
    deadline = time.monotonic() + 20
    while (status := stored(node.receiver.sessions)[0][1].status) != StudyStatus.DONE and time.monotonic() < deadline:
        time.sleep(0.05)
    assert status == StudyStatus.DONE


def test_storescu_stores_a_panoramic(node: StorageSCP, tmp_path: Path) -> None:
    path = tmp_path / "pano.dcm"
    path.write_bytes(make_dicom(modality="PX", extra={"PatientID": "P-SCU"}))
    result = subprocess.run(
        [dcmtk("storescu"), "-aet", "PANO1", "-aec", "XRAYREPORT", "127.0.0.1", str(node.port), str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert [patient_id for patient_id, _ in stored(node.receiver.sessions)] == ["P-SCU"]


def test_other_sop_classes_are_refused_at_association(node: StorageSCP) -> None:
    association = associate(node.port, uid.CTImageStorage, uid.DigitalXRayImageStorageForPresentation)
    assert [cx.abstract_syntax for cx in association.accepted_contexts] == [uid.DigitalXRayImageStorageForPresentation]
    assert [(cx.abstract_syntax, cx.result) for cx in association.rejected_contexts] == [
        (uid.CTImageStorage, ABSTRACT_SYNTAX_NOT_SUPPORTED)
    ]
    association.release()


def test_storescu_cannot_send_a_ct_image(node: StorageSCP, tmp_path: Path) -> None:
    path = tmp_path / "ct.dcm"
    path.write_bytes(make_dicom(modality="CT"))
    result = subprocess.run(
        [dcmtk("storescu"), "-aet", "PANO1", "-aec", "XRAYREPORT", "127.0.0.1", str(node.port), str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert "No presentation context for: (CT)" in result.stderr
    assert stored(node.receiver.sessions) == []


def test_a_c_store_of_another_sop_class_on_an_accepted_context_gets_0x0122(node: StorageSCP) -> None:
    ct = radiograph(modality="CT")
    association = associate(node.port)
    request = C_STORE()
    request.MessageID = 1
    request.AffectedSOPClassUID = uid.CTImageStorage
    request.AffectedSOPInstanceUID = ct.SOPInstanceUID
    request.Priority = 2
    request.DataSet = io.BytesIO(encode(ct, False, True))  # Explicit VR Little Endian, as the DX context agreed
    # pynetdicom's public API always sends on the context of the data set's own class: send the message by
    # hand, pausing the association's reactor first as its send_c_store does, so that the reactor does not
    # take the answer for a request of the node's
    association._reactor_checkpoint.clear()
    while not association._is_paused:
        time.sleep(0.001)
    association.dimse.send_msg(request, association.accepted_contexts[0].context_id)
    _, response = association.dimse.get_msg(block=True)
    association._reactor_checkpoint.set()
    assert response is not None and response.Status == 0x0122
    association.release()
    assert stored(node.receiver.sessions) == []


def _short_pixel_data() -> Dataset:
    image = radiograph("P-SHORT")
    image.PixelData = image.PixelData[:1000]
    return image


def _absurd_size() -> Dataset:
    image = radiograph("P-HUGE", bits_stored=8)
    image.Rows, image.Columns = 65535, 65535
    return image


def test_a_hostile_object_gets_a_failure_status_is_not_stored_and_the_next_store_succeeds(node: StorageSCP) -> None:
    statuses = send(node.port, _short_pixel_data(), _absurd_size(), radiograph("P-GOOD"))
    assert statuses == [0xC000, 0xA700, 0x0000]  # cannot understand; out of resources (over the pixel limit)
    assert [patient_id for patient_id, _ in stored(node.receiver.sessions)] == ["P-GOOD"]
    assert len(scan_files(node.receiver.scans.folder)) == 2


def test_an_object_over_the_upload_limit_ends_its_association_and_the_node_goes_on(
    make_node: Callable[..., StorageSCP], caplog: pytest.LogCaptureFixture
) -> None:
    node = make_node(max_bytes=150_000)
    assert send(node.port, radiograph("P-BIG", bits_stored=12)) == [-1]  # 230 kB of pixels: aborted
    assert "aborted the association from 'PANO1': an object over the 150,000 bytes upload limit" in caplog.text
    assert send(node.port, radiograph("P-SMALL", bits_stored=8)) == [0x0000]  # 115 kB
    assert [patient_id for patient_id, _ in stored(node.receiver.sessions)] == ["P-SMALL"]


def test_no_patient_data_in_the_logs(node: StorageSCP, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    image = radiograph("QV-99731")
    image.PatientName, image.PatientBirthDate = "Qxyzzy^Vorwerk", "19711203"
    hostile = _short_pixel_data()
    assert send(node.port, image, hostile) == [0x0000, 0xC000]
    associate(node.port, calling_ae="OTHER")
    logged = "\n".join(f"{r.name}: {r.getMessage()}" for r in caplog.records)
    assert "stored a PX image from 'PANO1'" in logged
    for value in ("QV-99731", "Qxyzzy", "Vorwerk", "19711203", image.SOPInstanceUID, image.StudyInstanceUID):
        assert value not in logged
