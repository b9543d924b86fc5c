"""Mutated and hostile scan files for the fuzz test and ``benchmarks/ingestion_fuzz.py``.

:func:`corpus` draws, from one seed, a reproducible stream of inputs: valid DICOM, PNG, JPEG and TIFF
files (every transfer syntax and layout the project reads), the same files damaged byte by byte (bit
flips, boundary integers, cuts, repeats, splices), DICOMs whose image and identity elements hold
hostile raw values (multi-valued UIDs, names where codes belong, lengths that do not fit the VR), and
the resource bombs of issue 11 (:func:`bombs`). Every DICOM carries the patient identity in
:data:`SECRETS`, so a test can prove that none of it reaches a log line or an error message.
"""

from __future__ import annotations

import copy
import io
import random
import struct
import warnings
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np
import pydicom
from PIL import Image
from pydicom import uid
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_preamble
from pydicom.filewriter import write_file_meta_info
from pydicom.tag import Tag

from .dicom_factory import make_dicom, panoramic_pattern

PATIENT = {
    "PatientName": "Kowalczyk^Marianna^Teodora",
    "PatientID": "MRN-557310",
    "PatientBirthDate": "19620817",
    "PatientSex": "F",
    "OtherPatientIDs": "ALT-883104",
}
SECRETS = ("Kowalczyk", "Marianna", "Teodora", "MRN-557310", "557310", "19620817", "1962-08-17", "ALT-883104")
"""The identity strings of every generated DICOM: none may appear in a log line or an error message."""


@dataclass(frozen=True)
class Input:
    """One input: a name that says how it was made (its file extension is its claimed format) and its bytes."""

    name: str
    data: bytes


# --- valid seeds -----------------------------------------------------------------------------------


def _png(pixels: np.ndarray) -> bytes:
    ok, buffer = cv2.imencode(".png", pixels)
    assert ok
    return bytes(buffer.tobytes())


def _pillow(pixels: np.ndarray, file_format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, file_format, **options)
    return buffer.getvalue()


def _with_patient(data: bytes) -> bytes:
    """The DICOM ``data`` with the identity of :data:`PATIENT` (in place of the factory's)."""
    ds = pydicom.dcmread(io.BytesIO(data), force=True)
    for keyword, value in PATIENT.items():
        setattr(ds, keyword, value)
    return _written(ds)


def _written(ds: Dataset, file_meta: FileMetaDataset | None = None) -> bytes:
    """``ds`` as a file; ``file_meta`` replaces its file meta as written, however hostile (pydicom would refuse it)."""
    buffer = io.BytesIO()
    if getattr(ds, "preamble", None) is None or "TransferSyntaxUID" not in getattr(ds, "file_meta", {}):
        ds.save_as(buffer, implicit_vr=True, little_endian=True)
    else:
        ds.save_as(buffer, enforce_file_format=True)
    data = buffer.getvalue()
    if file_meta is None:
        return data
    reader = io.BytesIO(data)
    read_preamble(reader, True)
    pydicom.filereader._read_file_meta_info(reader)
    if "FileMetaInformationGroupLength" in file_meta:
        del file_meta.FileMetaInformationGroupLength
    meta = DicomBytesIO()
    meta.is_little_endian, meta.is_implicit_VR = True, False
    write_file_meta_info(meta, file_meta, enforce_standard=False)
    return data[:132] + meta.getvalue() + data[reader.tell() :]


def _deflated(data: bytes) -> bytes:
    ds = pydicom.dcmread(io.BytesIO(data))
    ds.file_meta.TransferSyntaxUID = uid.DeflatedExplicitVRLittleEndian
    return _written(ds)


def seeds() -> list[Input]:
    """Valid scans of every kind ``load_scan`` reads, small (480 x 240) so that thousands decode quickly."""
    grey8 = panoramic_pattern(0, 255).astype(np.uint8)
    grey16 = panoramic_pattern(0, 4095).astype(np.uint16)
    colour = np.repeat(grey8[:, :, None], 3, axis=2)
    colour[0, :3] = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    dicoms = {
        "explicit-12bit": make_dicom(),
        "monochrome1-rescale-window": make_dicom(photometric="MONOCHROME1", rescale=(2, -1000), window=(1000, 2000)),
        "voi-lut": make_dicom(voi_lut=(0, 16, [int(v) for v in np.linspace(0, 4095, 256)])),
        "signed-16bit": make_dicom(bits_stored=16, signed=True, window=(0, 4000), voi_function="SIGMOID"),
        "no-preamble-implicit": make_dicom(preamble=False, pixel_spacing=(0.1, 0.1)),
        "implicit": make_dicom(transfer_syntax=uid.ImplicitVRLittleEndian, imager_pixel_spacing=(0.1, 0.1)),
        "rle": make_dicom(transfer_syntax=uid.RLELossless),
        "jpeg-baseline": make_dicom(grey8, bits_stored=8, transfer_syntax=uid.JPEGBaseline8Bit),
        "jpeg-lossless": make_dicom(transfer_syntax=uid.JPEGLosslessSV1),
        "jpeg-ls": make_dicom(transfer_syntax=uid.JPEGLSLossless),
        "j2k": make_dicom(transfer_syntax=uid.JPEG2000Lossless),
        "rgb": make_dicom(colour, bits_stored=8, photometric="RGB"),
        "ybr-jpeg": make_dicom(colour, bits_stored=8, photometric="YBR_FULL_422", transfer_syntax=uid.JPEGBaseline8Bit),
    }
    inputs = [Input(f"seed-{name}.dcm", _with_patient(data)) for name, data in dicoms.items()]
    inputs.append(Input("seed-deflated.dcm", _deflated(inputs[0].data)))
    page = Image.fromarray(grey8)
    pages = io.BytesIO()
    page.save(pages, "TIFF", save_all=True, append_images=[page])
    exif = Image.Exif()
    exif[0x010E] = "panoramic"  # ImageDescription
    inputs += [
        Input("seed-grey8.png", _png(grey8)),
        Input("seed-grey16.png", _png(grey16)),
        Input("seed-colour.png", _png(colour)),
        Input("seed-palette.png", _pillow(grey8, "PNG", optimize=True)),
        Input("seed-interlaced.png", _pillow(grey8, "PNG", interlace=1)),
        Input("seed-baseline.jpg", _pillow(grey8, "JPEG", quality=90, exif=exif)),
        Input("seed-progressive.jpg", _pillow(colour, "JPEG", progressive=True)),
        Input("seed-restart.jpg", bytes(cv2.imencode(".jpg", grey8, [cv2.IMWRITE_JPEG_RST_INTERVAL, 4])[1])),
        Input("seed-raw.tif", _pillow(grey8, "TIFF")),
        Input("seed-lzw.tif", _pillow(grey8, "TIFF", compression="tiff_lzw")),
        Input("seed-deflate.tif", _pillow(colour, "TIFF", compression="tiff_adobe_deflate")),
        Input("seed-packbits.tif", _pillow(grey8, "TIFF", compression="packbits")),
        Input("seed-jpeg.tif", _pillow(colour, "TIFF", compression="jpeg")),
        Input("seed-grey16.tif", bytes(cv2.imencode(".tif", grey16)[1])),
        Input("seed-pages.tif", pages.getvalue()),
    ]
    return inputs


# --- byte-level mutations --------------------------------------------------------------------------

_BOUNDARY = (0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)


def _position(rng: random.Random, size: int) -> int:
    """A position in ``size`` bytes, half the time within the first 2 KiB (headers, where damage matters)."""
    if rng.random() < 0.5:
        return rng.randrange(min(size, 2048))
    return rng.randrange(size)


def _flip_bits(data: bytearray, rng: random.Random) -> None:
    for _ in range(rng.randint(1, 8)):
        data[_position(rng, len(data))] ^= 1 << rng.randrange(8)


def _set_bytes(data: bytearray, rng: random.Random) -> None:
    for _ in range(rng.randint(1, 4)):
        data[_position(rng, len(data))] = rng.choice((0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF, rng.randrange(256)))


def _set_integer(data: bytearray, rng: random.Random) -> None:
    width = rng.choice((2, 4))
    value = rng.choice(_BOUNDARY) & (2 ** (8 * width) - 1)
    at = _position(rng, max(1, len(data) - width))
    data[at : at + width] = value.to_bytes(width, rng.choice(("little", "big")))


def _cut(data: bytearray, rng: random.Random) -> None:
    del data[rng.randrange(1, len(data)) :]


def _delete(data: bytearray, rng: random.Random) -> None:
    at = _position(rng, len(data))
    del data[at : at + rng.randint(1, 512)]


def _repeat(data: bytearray, rng: random.Random) -> None:
    at = _position(rng, len(data))
    chunk = bytes(data[at : at + rng.randint(1, 64)])
    data[at:at] = chunk * rng.randint(1, 2000)


def _insert_noise(data: bytearray, rng: random.Random) -> None:
    at = _position(rng, len(data))
    data[at:at] = rng.randbytes(rng.randint(1, 256))


_MUTATIONS: tuple[Callable[[bytearray, random.Random], None], ...] = (
    _flip_bits,
    _set_bytes,
    _set_integer,
    _cut,
    _delete,
    _repeat,
    _insert_noise,
)


def mutated(data: bytes, rng: random.Random) -> bytes:
    """``data`` damaged by one to three random byte-level mutations."""
    damaged = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        if len(damaged) < 2:
            break
        rng.choice(_MUTATIONS)(damaged, rng)
    return bytes(damaged)


def spliced(first: bytes, second: bytes, rng: random.Random) -> bytes:
    """The start of one file followed by the end of another (a transfer that mixed two files)."""
    return first[: rng.randrange(1, len(first))] + second[rng.randrange(len(second)) :]


# --- DICOM elements with hostile raw values ---------------------------------------------------------

_NAME = PATIENT["PatientName"].encode()
_HOSTILE_VALUES: tuple[bytes, ...] = (
    b"",
    _NAME,
    PATIENT["PatientID"].encode(),
    _NAME + b"\\" + PATIENT["PatientBirthDate"].encode(),
    b"1.2.840.10008.1.2.1\\" + _NAME,  # multi-valued UID, a name in the second value
    b"1.2.840.10008.5.1.4.1.1.1.1\\1.2.3",
    b"1.2.840." + PATIENT["PatientBirthDate"].encode() + b"." + PATIENT["PatientID"].encode(),
    b"\x00" * 3,
    b"\xff\xfe\xfd\xfc\xfb",
    b"\x10\x00",
    b"\x10\x00\x10\x00",
    b"\x00\x80",
    b"\xff\xff\xff\xff",
    b"-1 ",
    b"0 ",
    b"1e309",
    b"nan ",
    b"99999999",
    b"12\\abc\\",
    b"PALETTE COLOR ",
    b"YBR_ICT ",
    b"MONOCHROME3 ",
    b"A" * 70,
    b"\xfe\xff\x00\xe0\xff\xff\xff\xff",  # an item start where a value belongs
)

# Elements whose values the reader interprets, with the VR each is normally written with.
_TARGETS: tuple[tuple[str, str], ...] = (
    ("TransferSyntaxUID", "UI"),
    ("MediaStorageSOPClassUID", "UI"),
    ("SOPClassUID", "UI"),
    ("Modality", "CS"),
    ("SpecificCharacterSet", "CS"),
    ("Rows", "US"),
    ("Columns", "US"),
    ("BitsAllocated", "US"),
    ("BitsStored", "US"),
    ("HighBit", "US"),
    ("SamplesPerPixel", "US"),
    ("PixelRepresentation", "US"),
    ("PlanarConfiguration", "US"),
    ("PhotometricInterpretation", "CS"),
    ("NumberOfFrames", "IS"),
    ("RescaleSlope", "DS"),
    ("RescaleIntercept", "DS"),
    ("WindowCenter", "DS"),
    ("WindowWidth", "DS"),
    ("VOILUTFunction", "CS"),
    ("PixelSpacing", "DS"),
    ("ImagerPixelSpacing", "DS"),
    ("StudyDate", "DA"),
    ("PatientBirthDate", "DA"),
    ("PatientName", "PN"),
    ("PatientSex", "CS"),
    ("InstitutionName", "LO"),
    ("RedPaletteColorLookupTableDescriptor", "US"),
    ("RedPaletteColorLookupTableData", "OW"),
    ("LUTDescriptor", "US"),
    ("LUTData", "US"),
    ("PixelData", "OB"),
)
_VRS = ("UI", "CS", "US", "SS", "UL", "IS", "DS", "PN", "LO", "OB", "OW", "FD", "AT", "UN", "SQ")


def _raw(keyword: str, vr: str, value: bytes) -> RawDataElement:
    return RawDataElement(Tag(keyword), vr, len(value), value, 0, False, True)


def _lut_item(rng: random.Random) -> Dataset:
    item = Dataset()
    entries = rng.choice((0, 1, 4, 256, 65535))
    item["LUTDescriptor"] = _raw("LUTDescriptor", "US", struct.pack("<HHH", entries, rng.choice((0, 100)), 16))
    item["LUTData"] = _raw("LUTData", rng.choice(("US", "OW")), rng.randbytes(rng.choice((0, 1, 8, 512))))
    if rng.random() < 0.5:
        item["ModalityLUTType"] = _raw("ModalityLUTType", "LO", b"HU")
    return item


def hostile_values(template: bytes, **elements: tuple[str, bytes] | None) -> bytes:
    """``template`` with :data:`PATIENT`'s identity and each keyword set to a raw (VR, value), or removed by None."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(io.BytesIO(_with_patient(template)), force=True)
        file_meta = copy.deepcopy(ds.file_meta) if hasattr(ds, "file_meta") else None
        for keyword, element in elements.items():
            target = file_meta if keyword.startswith(("TransferSyntax", "MediaStorage")) else ds
            assert target is not None
            if element is None:
                del target[Tag(keyword)]
            else:
                target[Tag(keyword)] = _raw(keyword, *element)
        return _written(ds, file_meta)


def hostile_dicom(template: bytes, rng: random.Random) -> bytes:
    """``template`` (a seed DICOM) with one to three interpreted elements set to hostile raw values."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about the values it is made to write
        try:
            return _with_hostile_values(template, rng)
        except Exception:  # pydicom refuses a few combinations (an SQ VR over bytes): keep the template
            return template


def _with_hostile_values(template: bytes, rng: random.Random) -> bytes:
    ds = pydicom.dcmread(io.BytesIO(template), force=True)
    file_meta = copy.deepcopy(ds.file_meta) if "TransferSyntaxUID" in getattr(ds, "file_meta", {}) else None
    for _ in range(rng.randint(1, 3)):
        choice = rng.random()
        if choice < 0.1:
            sequence = rng.choice(("ModalityLUTSequence", "VOILUTSequence"))
            setattr(ds, sequence, [_lut_item(rng)])
            continue
        keyword, vr = rng.choice(_TARGETS)
        if rng.random() < 0.2:
            vr = rng.choice(_VRS)
        value = rng.choice(_HOSTILE_VALUES)
        if len(value) % 2:
            value += b" " if vr not in ("UI", "OB", "OW", "US") else b"\x00"
        if keyword == "PixelData":
            pixels = ds.get_item(Tag(keyword)).value if "PixelData" in ds else b""
            pixels = pixels if isinstance(pixels, bytes) else b""
            value = pixels[: rng.randrange(max(1, len(pixels)))]
        target: Dataset = ds
        if keyword.startswith(("TransferSyntax", "MediaStorage")):
            if file_meta is None:
                continue
            target = file_meta
        if keyword in ("LUTDescriptor", "LUTData"):
            ds.VOILUTSequence = [_lut_item(rng)]
            target = ds.VOILUTSequence[0]
        if keyword == "TransferSyntaxUID" and rng.random() < 0.3:
            # A bad value for VR UI, with the patient's identity right after it in the file.
            value = b"1.2.840.10008.1.2.1\x00\x01" + _NAME
        target[Tag(keyword)] = _raw(keyword, vr, value)
    return _written(ds, file_meta)


# --- resource bombs (issue 11) ---------------------------------------------------------------------


def deflate_bomb(inflated_bytes: int) -> bytes:
    """A Deflated Explicit VR Little Endian DICOM whose data set inflates to about ``inflated_bytes``.

    The data set starts with a private OB element of zeros (a thousand-fold compression) ahead of a
    valid small image, as the 1.2 MB file that inflated to 1 GiB did.
    """
    template = _deflated(_with_patient(make_dicom(bits_stored=8)))
    reader = io.BytesIO(template)
    read_preamble(reader, True)
    pydicom.filereader._read_file_meta_info(reader)
    start = reader.tell()
    body = zlib.decompress(template[start:], -zlib.MAX_WBITS)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    filler = max(0, inflated_bytes - len(body) - 12)
    filler -= filler % 2
    parts = [compressor.compress(struct.pack("<HH2sHI", 0x0009, 0x1010, b"OB", 0, filler))]
    block = bytes(2**20)
    for offset in range(0, filler, len(block)):
        parts.append(compressor.compress(block[: min(len(block), filler - offset)]))
    parts += [compressor.compress(body), compressor.flush()]
    return template[:start] + b"".join(parts)


def many_elements_dicom(count: int) -> bytes:
    """A DICOM with ``count`` distinct private elements (8 bytes each) ahead of a valid image."""
    valid = _with_patient(make_dicom(bits_stored=8))
    reader = io.BytesIO(valid)
    read_preamble(reader, True)
    pydicom.filereader._read_file_meta_info(reader)
    start = reader.tell()
    numbers = np.arange(0x10, 0x10 + count, dtype=np.uint32)
    elements = np.zeros(count, dtype=[("group", "<u2"), ("element", "<u2"), ("vr", "S2"), ("length", "<u2")])
    elements["group"] = 0x0009 + 2 * (numbers >> 16)  # odd groups: private elements, in ascending order
    elements["element"] = numbers & 0xFFFF
    elements["vr"] = b"LO"
    return valid[:start] + elements.tobytes() + valid[start:]


def tiff_pages(count: int) -> bytes:
    """A little-endian TIFF of ``count`` chained one-row pages (an image file directory each, 8-bit grey)."""
    entries = (
        (256, 4, 1, 480),  # ImageWidth
        (257, 4, 1, 1),  # ImageLength
        (258, 3, 1, 8),  # BitsPerSample
        (259, 3, 1, 1),  # Compression: none
        (262, 3, 1, 1),  # PhotometricInterpretation: black is zero
        (273, 4, 1, 8),  # StripOffsets: the row right after the header
        (278, 4, 1, 1),  # RowsPerStrip
        (279, 4, 1, 480),  # StripByteCounts
    )
    ifd_size = 2 + 12 * len(entries) + 4
    first = 8 + 480
    out = bytearray(b"II*\x00" + struct.pack("<I", first) + bytes(480))
    for page in range(count):
        out += struct.pack("<H", len(entries))
        for tag, kind, number, value in entries:
            value_bytes = struct.pack("<I", value) if kind == 4 else struct.pack("<HH", value, 0)
            out += struct.pack("<HHI", tag, kind, number) + value_bytes
        out += struct.pack("<I", first + (page + 1) * ifd_size if page + 1 < count else 0)
    return bytes(out)


def jpeg_with_segments(count: int, marker: bytes = b"\xff\xe1") -> bytes:
    """A valid JPEG with ``count`` empty ``marker`` segments (APP1 by default) right after its SOI."""
    valid = _pillow(panoramic_pattern(0, 255).astype(np.uint8), "JPEG")
    return valid[:2] + (marker + b"\x00\x02") * count + valid[2:]


def jpeg_with_fill(count: int) -> bytes:
    """A valid JPEG with ``count`` 0xFF fill bytes before its first marker after SOI and before EOI."""
    valid = _pillow(panoramic_pattern(0, 255).astype(np.uint8), "JPEG")
    return valid[:2] + b"\xff" * count + valid[2:-2] + b"\xff" * count + valid[-2:]


def png_with_chunks(count: int) -> bytes:
    """A valid PNG with ``count`` empty private ancillary chunks ahead of its image data."""
    valid = _png(panoramic_pattern(0, 255).astype(np.uint8))
    chunk = struct.pack(">I", 0) + b"prVt" + struct.pack(">I", zlib.crc32(b"prVt"))
    at = 8 + 25  # after the signature and IHDR
    return valid[:at] + chunk * count + valid[at:]


def bombs(scale: float = 1.0) -> list[Input]:
    """The issue's resource bombs; ``scale`` 1.0 is full size (each within a 64 MiB upload)."""

    def n(full: int) -> int:
        return max(2, int(full * scale))

    return [
        Input("bomb-deflate-1gib.dcm", deflate_bomb(n(2**30))),
        Input("bomb-tiff-pages.tif", tiff_pages(n(570_000))),
        Input("bomb-jpeg-app1.jpg", jpeg_with_segments(n(15_000_000))),
        Input("bomb-jpeg-fill.jpg", jpeg_with_fill(n(30_000_000))),
        Input("bomb-dicom-tags.dcm", many_elements_dicom(n(7_500_000))),
        Input("bomb-png-chunks.png", png_with_chunks(n(5_000_000))),
    ]


def large_valid() -> list[Input]:
    """Valid scans at the 64-megapixel limit (11,400 x 5,600), the most a legitimate file may cost."""
    height, width = 5_600, 11_400
    ramp = (np.arange(width, dtype=np.uint32)[None, :] + np.arange(height, dtype=np.uint32)[:, None]) % 4096
    grey16 = ramp.astype(np.uint16)
    grey8 = (ramp >> 4).astype(np.uint8)
    del ramp
    return [
        Input("large-64mp-8bit.dcm", make_dicom(grey8, bits_stored=8)),
        Input("large-64mp-12bit-rle.dcm", make_dicom(grey16, transfer_syntax=uid.RLELossless, window=(2048, 4096))),
        Input("large-64mp-16bit.png", _png(grey16)),
        Input("large-64mp.jpg", _pillow(grey8, "JPEG", quality=90)),
        Input("large-64mp-16bit.tif", bytes(cv2.imencode(".tif", grey16)[1])),
    ]


# --- the stream -------------------------------------------------------------------------------------


def corpus(count: int, seed: int = 0, *, bomb_scale: float | None = None) -> Iterator[Input]:
    """``count`` inputs drawn reproducibly from ``seed``: the seeds themselves, then mutants of them.

    ``bomb_scale`` adds :func:`bombs` at that scale first (they count towards ``count``).
    """
    rng = random.Random(seed)
    valid = seeds()
    dicoms = [s for s in valid if s.name.endswith(".dcm")]
    produced = 0
    first = (bombs(bomb_scale) if bomb_scale is not None else []) + valid
    for item in first[:count]:
        yield item
        produced += 1
    while produced < count:
        roll = rng.random()
        template = rng.choice(valid)
        stem = template.name.removeprefix("seed-")
        if roll < 0.35:
            source = rng.choice(dicoms)
            yield Input(f"{produced:05d}-fields-{source.name.removeprefix('seed-')}", hostile_dicom(source.data, rng))
        elif roll < 0.45:
            source = rng.choice(dicoms)
            data = mutated(hostile_dicom(source.data, rng), rng)
            yield Input(f"{produced:05d}-fields-bytes-{source.name.removeprefix('seed-')}", data)
        elif roll < 0.5:
            other = rng.choice(valid)
            yield Input(f"{produced:05d}-splice-{stem}", spliced(template.data, other.data, rng))
        else:
            yield Input(f"{produced:05d}-bytes-{stem}", mutated(template.data, rng))
        produced += 1
