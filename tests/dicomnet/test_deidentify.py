"""De-identified copies (PS3.15 basic profile): a richly populated panoramic and xrayreport's own results keep no
identifying attribute, UIDs map the same way in every object, and burned-in text is refused."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import highdicom as hd
import pydicom
import pytest
from ingestion.dicom_factory import make_dicom
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.uid import UID

from xrayreport.dicomnet.context import StudyContext
from xrayreport.dicomnet.deidentify import BurnedInAnnotationError, Deidentifier, dummy_value, profile_table
from xrayreport.dicomnet.results import study_results
from xrayreport.ingestion import load_scan

from .dicom3tools import dciodvfy_errors
from .test_results import PATIENT, _findings, _reviewer

SECRET = b"the workspace's secret key"
KEY = "0f3c9a1b2d4e5f607182"
IDENTIFYING = {
    "PatientName": "Doe^Jane^Q",
    "PatientID": "P-0042",
    "PatientBirthDate": "19800131",
    "PatientSex": "F",
    "PatientAge": "045Y",
    "PatientAddress": "12 Harbour Road, Springfield",
    "PatientTelephoneNumbers": "555-0199",
    "OtherPatientIDs": "MRN-77123",
    "InstitutionName": "Riverside Dental",
    "InstitutionAddress": "3 Mill Lane, Springfield",
    "StationName": "PANO-ROOM-2",
    "DeviceSerialNumber": "SN-88-4410",
    "OperatorsName": "Tech^Tom",
    "ReferringPhysicianName": "Referrer^Rita",
    "PerformingPhysicianName": "Lee^Dana",
    "AccessionNumber": "ACC-31337",
    "StudyID": "STUDY-9",
    "StudyDate": "20250611",
    "StudyTime": "101500",
    "SeriesDate": "20250611",
    "AcquisitionDateTime": "20250611101502",
    "ContentDate": "20250611",
    "StudyDescription": "Pano for Jane Doe",
    "SeriesDescription": "Jane's panoramic",
    "ImageComments": "patient anxious, call her husband",
}


def _rich_scan(burned_in: str | None = "NO") -> Dataset:
    """A panoramic carrying every kind of identity: names, IDs, dates, institution, device, free text, a request
    with its own identifiers, references to other instances, and a private block."""
    extra: dict[str, object] = dict(IDENTIFYING)
    if burned_in is not None:
        extra["BurnedInAnnotation"] = burned_in
    ds = pydicom.dcmread(io.BytesIO(make_dicom(extra=extra)))
    ds.FrameOfReferenceUID = "1.2.826.0.1.3680043.9.7.1"
    request = Dataset()
    request.RequestedProcedureID = "RP-5521"
    request.ScheduledProcedureStepID = "SPS-5521"
    request.StudyInstanceUID = ds.StudyInstanceUID
    ds.RequestAttributesSequence = [request]
    step = Dataset()
    step.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.3"  # Modality Performed Procedure Step
    step.ReferencedSOPInstanceUID = "1.2.826.0.1.3680043.9.7.3"
    ds.ReferencedPerformedProcedureStepSequence = [step]
    previous = Dataset()
    previous.ReferencedSOPClassUID = ds.SOPClassUID
    previous.ReferencedSOPInstanceUID = "1.2.826.0.1.3680043.9.7.2"
    ds.ReferencedImageSequence = [previous]
    block = ds.private_block(0x0029, "ACME PANO 1.0", create=True)
    block.add_new(0x10, "LO", "Jane Doe, room 2")
    return ds


def _elements(ds: Dataset) -> Iterator[DataElement]:
    for element in ds:
        yield element
        if element.VR == "SQ":
            for item in element.value:
                yield from _elements(item)


def _uids(ds: Dataset) -> set[str]:
    return {str(v) for e in _elements(ds) if e.VR == "UI" for v in (e.value if e.VM > 1 else [e.value]) if v}


def _texts(ds: Dataset) -> str:
    return "\n".join(str(e.value) for e in _elements(ds) if e.VR not in ("OB", "OW", "SQ", "UN"))


def test_no_identifying_attribute_of_a_rich_scan_survives() -> None:
    scan = _rich_scan()
    out = Deidentifier(SECRET).deidentify(scan, KEY)
    text = _texts(out)
    for keyword, value in IDENTIFYING.items():
        for part in str(value).split("^"):
            assert part not in text, keyword
    for word in ("RP-5521", "SPS-5521", "Jane", "ACME"):
        assert word not in text
    assert not any(e.tag.is_private for e in _elements(out))
    standard = {u for u in _uids(out) if UID(u).name != u}  # SOP class, transfer syntax: kept
    assert _uids(out) - standard and not (_uids(out) - standard) & _uids(scan)  # every instance UID replaced
    assert (out.PatientID, str(out.PatientName), out.PatientIdentityRemoved) == (KEY, "", "YES")
    assert out.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
    assert out.LongitudinalTemporalInformationModified == "REMOVED"
    assert out.file_meta.MediaStorageSOPInstanceUID == out.SOPInstanceUID
    assert (out.pixel_array == scan.pixel_array).all()  # pixels untouched: they say they carry no text
    assert out.Modality == "PX" and out.SOPClassUID == scan.SOPClassUID  # what the table does not list is kept


def test_the_tables_actions_by_their_codes() -> None:
    table = profile_table()
    assert table.action(pydicom.tag.Tag("PatientName")) == "Z"
    assert table.action(pydicom.tag.Tag("InstitutionName")) == "X/Z/D"
    assert table.action(pydicom.tag.Tag("SOPInstanceUID")) == "U"
    assert table.action(pydicom.tag.Tag("Modality")) is None
    assert table.action(pydicom.tag.Tag(0x6002, 0x3000)) == "X"  # Overlay Data of any overlay group (60xx)
    scan = _rich_scan()
    out = Deidentifier(SECRET).deidentify(scan, KEY)
    assert "PatientAddress" not in out and "ImageComments" not in out  # X: removed
    assert out["StudyDate"].is_empty and out["AccessionNumber"].is_empty  # Z: present, empty
    assert out.InstitutionName == "ANONYMIZED"  # X/Z/D: a dummy, the IOD may need it
    assert "RequestAttributesSequence" not in out  # X: a whole sequence with what it holds
    (step,) = out.ReferencedPerformedProcedureStepSequence  # X/Z/D: the IOD may need it; dummies inside
    assert step.ReferencedSOPClassUID == "1.2.840.10008.3.1.2.3.3"  # the standard's UID: kept
    assert step.ReferencedSOPInstanceUID != "1.2.826.0.1.3680043.9.7.3"
    assert [dummy_value(vr) for vr in ("PN", "DA", "TM", "US", "OB")] == [
        "ANONYMIZED",
        "19000101",
        "000000",
        0,
        b"\0\0",
    ]


def test_uids_map_the_same_way_in_every_object_and_export() -> None:
    scan = _rich_scan()
    one, other = Deidentifier(SECRET), Deidentifier(b"another clinic")
    out = one.deidentify(scan, KEY)
    assert out.SOPInstanceUID == one.uid(scan.SOPInstanceUID) == Deidentifier(SECRET).uid(scan.SOPInstanceUID)
    assert out.ReferencedPerformedProcedureStepSequence[0].ReferencedSOPInstanceUID == one.uid(
        "1.2.826.0.1.3680043.9.7.3"
    )  # nested: the same mapping
    assert out.ReferencedImageSequence[0].ReferencedSOPInstanceUID == one.uid("1.2.826.0.1.3680043.9.7.2")
    assert other.uid(scan.SOPInstanceUID) != out.SOPInstanceUID
    new = one.uid("1.2.3")
    assert new.startswith("2.25.") and new.is_valid and len(new) <= 44
    assert int(new[5:]) < 2**128
    assert one.uid(pydicom.uid.CTImageStorage) == pydicom.uid.CTImageStorage


@pytest.mark.parametrize("burned_in", ["YES", None])
def test_pixels_that_may_show_text_are_refused_unless_checked(burned_in: str | None) -> None:
    with pytest.raises(BurnedInAnnotationError, match="YES" if burned_in else "missing"):
        Deidentifier(SECRET).deidentify(_rich_scan(burned_in), KEY)
    checked = Deidentifier(SECRET).deidentify(_rich_scan(burned_in), KEY, pixels_checked=True)  # a person looked
    assert checked.BurnedInAnnotation == "NO" and checked.PatientIdentityRemoved == "YES"


def test_xrayreports_results_keep_their_findings_and_lose_the_people(tmp_path: Path) -> None:
    scan = _rich_scan()
    header = pydicom.dcmread(io.BytesIO(_saved(scan)), stop_before_pixels=True)
    radiograph = load_scan(_saved(scan), name="pano.dcm")
    results = study_results(radiograph, _findings(radiograph), _reviewer(), PATIENT, StudyContext.from_dicom(header))
    deidentifier = Deidentifier(SECRET)
    sr = deidentifier.deidentify(results.structured_report, KEY, clean_structured_content=True)
    overlay = deidentifier.deidentify(results.overlay, KEY)
    scan_out = deidentifier.deidentify(scan, KEY)
    for ds in (sr, overlay):
        text = _texts(ds)
        for word in ("dr-lee", "Riverside", "Doe", "Jane", "W-7", "ACC-31337", "20260105", "19800131"):
            assert word not in text, (ds.SOPClassUID.name, word)
        assert not (_uids(ds) & (_uids(results.structured_report) | _uids(scan))) - {
            u for u in _uids(ds) if UID(u).name != u
        }
        assert dciodvfy_errors(ds, tmp_path) == [], ds.SOPClassUID.name
    assert [c.CodeValue for c in sr.DeidentificationMethodCodeSequence] == ["113100", "113104"]
    report = hd.sr.ComprehensiveSR.from_dataset(sr)
    (group,) = report.content.get_planar_roi_measurement_groups()
    assert group.tracking_identifier == "finding f1" and group.finding_sites[0].value.value == "866006002"
    region = group.roi
    assert region is not None
    assert region.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID == scan_out.SOPInstanceUID
    assert sr.StudyInstanceUID == scan_out.StudyInstanceUID == overlay.StudyInstanceUID
    assert overlay.SourceImageSequence[0].ReferencedSOPInstanceUID == scan_out.SOPInstanceUID
    assert sr.VerifyingObserverSequence[0].VerifyingObserverName == "ANONYMIZED"


def _saved(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()
