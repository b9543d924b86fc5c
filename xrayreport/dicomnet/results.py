"""A reviewed study's results as DICOM objects a PACS files beside the scan (highdicom, pydicom).

- :func:`overlay_capture`: the findings drawn on the scan (:func:`xrayreport.overlay.draw_overlay`, at the scan's
  own size) as a Secondary Capture image, RGB, RLE Lossless.
- :func:`structured_report`: the findings as a Comprehensive SR holding a TID 1500 Measurement Report: one
  measurement group per finding with its type (a coded concept), its tooth (SNOMED CT, :mod:`.codes`), its box
  as a closed polyline SCOORD on the scan, and who found and confirmed it; the reviewing dentist is the person
  observer and verifying observer, the model the device observer.
- :func:`encapsulated_pdf`: the patient report PDF as an Encapsulated PDF.

All three belong to the scan's study: a scan that came as DICOM keeps its Study Instance UID and the objects
reference its image (SOP class and instance, series); an image upload has no UIDs, so :meth:`StudyContext.for_upload`
makes its study UID from the workspace's study id (the same UID at every export), and the SR's regions then refer
to the overlay capture, which has the scan's rows and columns. Each kind of object has its own series in the
study, with a UID derived from the study UID and the kind, so objects exported again join the same series; an
object's own UID and its content date come from the review (who, when), so exporting or sending the same review
twice gives the same objects (a PACS keeps one), and a later review gives new ones.

The identity the objects carry is exactly the :class:`PatientIdentity` given: nothing is copied from the scan's
header but its UIDs, study date, time, accession number, study ID and burned-in annotation flag.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import highdicom as hd
import numpy as np
import pydicom.uid
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import UID

from ..errors import XrayReportError
from ..findings import Finding, Findings
from ..ingestion import Radiograph
from ..overlay import draw_overlay
from .codes import ADDED_BY_DENTIST, FINDING_SOURCE, FOUND_BY_MODEL, coding_scheme_item, finding_code, tooth_code
from .context import PatientIdentity, Reviewer, SourceImage, StudyContext, derived_uid, series_uid

MANUFACTURER = "xrayreport"
SR_SERIES_NUMBER = 9001
OVERLAY_SERIES_NUMBER = 9002
PDF_SERIES_NUMBER = 9003
"""Series numbers of the result series: high, so that viewers list them after the scan's own."""
_LO_LENGTH = 64
"""The most characters of a value of VR LO (Long String)."""


class ResultsError(XrayReportError):
    """The results cannot be made as asked (e.g. a study not reviewed yet)."""


def instance_uid(study: StudyContext, kind: str, reviewer: Reviewer) -> UID:
    """The SOP Instance UID of the result object of ``kind`` made from ``reviewer``'s review of ``study``."""
    return derived_uid("instance", study.study_uid, kind, reviewer.revision)


def _dicom_date(iso: str | None) -> str:
    return iso.replace("-", "") if iso else ""


def _person(username: str) -> str:
    """A workspace user name as a DICOM person name of one component (the trailing caret says so)."""
    return f"{username.replace('^', ' ')}^"


def _lo(text: str) -> str:
    return text[:_LO_LENGTH]


def header(patient: PatientIdentity, study: StudyContext) -> Dataset:
    """The Patient and General Study modules of the result objects."""
    ds = Dataset()
    ds.PatientName = patient.name or ""
    ds.PatientID = patient.patient_id or ""
    ds.PatientBirthDate = _dicom_date(patient.birth_date)
    ds.PatientSex = patient.sex or ""
    ds.StudyInstanceUID = study.study_uid
    ds.StudyDate = _dicom_date(study.study_date)
    ds.StudyTime = study.study_time or ""
    ds.AccessionNumber = study.accession_number or ""
    ds.StudyID = study.study_id or ""
    ds.ReferringPhysicianName = ""
    return ds


def _image_reference(patient: PatientIdentity, study: StudyContext, image: SourceImage) -> Dataset:
    ds = header(patient, study)
    ds.SOPClassUID = image.sop_class_uid
    ds.SOPInstanceUID = image.sop_instance_uid
    ds.SeriesInstanceUID = image.series_uid
    return ds


def overlay_capture(
    radiograph: Radiograph, findings: Findings, reviewer: Reviewer, patient: PatientIdentity, study: StudyContext
) -> hd.sc.SCImage:
    """The findings drawn on the scan, at the scan's size, as an RGB Secondary Capture image (RLE Lossless).

    Its Burned In Annotation is the scan's: the drawn labels name teeth and findings, never the patient, but the
    scan's own pixels may carry the patient's name; a scan that does not say is marked ``YES``.
    """
    bgr = draw_overlay(radiograph, findings, legend=True)
    rgb = np.ascontiguousarray(bgr[:, :, ::-1])
    capture = hd.sc.SCImage(
        pixel_array=rgb,
        photometric_interpretation="RGB",
        bits_allocated=8,
        coordinate_system="PATIENT",
        study_instance_uid=study.study_uid,
        series_instance_uid=series_uid(study, "overlay"),
        series_number=OVERLAY_SERIES_NUMBER,
        sop_instance_uid=instance_uid(study, "overlay", reviewer),
        instance_number=1,
        manufacturer=MANUFACTURER,
        patient_id=patient.patient_id or "",
        patient_name=header(patient, study).PatientName,
        patient_birth_date=_dicom_date(patient.birth_date) or None,
        patient_sex=patient.sex or None,
        accession_number=study.accession_number,
        study_id=study.study_id,
        study_date=_dicom_date(study.study_date) or None,
        study_time=study.study_time,
        patient_orientation=("R", "H"),  # a panoramic is viewed as facing the patient: their right on the left
        transfer_syntax_uid=pydicom.uid.RLELossless,
    )
    # Encapsulated (RLE) pixel data has an undefined length (PS3.5 A.4); pydicom's file writer fixes this on its
    # own, a network sender (pynetdicom) writes the element as it is.
    capture["PixelData"].is_undefined_length = True
    capture["PixelData"].VR = "OB"
    capture.SeriesDescription = "xrayreport findings overlay"
    capture.BodyPartExamined = "JAW"
    capture.ImageType = ["DERIVED", "SECONDARY"]
    capture.DerivationDescription = "findings reviewed by a dentist drawn on the scan by xrayreport"
    capture.BurnedInAnnotation = study.burned_in_annotation or "YES"
    _set_content_time(capture, reviewer.reviewed_at)
    if study.image is not None:
        source = Dataset()
        source.ReferencedSOPClassUID = study.image.sop_class_uid
        source.ReferencedSOPInstanceUID = study.image.sop_instance_uid
        capture.SourceImageSequence = [source]
    return capture


def structured_report(
    findings: Findings,
    reviewer: Reviewer,
    patient: PatientIdentity,
    study: StudyContext,
    region_image: Dataset,
    verified: bool = True,
) -> hd.sr.ComprehensiveSR:
    """The reviewed ``findings`` as a TID 1500 Measurement Report in a Comprehensive SR.

    ``region_image`` is the image the regions are drawn on (the scan's DICOM header, or the overlay capture of an
    image upload; it must have the scan's size). Each finding is a measurement group: tracking identifier (its
    id), finding type, finding site (its tooth), its box as a closed polyline in image pixels (column, row; the
    top-left corner of the top-left pixel is 0, 0) and a qualitative evaluation saying whether the model found it
    and the dentist confirmed it or the dentist marked it. ``verified`` names the reviewer as verifying observer
    (off for de-identified copies).
    """
    if int(region_image.Rows) != findings.image.height or int(region_image.Columns) != findings.image.width:
        raise ResultsError(
            f"the image the findings are drawn on is {region_image.Columns}x{region_image.Rows} pixels, the findings "
            f"are for a {findings.image.width}x{findings.image.height} scan"
        )
    source = hd.sr.SourceImageForRegion(
        referenced_sop_class_uid=region_image.SOPClassUID, referenced_sop_instance_uid=region_image.SOPInstanceUID
    )
    groups = [_finding_group(finding, reviewer, study, source) for finding in findings.findings]
    person = hd.sr.ObserverContext(
        observer_type=codes.DCM.Person,
        observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(
            name=_person(reviewer.username), login_name=reviewer.username
        ),
    )
    model = findings.model
    device = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=derived_uid("model", model.name, model.version),
            name=_lo(f"{model.name} {model.version}"),
            manufacturer_name=MANUFACTURER,
            model_name=_lo(model.name),
        ),
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_person_context=person, observer_device_context=device),
        procedure_reported=codes.SCT.DentalRadiography,
        imaging_measurements=groups,
    )
    if region_image.StudyInstanceUID != study.study_uid:
        raise ResultsError("the image the findings are drawn on is not of this study")
    sr = hd.sr.ComprehensiveSR(
        evidence=[region_image],  # its Patient and General Study modules are copied: it must carry ``header``'s
        content=report[0],
        series_instance_uid=series_uid(study, "sr"),
        series_number=SR_SERIES_NUMBER,
        sop_instance_uid=instance_uid(study, "sr", reviewer),
        instance_number=1,
        manufacturer=MANUFACTURER,
        is_complete=True,
        is_final=True,
        is_verified=verified,
        verifying_observer_name=_person(reviewer.username) if verified else None,
        verifying_organization=_lo(reviewer.organization) if verified else None,
    )
    _set_content_time(sr, reviewer.reviewed_at)
    sr.SeriesDescription = "xrayreport reviewed findings"
    sr.CodingSchemeIdentificationSequence = [coding_scheme_item()]
    return sr


def _finding_group(
    finding: Finding, reviewer: Reviewer, study: StudyContext, source: hd.sr.SourceImageForRegion
) -> hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations | hd.sr.MeasurementsAndQualitativeEvaluations:
    tracking_uid = derived_uid("finding", study.study_uid, finding.id)  # the same finding in every revision
    tracking = hd.sr.TrackingIdentifier(uid=tracking_uid, identifier=_lo(f"finding {finding.id}"))
    sites = [hd.sr.FindingSite(tooth_code(finding.tooth))] if finding.tooth else None
    who = ADDED_BY_DENTIST if finding.source == "dentist" else FOUND_BY_MODEL
    if finding.source == "model" and finding.id not in reviewer.confirmed:
        raise ResultsError(f"finding {finding.id} waits for the dentist's review; review every finding first")
    evaluations = [hd.sr.QualitativeEvaluation(FINDING_SOURCE, who)]
    if finding.box is None:
        return hd.sr.MeasurementsAndQualitativeEvaluations(
            tracking_identifier=tracking,
            finding_type=finding_code(finding.type),
            finding_sites=sites,
            qualitative_evaluations=evaluations,
        )
    x1, y1, x2, y2 = (float(v) for v in finding.box)
    outline = np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2], [x1, y1]], dtype=np.float32)
    return hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=tracking,
        referenced_region=hd.sr.ImageRegion(graphic_type="POLYLINE", graphic_data=outline, source_image=source),
        finding_type=finding_code(finding.type),
        finding_sites=sites,
        qualitative_evaluations=evaluations,
    )


def encapsulated_pdf(
    pdf: bytes,
    title: str,
    language: str,
    reviewer: Reviewer,
    patient: PatientIdentity,
    study: StudyContext,
    sources: Sequence[Dataset],
) -> Dataset:
    """The patient report in ``language`` as an Encapsulated PDF of ``study``, listing ``sources`` (the scan, the
    SR: datasets with SOP class and instance UIDs) as the instances it was made from. Its Burned In Annotation is
    ``YES``: the report names the patient."""
    if not pdf.startswith(b"%PDF-"):
        raise ResultsError("the report is not a PDF (it does not start with %PDF-)")
    ds = header(patient, study)
    ds.SOPClassUID = pydicom.uid.EncapsulatedPDFStorage
    ds.SOPInstanceUID = instance_uid(study, f"pdf-{language}", reviewer)
    ds.Modality = "DOC"
    ds.SeriesInstanceUID = series_uid(study, "pdf")
    ds.SeriesNumber = PDF_SERIES_NUMBER
    ds.SeriesDescription = "xrayreport patient report"
    ds.Manufacturer = MANUFACTURER
    ds.ConversionType = "WSD"  # workstation
    ds.InstanceNumber = 1
    _set_content_time(ds, reviewer.reviewed_at)
    ds.AcquisitionDateTime = ds.ContentDate + ds.ContentTime
    ds.InstanceCreationDate, ds.InstanceCreationTime = ds.ContentDate, ds.ContentTime
    ds.BurnedInAnnotation = "YES"
    ds.DocumentTitle = _lo(title)
    ds.ConceptNameCodeSequence = []
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    references = []
    for source in sources:
        item = Dataset()
        item.ReferencedSOPClassUID = source.SOPClassUID
        item.ReferencedSOPInstanceUID = source.SOPInstanceUID
        references.append(item)
    ds.SourceInstanceSequence = references
    ds.EncapsulatedDocument = pdf + (b"\x00" if len(pdf) % 2 else b"")  # OB values have an even length
    ds.EncapsulatedDocumentLength = len(pdf)
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds


@dataclass(frozen=True)
class StudyResults:
    """The three result objects of a reviewed study; ``pdf`` is ``None`` when no report was asked for."""

    structured_report: Dataset
    overlay: Dataset
    pdf: Dataset | None


def study_results(
    radiograph: Radiograph,
    findings: Findings,
    reviewer: Reviewer,
    patient: PatientIdentity,
    study: StudyContext,
    report_pdf: bytes | None = None,
    report_language: str = "en",
    report_title: str = "Oral health report",
) -> StudyResults:
    """Every result object of a reviewed study: the overlay capture, the SR (its regions on the scan's DICOM
    image, or on the overlay for an upload) and, with ``report_pdf`` (in ``report_language``), the report."""
    overlay = overlay_capture(radiograph, findings, reviewer, patient, study)
    if study.image is not None:
        region_image = _image_reference(patient, study, study.image)
        region_image.Rows, region_image.Columns = radiograph.height, radiograph.width
    else:
        region_image = overlay
    sr = structured_report(findings, reviewer, patient, study, region_image)
    pdf = None
    if report_pdf is not None:
        sources = [region_image, sr] if study.image is not None else [overlay, sr]
        pdf = encapsulated_pdf(report_pdf, report_title, report_language, reviewer, patient, study, sources)
    return StudyResults(sr, overlay, pdf)


def _set_content_time(ds: Dataset, at: dt.datetime) -> None:
    """Content Date and Time: when the dentist reviewed the findings, in UTC."""
    utc = at.astimezone(dt.UTC)
    ds.ContentDate = utc.strftime("%Y%m%d")
    ds.ContentTime = utc.strftime("%H%M%S")
    ds.TimezoneOffsetFromUTC = "+0000"
