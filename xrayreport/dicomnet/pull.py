"""Pulling studies from the clinic's PACS into the workspace: the studies of a Patient ID, or one study by its Study
Instance UID. From a DICOMweb server, found with QIDO-RS and each dental radiograph in them fetched with WADO-RS;
from a DIMSE PACS (the clinic file's ``pacs:``), found with C-FIND and sent here with C-MOVE (:mod:`.move`). Each image
is stored as a received object is (:class:`~.receive.Receiver`: the same checks and limits, a study of the patient
with its Patient ID, queued for analysis).

Only the image classes the DICOM node accepts are fetched, and never xrayreport's own results (its overlay series):
a study the workspace has sent its results to can be pulled again without its overlay becoming a scan. An image
pulled before is found by its content and not stored twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from .context import StudyContext, series_uid
from .dicomweb import DicomWebSettings, fetch_instance, find_instances
from .pacs import PacsSettings
from .receive import Receiver, StoreResult, StoreStatus
from .scp import STORAGE_SOP_CLASSES, StorageSCP

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

    @classmethod
    def of(cls, stored: list[StoreResult], refused: list[str], skipped: int, source: str) -> PullResult:
        """The result of storing each pulled image (``stored``; ``refused``: images that never reached the receiver,
        with their reason), logged in one line without patient data; a study holding several images counts once."""
        studies = [r.study_id for r in stored if r.status == StoreStatus.SUCCESS and r.study_id is not None]
        refused = refused + [
            f"status 0x{r.status:04X}: {r.comment}"
            for r in stored
            if not (r.status == StoreStatus.SUCCESS and r.study_id is not None)
        ]
        log.info(
            "pulled %d image(s) from the %s (%d refused, %d other instances left)",
            len(studies),
            source,
            len(refused),
            skipped,
        )
        return cls(tuple(dict.fromkeys(studies)), tuple(refused), skipped)


def pull_studies(
    source: DicomWebSettings | PacsSettings,
    receiver: Receiver,
    patient_id: str | None = None,
    study_uid: str | None = None,
    node: StorageSCP | None = None,
) -> PullResult:
    """Fetch the dental radiographs of the studies with ``patient_id`` or ``study_uid`` (one of them) from ``source``
    into the workspace through ``receiver``: over DICOMweb, or with C-FIND and C-MOVE to ``node`` (the DICOM node
    running in this process; ``None``: a Storage SCP for the pull's duration). :class:`~.dicomweb.DicomWebError` or
    :class:`~.move.PullError` when the PACS cannot be searched or read (what was stored before that stays stored:
    pulling again finds it)."""
    if isinstance(source, PacsSettings):
        from .move import pull_with_move  # it imports this module's PullResult

        return pull_with_move(source, receiver, node, patient_id, study_uid)
    return _pull_over_dicomweb(source, receiver, patient_id, study_uid)


def _pull_over_dicomweb(
    settings: DicomWebSettings, receiver: Receiver, patient_id: str | None, study_uid: str | None
) -> PullResult:
    found = find_instances(settings, patient_id=patient_id, study_uid=study_uid)
    own = {str(series_uid(StudyContext(uid), "overlay")) for uid in {i.study_uid for i in found}}
    images = [i for i in found if i.sop_class_uid in STORAGE_SOP_CLASSES and i.series_uid not in own]
    stored = [receiver.store(fetch_instance(settings, i, receiver.max_bytes), PULL_SOURCE) for i in images]
    return PullResult.of(stored, [], len(found) - len(images), settings.label)
