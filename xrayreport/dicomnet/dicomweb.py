"""The clinic's DICOMweb server (dicomweb-client): results stored with STOW-RS, studies found with QIDO-RS and
fetched with WADO-RS.

The server is the clinic file's ``dicomweb:`` section (:func:`dicomweb_settings_from_dict`)::

    dicomweb:
      url: https://pacs.clinic.example/dicom-web   # the service's base URL (Orthanc: http://HOST:8042/dicom-web)
      username: xrayreport       # optional: HTTP basic authentication as this user ...
      password_env: XRAYREPORT_DICOMWEB_PASSWORD   # ... with the password in this environment variable
      timeout_s: 30              # each HTTP request, in seconds (default 30)

The password is never in the file, and is only sent over HTTPS (or to this machine). Parsing the section needs no
dicomweb-client; talking to the server does (the ``[dicom]`` extra).
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pydicom.dataset import Dataset

from ..errors import XrayReportError
from .pacs import DEFAULT_TIMEOUT_S, SendError, SentObject

if TYPE_CHECKING:
    from dicomweb_client import DICOMwebClient

log = logging.getLogger(__name__)

_KEYS = ("url", "username", "password_env", "timeout_s")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
# dicomweb-client logs study and instance UIDs at INFO and whole query URLs (Patient IDs) at DEBUG: never let them
# reach the server log, as pynetdicom's event logging is kept out (docs/dicom.md, "Logs").
logging.getLogger("dicomweb_client").setLevel(logging.WARNING)


class DicomWebSettingsError(XrayReportError):
    """The clinic file's ``dicomweb:`` section is malformed; the message names the key."""


class DicomWebError(XrayReportError):
    """The DICOMweb server could not be searched or read; the message says what to check (never patient data)."""


@dataclass(frozen=True)
class DicomWebSettings:
    """The DICOMweb service's base URL and, when it asks for them, the user and the variable holding the password."""

    url: str
    username: str | None = None
    password_env: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    """Seconds to wait for each HTTP request (connecting, and each answer)."""

    @property
    def label(self) -> str:
        """How messages name the server: its URL."""
        return f"DICOMweb {self.url}"


def dicomweb_settings_from_dict(data: Any, origin: str) -> DicomWebSettings:
    """The settings of a parsed ``dicomweb:`` section; ``origin`` (e.g. "clinic.yaml: dicomweb") starts every
    message."""
    if not isinstance(data, dict):
        raise DicomWebSettingsError(f"{origin}: expected a mapping with 'url', e.g. url: http://pacs:8042/dicom-web")
    if "password" in data:
        raise DicomWebSettingsError(
            f"{origin}: password: never put the password in this file; set it in an environment variable of the "
            "server and name that variable in password_env"
        )
    for key in data:
        if key not in _KEYS:
            raise DicomWebSettingsError(f"{origin}: unknown key {key!r}; valid keys are: {', '.join(_KEYS)}")
    url = str(data.get("url") or "").rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.query:
        raise DicomWebSettingsError(
            f"{origin}: url: expected the service's http:// or https:// address without a user or a query, e.g. "
            "https://pacs.clinic.example/dicom-web"
        )
    username, password_env = data.get("username"), data.get("password_env")
    if (username is None) != (password_env is None):
        raise DicomWebSettingsError(f"{origin}: give both 'username' and 'password_env' to log in, or neither")
    if username is not None and parts.scheme == "http" and parts.hostname not in _LOOPBACK:
        raise DicomWebSettingsError(
            f"{origin}: username: logging in needs an https:// url; over http the password would cross the network "
            "unencrypted"
        )
    timeout = data.get("timeout_s", DEFAULT_TIMEOUT_S)
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not 0 < timeout <= 600:
        raise DicomWebSettingsError(f"{origin}: timeout_s: expected seconds from 1 to 600, got {timeout!r}")
    return DicomWebSettings(
        url,
        None if username is None else str(username),
        None if password_env is None else str(password_env),
        float(timeout),
    )


def _client(settings: DicomWebSettings, max_bytes: int | None = None) -> DICOMwebClient:
    """A client of the server; with ``max_bytes``, every answer's body is cut off past that many bytes
    (:class:`_LimitedBody`)."""
    import requests
    from dicomweb_client import DICOMwebClient

    session = requests.Session()
    if max_bytes is not None:
        session.hooks["response"].append(_body_limit(settings, max_bytes))
    if settings.username is not None and settings.password_env is not None:
        password = os.environ.get(settings.password_env)
        if password is None:
            raise DicomWebError(
                f"the {settings.label} needs a password: set the environment variable {settings.password_env} for "
                "the server (the clinic file's dicomweb: password_env)"
            )
        session.auth = (settings.username, password)
    client = DICOMwebClient(settings.url, session=session, timeout=settings.timeout_s)
    client.set_http_retry_params(retry=False)  # one try, so that a failure answers within timeout_s
    return client


def _failure(settings: DicomWebSettings, exc: Exception, doing: str) -> str:
    """What to check after ``exc`` while ``doing`` (e.g. "store results"), without the URL's query (Patient IDs)."""
    import requests

    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        status = exc.response.status_code
        if status in (401, 403):
            return (
                f"the {settings.label} refused to {doing} (HTTP {status}): check the user and password of the clinic "
                "file's dicomweb: section, and that this user may do it"
            )
        return f"the {settings.label} could not {doing} (HTTP {status}); see its log"
    if isinstance(exc, requests.RequestException):
        return (
            f"cannot reach the {settings.label} within {settings.timeout_s:g} s ({type(exc).__name__}): check the "
            "clinic file's dicomweb: url, that the server runs, and that no firewall is in the way"
        )
    return f"the {settings.label} answered what is not DICOMweb when asked to {doing} ({type(exc).__name__})"


def store_objects(settings: DicomWebSettings, datasets: Sequence[Dataset]) -> list[SentObject]:
    """Store ``datasets`` on the DICOMweb server in one STOW-RS request; raises :class:`SendError` when it cannot be
    reached or refuses any object (sending again replaces what was stored: the UIDs are the same)."""
    import requests

    try:
        answer = _client(settings).store_instances(list(datasets))
    except DicomWebError as exc:
        raise SendError(str(exc)) from None
    except (requests.RequestException, ValueError) as exc:
        raise SendError(_failure(settings, exc, "store results")) from None
    failed = answer.get("FailedSOPSequence") or []
    if failed:
        reasons = sorted({f"0x{int(item.get('FailureReason', 0)):04X}" for item in failed})
        raise SendError(
            f"the {settings.label} refused {len(failed)} of {len(datasets)} objects (failure reason "
            f"{', '.join(reasons)}); see its log"
        )
    stored = {item.ReferencedSOPInstanceUID for item in answer.get("ReferencedSOPSequence") or []}
    missing = [ds for ds in datasets if ds.SOPInstanceUID not in stored]
    if missing:
        raise SendError(f"the {settings.label} did not confirm {len(missing)} of {len(datasets)} objects; see its log")
    for ds in datasets:
        log.info("stored a %s on the %s", ds.SOPClassUID.name, settings.label)
    return [SentObject(ds.SOPClassUID, ds.SOPInstanceUID, 0x0000) for ds in datasets]


@dataclass(frozen=True)
class RemoteInstance:
    """One instance a QIDO-RS search found: the UIDs that fetch it with WADO-RS."""

    study_uid: str
    series_uid: str
    sop_instance_uid: str
    sop_class_uid: str


def find_instances(
    settings: DicomWebSettings, patient_id: str | None = None, study_uid: str | None = None
) -> list[RemoteInstance]:
    """Every instance of the studies with ``patient_id`` or ``study_uid`` (QIDO-RS: the studies, then each study's
    instances); :class:`DicomWebError` when the server cannot be searched."""
    import requests

    if (patient_id is None) == (study_uid is None):
        raise XrayReportError("name the studies to pull by a Patient ID or by a Study Instance UID (one of them)")
    filters = {"PatientID": patient_id} if patient_id is not None else {"StudyInstanceUID": study_uid}
    try:
        client = _client(settings)
        studies = client.search_for_studies(search_filters=filters)
        found = []
        for study in studies:
            uid = _value(study, "0020000D")
            for item in client.search_for_instances(study_instance_uid=uid):
                found.append(
                    RemoteInstance(uid, _value(item, "0020000E"), _value(item, "00080018"), _value(item, "00080016"))
                )
    except (requests.RequestException, ValueError, KeyError, IndexError) as exc:
        raise DicomWebError(_failure(settings, exc, "search studies")) from None
    return found


def fetch_instance(settings: DicomWebSettings, instance: RemoteInstance, max_bytes: int) -> bytes:
    """The instance as a DICOM file (preamble, file meta, data set) fetched with WADO-RS in its stored transfer syntax;
    :class:`DicomWebError` when it cannot be fetched, or when the answer's body (the multipart envelope included)
    passes ``max_bytes``, the workspace's upload limit in bytes: reading stops there, so a huge or endless answer
    never sits whole in memory, and nothing of it is returned."""
    import requests

    try:
        ds = _client(settings, max_bytes).retrieve_instance(
            instance.study_uid,
            instance.series_uid,
            instance.sop_instance_uid,
            media_types=(("application/dicom", "*"),),  # as stored: no transcoding by the server
        )
    except (requests.RequestException, ValueError) as exc:
        raise DicomWebError(_failure(settings, exc, "send an instance")) from None
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _body_limit(settings: DicomWebSettings, max_bytes: int) -> Callable[..., Any]:
    """A requests response hook that refuses an answer announcing more than ``max_bytes`` and wraps the body of any
    other in a :class:`_LimitedBody`. Hooks run before requests reads the body, also when it reads it at once."""
    from .receive import size_text  # here: it imports the web workspace, which imports this module

    message = (
        f"the {settings.label} sent an instance over the {size_text(max_bytes)} upload limit (--max-upload-mib); "
        "nothing of it was stored: raise the limit if the image is genuine, else check the server"
    )

    def hook(response: Any, *args: Any, **kwargs: Any) -> Any:
        length = response.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > max_bytes:
            response.close()
            raise DicomWebError(message)
        response.raw = _LimitedBody(response.raw, max_bytes, message)
        return response

    return hook


class _LimitedBody:
    """urllib3's response body, counting the (decoded) bytes it hands on and raising :class:`DicomWebError` with
    ``message`` once they pass ``max_bytes``, after closing the connection; anything else goes to the body itself."""

    def __init__(self, raw: Any, max_bytes: int, message: str) -> None:
        self._raw = raw
        self._max_bytes = max_bytes
        self._message = message

    def stream(self, amt: int = 2**16, decode_content: bool | None = None) -> Iterator[bytes]:
        """What requests reads the body with: ``amt`` bytes at a time."""
        total = 0
        for chunk in self._raw.stream(amt, decode_content=decode_content):
            total += len(chunk)
            if total > self._max_bytes:
                self._raw.close()
                raise DicomWebError(self._message)
            yield chunk

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)


def _value(item: dict[str, Any], tag: str) -> str:
    """The first value of ``tag`` (8 hex digits) in a DICOM JSON object (PS3.18 F.2)."""
    return str(item[tag]["Value"][0])
