"""Pulling studies from the clinic's PACS over DIMSE (pynetdicom): C-FIND in the Study Root model finds the studies
of a Patient ID (or one study by its Study Instance UID), their series and each series' images; C-MOVE asks the PACS
to send each dental radiograph to xrayreport's own Storage SCP, which stores it as any received object
(:class:`~.receive.Receiver`: the same checks and limits, a study of the patient with its Patient ID, analysed).

The move destination is the AE title of the DICOM node running in the process (``serve --dicom-port``), or, when
none runs, of a Storage SCP started for the pull's duration: AE title ``calling_ae_title`` on the ``pacs:`` section's
``move_port``, at this machine's address towards the PACS, accepting the PACS's AE title only. Either way the PACS
must list that AE title with this machine's address and port among its DICOM nodes (Orthanc: ``DicomModalities``).

Series whose Modality is not one a radiograph is read as (CT, SR, DOC, ...) and xrayreport's own overlay series are
left where they are, as are images of other SOP classes than the node accepts.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.uid import UID
from pynetdicom import AE
from pynetdicom.association import Association

from ..errors import XrayReportError
from ..ingestion.radiograph import ACCEPTED_MODALITIES
from .context import StudyContext, series_uid
from .node import NodeConfig
from .pacs import PacsSettings, association_refusal
from .pull import PullResult
from .receive import Receiver
from .scp import STORAGE_SOP_CLASSES, StorageSCP

STUDY_ROOT_FIND = UID("1.2.840.10008.5.1.4.1.2.2.1")
"""Study Root Query/Retrieve Information Model - FIND (PS3.4 C.6.2)."""
STUDY_ROOT_MOVE = UID("1.2.840.10008.5.1.4.1.2.2.2")
"""Study Root Query/Retrieve Information Model - MOVE."""
_PENDING = (0xFF00, 0xFF01)
_SUCCESS = 0x0000
_SUB_OPERATIONS_FAILED = 0xB000
"""C-MOVE warning: done, but one or more images were not stored (PS3.4 C.4.2.1.5): those the node refused."""
_DESTINATION_UNKNOWN = 0xA801
_TEMPORARY_NODE = threading.Lock()
"""One temporary Storage SCP at a time: they all listen on the ``pacs:`` section's ``move_port``."""


class PullError(XrayReportError):
    """The PACS could not be searched or did not send the images; the message says what to check (no patient
    data)."""


@dataclass(frozen=True)
class RemoteImage:
    """One image a C-FIND found, with the UIDs that move it."""

    study_uid: str
    series_uid: str
    sop_instance_uid: str


def pull_with_move(
    settings: PacsSettings,
    receiver: Receiver,
    node: StorageSCP | None,
    patient_id: str | None = None,
    study_uid: str | None = None,
) -> PullResult:
    """Move the dental radiographs of the studies with ``patient_id`` or ``study_uid`` (one of them) from the PACS
    into the workspace: to ``node`` (the DICOM node running in this process, which must accept the PACS's AE title),
    or when ``None`` to a Storage SCP around ``receiver`` for the pull's duration. :class:`PullError` when the PACS
    cannot be reached, rejects the association, refuses a search or a move; what was stored before that stays stored
    (pulling again finds it)."""
    if (patient_id is None) == (study_uid is None):
        raise XrayReportError("name the studies to pull by a Patient ID or by a Study Instance UID (one of them)")
    with _association(settings) as association:
        images, skipped = _find_images(association, settings, patient_id, study_uid)
        if not images:
            return PullResult((), (), skipped)
        with (
            _receiving_node(settings, receiver, node, association) as scp,
            scp.awaiting([image.sop_instance_uid for image in images]) as received,
        ):
            for image in images:
                _move(association, settings, image, scp)
    arrived = [received[i.sop_instance_uid] for i in images if i.sop_instance_uid in received]
    lost = f"the PACS {settings.label} reported it moved but it did not arrive; see the PACS's log"
    return PullResult.of(arrived, [lost] * (len(images) - len(arrived)), skipped, f"PACS {settings.label} (C-MOVE)")


@contextmanager
def _association(settings: PacsSettings) -> Iterator[Association]:
    """An association with the PACS for Study Root C-FIND and C-MOVE, released on leaving."""
    ae = AE(ae_title=settings.calling_ae_title)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = settings.timeout_s
    ae.connection_timeout = settings.timeout_s
    ae.add_requested_context(STUDY_ROOT_FIND)
    ae.add_requested_context(STUDY_ROOT_MOVE)
    association = ae.associate(settings.host, settings.port, ae_title=settings.ae_title)
    if not association.is_established:
        raise PullError(association_refusal(settings, association))
    try:
        yield association
    finally:
        if association.is_established:
            association.release()


def _find_images(
    association: Association, settings: PacsSettings, patient_id: str | None, study_uid: str | None
) -> tuple[list[RemoteImage], int]:
    """The images to move of the studies asked for, and how many other instances they hold."""
    query = _query("STUDY", StudyInstanceUID=study_uid or "")
    if patient_id is not None:
        query.PatientID = patient_id
    images: list[RemoteImage] = []
    skipped = 0
    for study in [str(found.StudyInstanceUID) for found in _find(association, settings, query)]:
        own = str(series_uid(StudyContext(study), "overlay"))
        series_query = _query("SERIES", StudyInstanceUID=study, SeriesInstanceUID="", Modality="")
        for series in list(_find(association, settings, series_query)):
            uid, modality = str(series.SeriesInstanceUID), str(series.get("Modality") or "")
            image_query = _query("IMAGE", StudyInstanceUID=study, SeriesInstanceUID=uid, SOPInstanceUID="")
            image_query.SOPClassUID = ""
            found = list(_find(association, settings, image_query))
            # Filtered on the series' Modality first: a CT or a report is never moved, whatever class it names.
            if uid == own or (modality and modality not in ACCEPTED_MODALITIES):
                skipped += len(found)
                continue
            for image in found:
                if image.get("SOPClassUID") in STORAGE_SOP_CLASSES:
                    images.append(RemoteImage(study, uid, str(image.SOPInstanceUID)))
                else:
                    skipped += 1
    return images, skipped


def _query(level: str, **keys: str) -> Dataset:
    query = Dataset()
    query.QueryRetrieveLevel = level
    for keyword, value in keys.items():
        setattr(query, keyword, value)
    return query


def _find(association: Association, settings: PacsSettings, query: Dataset) -> Iterator[Dataset]:
    """The identifiers the PACS answers ``query`` with."""
    for status, identifier in association.send_c_find(query, STUDY_ROOT_FIND):
        code = int(status.get("Status", -1)) if status else -1
        if code in _PENDING and identifier is not None:
            yield identifier
        elif code == -1:
            raise PullError(
                f"the PACS {settings.label} did not answer a search within {settings.timeout_s:g} s or ended the "
                "association; check its log"
            )
        elif code != _SUCCESS:
            raise PullError(
                f"the PACS {settings.label} refused a search with status 0x{code:04X}: check that it allows C-FIND "
                f"from {settings.calling_ae_title}, and its log"
            )


@contextmanager
def _receiving_node(
    settings: PacsSettings, receiver: Receiver, running: StorageSCP | None, association: Association
) -> Iterator[StorageSCP]:
    """The node the PACS sends to: ``running``, or a Storage SCP on ``move_port`` for as long as the pull lasts."""
    if running is not None:
        if settings.ae_title not in running.node.allowed_callers:
            raise PullError(
                f"the DICOM node {running.node.ae_title} does not accept associations from the PACS's AE title "
                f"{settings.ae_title}, so it cannot receive what the PACS sends: add it (serve --dicom-allow "
                f"{settings.ae_title})"
            )
        yield running
        return
    # The address this machine reaches the PACS from is the one the PACS can reach it on.
    host = str(association.dul.socket.socket.getsockname()[0])  # type: ignore[union-attr]
    node = NodeConfig((settings.ae_title,), settings.calling_ae_title, host, settings.move_port)
    with _TEMPORARY_NODE:
        scp = StorageSCP(node, receiver)
        try:
            scp.start()
        except XrayReportError as exc:
            raise PullError(f"{exc}; the clinic file's pacs: move_port sets the port pulls receive on") from None
        try:
            yield scp
        finally:
            scp.stop()


def _move(association: Association, settings: PacsSettings, image: RemoteImage, scp: StorageSCP) -> None:
    """Ask the PACS to send ``image`` to ``scp``; :class:`PullError` unless the move succeeded (or only failed to
    store images the node refused, which the node has recorded)."""
    query = _query(
        "IMAGE",
        StudyInstanceUID=image.study_uid,
        SeriesInstanceUID=image.series_uid,
        SOPInstanceUID=image.sop_instance_uid,
    )
    destination = scp.node.ae_title
    code = -1
    for status, _identifier in association.send_c_move(query, destination, STUDY_ROOT_MOVE):
        code = int(status.get("Status", -1)) if status else -1
        if code not in _PENDING:
            break
    if code in (_SUCCESS, _SUB_OPERATIONS_FAILED):
        return
    where = f"AE title {destination} with this machine's address and port {scp.port}"
    if code == -1:
        raise PullError(
            f"the PACS {settings.label} did not finish sending an image within {settings.timeout_s:g} s or ended the "
            "association; check its log"
        )
    if code == _DESTINATION_UNKNOWN:
        raise PullError(f"the PACS {settings.label} does not know the move destination: add {where} to its DICOM nodes")
    raise PullError(
        f"the PACS {settings.label} could not send an image here (C-MOVE status 0x{code:04X}): check that its DICOM "
        f"nodes list {where}, that it allows C-MOVE from {settings.calling_ae_title}, and its log"
    )
