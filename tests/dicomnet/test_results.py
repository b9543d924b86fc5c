"""Results as DICOM: the SR, the overlay capture and the report PDF of a reviewed study, validated with dciodvfy and
read back with highdicom and pydicom."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from ingestion.dicom_factory import make_dicom
from pydicom.dataset import Dataset

from xrayreport.dicomnet.codes import SCHEME
from xrayreport.dicomnet.context import PatientIdentity, Reviewer, StudyContext, derived_uid
from xrayreport.dicomnet.results import ResultsError, StudyResults, study_results
from xrayreport.findings import Finding, Findings, ImageInfo, ModelInfo, Tooth
from xrayreport.ingestion import Radiograph, load_scan

from .dicom3tools import dciodvfy_errors

REVIEWED_AT = dt.datetime(2026, 1, 5, 9, 30, tzinfo=dt.UTC)
PATIENT = PatientIdentity(name="Doe^Jane", patient_id="W-7", birth_date="1980-01-31", sex="F")
PDF = b"%PDF-1.4\n% a stand-in report\n%%EOF\n"


def _scan() -> tuple[bytes, Radiograph, Dataset]:
    data = make_dicom(extra={"AccessionNumber": "ACC-1", "StudyTime": "101500", "StudyID": "S1"})
    return data, load_scan(data, name="pano.dcm"), pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)


def _findings(radiograph: Radiograph) -> Findings:
    return Findings(
        image=ImageInfo(width=radiograph.width, height=radiograph.height, sha256=radiograph.sha256),
        model=ModelInfo("detector", "1.0"),
        teeth=(Tooth("36", (100.0, 120.0, 140.0, 200.0)),),
        findings=(
            Finding("f1", "caries", "36", (100.0, 120.0, 140.0, 160.0)),
            Finding("d1", "missing", "46", None, source="dentist"),
        ),
    )


def _reviewer(at: dt.datetime = REVIEWED_AT) -> Reviewer:
    return Reviewer("dr-lee", at, frozenset({"f1"}), "Riverside Dental")


def _results(study: StudyContext, reviewer: Reviewer | None = None) -> StudyResults:
    _, radiograph, _ = _scan()
    return study_results(
        radiograph, _findings(radiograph), reviewer or _reviewer(), PATIENT, study, report_pdf=PDF, report_language="en"
    )


def test_a_dicom_scans_results_join_its_study_and_reference_its_image(tmp_path: Path) -> None:
    _, _, header = _scan()
    results = _results(StudyContext.from_dicom(header))
    assert results.pdf is not None
    objects = [results.structured_report, results.overlay, results.pdf]
    for ds in objects:
        assert dciodvfy_errors(ds, tmp_path) == [], ds.SOPClassUID.name
        assert ds.StudyInstanceUID == header.StudyInstanceUID and ds.AccessionNumber == "ACC-1"
        # The identity is the workspace's, not the header's (Doe^Jane^Q, P-0042).
        assert (str(ds.PatientName), ds.PatientID, str(ds.PatientBirthDate), ds.PatientSex) == (
            "Doe^Jane",
            "W-7",
            "19800131",
            "F",
        )
    assert len({ds.SeriesInstanceUID for ds in objects} | {header.SeriesInstanceUID}) == 4  # a series each
    sr = hd.sr.ComprehensiveSR.from_dataset(results.structured_report)
    evidence = sr.CurrentRequestedProcedureEvidenceSequence[0]
    assert evidence.ReferencedSeriesSequence[0].SeriesInstanceUID == header.SeriesInstanceUID
    assert evidence.ReferencedSeriesSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID == (
        header.SOPInstanceUID
    )
    assert results.overlay.SourceImageSequence[0].ReferencedSOPInstanceUID == header.SOPInstanceUID
    sources = {item.ReferencedSOPInstanceUID for item in results.pdf.SourceInstanceSequence}
    assert sources == {header.SOPInstanceUID, results.structured_report.SOPInstanceUID}


def test_the_sr_holds_each_finding_with_its_type_tooth_region_and_confirmation() -> None:
    _, _, header = _scan()
    results = _results(StudyContext.from_dicom(header))
    sr = hd.sr.ComprehensiveSR.from_dataset(results.structured_report)
    (caries,) = sr.content.get_planar_roi_measurement_groups()
    assert (caries.finding_type.value, caries.finding_type.scheme_designator) == ("caries", SCHEME)
    assert [(site.value.value, site.value.scheme_designator) for site in caries.finding_sites] == [
        ("866006002", "SCT")  # tooth 36
    ]
    # The box [100, 120, 140, 160] as a closed polyline, (column, row) in image pixels.
    expected = [[100, 120], [140, 120], [140, 160], [100, 160], [100, 120]]
    np.testing.assert_array_equal(caries.roi.value, np.array(expected, dtype=np.float32))
    region_image = caries.roi.ContentSequence[0].ReferencedSOPSequence[0]
    assert region_image.ReferencedSOPInstanceUID == header.SOPInstanceUID
    ((name, value),) = [(q.name, q.value) for q in caries.get_qualitative_evaluations()]
    assert (name.value, value.value) == ("finding-source", "model-confirmed")
    (missing,) = sr.content.get_image_measurement_groups()  # no box: a group without a region
    assert missing.finding_type.value == "missing"
    assert [site.value.value for site in missing.finding_sites] == ["866005003"]  # 46, mandibular right first molar
    assert missing.get_qualitative_evaluations()[0].value.value == "dentist"
    person, device = sr.content.get_observer_contexts()
    assert "dr-lee^" in str(person) and "detector 1.0" in str(device)
    verifier = sr.VerifyingObserverSequence[0]
    assert (str(verifier.VerifyingObserverName), verifier.VerifyingOrganization) == ("dr-lee^", "Riverside Dental")
    assert (sr.CompletionFlag, sr.VerificationFlag) == ("COMPLETE", "VERIFIED")
    assert (sr.ContentDate, sr.ContentTime) == ("20260105", "093000")  # the review's time, UTC
    assert sr.CodingSchemeIdentificationSequence[0].CodingSchemeDesignator == SCHEME


def test_an_uploads_results_get_a_study_uid_of_their_own_and_regions_on_the_overlay(tmp_path: Path) -> None:
    study = StudyContext.for_upload("0f3e9a", "2024-06-15")
    results = _results(study)
    assert study.study_uid == derived_uid("study", "0f3e9a") == StudyContext.for_upload("0f3e9a", None).study_uid
    assert study.study_uid.startswith("2.25.")
    for ds in (results.structured_report, results.overlay, results.pdf):
        assert ds is not None and dciodvfy_errors(ds, tmp_path) == []
        assert (ds.StudyInstanceUID, str(ds.StudyDate)) == (study.study_uid, "20240615")
    overlay = results.overlay
    assert "SourceImageSequence" not in overlay and overlay.BurnedInAnnotation == "YES"  # an upload does not say
    sr = hd.sr.ComprehensiveSR.from_dataset(results.structured_report)
    (caries,) = sr.content.get_planar_roi_measurement_groups()
    assert caries.roi.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID == overlay.SOPInstanceUID


def test_the_overlay_is_the_scan_with_the_findings_drawn_in_colour() -> None:
    _, radiograph, header = _scan()
    overlay = _results(StudyContext.from_dicom(header)).overlay
    assert (overlay.Rows, overlay.Columns, overlay.SamplesPerPixel) == (radiograph.height, radiograph.width, 3)
    assert overlay.file_meta.TransferSyntaxUID == pydicom.uid.RLELossless
    pixels = overlay.pixel_array
    assert pixels.shape == (radiograph.height, radiograph.width, 3)
    corner = pixels[5:15, 5:15]  # far from every box: the grey scan itself
    assert np.array_equal(corner[..., 0], corner[..., 1]) and np.array_equal(corner[..., 1], corner[..., 2])
    edge = pixels[140, 98:103]  # the caries box's left edge (x = 100) is drawn in colour
    assert (edge.max(axis=1) - edge.min(axis=1)).max() > 50
    assert overlay.BurnedInAnnotation == "NO" or "BurnedInAnnotation" not in header


def test_the_report_pdf_comes_back_byte_for_byte() -> None:
    _, _, header = _scan()
    pdf = _results(StudyContext.from_dicom(header)).pdf
    assert pdf is not None
    buffer = io.BytesIO()
    pdf.save_as(buffer, enforce_file_format=True)
    back = pydicom.dcmread(io.BytesIO(buffer.getvalue()))
    assert back.MIMETypeOfEncapsulatedDocument == "application/pdf" and back.Modality == "DOC"
    assert back.EncapsulatedDocument[: back.EncapsulatedDocumentLength] == PDF  # 36 bytes, padded to 36
    assert back.BurnedInAnnotation == "YES"


def test_the_same_review_gives_the_same_objects_and_a_new_review_new_ones() -> None:
    _, _, header = _scan()
    study = StudyContext.from_dicom(header)
    first, again = _results(study), _results(study)
    later = _results(study, _reviewer(REVIEWED_AT + dt.timedelta(minutes=5)))
    for kind in ("structured_report", "overlay", "pdf"):
        a, b, c = getattr(first, kind), getattr(again, kind), getattr(later, kind)
        assert a.SOPInstanceUID == b.SOPInstanceUID != c.SOPInstanceUID
        assert a.SeriesInstanceUID == b.SeriesInstanceUID == c.SeriesInstanceUID


def test_findings_waiting_for_review_make_no_results() -> None:
    _, _, header = _scan()
    unconfirmed = Reviewer("dr-lee", REVIEWED_AT, frozenset(), "Riverside Dental")
    with pytest.raises(ResultsError, match="finding f1 waits for the dentist's review"):
        _results(StudyContext.from_dicom(header), unconfirmed)


def test_a_report_that_is_not_a_pdf_is_refused() -> None:
    _, radiograph, header = _scan()
    with pytest.raises(ResultsError, match="not a PDF"):
        study_results(
            radiograph, _findings(radiograph), _reviewer(), PATIENT, StudyContext.from_dicom(header), b"<html>"
        )
