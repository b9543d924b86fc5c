"""Pulling studies from the clinic's PACS into the workspace (:mod:`xrayreport.dicomnet.pull`): the workspace's
receiver, and the pull behind the API and the patient page's button. Needs the ``[dicom]`` extra."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import HTTPException

from ..dicomnet.command import NO_PULL_SOURCE
from ..dicomnet.dicomweb import DicomWebError
from .reports import clinic_file_of
from .workspace import Workspace

if TYPE_CHECKING:
    from ..dicomnet.dicomweb import DicomWebSettings
    from ..dicomnet.pacs import PacsSettings
    from ..dicomnet.pull import PullResult
    from ..dicomnet.receive import Receiver


def workspace_receiver(workspace: Workspace) -> Receiver:
    """A receiver storing into the workspace as its uploads are stored, analysed by its runner."""
    from ..dicomnet.receive import Receiver

    config = workspace.config
    return Receiver(workspace.sessions, workspace.scans, workspace.runner, config.max_upload_bytes, config.clock)


def pull_source(workspace: Workspace) -> DicomWebSettings | PacsSettings | None:
    """Where the clinic file's studies are pulled from: its ``dicomweb:`` server when it has one, else its ``pacs:``
    (C-FIND, C-MOVE), else ``None``; a clinic file in error raises its :class:`~xrayreport.errors.XrayReportError`."""
    clinic = clinic_file_of(workspace.config.home)
    return None if clinic is None else clinic.dicomweb or clinic.pacs


def pull_into(workspace: Workspace, patient_id: str | None, study_uid: str | None) -> PullResult:
    """Pull the studies with ``patient_id`` or ``study_uid`` from the clinic file's PACS (:func:`pull_source`), moved
    with C-MOVE to the DICOM node running in the server when there is one; 503 when none is set up or it cannot be
    searched or read (the detail says what to check, never the Patient ID)."""
    try:
        from ..dicomnet.move import PullError
        from ..dicomnet.pull import pull_studies
    except ImportError:
        raise HTTPException(503, "pulling studies needs the [dicom] extra: pip install 'xrayreport[dicom]'") from None
    source = pull_source(workspace)
    if source is None:
        raise HTTPException(503, f"{NO_PULL_SOURCE} (then restart the server)")
    try:
        return pull_studies(source, workspace_receiver(workspace), patient_id, study_uid, workspace.dicom_node)
    except (DicomWebError, PullError) as exc:
        raise HTTPException(503, str(exc)) from None
