"""Files a user may feed in by mistake or malice, each with the error ``load_scan`` must raise.

The huge images are crafted headers with a few bytes of data: nothing here allocates their pixels.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pydicom
from PIL import Image
from pydicom import uid
from pydicom.encaps import encapsulate

from xrayreport.errors import (
    CorruptScanError,
    EmptyFileError,
    ImageTooLargeError,
    NotAPanoramicError,
    ScanError,
    UnsupportedFormatError,
)

from .dicom_factory import make_dicom, multi_frame, no_pixel_data, panoramic_pattern
from .fuzz_corpus import PATIENT, hostile_values


@dataclass(frozen=True)
class Hostile:
    """A bad input: ``name`` in the test folder, its bytes, the error and a phrase the message must hold."""

    name: str
    content: bytes | None  # None: ``kind`` says what stands at the path instead of a file
    error: type[ScanError]
    says: str
    kind: Literal["file", "folder", "missing"] = "file"

    def place(self, folder: Path) -> Path:
        """Create the input in ``folder`` and return its path."""
        path = folder / self.name
        if self.kind == "folder":
            path.mkdir()
        elif self.kind == "file":
            assert self.content is not None
            path.write_bytes(self.content)
        return path


def png_chunk(chunk_type: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + chunk_type + payload + struct.pack(">I", zlib.crc32(chunk_type + payload))


def png_claiming(width: int, height: int) -> bytes:
    """An 8-bit greyscale PNG whose header claims ``width`` x ``height`` but whose data is a few bytes."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + png_chunk(b"IEND", b"")
    )


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small real JPEG whose start-of-frame is patched to claim ``width`` x ``height``."""
    data = bytearray(encoded(panoramic_pattern(0, 255, width=64, height=64), "JPEG"))
    sof = data.index(b"\xff\xc0")
    # SOF0: marker (2), length (2), precision (1), height (2), width (2)
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def encoded(pixels: np.ndarray, file_format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, file_format, **options)
    return buffer.getvalue()


def half(data: bytes) -> bytes:
    return data[: len(data) // 2]


def hostile_files() -> list[Hostile]:
    """Every kind of bad input the issue names, plus a few neighbours."""
    picture = panoramic_pattern(0, 255)
    tiny = panoramic_pattern(0, 255, width=64, height=64)
    page = Image.fromarray(picture.astype(np.uint8))
    pages = io.BytesIO()
    page.save(pages, "TIFF", save_all=True, append_images=[page])
    return [
        Hostile("empty.png", b"", EmptyFileError, "empty"),
        Hostile("empty.dcm", b"", EmptyFileError, "empty"),
        Hostile("truncated.png", half(encoded(picture, "PNG")), CorruptScanError, "truncated"),
        Hostile("truncated.jpg", half(encoded(picture, "JPEG")), CorruptScanError, "truncated"),
        Hostile("truncated.tif", half(encoded(picture, "TIFF")), CorruptScanError, "truncated"),
        Hostile("truncated.dcm", half(make_dicom()), CorruptScanError, "truncated"),
        Hostile("truncated-header.dcm", make_dicom()[:400], CorruptScanError, "truncated"),
        Hostile(
            "truncated-j2k.dcm", half(make_dicom(transfer_syntax=uid.JPEG2000Lossless)), CorruptScanError, "truncated"
        ),
        Hostile("report.png", b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n" * 20, UnsupportedFormatError, "PDF"),
        Hostile("noise.jpg", np.random.default_rng(7).bytes(4096), UnsupportedFormatError, "not a DICOM, PNG"),
        Hostile("page.jpg", b"<!DOCTYPE html>\n<html><body>Login</body></html>\n", UnsupportedFormatError, "HTML"),
        Hostile("no-pixels.dcm", no_pixel_data(), NotAPanoramicError, "no pixel data"),
        Hostile("cbct.dcm", multi_frame("OT"), NotAPanoramicError, "50 frames"),
        Hostile("ct.dcm", multi_frame("CT"), NotAPanoramicError, "modality CT"),
        Hostile("mr.dcm", make_dicom(modality="MR"), NotAPanoramicError, "modality MR"),
        Hostile("tiny.png", encoded(tiny, "PNG"), NotAPanoramicError, "too small"),
        Hostile("tiny.dcm", make_dicom(tiny, bits_stored=8), NotAPanoramicError, "too small"),
        Hostile("bomb.png", png_claiming(30000, 30000), ImageTooLargeError, "too large"),
        Hostile("big.png", png_claiming(9000, 8000), ImageTooLargeError, "megapixel limit"),
        Hostile("bomb.jpg", jpeg_claiming(60000, 60000), ImageTooLargeError, "too large"),
        Hostile("big.dcm", _dicom_claiming(10000, 10000), ImageTooLargeError, "megapixel limit"),
        Hostile("pages.tif", pages.getvalue(), NotAPanoramicError, "2 images"),
        # JPEG 2000 Part 2 multi-component: known to pydicom, no decoder installed.
        Hostile("j2k-part2.dcm", _dicom_compressed_as(uid.JPEG2000MC), UnsupportedFormatError, "cannot be decoded"),
        Hostile("private-codec.dcm", _private_transfer_syntax(), UnsupportedFormatError, "cannot be decoded"),
        *hostile_dicoms(),
        Hostile("a-folder.png", None, ScanError, "folder", kind="folder"),
        Hostile("missing.dcm", None, ScanError, "no such file", kind="missing"),
    ]


def _dicom_claiming(rows: int, columns: int) -> bytes:
    """A DICOM whose Rows/Columns claim a huge image over 8-bit pixel data of a few bytes."""
    small = make_dicom(panoramic_pattern(0, 255, width=8, height=8), bits_stored=8)
    return _rewritten(small, Rows=rows, Columns=columns)


def _dicom_compressed_as(transfer_syntax: str) -> bytes:
    """A DICOM whose pixel data is encapsulated under ``transfer_syntax``, which nothing here decodes."""
    frame = encapsulate([b"\xff\x4f\xff\x51" + bytes(64)])
    return _rewritten(make_dicom(bits_stored=8), transfer_syntax=transfer_syntax, PixelData=frame)


def _private_transfer_syntax() -> bytes:
    """A DICOM whose file meta names a vendor's private transfer syntax (same length, patched in place)."""
    data = _dicom_compressed_as(uid.JPEG2000MC)
    assert len(uid.JPEG2000MC) == len("1.3.6.1.4.1.99999.1.22")
    return data.replace(uid.JPEG2000MC.encode(), b"1.3.6.1.4.1.99999.1.22")


def _rewritten(data: bytes, transfer_syntax: str | None = None, **elements: object) -> bytes:
    ds = pydicom.dcmread(io.BytesIO(data))
    if transfer_syntax:
        ds.file_meta.TransferSyntaxUID = transfer_syntax
    for keyword, value in elements.items():
        setattr(ds, keyword, value)
    if "PixelData" in elements:
        ds["PixelData"].VR = "OB"
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


NAME = PATIENT["PatientName"].encode()
BIRTH_DATE = PATIENT["PatientBirthDate"].encode()


def hostile_dicoms() -> list[Hostile]:
    """DICOMs whose elements hold values pydicom only trips over when converting them (issue 11).

    Each carries the patient identity of ``fuzz_corpus.PATIENT``, several put it where a code belongs:
    the messages must name the element, never repeat its value.
    """
    image = make_dicom(bits_stored=8)
    return [
        Hostile(
            "multi-valued-transfer-syntax.dcm",
            hostile_values(image, TransferSyntaxUID=("UI", b"1.2.840.10008.1.2.1\\" + NAME)),
            UnsupportedFormatError,
            "cannot be decoded",
        ),
        Hostile(
            "name-as-transfer-syntax.dcm",
            hostile_values(image, TransferSyntaxUID=("UI", NAME)),
            UnsupportedFormatError,
            "cannot be decoded",
        ),
        Hostile(
            "id-in-a-transfer-syntax.dcm",
            hostile_values(image, TransferSyntaxUID=("UI", b"1.2.840." + BIRTH_DATE + b".557310")),
            UnsupportedFormatError,
            "cannot be decoded",
        ),
        Hostile(
            "name-as-modality.dcm", hostile_values(image, Modality=("CS", NAME)), NotAPanoramicError, "unrecognised"
        ),
        Hostile(
            "multi-valued-modality.dcm",
            hostile_values(image, Modality=("CS", NAME + b"\\PX")),
            CorruptScanError,
            "element Modality",
        ),
        Hostile(
            "unhashable-sop-class.dcm",
            hostile_values(no_pixel_data(), SOPClassUID=("UI", b"1.2.840.10008.5.1.4.1.1.1.1\\1.2.3")),
            NotAPanoramicError,
            "no pixel data",
        ),
        Hostile(
            "unhashable-sop-class-cut-short.dcm",
            hostile_values(image, SOPClassUID=("UI", b"1.2.840.10008.5.1.4.1.1.1.1\\1.2.3"), PixelData=None),
            CorruptScanError,
            "ends before its pixel data",
        ),
        Hostile(
            "multi-valued-bits-allocated.dcm",
            hostile_values(image, BitsAllocated=("US", b"\x08\x00\x10\x00")),
            CorruptScanError,
            "element BitsAllocated",
        ),
        Hostile(
            "multi-valued-samples-per-pixel.dcm",
            hostile_values(image, SamplesPerPixel=("US", b"\x01\x00\x03\x00")),
            CorruptScanError,
            "element SamplesPerPixel",
        ),
        Hostile(
            "odd-length-rows.dcm", hostile_values(image, Rows=("US", b"\xf0\x00\x00")), CorruptScanError, "element Rows"
        ),
        Hostile(
            "name-as-photometric.dcm",
            hostile_values(image, PhotometricInterpretation=("CS", NAME)),
            CorruptScanError,
            "element PhotometricInterpretation",
        ),
        Hostile(
            "text-as-frames.dcm",
            hostile_values(image, NumberOfFrames=("IS", PATIENT["PatientID"].encode())),
            CorruptScanError,
            "element NumberOfFrames",
        ),
        Hostile("bad-modality-lut.dcm", _bad_modality_lut(image), CorruptScanError, "grey-level transform"),
        Hostile("unknown-vr-pixel-data.dcm", _unknown_pixel_data_vr(image), CorruptScanError, "element PixelData"),
    ]


def _bad_modality_lut(data: bytes) -> bytes:
    """A modality LUT whose descriptor promises 256 entries over one byte of data (pydicom: struct.error)."""
    ds = pydicom.dcmread(io.BytesIO(hostile_values(data)))
    item = pydicom.Dataset()
    item.LUTDescriptor = [256, 0, 16]
    item.ModalityLUTType = "US"
    item.LUTData = b"\x01"
    item["LUTData"].VR = "OW"
    ds.ModalityLUTSequence = [item]
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _unknown_pixel_data_vr(data: bytes) -> bytes:
    """The pixel data element's VR replaced by two bytes that are no VR (pydicom: NotImplementedError on use)."""
    data = hostile_values(data)
    at = data.rindex(b"\xe0\x7f\x10\x00OB")
    return data[: at + 4] + b"\x4f\xbd" + data[at + 6 :]
