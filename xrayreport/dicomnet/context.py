"""Who and which study a reviewed study's results are about: the contract between the workspace and the exports
(DICOM :mod:`.results`, FHIR :mod:`xrayreport.fhir`). Needs pydicom only."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.uid import UID

_UID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:xrayreport:dicom")


@dataclass(frozen=True)
class PatientIdentity:
    """Who the objects are about: exactly what they carry in the Patient module (``None``: left empty)."""

    name: str | None = None
    """A DICOM person name (``Family^Given^Middle``), or words kept as one component."""
    patient_id: str | None = None
    birth_date: str | None = None
    """ISO 8601, YYYY-MM-DD."""
    sex: str | None = None
    """``F``, ``M`` or ``O``."""


@dataclass(frozen=True)
class SourceImage:
    """The scan as a DICOM instance: what a reference to it names."""

    sop_class_uid: str
    sop_instance_uid: str
    series_uid: str


@dataclass(frozen=True)
class StudyContext:
    """The study the results join, and the scan's image in it when the scan came as DICOM."""

    study_uid: str
    study_date: str | None = None
    """ISO 8601, YYYY-MM-DD."""
    study_time: str | None = None
    """DICOM TM, HHMMSS."""
    accession_number: str | None = None
    study_id: str | None = None
    image: SourceImage | None = None
    """``None`` for an image upload: there is no DICOM image to reference."""
    burned_in_annotation: str | None = None
    """The scan's Burned In Annotation (0028,0301): ``YES``, ``NO``, or ``None`` when it does not say."""

    @classmethod
    def from_dicom(cls, header: Dataset) -> StudyContext:
        """The context of a scan stored as DICOM, from its header (pixels not needed)."""
        date = str(header.get("StudyDate") or "")
        burned = str(header.get("BurnedInAnnotation") or "").upper()
        return cls(
            study_uid=str(header.StudyInstanceUID),
            study_date=f"{date[:4]}-{date[4:6]}-{date[6:8]}" if len(date) == 8 and date.isdigit() else None,
            study_time=str(header.get("StudyTime") or "") or None,
            accession_number=str(header.get("AccessionNumber") or "") or None,
            study_id=str(header.get("StudyID") or "") or None,
            image=SourceImage(str(header.SOPClassUID), str(header.SOPInstanceUID), str(header.SeriesInstanceUID)),
            burned_in_annotation=burned if burned in ("YES", "NO") else None,
        )

    def deidentified(self, uid: Callable[[str], str]) -> StudyContext:
        """This study with every UID replaced by ``uid`` (e.g. :meth:`~.deidentify.Deidentifier.uid`) and without its
        date, time, accession number and study ID (PS3.15 basic profile: dates, times and those IDs are removed)."""
        image = self.image
        if image is not None:
            image = SourceImage(uid(image.sop_class_uid), uid(image.sop_instance_uid), uid(image.series_uid))
        return StudyContext(uid(self.study_uid), image=image, burned_in_annotation=self.burned_in_annotation)

    @classmethod
    def for_upload(cls, study_key: str, study_date: str | None) -> StudyContext:
        """The context of an image upload: a Study Instance UID made from ``study_key`` (the workspace's study id),
        the same every time."""
        return cls(study_uid=derived_uid("study", study_key), study_date=study_date)


@dataclass(frozen=True)
class Reviewer:
    """Who reviewed the findings, when, and which of the model's findings they confirmed (by id)."""

    username: str
    reviewed_at: dt.datetime
    """Timezone-aware."""
    confirmed: frozenset[str]
    organization: str
    """The verifying organization of the SR: the clinic's name, else the scan's institution."""

    @property
    def revision(self) -> str:
        """What tells this review from a later one: who reviewed, when."""
        return f"{self.username}@{self.reviewed_at.isoformat()}"


def derived_uid(*parts: str) -> UID:
    """A UID that is a function of ``parts``: ``2.25.`` and the decimal of a name-based UUID (version 5, PS3.5
    B.2), so the same parts give the same UID and different parts, in practice, different ones."""
    return UID(f"2.25.{uuid.uuid5(_UID_NAMESPACE, chr(0).join(parts)).int}")


def series_uid(study: StudyContext, kind: str) -> UID:
    """The UID of the result series of ``kind`` (``sr``, ``overlay``, ``pdf``) in ``study``."""
    return derived_uid("series", study.study_uid, kind)
