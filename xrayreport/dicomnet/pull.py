"""Pulling studies from the clinic's DICOMweb server into the workspace: the studies of a Patient ID, or one study by
its Study Instance UID, found with QIDO-RS; each dental radiograph in them fetched with WADO-RS and stored as a
received object is (:class:`~.receive.Receiver`: the same checks and limits, a study of the patient with its Patient
ID, queued for analysis).

Only the image classes the DICOM node accepts are fetched, and never xrayreport's own results (its overlay series):
a study the workspace has sent its results to can be pulled again without its overlay becoming a scan. An image
pulled before is found by its content and not stored twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from .context import StudyContext, series_uid
from .dicomweb import DicomWebSettings, fetch_instance, find_instances
from .receive import Receiver, StoreStatus
from .scp import STORAGE_SOP_CLASSES

log = logging.getLogger(__name__)

PULL_SOURCE = "DICOMweb"
"""What a pulled study's ``created_by`` names after ``dicom:`` (a received one names the sender's AE title)."""


@dataclass(frozen=True)
class PullResult:
    """What one pull did: the workspace's studies of the images stored (or found stored before), the images refused
    with their reason, and how many instances were not images to analyse (reports, PDFs, xrayreport's results)."""

    studies: tuple[str, ...]
    refused: tuple[str, ...]
    skipped: int


def pull_studies(
    settings: DicomWebSettings, receiver: Receiver, patient_id: str | None = None, study_uid: str | None = None
) -> PullResult:
    """Fetch the dental radiographs of the studies with ``patient_id`` or ``study_uid`` (one of them) into the
    workspace through ``receiver``; :class:`~.dicomweb.DicomWebError` when the server cannot be searched or read
    (what was stored before that stays stored: pulling again finds it)."""
    found = find_instances(settings, patient_id=patient_id, study_uid=study_uid)
    own = {str(series_uid(StudyContext(uid), "overlay")) for uid in {i.study_uid for i in found}}
    images = [i for i in found if i.sop_class_uid in STORAGE_SOP_CLASSES and i.series_uid not in own]
    studies: list[str] = []
    refused: list[str] = []
    for instance in images:
        result = receiver.store(fetch_instance(settings, instance), PULL_SOURCE)
        if result.status == StoreStatus.SUCCESS and result.study_id is not None:
            studies.append(result.study_id)
        else:
            refused.append(f"status 0x{result.status:04X}: {result.comment}")
    log.info(
        "pulled %d image(s) from the %s (%d refused, %d other instances left)",
        len(studies),
        settings.label,
        len(refused),
        len(found) - len(images),
    )
    return PullResult(tuple(dict.fromkeys(studies)), tuple(refused), len(found) - len(images))
