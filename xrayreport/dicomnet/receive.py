"""What becomes of a DICOM object a device sends: the checks and limits of an upload, then a study of the
patient with the header's Patient ID, queued for analysis like an upload.

:meth:`Receiver.store` answers with the C-STORE status to send back (PS3.4 B.2.3); it answers success only
once the file and its study are on disk and committed, so a crash after the answer loses nothing.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from ..errors import ImageTooLargeError, NotAPanoramicError, ScanError
from ..ingestion import load_scan
from ..web.analysis import AnalysisRunner
from ..web.models import Study
from ..web.scans import ScanStore
from ..web.studies import PatientFieldsError, create_study

log = logging.getLogger(__name__)

CREATED_BY_PREFIX = "dicom:"
"""A received study's ``created_by`` is this and the sender's calling AE title, e.g. ``dicom:PANO1``."""
ERROR_COMMENT_LENGTH = 64
"""The most characters of a status's Error Comment (0000,0902), value representation LO."""


class StoreStatus(IntEnum):
    """The C-STORE statuses this node answers (PS3.4 table B.2-1, PS3.7 annex C)."""

    SUCCESS = 0x0000
    SOP_CLASS_NOT_SUPPORTED = 0x0122
    """Refused: the request names a SOP class this node does not store (PS3.7 C.5.2)."""
    OUT_OF_RESOURCES = 0xA700
    """Refused: storing it would take more than this node allows (the upload limits) or has (disk, database)."""
    DATA_SET_DOES_NOT_MATCH_SOP_CLASS = 0xA900
    """Error: a readable data set that is not a single 2D radiograph of its SOP class (no pixels, several
    frames, another modality, too small, patient fields beyond their value representation)."""
    CANNOT_UNDERSTAND = 0xC000
    """Error: the data set cannot be parsed or its pixels decoded (damaged, truncated, hostile)."""


@dataclass(frozen=True)
class StoreResult:
    """The answer to one C-STORE: ``comment`` goes into the Error Comment of a failure (never patient data,
    at most :data:`ERROR_COMMENT_LENGTH` characters); ``study_id`` is the study that holds the object."""

    status: StoreStatus
    comment: str | None = None
    study_id: str | None = None


_COMMENTS = {
    StoreStatus.SOP_CLASS_NOT_SUPPORTED: "only CR, DX, IO and secondary capture images",
    StoreStatus.OUT_OF_RESOURCES: "over this node's size limits, or its storage failed",
    StoreStatus.DATA_SET_DOES_NOT_MATCH_SOP_CLASS: "not a single-frame 2D dental radiograph",
    StoreStatus.CANNOT_UNDERSTAND: "the data set cannot be read: damaged or truncated",
}


def refusal(status: StoreStatus) -> StoreResult:
    """A failure ``status`` with its Error Comment."""
    return StoreResult(status, _COMMENTS[status])


class Receiver:
    """Stores received objects into the workspace (database, scan store) and queues their analysis.

    ``max_bytes`` is the workspace's upload limit in bytes (the encoded object with its file meta); ``clock``
    says what time a study is created at.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        scans: ScanStore,
        runner: AnalysisRunner,
        max_bytes: int,
        clock: Callable[[], datetime],
    ) -> None:
        self.sessions = sessions
        self.scans = scans
        self.runner = runner
        self.max_bytes = max_bytes
        self.clock = clock

    def store(self, data: bytes, calling_ae: str) -> StoreResult:
        """Check ``data`` (a DICOM file: preamble, file meta, data set) as an upload is checked and store it as a
        new study of the patient with its Patient ID (created when new, from the header), created by
        ``dicom:<calling_ae>``; the success status comes back only after the file and the study are committed.

        An object sent again byte for byte (a device that never got the answer) is success without a second
        study. Nothing is stored on failure, and the reason is logged without patient data.
        """
        try:
            return self._store(data, calling_ae)
        except Exception as exc:  # a bug must not take the listener down nor leak values into the log
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            log.error(
                "storing an object from %r crashed: %s at %s:%s in %s() (a bug; the sender got status 0x%04X)",
                calling_ae,
                type(exc).__name__,
                Path(frame.filename).name,
                frame.lineno,
                frame.name,
                StoreStatus.CANNOT_UNDERSTAND,
            )
            return refusal(StoreStatus.CANNOT_UNDERSTAND)

    def _store(self, data: bytes, calling_ae: str) -> StoreResult:
        if len(data) > self.max_bytes:
            log.warning(
                "refused an object from %r: %s is over the %s upload limit (--max-upload-mib)",
                calling_ae,
                size_text(len(data)),
                size_text(self.max_bytes),
            )
            return refusal(StoreStatus.OUT_OF_RESOURCES)
        try:
            radiograph = load_scan(data, name=f"{calling_ae.replace('/', '_')}.dcm")
        except ScanError as exc:  # its message names elements, never their values
            status = _status_for(exc)
            log.warning("refused an object from %r with status 0x%04X: %s", calling_ae, status, exc)
            return refusal(status)
        installed = self.runner.analyser is not None
        try:
            with self.sessions.begin() as db:
                known = db.scalar(select(Study.id).where(Study.sha256 == radiograph.sha256))
                if known is not None:
                    log.info("an object from %r sent again: already stored as study %s", calling_ae, known)
                    return StoreResult(StoreStatus.SUCCESS, study_id=known)
                study = create_study(
                    db,
                    self.scans,
                    data,
                    radiograph,
                    f"{CREATED_BY_PREFIX}{calling_ae}",
                    analysis_installed=installed,
                    now=self.clock(),
                )
                study_id, state = study.id, study.status
        except PatientFieldsError as exc:  # a Patient ID or name longer than its value representation allows
            log.warning("refused an object from %r: its patient fields cannot be stored (%s)", calling_ae, exc)
            return refusal(StoreStatus.DATA_SET_DOES_NOT_MATCH_SOP_CLASS)
        except (OSError, SQLAlchemyError) as exc:  # the type only: a database error quotes the row's values
            log.error("could not store an object from %r: %s (disk or database)", calling_ae, type(exc).__name__)
            return refusal(StoreStatus.OUT_OF_RESOURCES)
        if installed:
            self.runner.submit(study_id)
        log.info(
            "stored a %s image from %r as study %s (analysis %s)",
            radiograph.metadata.modality or "DICOM",
            calling_ae,
            study_id,
            state,
        )
        return StoreResult(StoreStatus.SUCCESS, study_id=study_id)


def size_text(size: int) -> str:
    """A size in bytes for a log line: in MiB from 1 MiB up, else in bytes."""
    return f"{size / 2**20:.3g} MiB" if size >= 2**20 else f"{size:,} bytes"


def _status_for(exc: ScanError) -> StoreStatus:
    if isinstance(exc, ImageTooLargeError):
        return StoreStatus.OUT_OF_RESOURCES
    if isinstance(exc, NotAPanoramicError):
        return StoreStatus.DATA_SET_DOES_NOT_MATCH_SOP_CLASS
    return StoreStatus.CANNOT_UNDERSTAND
