"""What the node makes of a received object: the upload's checks and limits, the patient by Patient ID, the
study queued, the status to answer; nothing stored and nothing of the patient logged on a failure."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from ingestion.dicom_factory import PATIENT, make_dicom
from ingestion.hostile_files import Hostile, hostile_files

from xrayreport.dicomnet.receive import ERROR_COMMENT_LENGTH, Receiver, StoreStatus, refusal
from xrayreport.errors import ImageTooLargeError, NotAPanoramicError
from xrayreport.web.models import StudyStatus

from .conftest import scan_files, stored

_HOSTILE_DICOMS = [h for h in hostile_files() if h.kind == "file" and h.name.endswith(".dcm")]


def _expected_status(hostile: Hostile) -> StoreStatus:
    if issubclass(hostile.error, ImageTooLargeError):
        return StoreStatus.OUT_OF_RESOURCES
    if issubclass(hostile.error, NotAPanoramicError):
        return StoreStatus.DATA_SET_DOES_NOT_MATCH_SOP_CLASS
    return StoreStatus.CANNOT_UNDERSTAND


@pytest.mark.parametrize("hostile", _HOSTILE_DICOMS, ids=lambda h: h.name)
def test_a_hostile_object_gets_its_failure_status_and_leaves_nothing(
    receiver: Receiver, hostile: Hostile, caplog: pytest.LogCaptureFixture
) -> None:
    assert hostile.content is not None
    result = receiver.store(hostile.content, "PANO1")
    assert result == refusal(_expected_status(hostile))
    assert stored(receiver.sessions) == []
    assert scan_files(receiver.scans.folder) == []
    assert hostile.says in caplog.text  # the ingestion's reason, in the log
    assert PATIENT["PatientID"] not in caplog.text and "Doe" not in caplog.text


def test_the_patient_is_found_by_patient_id_or_created_from_the_header(receiver: Receiver) -> None:
    first = receiver.store(make_dicom(extra={"PatientID": "P-1"}), "PANO1")
    again = receiver.store(make_dicom(modality="DX", extra={"PatientID": "P-1"}), "PANO2")
    other = receiver.store(make_dicom(extra={"PatientID": "P-2", "PatientName": "Roe^Richard"}), "PANO1")
    assert {first.status, again.status, other.status} == {StoreStatus.SUCCESS}
    studies = stored(receiver.sessions)
    assert [(patient_id, study.created_by) for patient_id, study in studies] == [
        ("P-1", "dicom:PANO1"),
        ("P-1", "dicom:PANO2"),
        ("P-2", "dicom:PANO1"),
    ]
    assert studies[0][1].patient_id == studies[1][1].patient_id != studies[2][1].patient_id
    with receiver.sessions() as db:
        patient = db.merge(studies[0][1]).patient
        assert (patient.name, patient.birth_date, patient.sex) == ("Doe Jane Q", "1980-01-31", "F")
        assert db.merge(studies[2][1]).patient.name == "Roe Richard"


def test_an_object_sent_again_is_the_same_study(receiver: Receiver) -> None:
    data = make_dicom()
    first = receiver.store(data, "PANO1")
    assert receiver.store(data, "PANO1") == first
    assert first.study_id is not None and len(stored(receiver.sessions)) == 1


def test_the_study_is_queued_and_analysed_like_an_upload(make_receiver: Callable[..., Receiver]) -> None:
    analysing = make_receiver()
    result = analysing.store(make_dicom(extra={"PatientID": "P-1"}), "PANO1")
    analysing.runner.shutdown()  # waits for the queued analysis
    assert stored(analysing.sessions)[0][1].status == StudyStatus.DONE
    unavailable = make_receiver(analyser=None)
    unavailable.store(make_dicom(extra={"PatientID": "P-2"}), "PANO1")
    assert [study.status for _, study in stored(unavailable.sessions)] == [StudyStatus.DONE, StudyStatus.UNAVAILABLE]
    assert result.status == StoreStatus.SUCCESS


def test_an_object_over_the_upload_limit_is_refused_unread(
    make_receiver: Callable[..., Receiver], caplog: pytest.LogCaptureFixture
) -> None:
    data = make_dicom()
    receiver = make_receiver(max_bytes=len(data) - 1)
    assert receiver.store(data, "PANO1") == refusal(StoreStatus.OUT_OF_RESOURCES)
    assert f"{len(data):,} bytes is over the {len(data) - 1:,} bytes upload limit (--max-upload-mib)" in caplog.text
    assert stored(receiver.sessions) == []


def test_a_patient_id_beyond_its_value_representation_is_refused(receiver: Receiver) -> None:
    result = receiver.store(make_dicom(extra={"PatientID": "P" * 65}), "PANO1")  # LO holds 64 characters
    assert result == refusal(StoreStatus.DATA_SET_DOES_NOT_MATCH_SOP_CLASS)
    assert stored(receiver.sessions) == []
    assert scan_files(receiver.scans.folder) == []


def test_a_storage_failure_is_out_of_resources(receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    receiver.scans.folder.rmdir()
    receiver.scans.folder.write_bytes(b"")  # the scans folder is a file now: writing a scan fails
    assert receiver.store(make_dicom(), "PANO1") == refusal(StoreStatus.OUT_OF_RESOURCES)
    assert "could not store an object from 'PANO1': FileExistsError (disk or database)" in caplog.text
    assert stored(receiver.sessions) == []


def test_a_crash_answers_cannot_understand_and_logs_no_values(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def crash(*_args: object, **_kwargs: object) -> None:
        raise ValueError(f"a bug that quotes {PATIENT['PatientName']}")

    monkeypatch.setattr("xrayreport.dicomnet.receive.create_study", crash)
    assert receiver.store(make_dicom(), "PANO1") == refusal(StoreStatus.CANNOT_UNDERSTAND)
    assert "storing an object from 'PANO1' crashed: ValueError at test_receive.py:" in caplog.text
    assert "Doe" not in caplog.text


def test_error_comments_fit_their_element() -> None:
    for status in StoreStatus:
        if status != StoreStatus.SUCCESS:
            comment = refusal(status).comment
            assert comment is not None and 0 < len(comment) <= ERROR_COMMENT_LENGTH
