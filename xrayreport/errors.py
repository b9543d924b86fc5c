"""The project's exceptions.

Every error a user can cause (a bad scan, an invalid findings document, an unknown name) is an
:class:`XrayReportError` whose message says what is wrong and how to fix it. The CLI prints that
message as one line and exits non-zero; the web app turns it into a 4xx answer.
"""

from __future__ import annotations

from collections.abc import Iterable


class XrayReportError(Exception):
    """Base class for errors caused by the user's input or configuration."""


class ScanError(XrayReportError):
    """A file could not be read as a dental panoramic radiograph."""


class EmptyFileError(ScanError):
    """The file has no content."""


class UnsupportedFormatError(ScanError):
    """The file is not a DICOM, PNG, JPEG or TIFF image."""


class CorruptScanError(ScanError):
    """The file claims a supported format but cannot be decoded (truncated or damaged)."""


class NotAPanoramicError(ScanError):
    """The file is a readable image but cannot be a dental panoramic (volume, tiny, wrong modality)."""


class ImageTooLargeError(ScanError):
    """The file would cost more to read than any panoramic: over the pixel limit (a decompression bomb),
    or a DICOM that inflates too far or holds too many elements, or too many JPEG or PNG segments."""


class FindingsError(XrayReportError):
    """A findings document is invalid or does not match its scan."""


class UnknownNameError(XrayReportError, KeyError):
    """A look-up by name failed; the message lists the valid names."""

    def __init__(self, kind: str, name: str, valid: Iterable[str]) -> None:
        self.kind = kind
        self.name = name
        self.valid = sorted(valid)
        super().__init__(f"unknown {kind} {name!r}; valid {_plural(kind)} are: {', '.join(self.valid)}")

    def __str__(self) -> str:  # KeyError would otherwise quote the whole message
        return str(self.args[0])


def _plural(noun: str) -> str:
    """English plural of the last word: class -> classes, category -> categories, split -> splits."""
    if noun.endswith(("s", "x", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and noun[-2:-1] not in ("a", "e", "i", "o", "u"):
        return noun[:-1] + "ies"
    return noun + "s"
