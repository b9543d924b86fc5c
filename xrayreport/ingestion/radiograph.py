"""Scan ingestion: one file (DICOM, PNG, JPEG, TIFF) in, one :class:`Radiograph` out.

Everything a later stage needs from the file is read here, once: greyscale pixels with bone bright,
the original size, pixel spacing and the identity fields a report may print. Input that cannot be a
dental panoramic is rejected with a :class:`~xrayreport.errors.ScanError` that says what to do, and
nothing is written anywhere.
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pydicom
import pydicom.errors
from numpy.typing import NDArray
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.pixels.processing import apply_modality_lut, apply_voi_lut

from ..errors import (
    CorruptScanError,
    EmptyFileError,
    ImageTooLargeError,
    NotAPanoramicError,
    ScanError,
    UnsupportedFormatError,
)

MAX_PIXELS = 64_000_000
"""Decompression-bomb limit: the largest panoramic detectors are about 3000 x 1500 (4.5 MP)."""
MAX_FILE_BYTES = 512 * 1024 * 1024
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


def load_scan(source: str | os.PathLike[str] | bytes, name: str | None = None) -> Radiograph:
    """Read a scan file (path or raw bytes) into a :class:`Radiograph`.

    ``name`` is the file name recorded in the result (defaults to the path's name); only the base
    name is kept, never the directories. Raises a :class:`ScanError` subclass for any input that is
    not a readable 2D dental radiograph.
    """
    if isinstance(source, bytes):
        data, label = source, Path(name or "upload").name
    else:
        path = Path(source)
        label = Path(name).name if name else path.name
        data = _read_file(path)
    if not data:
        raise EmptyFileError(f"{label}: the file is empty (0 bytes); upload or export the scan again")

    file_format = _sniff(data, label)
    radiograph = _load_dicom(data, label) if file_format == "DICOM" else _load_image(data, label, file_format)
    _check_panoramic_size(radiograph.width, radiograph.height, label)
    return radiograph


def _read_file(path: Path) -> bytes:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ScanError(f"{path}: no such file; check the path") from None
    if path.is_dir():
        raise ScanError(f"{path}: is a folder, not a scan file")
    if size > MAX_FILE_BYTES:
        raise ImageTooLargeError(
            f"{path.name}: the file is {size / 2**20:.0f} MiB, over the {MAX_FILE_BYTES // 2**20} MiB limit "
            "for one panoramic; export a single 2D panoramic image"
        )
    try:
        return path.read_bytes()
    except PermissionError:
        raise ScanError(f"{path}: permission denied; make the file readable") from None


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
    # Old DICOM files start directly with a group 0x0008 element, without the 128-byte preamble.
    return len(data) >= 8 and data[:2] == b"\x08\x00" and data[4:6].isalpha()


def _check_pixel_budget(width: int, height: int, label: str) -> None:
    if width * height > MAX_PIXELS:
        raise ImageTooLargeError(
            f"{label}: {width} x {height} pixels is over the {MAX_PIXELS // 1_000_000} megapixel limit "
            "(a panoramic is a few megapixels); export the panoramic at its native resolution"
        )


def _check_panoramic_size(width: int, height: int, label: str) -> None:
    if width < MIN_WIDTH or height < MIN_HEIGHT:
        raise NotAPanoramicError(
            f"{label}: {width} x {height} pixels is too small for a dental panoramic "
            f"(at least {MIN_WIDTH} x {MIN_HEIGHT}); use the full-resolution export, not a thumbnail"
        )


# --- PNG, JPEG, TIFF -------------------------------------------------------------------------


def _load_image(data: bytes, label: str, file_format: str) -> Radiograph:
    # Pillow reads only the header here, so the size check runs before any pixel is decoded.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as header:
                width, height = header.size
                mode = header.mode
                frames = getattr(header, "n_frames", 1)
    except Image.DecompressionBombError:
        raise ImageTooLargeError(
            f"{label}: the image is too large to decode safely (over the decompression-bomb limit); "
            "export the panoramic at its native resolution"
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise CorruptScanError(
            f"{label}: the {file_format} file is damaged or truncated ({exc}); export the scan again"
        ) from None
    _check_pixel_budget(width, height, label)
    if frames > 1:
        raise NotAPanoramicError(
            f"{label}: the {file_format} holds {frames} images; save the panoramic as a single-page image"
        )

    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
    if decoded is None or decoded.shape[0] != height or decoded.shape[1] != width:
        raise CorruptScanError(
            f"{label}: the {file_format} file is damaged or truncated and cannot be decoded; export the scan again"
        )
    if _is_truncated(data, file_format):
        raise CorruptScanError(
            f"{label}: the {file_format} file is truncated (its end is missing); export the scan again"
        )

    bits = 16 if decoded.dtype == np.uint16 else 8
    if decoded.ndim == 3:
        channels = decoded.shape[2]
        code = cv2.COLOR_BGRA2GRAY if channels == 4 else cv2.COLOR_BGR2GRAY
        decoded = cv2.cvtColor(decoded, code)
        photometric = "RGB"
    else:
        photometric = "MONOCHROME2"
    if decoded.dtype not in (np.uint8, np.uint16):
        decoded = decoded.astype(np.float64)
    return Radiograph(
        pixels=_to_uint8(decoded) if decoded.dtype != np.uint8 else np.ascontiguousarray(decoded),
        source_name=label,
        file_format=file_format,
        sha256=hashlib.sha256(data).hexdigest(),
        bits_stored=bits,
        photometric=photometric if mode not in ("L", "I;16", "I;16B", "I", "F") else "MONOCHROME2",
    )


def _is_truncated(data: bytes, file_format: str) -> bool:
    # libpng and libjpeg fill a truncated image with grey and only warn; the file's end marker tells.
    if file_format == "PNG":
        return b"IEND" not in data[-32:]
    if file_format == "JPEG":
        return not data.rstrip(b"\x00").endswith(b"\xff\xd9")
    return False


def _to_uint8(values: NDArray[np.generic]) -> NDArray[np.uint8]:
    """Linearly map the used range of ``values`` onto 0..255."""
    floats = values.astype(np.float64, copy=False)
    low, high = float(floats.min()), float(floats.max())
    if high <= low:
        return np.zeros(floats.shape, np.uint8)
    scaled = (floats - low) * (255.0 / (high - low))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


# --- DICOM -----------------------------------------------------------------------------------


def _load_dicom(data: bytes, label: str) -> Radiograph:
    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=True)
    except (pydicom.errors.InvalidDicomError, EOFError, ValueError, OSError, KeyError, TypeError) as exc:
        raise CorruptScanError(f"{label}: the DICOM file is damaged or truncated ({exc}); export it again") from None

    modality = str(ds.get("Modality", "") or "").upper() or None
    if modality and modality not in ACCEPTED_MODALITIES:
        raise NotAPanoramicError(
            f"{label}: DICOM modality {modality} is not a dental radiograph; xrayreport reads "
            f"{'/'.join(ACCEPTED_MODALITIES)} images: export the panoramic series"
        )
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise NotAPanoramicError(
            f"{label}: the DICOM file has no pixel data (it may be a report, a structured document or a "
            "presentation state); export the image itself"
        )
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        raise NotAPanoramicError(
            f"{label}: the DICOM holds {frames} frames (a CT/CBCT volume or a cine loop); xrayreport reads "
            "2D panoramics: export a single panoramic reconstruction"
        )
    try:
        rows, columns = int(ds.Rows), int(ds.Columns)
        photometric = str(ds.PhotometricInterpretation)
        bits_stored = int(ds.get("BitsStored", ds.BitsAllocated))
    except (AttributeError, ValueError, TypeError) as exc:
        raise CorruptScanError(f"{label}: the DICOM image description is incomplete ({exc}); export it again") from None
    _check_pixel_budget(columns, rows, label)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raw = ds.pixel_array
    except NotImplementedError as exc:
        raise UnsupportedFormatError(
            f"{label}: the DICOM compression {ds.file_meta.get('TransferSyntaxUID', '?')} cannot be decoded "
            f"here ({exc}); export the scan uncompressed or as JPEG/JPEG 2000"
        ) from None
    except Exception as exc:  # decoders raise anything from ValueError to their own types on damaged data
        raise CorruptScanError(
            f"{label}: the DICOM pixel data cannot be decoded ({type(exc).__name__}: {exc}); "
            "the file is damaged or truncated: export it again"
        ) from None
    if raw.ndim == 3 and raw.shape[-1] in (3, 4) and photometric not in ("MONOCHROME1", "MONOCHROME2"):
        pixels = np.asarray(cv2.cvtColor(raw.astype(np.uint8), cv2.COLOR_RGB2GRAY), dtype=np.uint8)
    elif raw.ndim == 2:
        pixels = _dicom_grey_to_uint8(ds, raw, photometric)
    else:
        raise NotAPanoramicError(
            f"{label}: the DICOM pixel data has shape {raw.shape}, not one 2D image; export a single panoramic"
        )

    return Radiograph(
        pixels=pixels,
        source_name=label,
        file_format="DICOM",
        sha256=hashlib.sha256(data).hexdigest(),
        bits_stored=bits_stored,
        photometric=photometric,
        pixel_spacing_mm=_pixel_spacing(ds),
        metadata=_dicom_metadata(ds, modality),
    )


def _dicom_grey_to_uint8(ds: Dataset, raw: NDArray[np.generic], photometric: str) -> NDArray[np.uint8]:
    values = apply_modality_lut(raw, ds)
    has_voi = "VOILUTSequence" in ds or ("WindowCenter" in ds and "WindowWidth" in ds)
    if has_voi:
        # The VOI LUT or window maps to the display range; its output range is then stretched to 8 bit.
        values = apply_voi_lut(values, ds, index=0)
    values = np.asarray(values, dtype=np.float64)
    if has_voi and "VOILUTSequence" not in ds:
        low, high = _window_output_range(ds)
        values = np.clip((values - low) * (255.0 / (high - low)), 0, 255)
        grey = np.rint(values).astype(np.uint8)
    else:
        grey = _to_uint8(values)
    if photometric == "MONOCHROME1":
        grey = 255 - grey  # MONOCHROME1 shows dense structures dark; the model and display expect them bright
    return np.ascontiguousarray(grey)


def _window_output_range(ds: Dataset) -> tuple[float, float]:
    # pydicom's windowing maps onto the full range of the stored data type (e.g. 0..4095 for 12 bit).
    bits = int(ds.get("BitsStored", ds.BitsAllocated))
    if int(ds.get("PixelRepresentation", 0)) == 1 and "RescaleSlope" not in ds:
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return 0.0, float(2**bits - 1)


def _pixel_spacing(ds: Dataset) -> tuple[float, float] | None:
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        value = ds.get(keyword)
        if value is not None and len(value) == 2:
            try:
                row, column = float(value[0]), float(value[1])
            except (TypeError, ValueError):
                continue
            if row > 0 and column > 0:
                return row, column
    return None


def _dicom_date(value: object) -> str | None:
    text = str(value or "").strip()
    if len(text) == 8 and text.isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    if len(text) == 10 and text[4] == "." and text[7] == ".":  # ACR-NEMA style YYYY.MM.DD
        return text.replace(".", "-")
    return None


def _dicom_text(value: object) -> str | None:
    text = str(value or "").strip()
    return text or None


def _dicom_metadata(ds: Dataset, modality: str | None) -> ScanMetadata:
    name = ds.get("PatientName")
    sex = str(ds.get("PatientSex", "") or "").strip().upper()
    return ScanMetadata(
        # DICOM PN separates components with ^ ("Family^Given"); a report shows them as words.
        patient_name=" ".join(part for part in str(name).split("^") if part) or None if name else None,
        patient_id=_dicom_text(ds.get("PatientID")),
        birth_date=_dicom_date(ds.get("PatientBirthDate")),
        sex=sex if sex in ("F", "M", "O") else None,
        study_date=_dicom_date(ds.get("StudyDate")) or _dicom_date(ds.get("ContentDate")),
        institution=_dicom_text(ds.get("InstitutionName")),
        modality=modality,
    )
