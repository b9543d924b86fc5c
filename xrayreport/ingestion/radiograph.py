"""Scan ingestion: one file (DICOM, PNG, JPEG, TIFF) in, one :class:`Radiograph` out.

Everything a later stage needs from the file is read here, once: greyscale pixels with bone bright,
the original size, pixel spacing and the identity fields a report may print. Input that cannot be a
dental panoramic is rejected with a :class:`~xrayreport.errors.ScanError` that says what to do, and
nothing is written anywhere.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import logging
import os
import re
import traceback
import warnings
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pydicom
import pydicom.config
import pydicom.errors
from numpy.typing import NDArray
from PIL import Image
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.encaps import generate_fragments
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_sequence
from pydicom.filewriter import write_file_meta_info
from pydicom.multival import MultiValue
from pydicom.pixels.decoders.base import get_decoder
from pydicom.pixels.processing import apply_color_lut, apply_modality_lut
from pydicom.tag import Tag

from ..errors import (
    CorruptScanError,
    EmptyFileError,
    ImageTooLargeError,
    NotAPanoramicError,
    ScanError,
    UnsupportedFormatError,
)
from .structure import SegmentLimitError, j2k_size, jpeg_structure, png_is_complete, tiff_page_count

# pydicom's warnings and log lines quote raw element values, and a damaged or hostile file can hold a
# patient's name, ID or birth date in any element (the bytes after a broken UID, a name where a code
# belongs). Value validation, the source of most of them, is off (it changes no value), pydicom's
# loggers are set above CRITICAL so that they create no record at all (``pydicom.config.debug()``
# turns them back on for a developer), and its warnings are ignored: what matters becomes one
# ScanError that names the element, never its value.
pydicom.config.settings.reading_validation_mode = pydicom.config.IGNORE
logging.getLogger("pydicom").setLevel(logging.CRITICAL + 1)
warnings.filterwarnings("ignore", module=r"pydicom(\.|$)")

log = logging.getLogger(__name__)

MAX_PIXELS = 64_000_000
"""Decompression-bomb limit: the largest panoramic detectors are about 3000 x 1500 (4.5 MP)."""
MAX_FILE_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True)
class ScanLimits:
    """What reading one file may cost. Each cap is checked before the work it bounds is done.

    The defaults are far above what any real panoramic needs; tests lower them to prove a cap with a
    small file.
    """

    pixels: int = MAX_PIXELS
    """Width x height, read from the header before any pixel is decoded; a DICOM may take at most twice as
    many bytes once decoded (16 bits a pixel)."""
    dicom_bytes: int = 160 * 2**20
    """A Deflated DICOM data set once inflated: a 16-bit image at the pixel limit (122 MiB) and its header."""
    dicom_elements: int = 100_000
    """DICOM data elements and sequence items, at every nesting level (a panoramic has a few hundred)."""
    segments: int = 65_536
    """JPEG marker segments (with the fill bytes before them), PNG chunks and DICOM pixel data fragments,
    counted before Pillow or a decoder walks them (an image has a few dozen)."""


DEFAULT_LIMITS = ScanLimits()
SOURCE_NAME_LENGTH = 255
"""The most characters of a file name a :class:`Radiograph` records (and a findings document's ``image.source``)."""
MIN_WIDTH, MIN_HEIGHT = 400, 200
"""Smaller than this cannot show a whole dentition (the smallest public panoramics are 512 x 256)."""

# DX digital X-ray, PX panoramic, CR computed radiography, IO intra-oral, OT/SC secondary capture.
ACCEPTED_MODALITIES = ("DX", "PX", "CR", "IO", "OT", "SC")
_SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"\xff\xd8\xff": "JPEG",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
}
# Formats people upload by mistake, named so the message can say what the file is.
_KNOWN_OTHER_FORMATS = {
    b"%PDF": "a PDF document",
    b"PK\x03\x04": "a ZIP archive (or an Office document)",
    b"GIF8": "a GIF image",
    b"BM": "a BMP image",
    b"RIFF": "a RIFF file (WebP image, video or sound)",
    b"\x1f\x8b": "a gzip archive",
    b"<": "an HTML or XML document",
    b"{": "a JSON document",
}


@dataclass(frozen=True)
class ScanMetadata:
    """Identity and study fields as found in the file; ``None`` where the file has none."""

    patient_name: str | None = None
    patient_id: str | None = None
    birth_date: str | None = None  # ISO 8601, YYYY-MM-DD
    sex: str | None = None  # "F", "M" or "O"
    study_date: str | None = None  # ISO 8601, YYYY-MM-DD
    institution: str | None = None
    modality: str | None = None

    PATIENT_FIELDS = ("patient_name", "patient_id", "birth_date", "sex")

    def present_patient_fields(self) -> list[str]:
        """Names of the patient identity fields that carry a value (never the values themselves)."""
        return [name for name in self.PATIENT_FIELDS if getattr(self, name)]


@dataclass(frozen=True, eq=False)
class Radiograph:
    """One panoramic radiograph, ready for display and for the model.

    ``pixels`` is a (height, width) uint8 array at the file's original resolution, with dense
    structures (enamel, bone, metal) bright: MONOCHROME1 is inverted, rescale and VOI window applied.
    """

    pixels: NDArray[np.uint8]
    source_name: str
    file_format: str  # "DICOM", "PNG", "JPEG" or "TIFF"
    sha256: str  # of the file's bytes
    bits_stored: int  # of the original samples, e.g. 8, 12, 16
    photometric: str  # DICOM PhotometricInterpretation, or the image mode ("MONOCHROME2", "RGB")
    pixel_spacing_mm: tuple[float, float] | None = None  # (row, column) spacing
    metadata: ScanMetadata = field(default_factory=ScanMetadata)

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])


def load_scan(
    source: str | os.PathLike[str] | bytes, name: str | None = None, *, limits: ScanLimits = DEFAULT_LIMITS
) -> Radiograph:
    """Read a scan file (path or raw bytes) into a :class:`Radiograph`.

    ``name`` is the file name recorded in the result (defaults to the path's name); only the base
    name is kept, never the directories, and at most :data:`SOURCE_NAME_LENGTH` characters of it.
    Raises a :class:`ScanError` subclass for any input that is not a readable 2D dental radiograph, or
    that would cost more than ``limits`` allow to read.
    """
    if isinstance(source, bytes):
        data, label = source, _source_label(name or "upload")
    else:
        path = Path(source)
        label = _source_label(name or path.name)
        data = _read_file(path)
    if not data:
        raise EmptyFileError(f"{label}: the file is empty (0 bytes); upload or export the scan again")

    file_format = _sniff(data, label)
    try:
        if file_format == "DICOM":
            radiograph = _load_dicom(data, label, limits)
        else:
            radiograph = _load_image(data, label, file_format, limits)
    except (ScanError, MemoryError):
        raise
    except Exception as exc:
        # Every failure hostile bytes can cause is handled where it happens; this net keeps one that was
        # missed from becoming a 500 or a traceback, and logs where it came from (never the file's values).
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        log.warning(
            "unexpected %s at %s:%s in %s() while reading a %s file; reported as damaged",
            type(exc).__name__,
            Path(frame.filename).name,
            frame.lineno,
            frame.name,
            file_format,
        )
        raise CorruptScanError(
            f"{label}: the {file_format} file cannot be read ({type(exc).__name__}); it may be damaged: "
            "export the scan again"
        ) from None
    _check_panoramic_size(radiograph.width, radiograph.height, label)
    return radiograph


def _read_file(path: Path) -> bytes:
    shown = _printable(str(path))
    if path.is_dir():
        raise ScanError(f"{shown}: is a folder, not a scan file; give the path of one DICOM, PNG, JPEG or TIFF file")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ImageTooLargeError(
                f"{_printable(path.name)}: the file is {size / 2**20:.0f} MiB, over the "
                f"{MAX_FILE_BYTES // 2**20} MiB limit for one panoramic; export a single 2D panoramic image"
            )
        return path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        raise ScanError(f"{shown}: no such file; check the path") from None
    except PermissionError:
        raise ScanError(f"{shown}: permission denied; make the file readable") from None
    except OSError as exc:
        raise ScanError(f"{shown}: cannot be read ({exc.strerror or exc}); check the file and the disk") from None


def _sniff(data: bytes, label: str) -> str:
    if len(data) >= 132 and data[128:132] == b"DICM":
        return "DICOM"
    for signature, file_format in _SIGNATURES.items():
        if data.startswith(signature):
            return file_format
    if _looks_like_dicom_without_preamble(data):
        return "DICOM"
    for signature, description in _KNOWN_OTHER_FORMATS.items():
        if data.lstrip()[: len(signature)] == signature:
            raise UnsupportedFormatError(
                f"{label}: this is {description}, not an X-ray image; "
                "use a DICOM, PNG, JPEG or TIFF export of the panoramic"
            )
    raise UnsupportedFormatError(
        f"{label}: not a DICOM, PNG, JPEG or TIFF file (unrecognised content, whatever its name); "
        "export the panoramic from the X-ray software as DICOM or PNG"
    )


def _looks_like_dicom_without_preamble(data: bytes) -> bool:
    """Whether ``data`` starts like a DICOM data set written without the 128-byte preamble.

    Such files (ACR-NEMA era and some dental software) begin directly with a little-endian element
    of group 0x0002 (file meta) or 0x0008 (identifying), followed by either a two-letter VR (explicit
    VR) or a 32-bit value length that fits in the file (implicit VR).
    """
    if len(data) < 8 or data[:2] not in (b"\x02\x00", b"\x08\x00"):
        return False
    if data[4:6].isalpha() and data[4:6].isupper():
        return True
    return int.from_bytes(data[4:8], "little") <= len(data) - 8


def _source_label(name: str) -> str:
    """The base name of ``name``, printable, shortened in the middle to :data:`SOURCE_NAME_LENGTH` characters
    (an upload's name is the client's to choose; the extension is kept)."""
    label = _printable(Path(name).name)
    if len(label) <= SOURCE_NAME_LENGTH:
        return label
    suffix = Path(label).suffix[:16]
    return label[: SOURCE_NAME_LENGTH - len(suffix) - 1] + "…" + suffix


def _printable(text: str) -> str:
    """``text`` with control characters (a newline in a file name) replaced, so a message stays one line."""
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def _detail(exc: BaseException, limit: int = 160) -> str:
    """A decoder's complaint as one short line, to put in brackets in a ScanError message.

    Object representations (Pillow's "cannot identify image file <_io.BytesIO object at 0x...>") are
    left out: they say nothing to the user.
    """
    text = " ".join(_OBJECT_REPR.sub("", str(exc)).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


_OBJECT_REPR = re.compile(r"\s*<[^<>]* at 0x[0-9a-fA-F]+>")


def _check_pixel_budget(width: int, height: int, label: str, limits: ScanLimits) -> None:
    if width * height > limits.pixels:
        raise ImageTooLargeError(
            f"{label}: {width} x {height} pixels is over the {limits.pixels / 1_000_000:g} megapixel limit "
            "(a panoramic is a few megapixels); export the panoramic at its native resolution"
        )


def _check_panoramic_size(width: int, height: int, label: str) -> None:
    if width < MIN_WIDTH or height < MIN_HEIGHT:
        raise NotAPanoramicError(
            f"{label}: {width} x {height} pixels is too small for a dental panoramic "
            f"(at least {MIN_WIDTH} x {MIN_HEIGHT}); use the full-resolution export, not a thumbnail"
        )


# --- PNG, JPEG, TIFF -------------------------------------------------------------------------


def _load_image(data: bytes, label: str, file_format: str, limits: ScanLimits) -> Radiograph:
    # The structure is walked first: its caps hold before Pillow's own header parser walks the file,
    # and libpng and libjpeg fill a truncated image with grey and only warn.
    try:
        if file_format == "PNG":
            complete, pages = png_is_complete(data, limits.segments), 1
        elif file_format == "JPEG":
            complete, pages = jpeg_structure(data, limits.segments).complete, 1
        else:  # TIFF has no end marker; libtiff reports missing strips as a decoding failure
            complete, pages = True, tiff_page_count(data, _MAX_TIFF_PAGES_COUNTED)
    except SegmentLimitError:
        raise ImageTooLargeError(
            f"{label}: the {file_format} file holds more than {limits.segments:,} "
            f"{'chunks' if file_format == 'PNG' else 'marker segments and fill bytes'} (an image has a few "
            "dozen); export the panoramic again as a plain image"
        ) from None
    # Pillow reads only the header here, so the size check runs before any pixel is decoded.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DecompressionBombWarning (checked below), corrupt EXIF, odd tags
            with Image.open(io.BytesIO(data)) as header:
                width, height = header.size
                mode = header.mode
    except Image.DecompressionBombError:
        raise ImageTooLargeError(
            f"{label}: the image is too large to decode safely (over the decompression-bomb limit); "
            "export the panoramic at its native resolution"
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise CorruptScanError(
            f"{label}: the {file_format} file is damaged or truncated ({_detail(exc)}); export the scan again"
        ) from None
    _check_pixel_budget(width, height, label, limits)
    if pages > 1:
        counted = f"more than {_MAX_TIFF_PAGES_COUNTED:,}" if pages > _MAX_TIFF_PAGES_COUNTED else str(pages)
        raise NotAPanoramicError(
            f"{label}: the {file_format} holds {counted} images; save the panoramic as a single-page image"
        )
    if not complete:
        raise CorruptScanError(
            f"{label}: the {file_format} file is truncated or damaged (it does not run whole to its end marker); "
            "export the scan again"
        )

    if file_format == "TIFF":
        decoded, bits = _imdecode_quietly(data), 0
    else:
        decoded = _pillow_decode(data)
        # Pillow holds 16-bit colour as 8-bit RGB; the file's own depth is in the PNG header.
        bits = 16 if file_format == "PNG" and data[24] == 16 else 8
    if decoded is None or decoded.shape[0] != height or decoded.shape[1] != width:
        raise CorruptScanError(
            f"{label}: the {file_format} file is damaged or truncated and cannot be decoded; export the scan again"
        )
    bits = bits or decoded.dtype.itemsize * 8
    if decoded.ndim == 3:
        channels = decoded.shape[2]
        if channels == 2:  # grey + alpha
            decoded = decoded[:, :, 0]
        else:
            decoded = cv2.cvtColor(decoded, cv2.COLOR_BGRA2GRAY if channels == 4 else cv2.COLOR_BGR2GRAY)
    return Radiograph(
        pixels=np.ascontiguousarray(decoded) if decoded.dtype == np.uint8 else _to_uint8(decoded),
        source_name=label,
        file_format=file_format,
        sha256=hashlib.sha256(data).hexdigest(),
        bits_stored=bits,
        photometric="MONOCHROME2" if mode in _GREY_MODES else "RGB",
    )


def _pillow_decode(data: bytes) -> NDArray[Any] | None:
    """A PNG or JPEG decoded by Pillow as grey samples (8 or 16 bits); ``None`` if it cannot be decoded.

    OpenCV's libpng and libjpeg print their complaints ("libpng warning: ...", "Corrupt JPEG data: ...")
    straight to the process's stderr; Pillow's decoders print nothing. Colour becomes luminance with
    the ITU-R BT.601 weights, alpha is dropped and EXIF orientation is not applied, so pixel
    coordinates stay those of the stored image, which is what findings boxes refer to.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as image:
                image.load()
                if image.mode == "1":
                    return np.asarray(image.convert("L"))
                if image.mode in _GREY_MODES and not image.mode.startswith(("LA", "La")):
                    return np.asarray(image)
                if image.mode in ("LA", "La"):
                    return np.asarray(image.getchannel(0))
                colour = image if image.mode in ("RGB", "RGBA", "RGBX", "P", "PA") else image.convert("RGB")
                return np.asarray(colour.convert("L"))
    except Exception:  # Pillow raises OSError, SyntaxError, ValueError, EOFError, struct.error on damaged data
        return None


# A TIFF of more than one page is refused; its pages are counted this far for the message.
_MAX_TIFF_PAGES_COUNTED = 1_000


# Pillow modes of greyscale images (with or without alpha, 1 to 32 bits).
_GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})


def _imdecode_quietly(data: bytes) -> NDArray[Any] | None:
    """Decode a TIFF with OpenCV at its own bit depth and channels; ``None`` if it cannot be decoded.

    OpenCV reads every TIFF compression at 16 bits, where Pillow's libtiff prints warnings to stderr.
    EXIF orientation is not applied (IMREAD_UNCHANGED). OpenCV routes libtiff's complaints to its own
    log; the caller reports them as one error instead, so that log is silenced for the call.
    """
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        decoded: NDArray[Any] | None = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    finally:
        cv2.utils.logging.setLogLevel(level)
    return decoded


def _to_uint8(values: NDArray[np.generic]) -> NDArray[np.uint8]:
    """Linearly map the used range of ``values`` onto 0..255, block by block of rows."""
    low, high = float(values.min()), float(values.max())
    grey = np.empty(values.shape, np.uint8)
    for rows in _row_blocks(values.shape):
        grey[rows] = _stretch(values[rows].astype(np.float64), low, high)
    return grey


def _stretch(values: NDArray[np.float64], low: float, high: float) -> NDArray[np.uint8]:
    """``low..high`` onto 0..255 (all 0 when the range is empty)."""
    if high <= low:
        return np.zeros(values.shape, np.uint8)
    return _clip_to_uint8((values - low) * (255.0 / (high - low)))


_BLOCK_PIXELS = 1 << 20
"""Grey-level transforms run over blocks of rows of about this many pixels: their float temporaries
take a few MiB instead of eight bytes per pixel of the whole image."""


def _row_blocks(shape: tuple[int, ...]) -> Iterator[slice]:
    """Slices of rows of an image of ``shape`` (rows first), each about :data:`_BLOCK_PIXELS` pixels."""
    per_row = max(1, int(np.prod(shape[1:], dtype=np.int64)))
    step = max(1, _BLOCK_PIXELS // per_row)
    for start in range(0, shape[0], step):
        yield slice(start, start + step)


# --- DICOM -----------------------------------------------------------------------------------


def _load_dicom(data: bytes, label: str, limits: ScanLimits) -> Radiograph:
    # pydicom warns about every oddity of real-world files; what matters becomes one ScanError instead.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _read_dicom(data, label, limits)


class _TooManyElementsError(Exception):
    """Raised by :class:`_CountingReader` once the parser has read more element headers than allowed."""


class _ElementBudget:
    """How many more DICOM element and item headers one file may make pydicom parse."""

    def __init__(self, limit: int) -> None:
        self.left = limit
        self.exceeded = False


class _CountingReader(io.BytesIO):
    """A file for pydicom that refuses to go on once its :class:`_ElementBudget` is spent.

    pydicom reads every data element and sequence item header, at every nesting level, with one
    8-byte read, and builds an object for each before anything can look at the data set; this counts
    those reads and raises :class:`_TooManyElementsError` on the first one over the budget (and on every
    read after it, in case the parser catches the first), so a file of millions of tiny elements costs
    no more than the budget.
    """

    def __init__(self, data: bytes, budget: _ElementBudget) -> None:
        super().__init__(data)
        self.budget = budget

    def read(self, size: int | None = -1, /) -> bytes:
        if size == 8:
            self.budget.left -= 1
            self.budget.exceeded = self.budget.exceeded or self.budget.left < 0
        if self.budget.exceeded:
            raise _TooManyElementsError
        return super().read(size)


# Sequences the reader uses. pydicom parses a sequence of defined length only when it is first used,
# from its own copy of the bytes; these are parsed at once, against the same element budget.
_USED_SEQUENCES = ("ModalityLUTSequence", "VOILUTSequence")
_SQ_VRS = (None, "SQ", "UN")  # implicit VR (the dictionary says SQ), explicit SQ, or unknown


def _parse_dicom(data: bytes, label: str, limits: ScanLimits) -> Dataset:
    """The data set of ``data`` (pixels not yet decoded), within ``limits``' inflated size and element count."""
    budget = _ElementBudget(limits.dicom_elements)
    data = _inflated(data, label, limits, budget)
    try:
        ds = pydicom.dcmread(_CountingReader(data, budget), force=True)
        for keyword in _USED_SEQUENCES:
            _parse_sequence(ds, keyword, budget)
    except Exception as exc:  # hostile bytes make the parser raise anything from EOFError to struct.error
        if budget.exceeded:
            raise ImageTooLargeError(
                f"{label}: the DICOM file holds more than {limits.dicom_elements:,} data elements (a panoramic "
                "has a few hundred); export the image alone, without the attached data"
            ) from None
        raise CorruptScanError(
            f"{label}: the DICOM file is damaged or truncated ({type(exc).__name__} while parsing it); export it again"
        ) from None
    return ds


def _parse_sequence(ds: Dataset, keyword: str, budget: _ElementBudget) -> None:
    """Replace the still unparsed sequence ``keyword`` of ``ds`` by its items, read within ``budget``."""
    tag = Tag(keyword)
    element = ds.get_item(tag)
    if not isinstance(element, RawDataElement) or not isinstance(element.value, bytes) or element.VR not in _SQ_VRS:
        return  # absent, already parsed (undefined length), or not a sequence at all
    implicit = bool(element.is_implicit_VR) or element.VR == "UN"  # a sequence as UN is implicit VR
    reader = _CountingReader(element.value, budget)
    items = read_sequence(reader, implicit, element.is_little_endian, len(element.value), ds.original_character_set)
    ds[tag] = DataElement(tag, "SQ", items)


def _inflated(data: bytes, label: str, limits: ScanLimits, budget: _ElementBudget) -> bytes:
    """``data`` itself, or for Deflated Explicit VR Little Endian the same file with its data set inflated.

    pydicom inflates a deflated data set with no limit, so a file of a megabyte can fill gigabytes;
    here the file meta is read first and the data set inflated with zlib's ``max_length``, one byte
    over ``limits.dicom_bytes`` at most. The result is the same file in Explicit VR Little Endian, the
    transfer syntax a deflated data set is written in.
    """
    reader = _CountingReader(data, budget)
    try:
        preamble = pydicom.filereader.read_preamble(reader, True)
        file_meta = pydicom.filereader._read_file_meta_info(reader)
        deflated = file_meta.get("TransferSyntaxUID") == pydicom.uid.DeflatedExplicitVRLittleEndian
    except Exception:
        return data  # not readable as a deflated file: the full parse says what is wrong
    if not deflated:
        return data
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        data_set = inflater.decompress(data[reader.tell() :], limits.dicom_bytes)
    except zlib.error:
        data_set, damaged = b"", True
    else:
        damaged = not inflater.eof and not inflater.unconsumed_tail
    if inflater.unconsumed_tail:
        raise ImageTooLargeError(
            f"{label}: the deflated DICOM data set inflates to more than {limits.dicom_bytes // 2**20} MiB "
            "(a panoramic needs a few); export the scan uncompressed or with JPEG or JPEG 2000 compression"
        )
    if damaged:
        raise CorruptScanError(
            f"{label}: the deflated DICOM data set is damaged or truncated (it does not inflate); export it again"
        )
    file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    if "FileMetaInformationGroupLength" in file_meta:
        del file_meta.FileMetaInformationGroupLength  # its value counted the longer deflated UID
    rebuilt = DicomBytesIO()
    rebuilt.is_little_endian, rebuilt.is_implicit_VR = True, False
    rebuilt.write((preamble or bytes(128)) + b"DICM")
    try:
        write_file_meta_info(rebuilt, file_meta, enforce_standard=False)
    except Exception:
        raise CorruptScanError(
            f"{label}: the DICOM file meta information is damaged (it cannot be rewritten); export the scan again"
        ) from None
    rebuilt.write(data_set)
    return rebuilt.getvalue()


def _read_dicom(data: bytes, label: str, limits: ScanLimits) -> Radiograph:
    ds = _parse_dicom(data, label, limits)
    # pydicom converts each element when it is first used, so a bad value raises there, not while
    # parsing: every element the reader interprets is converted and checked here, before the pixels,
    # and an error names the element, never its value (which may be a patient's name or ID).
    transfer_syntax = _transfer_syntax(ds, label)
    modality = _modality(ds, label)
    if "PixelData" not in ds:
        if _is_cut_short_image(ds):
            raise CorruptScanError(
                f"{label}: the DICOM image ends before its pixel data (the file is truncated or damaged); "
                "copy or export it again"
            )
        raise NotAPanoramicError(
            f"{label}: the DICOM file has no pixel data (it may be a report, a structured document or a "
            "presentation state); export the image itself"
        )
    header = _image_header(ds, label)
    if header.frames > 1:
        raise NotAPanoramicError(
            f"{label}: the DICOM holds {header.frames} frames (a CT/CBCT volume or a cine loop); xrayreport "
            "reads 2D panoramics: export a single panoramic reconstruction"
        )
    _check_pixel_budget(header.columns, header.rows, label, limits)
    if header.decoded_bytes > limits.pixels * 2:
        raise ImageTooLargeError(
            f"{label}: the DICOM image needs {header.decoded_bytes / 2**20:.0f} MiB once decoded, over the "
            f"{limits.pixels * 2 / 2**20:.0f} MiB limit ({header.samples} samples of {header.bits_allocated} bits "
            "per pixel); export the panoramic as greyscale"
        )
    try:
        pixel_data = _value(ds, "PixelData")
    except _BadElementError:
        pixel_data = None
    if not isinstance(pixel_data, bytes):
        raise _bad_element(label, "PixelData")
    if not transfer_syntax.is_compressed and len(pixel_data) < header.decoded_bytes:
        raise CorruptScanError(
            f"{label}: the DICOM pixel data is shorter than its {header.columns} x {header.rows} image (the "
            "file is truncated); copy or export it again"
        )

    if not can_decode(transfer_syntax):
        raise UnsupportedFormatError(
            f"{label}: the DICOM compression {transfer_syntax.name} cannot be decoded here; "
            "export the scan uncompressed or as JPEG/JPEG 2000"
        )
    if transfer_syntax.is_encapsulated:
        _check_encapsulated_frame(pixel_data, transfer_syntax, header, label, limits)

    try:
        raw = ds.pixel_array
    except NotImplementedError:
        raise UnsupportedFormatError(
            f"{label}: the DICOM compression {transfer_syntax.name} cannot be decoded here; "
            "export the scan uncompressed or as JPEG/JPEG 2000"
        ) from None
    except Exception as exc:  # decoders raise anything from ValueError to their own types on damaged data
        raise CorruptScanError(
            f"{label}: the DICOM pixel data cannot be decoded ({type(exc).__name__}); "
            "the file is damaged or truncated: export it again"
        ) from None
    if raw.shape[:2] != (header.rows, header.columns):
        raise NotAPanoramicError(
            f"{label}: the DICOM pixel data has shape {raw.shape}, not one {header.columns} x {header.rows} image; "
            "export a single panoramic"
        )
    try:
        if header.photometric == "PALETTE COLOR":
            # The palette's entries (8 or 16 bits, pydicom returns them in a matching dtype), not the
            # stored indices, set the colour range. Block by block: the colours take six bytes a pixel.
            pixels = np.empty(raw.shape[:2], np.uint8)
            for rows in _row_blocks(raw.shape):
                colours = apply_color_lut(raw[rows], ds)
                pixels[rows] = _rgb_to_grey(colours, 8 * colours.dtype.itemsize)
        elif raw.ndim == 3:  # RGB, or YBR that pydicom has already converted to RGB
            pixels = _rgb_to_grey(raw, header.bits_stored)
        else:
            pixels = _dicom_grey_to_uint8(ds, raw, header.photometric)
    except Exception as exc:  # pydicom's LUT helpers convert (and trip over) hostile values of their own
        raise CorruptScanError(
            f"{label}: the DICOM grey-level transform (rescale, LUT or palette) is invalid "
            f"({type(exc).__name__}); export the scan again"
        ) from None

    return Radiograph(
        pixels=pixels,
        source_name=label,
        file_format="DICOM",
        sha256=hashlib.sha256(data).hexdigest(),
        bits_stored=header.bits_stored,
        photometric=header.photometric,
        pixel_spacing_mm=_pixel_spacing(ds),
        metadata=_dicom_metadata(ds, modality),
    )


def can_decode(transfer_syntax: pydicom.uid.UID) -> bool:
    """Whether a pixel data decoder for ``transfer_syntax`` is installed."""
    try:
        return bool(get_decoder(transfer_syntax).is_available)
    except NotImplementedError:  # pydicom has no decoder at all for it (JPEG 2000 Part 2, video)
        return False


def _check_encapsulated_frame(
    pixel_data: bytes, transfer_syntax: pydicom.uid.UID, header: _ImageHeader, label: str, limits: ScanLimits
) -> None:
    """Check a compressed frame before its decoder sees it: fragments, completeness and the size it declares.

    The JPEG decoders fill a truncated frame with grey and say nothing, and every decoder allocates the
    image its codestream declares, whatever Rows and Columns say: a JPEG-LS frame claiming 30000 x
    30000 inside a 480 x 240 DICOM took 70 s and 3.5 GiB.
    """
    try:
        # The first item is the Basic Offset Table, the others the fragments of the (single) frame.
        items = list(islice(generate_fragments(pixel_data), limits.segments + 2))
    except Exception:  # pydicom raises ValueError on items that are not items
        items = []
    if len(items) > limits.segments + 1:
        raise ImageTooLargeError(
            f"{label}: the DICOM pixel data is split into more than {limits.segments:,} fragments (a panoramic "
            "has one or a few); export the scan again"
        )
    if len(items) < 2:
        raise CorruptScanError(
            f"{label}: the DICOM's compressed pixel data is damaged (no image fragment can be read); "
            "export the scan again"
        )
    frame = b"".join(items[1:])
    size: tuple[int, int] | None
    try:
        if transfer_syntax in pydicom.uid.JPEGTransferSyntaxes + pydicom.uid.JPEGLSTransferSyntaxes:
            structure = jpeg_structure(frame, limits.segments)
            if not structure.complete:
                raise CorruptScanError(
                    f"{label}: the DICOM's {transfer_syntax.name} image is truncated or damaged (its end is "
                    "missing); copy or export the scan again"
                )
            size = structure.size
        elif transfer_syntax in pydicom.uid.JPEG2000TransferSyntaxes:
            size = j2k_size(frame, limits.segments)
        else:
            return
    except SegmentLimitError:
        raise ImageTooLargeError(
            f"{label}: the DICOM's compressed image holds more than {limits.segments:,} marker segments (an "
            "image has a few dozen); export the scan again"
        ) from None
    if size is not None and (size[0] != header.columns or size[1] not in (0, header.rows)):
        raise CorruptScanError(
            f"{label}: the DICOM's compressed image is {size[0]} x {size[1]} pixels, not the {header.columns} x "
            f"{header.rows} its header says (the file is damaged); export the scan again"
        )


class _BadElementError(Exception):
    """An element's value cannot be converted (pydicom raised) or is not of the kind the reader needs."""


def _value(ds: Dataset, keyword: str) -> object:
    """The value of ``keyword`` in ``ds`` as pydicom converts it; ``None`` when absent or empty.

    pydicom converts an element on first use and raises whatever its converter raises on hostile
    bytes (ValueError, TypeError, struct.error, its own exceptions); that becomes a _BadElementError.
    """
    try:
        value = ds.get(keyword)
    except Exception:
        raise _BadElementError(keyword) from None
    return None if value is None or value == "" else value


def _single_integer(ds: Dataset, keyword: str) -> int | None:
    """An element that must hold one whole number (US, IS, or a number written as text)."""
    value = _value(ds, keyword)
    if value is None:
        return None
    if isinstance(value, (int, float, str)) and not isinstance(value, bool):
        try:
            number = float(value)
        except ValueError:
            raise _BadElementError(keyword) from None
        if np.isfinite(number) and number == int(number):
            return int(number)
    raise _BadElementError(keyword)


def _single_text(ds: Dataset, keyword: str) -> str | None:
    """An element that must hold one code string, upper-cased and stripped."""
    value = _value(ds, keyword)
    if value is None:
        return None
    if not isinstance(value, str):  # a multi-valued element, or bytes under a wrong VR
        raise _BadElementError(keyword)
    return value.strip().upper() or None


def _bad_element(label: str, keyword: str) -> CorruptScanError:
    return CorruptScanError(
        f"{label}: the DICOM element {keyword} holds an invalid value (the file is damaged); export the scan again"
    )


def _transfer_syntax(ds: Dataset, label: str) -> pydicom.uid.UID:
    """The file's transfer syntax, when it is one pydicom knows; only its registered name is ever shown."""
    try:
        _set_transfer_syntax_if_missing(ds)
        value = _value(ds.file_meta, "TransferSyntaxUID")
    except Exception:
        value = None
    if not isinstance(value, str) or not pydicom.uid.UID(value).is_transfer_syntax:
        raise UnsupportedFormatError(
            f"{label}: the DICOM transfer syntax (unknown, private or invalid) cannot be decoded here; "
            "export the scan uncompressed or as JPEG/JPEG 2000"
        )
    return pydicom.uid.UID(value)


def _modality(ds: Dataset, label: str) -> str | None:
    """The Modality, when it is one a panoramic comes as; else a NotAPanoramicError that names it only if DICOM does."""
    try:
        modality = _single_text(ds, "Modality")
    except _BadElementError:
        raise _bad_element(label, "Modality") from None
    if modality is None or modality in ACCEPTED_MODALITIES:
        return modality
    named = f"modality {modality}" if modality in _DICOM_MODALITIES else "an unrecognised modality"
    raise NotAPanoramicError(
        f"{label}: the DICOM has {named}, not a dental radiograph; xrayreport reads "
        f"{'/'.join(ACCEPTED_MODALITIES)} images: export the panoramic series"
    )


# Modality defined terms of PS3.3 C.7.3.1.1.1 (current and retired): a value among them may be shown
# in a message; anything else in the element might be a name or an ID.
_MODALITY_TERMS = (
    "ANN AR ASMT AU BDUS BI BMD CD CF CFM CP CR CS CT CTPROTOCOL DD DF DG DM DMS DOC DS DX EC ECG EEG EMG "
    "EOG EPS ES FA FID FS GM HC HD IO IOL IVOCT IVUS KER KO LEN LP LS M3D MA MG MR MS NM OAM OCT OP OPM OPR "
    "OPT OPTBSV OPTENF OPV OSS OT PA PLAN POS PR PT PX REG RESP RF RG RTDOSE RTIMAGE RTINTENT RTPLAN RTRAD "
    "RTRECORD RTSEGANN RTSTRUCT RWV SEG SM SMR SR SRF ST STAIN TEXTUREMAP TG US VA VF XA XAPROTOCOL XC"
)
_DICOM_MODALITIES = frozenset(_MODALITY_TERMS.split())
# Photometric interpretations of PS3.3 C.7.6.3.1.2 (current and retired).
_PHOTOMETRICS = frozenset(
    {
        "MONOCHROME1",
        "MONOCHROME2",
        "PALETTE COLOR",
        "RGB",
        "HSV",
        "ARGB",
        "CMYK",
        "YBR_FULL",
        "YBR_FULL_422",
        "YBR_PARTIAL_422",
        "YBR_PARTIAL_420",
        "YBR_ICT",
        "YBR_RCT",
        "XYB",
    }
)


@dataclass(frozen=True)
class _ImageHeader:
    """The image pixel description of a DICOM, every value converted and checked."""

    rows: int
    columns: int
    frames: int
    samples: int
    bits_allocated: int
    bits_stored: int
    photometric: str

    @property
    def decoded_bytes(self) -> int:
        """Bytes of one decoded frame (uncompressed pixel data holds exactly this many)."""
        return self.rows * self.columns * self.samples * self.bits_allocated // 8


def _image_header(ds: Dataset, label: str) -> _ImageHeader:
    keyword = ""
    try:
        keyword = "Rows"
        rows = _single_integer(ds, keyword)
        keyword = "Columns"
        columns = _single_integer(ds, keyword)
        keyword = "NumberOfFrames"
        frames = _single_integer(ds, keyword) or 1
        keyword = "SamplesPerPixel"
        samples = _single_integer(ds, keyword) or 1
        keyword = "BitsAllocated"
        bits_allocated = _single_integer(ds, keyword)
        keyword = "BitsStored"
        bits_stored = _single_integer(ds, keyword) or bits_allocated
        keyword = "PhotometricInterpretation"
        photometric = _single_text(ds, keyword)
    except _BadElementError:
        raise _bad_element(label, keyword) from None
    for keyword, value in (("Rows", rows), ("Columns", columns), ("BitsAllocated", bits_allocated)):
        if value is None:
            raise CorruptScanError(
                f"{label}: the DICOM image description is incomplete (no {keyword}); export the scan again"
            )
    if photometric is None:
        raise CorruptScanError(
            f"{label}: the DICOM image description is incomplete (no PhotometricInterpretation); export the scan again"
        )
    assert rows is not None and columns is not None and bits_allocated is not None and bits_stored is not None
    checks = (
        ("Rows", rows >= 1),
        ("Columns", columns >= 1),
        ("NumberOfFrames", frames >= 1),
        ("SamplesPerPixel", samples in (1, 3, 4)),
        ("BitsAllocated", bits_allocated in (1, 8, 16, 32, 64)),
        ("BitsStored", 1 <= bits_stored <= bits_allocated),
        ("PhotometricInterpretation", photometric in _PHOTOMETRICS),
    )
    for keyword, valid in checks:
        if not valid:
            raise _bad_element(label, keyword)
    return _ImageHeader(rows, columns, frames, samples, bits_allocated, bits_stored, photometric)


# Image storage SOP classes a panoramic comes as: CR, DX and intra-oral (for presentation and for
# processing), and secondary capture.
_IMAGE_SOP_CLASSES = frozenset(
    {
        pydicom.uid.ComputedRadiographyImageStorage,
        pydicom.uid.DigitalXRayImageStorageForPresentation,
        pydicom.uid.DigitalXRayImageStorageForProcessing,
        pydicom.uid.DigitalIntraOralXRayImageStorageForPresentation,
        pydicom.uid.DigitalIntraOralXRayImageStorageForProcessing,
        pydicom.uid.SecondaryCaptureImageStorage,
    }
)
_IMAGE_PIXEL_KEYWORDS = ("Rows", "Columns", "BitsAllocated", "PhotometricInterpretation")


def _is_cut_short_image(ds: Dataset) -> bool:
    """Whether a DICOM without PixelData is an image whose end is missing rather than a non-image object.

    pydicom reads a file cut anywhere without complaint and returns the elements before the cut, so
    the tell is an image SOP class or an image pixel description with no pixels after it.
    """
    classes = []
    for dataset, keyword in ((ds, "SOPClassUID"), (ds.file_meta, "MediaStorageSOPClassUID")):
        try:
            classes.append(_value(dataset, keyword))
        except _BadElementError:
            continue
    image_class = any(isinstance(value, str) and value in _IMAGE_SOP_CLASSES for value in classes)
    return len(ds) == 0 or image_class or any(k in ds for k in _IMAGE_PIXEL_KEYWORDS)


def _set_transfer_syntax_if_missing(ds: Dataset) -> None:
    # Files without the 128-byte preamble and file meta (ACR-NEMA era, some dental software) are
    # uncompressed; the encoding pydicom detected while parsing says which.
    if "TransferSyntaxUID" in ds.file_meta:
        return
    implicit, little = ds.original_encoding
    if little is False:
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRBigEndian
    elif implicit is False:
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    else:
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian


def _rgb_to_grey(rgb: NDArray[Any], bits_stored: int) -> NDArray[np.uint8]:
    """(H, W, 3) RGB samples of ``bits_stored`` bits -> (H, W) uint8 luminance (ITU-R BT.601 weights)."""
    grey = np.empty(rgb.shape[:2], np.uint8)
    for rows in _row_blocks(rgb.shape):
        samples = rgb[rows].astype(np.float32)
        if bits_stored > 8:
            samples *= 255.0 / float(2**bits_stored - 1)
        grey[rows] = np.clip(np.rint(cv2.cvtColor(samples[:, :, :3], cv2.COLOR_RGB2GRAY)), 0, 255)
    return grey


_GreyTransform = Callable[[NDArray[np.float64]], NDArray[np.uint8]]


def _dicom_grey_to_uint8(ds: Dataset, raw: NDArray[Any], photometric: str) -> NDArray[np.uint8]:
    """Stored MONOCHROME samples -> uint8 with dense structures bright.

    Order of PS3.3 C.11: the modality LUT (rescale slope/intercept or a LUT) gives output units; the
    first VOI LUT, or else the first window, maps those onto the display range 0..255. Without a VOI
    transform, or with an unusable window, the used range of the values is stretched to 0..255.
    MONOCHROME1 is inverted last: its VOI output shows low values white. Block by block of rows, so
    the float64 values never exist for the whole image at once (eight bytes a pixel: 512 MB at 64 MP).
    """

    def output_units(rows: slice) -> NDArray[np.float64]:
        return np.asarray(apply_modality_lut(raw[rows], ds), dtype=np.float64)

    transform = _voi_lut(ds) or _window(ds)
    if transform is None:
        low, high = np.inf, -np.inf
        for rows in _row_blocks(raw.shape):
            values = output_units(rows)
            low, high = min(low, float(values.min())), max(high, float(values.max()))
        transform = partial(_stretch, low=low, high=high)
    grey = np.empty(raw.shape, np.uint8)
    for rows in _row_blocks(raw.shape):
        grey[rows] = transform(output_units(rows))
    if photometric == "MONOCHROME1":
        np.subtract(255, grey, out=grey)
    return grey


def _voi_lut(ds: Dataset) -> _GreyTransform | None:
    """The first VOI LUT of the VOILUTSequence as a transform; ``None`` when the file has none."""
    sequence = ds.get("VOILUTSequence")
    if not sequence:
        return None
    item = sequence[0]
    entries, first_mapped, bits = (int(v) for v in item.LUTDescriptor)
    if int(ds.get("PixelRepresentation", 0)) == 1 and first_mapped >= 2**15:
        first_mapped -= 2**16  # the descriptor is read as unsigned; for signed data the value is signed
    lut = _lut_data(item, entries or 2**16, bits)
    low, high = float(lut.min()), float(lut.max())
    if high <= low:
        return lambda values: np.zeros(values.shape, np.uint8)
    # The LUT's own output range becomes 0..255: descriptors often claim 16 bits for 12-bit entries.
    table = np.rint((lut - low) * (255.0 / (high - low))).astype(np.uint8)
    return lambda values: table[np.clip(np.floor(values - first_mapped), 0, len(lut) - 1).astype(np.intp)]


def _lut_data(item: Dataset, entries: int, bits: int) -> NDArray[np.float64]:
    value = item["LUTData"].value
    if isinstance(value, bytes):  # OW: packed little-endian entries of 8 or 16 bits
        return np.frombuffer(value, dtype="u1" if bits == 8 else "<u2", count=entries).astype(np.float64)
    return np.atleast_1d(np.asarray(value, dtype=np.float64))[:entries]


def _window(ds: Dataset) -> _GreyTransform | None:
    """The first window (center/width, PS3.3 C.11.2.1.2) onto 0..255 as a transform; ``None`` if absent or unusable."""
    if "WindowCenter" not in ds or "WindowWidth" not in ds:
        return None
    center, width = _first_value(ds["WindowCenter"].value), _first_value(ds["WindowWidth"].value)
    function = str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR").strip().upper()
    if center is None or width is None:
        return None
    if function == "SIGMOID" and width > 0:
        return partial(_sigmoid_window, center=center, width=width)
    if function == "LINEAR_EXACT" and width > 0:
        return partial(_linear_exact_window, center=center, width=width)
    if function not in ("SIGMOID", "LINEAR_EXACT") and width > 1:
        return partial(_linear_window, center=center, width=width)
    if function not in ("SIGMOID", "LINEAR_EXACT") and width == 1:
        return partial(_threshold_window, center=center)
    return None  # a zero or negative width, or an unknown function: fall back to the used range


def _sigmoid_window(values: NDArray[np.float64], center: float, width: float) -> NDArray[np.uint8]:
    return _clip_to_uint8(255.0 / (1.0 + np.exp(-4.0 * (values - center) / width)))


def _linear_exact_window(values: NDArray[np.float64], center: float, width: float) -> NDArray[np.uint8]:
    return _clip_to_uint8(((values - center) / width + 0.5) * 255.0)


def _linear_window(values: NDArray[np.float64], center: float, width: float) -> NDArray[np.uint8]:
    # LINEAR: the half-pixel offsets make a window of width W cover exactly W input values.
    return _clip_to_uint8(((values - (center - 0.5)) / (width - 1) + 0.5) * 255.0)


def _threshold_window(values: NDArray[np.float64], center: float) -> NDArray[np.uint8]:
    return np.where(values > center - 0.5, 255, 0).astype(np.uint8)  # a width-1 LINEAR window is a threshold


def _clip_to_uint8(mapped: NDArray[np.float64]) -> NDArray[np.uint8]:
    return np.clip(np.rint(mapped), 0, 255).astype(np.uint8)


def _first_value(value: object) -> float | None:
    """The first of a multi-valued DS element as a finite float, or ``None``."""
    if isinstance(value, MultiValue):
        value = value[0] if len(value) else None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def _pixel_spacing(ds: Dataset) -> tuple[float, float] | None:
    """(row, column) spacing in mm: PixelSpacing (calibrated) if given, else ImagerPixelSpacing (detector)."""
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        try:
            value = ds.get(keyword)
            if value is None or len(value) != 2:
                continue
            row, column = float(value[0]), float(value[1])
        except Exception:  # pydicom converts on first use: hostile bytes raise anything
            continue
        if row > 0 and column > 0 and np.isfinite(row) and np.isfinite(column):
            return row, column
    return None


def _dicom_date(value: object) -> str | None:
    """A DICOM DA value (YYYYMMDD, or ACR-NEMA's YYYY.MM.DD) as ISO 8601 YYYY-MM-DD; ``None`` if not a real date."""
    text = str(value or "").strip().replace(".", "")
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        return datetime.date(int(text[:4]), int(text[4:6]), int(text[6:])).isoformat()
    except ValueError:
        return None


def _dicom_text(ds: Dataset, keyword: str) -> str | None:
    """The stripped text of an element, or ``None`` when it is absent, empty or cannot be decoded."""
    try:
        text = str(ds.get(keyword, "") or "").strip()
    except Exception:  # a malformed identity field must not make the image unreadable
        return None
    return text or None


def _person_name(text: str | None) -> str | None:
    """DICOM PN ``Family^Given^Middle^Prefix^Suffix`` as words in that order.

    Of the alphabetic, ideographic and phonetic groups (``Yamada^Tarou=山田^太郎``), the first
    non-empty one is kept.
    """
    for group in (text or "").split("="):
        words = " ".join(part.strip() for part in group.split("^") if part.strip())
        if words:
            return words
    return None


def _dicom_metadata(ds: Dataset, modality: str | None) -> ScanMetadata:
    sex = (_dicom_text(ds, "PatientSex") or "").upper()
    return ScanMetadata(
        patient_name=_person_name(_dicom_text(ds, "PatientName")),
        patient_id=_dicom_text(ds, "PatientID"),
        birth_date=_dicom_date(_dicom_text(ds, "PatientBirthDate")),
        sex=sex if sex in ("F", "M", "O") else None,
        study_date=_dicom_date(_dicom_text(ds, "StudyDate")) or _dicom_date(_dicom_text(ds, "ContentDate")),
        institution=_dicom_text(ds, "InstitutionName"),
        modality=modality,
    )
