"""The byte-level structure of PNG, JPEG and TIFF files, walked before any decoder sees them.

Decoders fill a truncated image with grey and only warn, and Pillow's header parsers walk every
segment, chunk or page in Python, so a 64 MiB file of millions of empty segments costs tens of
seconds and gigabytes before the first pixel. These walks say whether a file runs, structure by
structure, to its end, and stop with :class:`SegmentLimitError` as soon as a file holds more
segments than ``max_segments``. They look at bytes only: the searches run in C (``bytes.find``,
``re``), never a Python loop per byte.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from typing import Literal


class SegmentLimitError(Exception):
    """A file holds more segments (JPEG markers, PNG chunks) than the limit; nothing was decoded."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit:,} segments")
        self.limit = limit


# --- PNG -----------------------------------------------------------------------------------------


def png_is_complete(data: bytes, max_segments: int) -> bool:
    """Whether a PNG's chunks run from its signature to a whole IEND chunk, each with its right CRC.

    The CRCs are checked here because Pillow, which decodes the image, does not check those of the
    image data: a damaged byte there would decode as a wrong pixel instead of an error.
    """
    # Chunks are length (4, big-endian), type (4), data, CRC (4 over type and data); the last one is IEND.
    position, size, chunks = 8, len(data), 0
    view = memoryview(data)
    while position + 12 <= size:
        chunks += 1
        if chunks > max_segments:
            raise SegmentLimitError(max_segments)
        length = int.from_bytes(data[position : position + 4], "big")
        end = position + 8 + length
        if end + 4 > size or zlib.crc32(view[position + 4 : end]) != int.from_bytes(data[end : end + 4], "big"):
            return False
        if data[position + 4 : position + 8] == b"IEND":
            return True
        position = end + 4
    return False


# --- JPEG (and the JPEG, JPEG Lossless and JPEG-LS frames of a DICOM) ----------------------------

# Start-of-frame markers: baseline, extended, progressive, lossless (Huffman and arithmetic), JPEG-LS.
_START_OF_FRAME = frozenset({*range(0xC0, 0xC4), *range(0xC5, 0xC8), *range(0xC9, 0xCC), *range(0xCD, 0xD0), 0xF7})
_FILL = re.compile(rb"\xff+")
# In entropy-coded data a marker is 0xFF followed by a byte that is not a stuffed 0x00, a restart
# marker (RST0-7, which carry no length) or more fill. JPEG-LS stuffs a 0 bit instead of a 0x00 byte:
# there 0xFF followed by 0x00-0x7F is data. The look-behind keeps each search linear.
_MARKER_IN_SCAN = re.compile(rb"(?<=\xff)[\x01-\xcf\xd8-\xfe]")
_MARKER_IN_JPEG_LS_SCAN = re.compile(rb"(?<=\xff)[\x80-\xcf\xd8-\xfe]")


@dataclass(frozen=True)
class JpegStructure:
    """What the marker walk of a JPEG found."""

    complete: bool
    """The markers run from SOI to an EOI that is not inside an embedded thumbnail or metadata."""
    size: tuple[int, int] | None
    """(width, height) of the first start-of-frame, or ``None`` without one (0 height: set by a later DNL)."""


def jpeg_structure(data: bytes, max_segments: int) -> JpegStructure:
    """Walk a JPEG's marker segments; after each start-of-scan, skip the entropy-coded data to the next marker.

    Looking only at the last bytes would reject files with trailing padding, and an EOI found
    anywhere could be the end of an embedded EXIF thumbnail. Raises :class:`SegmentLimitError` once
    more than ``max_segments`` segments (each marker with the fill bytes before it) have been walked;
    restart markers and fill inside entropy-coded data, which libjpeg reads in C, do not count.
    """
    if not data.startswith(b"\xff\xd8"):
        return JpegStructure(False, None)
    position, size, segments = 2, len(data), 0
    frame: tuple[int, int] | None = None
    jpeg_ls = False
    while True:
        fill = _FILL.match(data, position)
        if fill is None or fill.end() >= size:
            return JpegStructure(False, frame)
        marker = data[fill.end()]
        # Fill bytes before a marker count too: Pillow's header parser steps over them one by one in
        # Python (30 million took 40 s).
        segments += fill.end() - position
        position = fill.end() + 1
        if segments > max_segments:
            raise SegmentLimitError(max_segments)
        if marker == 0xD9:  # EOI
            return JpegStructure(True, frame)
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # RSTn and TEM carry no length
            continue
        if marker == 0x00 or position + 2 > size:
            return JpegStructure(False, frame)
        length = int.from_bytes(data[position : position + 2], "big")
        if marker in _START_OF_FRAME and frame is None and position + 7 <= size:
            # SOFn: length (2), precision (1), height (2), width (2)
            height = int.from_bytes(data[position + 3 : position + 5], "big")
            frame = (int.from_bytes(data[position + 5 : position + 7], "big"), height)
            jpeg_ls = marker == 0xF7
        position += length
        if marker == 0xDA:  # SOS: the entropy-coded data runs to the next marker
            # Searching from one past the header keeps every step moving forward, even over a header
            # whose last byte is 0xFF.
            found = (_MARKER_IN_JPEG_LS_SCAN if jpeg_ls else _MARKER_IN_SCAN).search(data, position + 1)
            if found is None:
                return JpegStructure(False, frame)
            position = found.start() - 1


# --- TIFF ----------------------------------------------------------------------------------------


def tiff_page_count(data: bytes, max_pages: int) -> int:
    """How many image file directories (pages) a TIFF chains, counting to ``max_pages + 1`` at most.

    Follows each directory's next-directory offset; a chain that loops or leaves the file ends the
    count (the decoder reports the damage).
    """
    byte_order: Literal["little", "big"] = "little" if data.startswith(b"II") else "big"
    offset = int.from_bytes(data[4:8], byte_order)
    seen: set[int] = set()
    while offset and offset not in seen and offset + 2 <= len(data) and len(seen) <= max_pages:
        seen.add(offset)
        entries = int.from_bytes(data[offset : offset + 2], byte_order)
        link = offset + 2 + 12 * entries
        if link + 4 > len(data):
            break
        offset = int.from_bytes(data[link : link + 4], byte_order)
    return len(seen)


# --- JPEG 2000 (the frames of a DICOM) ---------------------------------------------------------


def j2k_size(data: bytes, max_segments: int) -> tuple[int, int] | None:
    """(width, height) from a JPEG 2000 codestream's SIZ marker, in a JP2 file or bare; ``None`` if not found.

    The decoder allocates the image the codestream describes, whatever the DICOM says around it.
    """
    offset = 0
    if data.startswith(b"\x00\x00\x00\x0cjP  "):  # a JP2 file: find the contiguous codestream box
        offset, boxes = 12, 0
        while data[offset + 4 : offset + 8] != b"jp2c":
            boxes += 1
            if boxes > max_segments:
                raise SegmentLimitError(max_segments)
            length = int.from_bytes(data[offset : offset + 4], "big")
            if length < 8 or offset + length >= len(data):
                return None
            offset += length
        offset += 8
    # SOC, then SIZ: length (2), capabilities (2), Xsiz, Ysiz, XOsiz, YOsiz (4 each)
    if data[offset : offset + 4] != b"\xff\x4f\xff\x51" or len(data) < offset + 24:
        return None
    width, height, left, top = (int.from_bytes(data[offset + i : offset + i + 4], "big") for i in (8, 12, 16, 20))
    return width - left, height - top
