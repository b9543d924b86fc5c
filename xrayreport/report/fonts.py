"""Whether the installed fonts can show every character of a report, asked of fontconfig before rendering.

WeasyPrint draws a character no installed font has as an empty box and still writes the PDF: a Chinese report
on a machine without a Chinese font is all boxes. :func:`check_fonts` turns that into one error naming the
Debian package that brings the font. It asks fontconfig (the library WeasyPrint's Pango uses, with the same
configuration, ``$FONTCONFIG_FILE`` included) for the characters each installed font covers.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import html
import re
import unicodedata
from functools import cache
from typing import Any

from ..errors import XrayReportError

# Characters of each report language, the Debian package whose font covers them (scripts/install-system-deps.sh).
_PACKAGES: tuple[tuple[str, str, tuple[tuple[int, int], ...]], ...] = (
    (
        "Chinese",
        "fonts-wqy-microhei",
        (
            (0x2E80, 0x2FDF),  # radicals
            (0x3000, 0x33FF),  # CJK punctuation, bopomofo, enclosed and compatibility forms
            (0x3400, 0x4DBF),  # ideographs, extension A
            (0x4E00, 0x9FFF),  # ideographs
            (0xF900, 0xFAFF),  # compatibility ideographs
            (0xFE30, 0xFE4F),  # compatibility forms
            (0xFF00, 0xFFEF),  # fullwidth punctuation and letters
        ),
    ),
    (
        "Latin, Greek or Cyrillic",
        "fonts-dejavu-core",
        (
            (0x0000, 0x052F),  # Latin, Greek, Cyrillic
            (0x1E00, 0x1FFF),  # Latin and Greek extended
            (0x2000, 0x2BFF),  # punctuation, currency, arrows, symbols (the chart's marks)
        ),
    ),
)

_TAG = re.compile(r"<[^>]*>")


class MissingFontError(XrayReportError):
    """No installed font covers some characters of the report; the message names the package to install."""


def check_fonts(text: str) -> None:
    """Raise :class:`MissingFontError` unless installed fonts cover every visible character of ``text``
    (an HTML page or plain text; tags, and the embedded images in their attributes, are skipped)."""
    needed = {
        char
        for char in html.unescape(_TAG.sub(" ", text))
        if not unicodedata.category(char).startswith(("Z", "C"))  # spaces, controls, format characters
    }
    missing = _uncovered(sorted(needed))
    if not missing:
        return
    parts = []
    for script, package, ranges in _PACKAGES:
        of_script = [char for char in missing if any(low <= ord(char) <= high for low, high in ranges)]
        if of_script:
            parts.append(
                f"{len(of_script)} {script} ones: install the Debian package {package} (sudo apt-get install {package})"
            )
            missing = [char for char in missing if char not in of_script]
    if missing:
        shown = ", ".join(f"U+{ord(char):04X}" for char in missing[:3]) + (", ..." if len(missing) > 3 else "")
        parts.append(f"{len(missing)} others ({shown}): install a font that covers them")
    raise MissingFontError(
        "the report holds characters no installed font can show (they would print as empty boxes): " + "; ".join(parts)
    )


class _FontSet(ctypes.Structure):
    _fields_ = (("nfont", ctypes.c_int), ("sfont", ctypes.c_int), ("fonts", ctypes.POINTER(ctypes.c_void_p)))


@cache
def _fontconfig() -> Any:
    """libfontconfig with the signatures used here, or None where it cannot be loaded (WeasyPrint needs it, so
    it then fails on its own)."""
    try:
        lib = ctypes.CDLL(ctypes.util.find_library("fontconfig") or "libfontconfig.so.1")
    except OSError:
        return None
    pointer = ctypes.c_void_p
    for name, result, arguments in (
        ("FcPatternCreate", pointer, ()),
        ("FcPatternDestroy", None, (pointer,)),
        ("FcObjectSetCreate", pointer, ()),
        ("FcObjectSetAdd", ctypes.c_int, (pointer, ctypes.c_char_p)),
        ("FcObjectSetDestroy", None, (pointer,)),
        ("FcFontList", ctypes.POINTER(_FontSet), (pointer, pointer, pointer)),
        ("FcFontSetDestroy", None, (ctypes.POINTER(_FontSet),)),
        ("FcPatternGetCharSet", ctypes.c_int, (pointer, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(pointer))),
        ("FcCharSetCreate", pointer, ()),
        ("FcCharSetMerge", ctypes.c_int, (pointer, pointer, ctypes.POINTER(ctypes.c_int))),
        ("FcCharSetHasChar", ctypes.c_int, (pointer, ctypes.c_uint32)),
        ("FcCharSetDestroy", None, (pointer,)),
    ):
        function = getattr(lib, name)
        function.restype = result
        function.argtypes = arguments
    return lib


def _uncovered(chars: list[str]) -> list[str]:
    """The characters no font fontconfig lists covers (none where fontconfig cannot be asked)."""
    lib = _fontconfig()
    if lib is None or not chars:
        return []
    pattern = lib.FcPatternCreate()
    objects = lib.FcObjectSetCreate()
    lib.FcObjectSetAdd(objects, b"charset")
    fonts = lib.FcFontList(None, pattern, objects)  # None: the configuration Pango uses
    covered = lib.FcCharSetCreate()
    try:
        if fonts:
            for index in range(fonts.contents.nfont):
                charset = ctypes.c_void_p()
                if lib.FcPatternGetCharSet(fonts.contents.fonts[index], b"charset", 0, ctypes.byref(charset)) == 0:
                    lib.FcCharSetMerge(covered, charset, None)
        return [char for char in chars if not lib.FcCharSetHasChar(covered, ord(char))]
    finally:
        lib.FcCharSetDestroy(covered)
        if fonts:
            lib.FcFontSetDestroy(fonts)
        lib.FcObjectSetDestroy(objects)
        lib.FcPatternDestroy(pattern)
