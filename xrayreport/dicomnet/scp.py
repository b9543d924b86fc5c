"""The Storage SCP: a pynetdicom application entity that answers C-ECHO and stores the radiographs devices send.

Associations are accepted only when they call this node's AE title from an allowed calling AE title (else
A-ASSOCIATE-RJ, rejected-permanent by the service user, "calling AE title not recognised" or "called AE title
not recognised"). Presentation contexts are accepted for Verification and the image storage SOP classes a
panoramic comes as, in every transfer syntax the ingestion can decode; any other SOP class is refused
("abstract syntax not supported"), and a C-STORE naming one anyway gets 0x0122. Every object goes through
:class:`~xrayreport.dicomnet.receive.Receiver`; one whose bytes pass the upload limit while it arrives ends its
association with an A-ABORT before it fills memory.

pynetdicom's own event logging describes every association and message: SOP instance UIDs, and the query
identifiers of C-FIND with patients' names, IDs and birth dates. It is switched off, and its logger kept at
WARNING, whose lines say what failed without the data.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import cast

import pydicom.uid
from pydicom.dataset import Dataset
from pynetdicom import AE, _config, evt
from pynetdicom.association import Association
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.events import Event, EventHandlerType
from pynetdicom.transport import ThreadedAssociationServer

from ..errors import XrayReportError
from ..ingestion import can_decode
from .node import NodeConfig
from .receive import Receiver, StoreResult, StoreStatus, refusal, size_text

log = logging.getLogger(__name__)

_config.LOG_HANDLER_LEVEL = "none"  # no standard event logging: it describes every association and message
logging.getLogger("pynetdicom").setLevel(logging.WARNING)

STORAGE_SOP_CLASSES = (
    pydicom.uid.DigitalXRayImageStorageForPresentation,  # DX, and PX: a panoramic is a DX image with Modality PX
    pydicom.uid.DigitalXRayImageStorageForProcessing,
    pydicom.uid.DigitalIntraOralXRayImageStorageForPresentation,
    pydicom.uid.DigitalIntraOralXRayImageStorageForProcessing,
    pydicom.uid.ComputedRadiographyImageStorage,
    pydicom.uid.SecondaryCaptureImageStorage,
)
"""The image storage SOP classes this node accepts."""
VERIFICATION = pydicom.uid.UID("1.2.840.10008.1.1")
"""The Verification SOP class (C-ECHO)."""
TRANSFER_SYNTAXES = tuple(ts for ts in pydicom.uid.AllTransferSyntaxes if can_decode(ts))
"""Uncompressed, deflated, RLE, JPEG, JPEG-LS, JPEG 2000 and HTJ2K: each one the ingestion has a decoder for."""
MAX_ASSOCIATIONS = 10
"""Associations open at once; one more is rejected (transient, "local limit exceeded") until one ends."""
STOP_WAIT_S = 30.0
"""How long :meth:`StorageSCP.stop` waits for an object being stored to be committed."""
_P_DATA_TF = 0x04  # the PDU type that carries DIMSE messages (PS3.8 9.3.1)


class StorageSCP:
    """The DICOM node: :meth:`start` listens in background threads, :meth:`stop` ends it.

    ``receiver.max_bytes`` also caps what one C-STORE may send (its command and data set, counted as the PDUs
    arrive), so an object over the upload limit never sits whole in memory.
    """

    def __init__(self, node: NodeConfig, receiver: Receiver) -> None:
        self.node = node
        self.receiver = receiver
        self._server: ThreadedAssociationServer | None = None
        self._received: weakref.WeakKeyDictionary[Association, int] = weakref.WeakKeyDictionary()
        self._awaited: dict[str, dict[str, StoreResult]] = {}
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        """The TCP port it listens on (the one the system chose when the node's port is 0)."""
        if self._server is None:
            raise RuntimeError("the DICOM node is not started")
        port: int = self._server.server_address[1]
        return port

    def start(self) -> None:
        """Listen on the node's host and port; an :class:`XrayReportError` says why when it cannot."""
        ae = AE(ae_title=self.node.ae_title)
        ae.require_called_aet = True
        ae.require_calling_aet = list(self.node.allowed_callers)
        ae.maximum_associations = MAX_ASSOCIATIONS
        ae.add_supported_context(VERIFICATION)
        for sop_class in STORAGE_SOP_CLASSES:
            ae.add_supported_context(sop_class, list(TRANSFER_SYNTAXES))
        handlers: list[EventHandlerType] = [
            (evt.EVT_ACCEPTED, self._on_accepted),
            (evt.EVT_REJECTED, self._on_rejected),
            (evt.EVT_DATA_RECV, self._on_data),
            (evt.EVT_DIMSE_RECV, self._on_message),
            (evt.EVT_C_STORE, self._on_store),
        ]
        try:
            self._server = ae.start_server((self.node.host, self.node.port), block=False, evt_handlers=handlers)
        except OSError as exc:
            raise XrayReportError(
                f"cannot listen for DICOM on {self.node.host}:{self.node.port} ({exc.strerror or exc}): another "
                "program may use that port (pick another), the address may not be this machine's, and ports "
                "below 1024 need root"
            ) from None
        log.info(
            "DICOM node %s listening on %s:%d, accepting associations from %s",
            self.node.ae_title,
            self.node.host,
            self.port,
            ", ".join(self.node.allowed_callers),
        )

    def stop(self) -> None:
        """Stop listening, abort open associations and wait (up to :data:`STOP_WAIT_S`) for an object being
        stored: it is committed, and its sender, who got no answer, sends it again to the next run."""
        if self._server is None:
            return
        server, self._server = self._server, None
        server.shutdown()
        associations = server.active_associations
        for association in associations:
            association.abort()
        for association in associations:
            association.join(STOP_WAIT_S)
        log.info("DICOM node %s stopped", self.node.ae_title)

    @contextmanager
    def awaiting(self, sop_instance_uids: Collection[str]) -> Iterator[dict[str, StoreResult]]:
        """While inside, what storing each object with one of ``sop_instance_uids`` (its C-STORE's Affected SOP
        Instance UID) answered goes into the dictionary yielded, by that UID: a pull hears what became of the images
        it asked the PACS to send here, while devices go on sending as usual."""
        results: dict[str, StoreResult] = {}
        with self._lock:
            self._awaited.update(dict.fromkeys(sop_instance_uids, results))
        try:
            yield results
        finally:
            with self._lock:
                for uid in sop_instance_uids:
                    if self._awaited.get(uid) is results:
                        del self._awaited[uid]

    def _on_accepted(self, event: Event) -> None:
        requestor = event.assoc.requestor
        log.info("association from %r at %s accepted", requestor.ae_title, requestor.address)

    def _on_rejected(self, event: Event) -> None:
        requestor = event.assoc.requestor
        called = requestor.primitive.called_ae_title if requestor.primitive else ""
        if requestor.ae_title not in self.node.allowed_callers:
            reason = "its calling AE title is not allowed (add it with --allow / --dicom-allow if it should send)"
        elif called != self.node.ae_title:
            reason = f"it called AE title {called!r}, not this node's {self.node.ae_title!r}"
        else:
            reason = f"{MAX_ASSOCIATIONS} associations are open already, the most it serves at once"
        log.warning("association from %r at %s rejected: %s", requestor.ae_title, requestor.address, reason)

    def _on_data(self, event: Event) -> None:
        """Count the bytes of the message arriving; abort the association once they pass the upload limit."""
        data: bytes = event.data
        if data[0] != _P_DATA_TF:
            return
        with self._lock:
            received = self._received.get(event.assoc, 0) + len(data)
            self._received[event.assoc] = received
        if received > self.receiver.max_bytes >= received - len(data):  # log and abort once
            log.warning(
                "aborted the association from %r: an object over the %s upload limit (--max-upload-mib)",
                event.assoc.requestor.ae_title,
                size_text(self.receiver.max_bytes),
            )
            event.assoc.abort()

    def _on_message(self, event: Event) -> None:
        with self._lock:
            self._received[event.assoc] = 0

    def _on_store(self, event: Event) -> Dataset:
        request_class = event.request.AffectedSOPClassUID
        if request_class != event.context.abstract_syntax:  # contexts are only accepted for the storage classes
            log.warning(
                "refused a C-STORE from %r: it sends %s on the context accepted for %s",
                event.assoc.requestor.ae_title,
                pydicom.uid.UID(request_class or "").name,
                pydicom.uid.UID(event.context.abstract_syntax).name,
            )
            result = refusal(StoreStatus.SOP_CLASS_NOT_SUPPORTED)
        else:
            result = self.receiver.store(event.encoded_dataset(), event.assoc.requestor.ae_title)
        uid = str(cast(C_STORE, event.request).AffectedSOPInstanceUID or "")
        with self._lock:
            awaited = self._awaited.get(uid)
            if awaited is not None:
                awaited[uid] = result
        return _status(result)


def _status(result: StoreResult) -> Dataset:
    """The C-STORE response's status elements: Status, and Error Comment on a failure."""
    status = Dataset()
    status.Status = int(result.status)
    if result.comment:
        status.ErrorComment = result.comment
    return status
