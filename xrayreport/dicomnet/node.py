"""A DICOM node's settings: its AE title, where it listens and which peers may send to it.

Nothing here needs pynetdicom, so the web workspace can carry these settings without the ``[dicom]`` extra.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import XrayReportError

DEFAULT_AE_TITLE = "XRAYREPORT"
DEFAULT_PORT = 11112
"""IANA's registered DICOM port besides 104, which only root may open."""
AE_TITLE_LENGTH = 16
"""The most characters of an AE title (PS3.5 table 6.2-1, value representation AE)."""


def check_ae_title(title: str, what: str) -> str:
    """``title`` without the leading and trailing spaces DICOM ignores, when it is a valid AE title; else an
    :class:`XrayReportError` naming ``what`` (e.g. ``"allowed caller"``) and the rule.

    PS3.5 allows 1-16 characters of the default repertoire (printable ASCII) without the backslash, and not
    spaces alone.
    """
    stripped = title.strip(" ")
    valid = 0 < len(stripped) <= AE_TITLE_LENGTH and all(" " <= ch <= "~" and ch != "\\" for ch in stripped)
    if not valid:
        raise XrayReportError(
            f"{what}: {title!r} is not a DICOM AE title; use 1-{AE_TITLE_LENGTH} printable ASCII characters "
            "without a backslash, e.g. PANO1 (the AE title set in the sending device's DICOM settings)"
        )
    return stripped


@dataclass(frozen=True)
class NodeConfig:
    """Where the DICOM node listens and whom it serves.

    ``port`` 0 lets the system pick a free one (tests). ``allowed_callers`` are the calling AE titles of the
    devices that may send (the panoramic unit, the imaging software, the PACS); an association from any
    other AE title, or one that calls another AE title than ``ae_title``, is rejected. Titles are kept
    without the spaces DICOM ignores around them; invalid settings raise :class:`XrayReportError`.
    """

    allowed_callers: tuple[str, ...]
    ae_title: str = DEFAULT_AE_TITLE
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT

    def __post_init__(self) -> None:
        object.__setattr__(self, "ae_title", check_ae_title(self.ae_title, "the node's AE title"))
        if not self.allowed_callers:
            raise XrayReportError(
                "name the devices that may send to the DICOM node: the calling AE title set in each panoramic "
                "unit's or imaging software's DICOM settings (dicom listen --allow TITLE, serve --dicom-allow "
                "TITLE; repeat for several); every other caller is rejected"
            )
        callers = tuple(dict.fromkeys(check_ae_title(title, "allowed caller") for title in self.allowed_callers))
        object.__setattr__(self, "allowed_callers", callers)
        if not 0 <= self.port <= 65535:
            raise XrayReportError(f"port {self.port} is out of range; use 1-65535 (DICOM's are 104 and 11112)")
