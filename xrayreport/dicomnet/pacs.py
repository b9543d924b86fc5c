"""Sending results to the clinic's PACS with C-STORE (pynetdicom as the storage SCU).

The PACS is the clinic file's ``pacs:`` section (:func:`pacs_settings_from_dict`)::

    pacs:
      ae_title: ORTHANC          # the PACS's AE title (called AE title)
      host: 192.168.1.20
      port: 4242
      calling_ae_title: XRAYREPORT   # this workspace's AE title as the PACS knows it (default XRAYREPORT)
      timeout_s: 30              # connection, association and each answer, in seconds (default 30)
      move_port: 11112           # where this workspace receives the studies it pulls (C-MOVE) when no DICOM node
                                 # runs in the server (default 11112)

The PACS must know this workspace: its AE title, address and port in the PACS's list of DICOM nodes (Orthanc:
``DicomModalities``). Parsing the section needs no pynetdicom; :func:`send_objects` does.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset

from ..errors import XrayReportError
from .node import DEFAULT_AE_TITLE, DEFAULT_PORT, check_ae_title

log = logging.getLogger(__name__)

_KEYS = ("ae_title", "host", "port", "calling_ae_title", "timeout_s", "move_port")
DEFAULT_TIMEOUT_S = 30.0


class PacsSettingsError(XrayReportError):
    """The clinic file's ``pacs:`` section is malformed; the message names the key."""


class SendError(XrayReportError):
    """Results could not be stored on the PACS; the message says what to check (never patient data)."""


@dataclass(frozen=True)
class PacsSettings:
    """Where results go: the PACS's AE title, host and port, and the AE title this workspace calls from."""

    ae_title: str
    host: str
    port: int
    calling_ae_title: str = DEFAULT_AE_TITLE
    timeout_s: float = DEFAULT_TIMEOUT_S
    """Seconds to wait for the connection, the association and each C-STORE, C-FIND or C-MOVE answer."""
    move_port: int = DEFAULT_PORT
    """The TCP port a pull listens on for the images it asks the PACS to send (C-MOVE to ``calling_ae_title``) when
    no DICOM node runs in the process: the port the PACS lists for this workspace."""

    @property
    def label(self) -> str:
        """How messages name the PACS: ``ORTHANC at 192.168.1.20:4242``."""
        return f"{self.ae_title} at {self.host}:{self.port}"


def pacs_settings_from_dict(data: Any, origin: str) -> PacsSettings:
    """The settings of a parsed ``pacs:`` section; ``origin`` (e.g. "clinic.yaml: pacs") starts every message."""
    if not isinstance(data, dict):
        raise PacsSettingsError(f"{origin}: expected a mapping with 'ae_title', 'host' and 'port'")
    for key in data:
        if key not in _KEYS:
            raise PacsSettingsError(f"{origin}: unknown key {key!r}; valid keys are: {', '.join(_KEYS)}")
    missing = [key for key in ("ae_title", "host", "port") if data.get(key) in (None, "")]
    if missing:
        raise PacsSettingsError(f"{origin}: give {', '.join(missing)} (the PACS's AE title, address and DICOM port)")
    for key in ("port", "move_port"):
        number = data.get(key, DEFAULT_PORT)
        if not isinstance(number, int) or isinstance(number, bool) or not 1 <= number <= 65535:
            raise PacsSettingsError(f"{origin}: {key}: expected a port number from 1 to 65535, got {number!r}")
    timeout = data.get("timeout_s", DEFAULT_TIMEOUT_S)
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not 0 < timeout <= 600:
        raise PacsSettingsError(f"{origin}: timeout_s: expected seconds from 1 to 600, got {timeout!r}")
    try:
        ae_title = check_ae_title(str(data["ae_title"]), f"{origin}: ae_title")
        calling = check_ae_title(str(data.get("calling_ae_title", DEFAULT_AE_TITLE)), f"{origin}: calling_ae_title")
    except XrayReportError as exc:
        raise PacsSettingsError(str(exc)) from None
    return PacsSettings(
        ae_title, str(data["host"]), data["port"], calling, float(timeout), data.get("move_port", DEFAULT_PORT)
    )


@dataclass(frozen=True)
class SentObject:
    """One object stored on the PACS: its SOP class and instance UIDs, and the C-STORE status (0x0000, or a
    warning 0xB000-0xB007 that still stored it)."""

    sop_class_uid: str
    sop_instance_uid: str
    status: int


def send_objects(settings: PacsSettings, datasets: Sequence[Dataset]) -> list[SentObject]:
    """Store ``datasets`` on the PACS in one association, each in its own transfer syntax (file meta); raises
    :class:`SendError` when the PACS cannot be reached, refuses the association or any object (what was stored
    before stays stored: sending again replaces it, the UIDs being the same)."""
    from pynetdicom import AE
    from pynetdicom.sop_class import uid_to_sop_class

    ae = AE(ae_title=settings.calling_ae_title)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = settings.timeout_s
    ae.connection_timeout = settings.timeout_s
    for sop_class, syntax in dict.fromkeys((ds.SOPClassUID, ds.file_meta.TransferSyntaxUID) for ds in datasets):
        ae.add_requested_context(uid_to_sop_class(sop_class), syntax)
    association = ae.associate(settings.host, settings.port, ae_title=settings.ae_title)
    if not association.is_established:
        raise SendError(association_refusal(settings, association))
    sent = []
    try:
        for ds in datasets:
            what = ds.SOPClassUID.name
            try:
                answer = association.send_c_store(ds)
            except ValueError:  # no accepted presentation context for it
                raise SendError(
                    f"the PACS {settings.label} does not accept {what} objects; allow that SOP class (and its "
                    "transfer syntax) in the PACS's settings"
                ) from None
            status = int(answer.get("Status", -1)) if answer else -1
            if status == -1:
                raise SendError(
                    f"the PACS {settings.label} did not answer the C-STORE of a {what} within {settings.timeout_s:g} s "
                    "or ended the association; check the PACS's log"
                )
            if status != 0x0000 and not 0xB000 <= status <= 0xB0FF:
                raise SendError(f"the PACS {settings.label} refused a {what} with status 0x{status:04X}; see its log")
            sent.append(SentObject(ds.SOPClassUID, ds.SOPInstanceUID, status))
            log.info("stored a %s on the PACS %s (status 0x%04X)", what, settings.label, status)
    finally:
        if association.is_established:
            association.release()
    return sent


def association_refusal(settings: PacsSettings, association: Any) -> str:
    """What to check when ``association`` (a pynetdicom association to the PACS) was not established."""
    if association.is_rejected:
        return (
            f"the PACS {settings.label} rejected the association from {settings.calling_ae_title}: add this "
            f"workspace (AE title {settings.calling_ae_title}, this machine's address) to the PACS's DICOM nodes, "
            "and check the PACS's AE title in the clinic file's pacs: section"
        )
    if association.is_aborted and association.acceptor.primitive is not None:  # it answered, then aborted
        return f"the PACS {settings.label} aborted the association; check its log and its AE title"
    return (
        f"cannot reach the PACS {settings.label} within {settings.timeout_s:g} s: check its host and port in the "
        "clinic file's pacs: section, that it runs, and that no firewall is in the way"
    )
