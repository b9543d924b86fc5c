"""Pulling studies from the clinic's DICOMweb server into the workspace (:mod:`xrayreport.dicomnet.pull`): the
workspace's receiver, and the answer of the API and the patients page. Needs the ``[dicom]`` extra."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import HTTPException

from ..dicomnet.dicomweb import DicomWebError
from .reports import clinic_file_of
from .workspace import Workspace

if TYPE_CHECKING:
    from ..dicomnet.pull import PullResult
    from ..dicomnet.receive import Receiver

NO_DICOMWEB = (
    "no DICOMweb server is set up: add a dicomweb: section (url) to the workspace's clinic.yaml and restart the "
    "server; see docs/dicom.md"
)


def workspace_receiver(workspace: Workspace) -> Receiver:
    """A receiver storing into the workspace as its uploads are stored, analysed by its runner."""
    from ..dicomnet.receive import Receiver

    config = workspace.config
    return Receiver(workspace.sessions, workspace.scans, workspace.runner, config.max_upload_bytes, config.clock)


def pull_into(workspace: Workspace, patient_id: str | None, study_uid: str | None) -> PullResult:
    """Pull the studies with ``patient_id`` or ``study_uid`` from the clinic file's DICOMweb server; 503 when none is
    set up or it cannot be searched or read (the detail says what to check, never the Patient ID)."""
    try:
        from ..dicomnet.pull import pull_studies
    except ImportError:
        raise HTTPException(503, "pulling studies needs the [dicom] extra: pip install 'xrayreport[dicom]'") from None
    clinic = clinic_file_of(workspace.config.home)
    if clinic is None or clinic.dicomweb is None:
        raise HTTPException(503, NO_DICOMWEB)
    try:
        return pull_studies(clinic.dicomweb, workspace_receiver(workspace), patient_id, study_uid)
    except DicomWebError as exc:
        raise HTTPException(503, str(exc)) from None
