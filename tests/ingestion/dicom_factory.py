"""Synthetic panoramic-like DICOM files for the ingestion tests, written with pydicom.

Every file holds a known picture, so a test can compute by hand what ``load_scan`` must return:
:func:`panoramic_pattern` draws a dim jaw-shaped background with two arches of bright "teeth" whose
stored values span exactly ``low..high``, and ``probes`` puts chosen values at the start of the first
row (``stored[0, :len(probes)]``) for exact checks of rescale, window, VOI LUT and inversion.

Transfer syntaxes and their encoders (every one is decoded by the project's own dependencies):

- Explicit / Implicit VR Little Endian: raw bytes.
- RLE Lossless, JPEG 2000 Lossless: pydicom's ``Dataset.compress`` (RLE built in, JPEG 2000 through
  pylibjpeg-openjpeg).
- JPEG Lossless SV1 (process 14) and JPEG-LS Lossless: imagecodecs (libjpeg-turbo, CharLS), because
  pydicom has no encoder for them; unsigned samples only (libjpeg-turbo's lossless mode is unsigned).
- JPEG Baseline: Pillow, 8-bit only and lossy, so tests compare it within a tolerance.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import imagecodecs
import numpy as np
from numpy.typing import NDArray
from PIL import Image
from pydicom import uid
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.filewriter import dcmwrite
from pydicom.sequence import Sequence as DicomSequence

WIDTH, HEIGHT = 480, 240
"""Small enough to be quick, large enough to pass the panoramic size check (400 x 200)."""

PATIENT = {
    "PatientName": "Doe^Jane^Q",
    "PatientID": "P-0042",
    "PatientBirthDate": "19800131",
    "PatientSex": "F",
    "StudyDate": "20240615",
    "InstitutionName": "Riverside Dental Clinic",
}

# Digital X-ray image storage for presentation; the SOP class does not change how pixels are read.
_SOP_CLASSES = {
    "DX": "1.2.840.10008.5.1.4.1.1.1.1",
    "PX": "1.2.840.10008.5.1.4.1.1.1.1",
    "IO": "1.2.840.10008.5.1.4.1.1.1.3",
    "CR": "1.2.840.10008.5.1.4.1.1.1",
    "OT": "1.2.840.10008.5.1.4.1.1.7",
    "CT": "1.2.840.10008.5.1.4.1.1.2",
    "MR": "1.2.840.10008.5.1.4.1.1.4",
}


def panoramic_pattern(
    low: int, high: int, width: int = WIDTH, height: int = HEIGHT, probes: Sequence[int] = ()
) -> NDArray[np.int64]:
    """A jaw-like (height, width) test picture whose values span exactly ``low..high``.

    The background rises from ``low`` at the top and bottom edges to a quarter of the range in the
    middle; two arches of 16 rectangular "teeth" each sit at ``high``. ``probes`` overwrite the first
    pixels of row 0 (they must lie within ``low..high``).
    """
    y = np.arange(height)[:, None]
    middle = 1.0 - np.abs(y - (height - 1) / 2) / ((height - 1) / 2)
    picture = np.broadcast_to(low + np.floor((high - low) * 0.25 * middle), (height, width)).astype(np.int64)
    picture = picture.copy()
    for arch, (top, bottom) in enumerate(((0.25, 0.45), (0.55, 0.75))):
        for tooth in range(16):
            left = int(width * (0.12 + tooth * 0.048))
            # The arches curve: teeth at the sides sit closer to the middle line, like a panoramic smile.
            sag = int(height * 0.06 * abs(tooth - 7.5) / 7.5) * (1 if arch == 0 else -1)
            picture[int(height * top) + sag : int(height * bottom) + sag, left : left + int(width * 0.04)] = high
    if probes:
        values = np.asarray(probes, dtype=np.int64)
        if values.min() < low or values.max() > high:
            raise ValueError(f"probes {list(probes)} must lie within {low}..{high}")
        picture[0, : len(values)] = values
    return picture


def make_dicom(
    stored: NDArray[np.integer] | None = None,
    *,
    bits_stored: int = 12,
    signed: bool = False,
    photometric: str = "MONOCHROME2",
    modality: str | None = "PX",
    transfer_syntax: str = uid.ExplicitVRLittleEndian,
    rescale: tuple[float, float] | None = None,
    window: tuple[float, float] | None = None,
    voi_function: str | None = None,
    voi_lut: tuple[int, int, Sequence[int]] | None = None,
    patient: bool = True,
    pixel_spacing: tuple[float, float] | None = None,
    imager_pixel_spacing: tuple[float, float] | None = None,
    frames: int | None = None,
    with_pixels: bool = True,
    preamble: bool = True,
    extra: dict[str, object] | None = None,
) -> bytes:
    """The bytes of a DICOM file holding ``stored`` (default: :func:`panoramic_pattern` over the full range).

    ``stored`` is (H, W) for MONOCHROME, (H, W, 3) uint8 for RGB, or (frames, H, W) with ``frames``.
    ``rescale`` is (slope, intercept); ``window`` is (center, width); ``voi_lut`` is
    (first mapped value, bits per entry, entries). ``preamble=False`` writes an old-style file: no
    128-byte preamble, no file meta, implicit VR, as ACR-NEMA era software did.
    """
    if stored is None:
        low, high = (-(2 ** (bits_stored - 1)), 2 ** (bits_stored - 1) - 1) if signed else (0, 2**bits_stored - 1)
        stored = panoramic_pattern(low, high)
    bits_allocated = 8 if bits_stored <= 8 else 16
    colour = photometric in ("RGB", "YBR_FULL", "YBR_FULL_422")  # three samples; PALETTE COLOR stores one

    ds = Dataset()
    ds.SOPClassUID = _SOP_CLASSES.get(modality or "OT", _SOP_CLASSES["OT"])
    ds.SOPInstanceUID = uid.generate_uid()
    ds.StudyInstanceUID = uid.generate_uid()
    ds.SeriesInstanceUID = uid.generate_uid()
    if modality is not None:
        ds.Modality = modality
    if patient:
        for keyword, value in PATIENT.items():
            setattr(ds, keyword, value)
    if pixel_spacing:
        ds.PixelSpacing = list(pixel_spacing)
    if imager_pixel_spacing:
        ds.ImagerPixelSpacing = list(imager_pixel_spacing)
    if rescale:
        ds.RescaleSlope, ds.RescaleIntercept = rescale
        ds.RescaleType = "US"
    if window:
        ds.WindowCenter, ds.WindowWidth = window
    if voi_function:
        ds.VOILUTFunction = voi_function
    if voi_lut:
        first, lut_bits, entries = voi_lut
        item = Dataset()
        item.LUTDescriptor = [len(entries), first, lut_bits]
        item.LUTData = [int(v) for v in entries]
        item["LUTData"].VR = "US"
        ds.VOILUTSequence = DicomSequence([item])
    for keyword, value in (extra or {}).items():
        setattr(ds, keyword, value)

    if with_pixels:
        shape = stored.shape[1:] if frames else stored.shape
        ds.Rows, ds.Columns = int(shape[0]), int(shape[1])
        ds.SamplesPerPixel = 3 if colour else 1
        if colour:
            ds.PlanarConfiguration = 0
        ds.PhotometricInterpretation = photometric
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = bits_allocated, bits_stored, bits_stored - 1
        ds.PixelRepresentation = 1 if signed else 0
        if frames:
            ds.NumberOfFrames = frames
        dtype = {8: np.int8 if signed else np.uint8, 16: np.int16 if signed else np.uint16}[bits_allocated]
        samples = np.ascontiguousarray(stored.astype(dtype))
        if transfer_syntax in (uid.ExplicitVRLittleEndian, uid.ImplicitVRLittleEndian):
            ds.PixelData = samples.tobytes()
            ds["PixelData"].VR = "OB" if bits_allocated == 8 else "OW"
        elif transfer_syntax in (uid.RLELossless, uid.JPEG2000Lossless):
            ds.file_meta = _file_meta(ds, uid.ExplicitVRLittleEndian)
            ds.compress(transfer_syntax, samples, generate_instance_uid=False)
        else:
            ds.PixelData = encapsulate([_encode_frame(samples, transfer_syntax, bits_stored, photometric)])
            ds["PixelData"].VR = "OB"

    buffer = io.BytesIO()
    if preamble:
        ds.file_meta = _file_meta(ds, transfer_syntax)
        ds.preamble = b"\x00" * 128
        dcmwrite(buffer, ds, enforce_file_format=True)
    else:
        if hasattr(ds, "file_meta"):
            del ds.file_meta
        dcmwrite(buffer, ds, implicit_vr=True, little_endian=True)
    return buffer.getvalue()


def _file_meta(ds: Dataset, transfer_syntax: str) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = transfer_syntax
    return meta


def _encode_frame(samples: NDArray[np.integer], transfer_syntax: str, bits_stored: int, photometric: str) -> bytes:
    if transfer_syntax == uid.JPEGLosslessSV1:
        encoded: bytes = imagecodecs.jpeg8_encode(samples, lossless=True, predictor=1, bitspersample=bits_stored)
        return encoded
    if transfer_syntax == uid.JPEGLSLossless:
        encoded = imagecodecs.jpegls_encode(samples)
        return encoded
    if transfer_syntax == uid.JPEGBaseline8Bit:
        if samples.dtype != np.uint8:
            raise ValueError("JPEG Baseline holds 8-bit samples only")
        buffer = io.BytesIO()
        # DICOM YBR_FULL_422 is what a JFIF encoder makes from RGB with 4:2:2 chroma subsampling.
        subsampling = 1 if photometric == "YBR_FULL_422" else 0
        Image.fromarray(samples).save(buffer, "JPEG", quality=95, subsampling=subsampling)
        return buffer.getvalue()
    raise ValueError(f"no encoder for transfer syntax {transfer_syntax}")


def no_pixel_data() -> bytes:
    """An encapsulated-PDF object (modality OT, no PixelData), as a report exported by mistake would be."""
    return make_dicom(modality="OT", with_pixels=False, extra={"SOPClassUID": uid.EncapsulatedPDFStorage})


def multi_frame(modality: str, frames: int = 50) -> bytes:
    """A ``frames``-slice volume (e.g. a CBCT) of 400 x 200 slices, each a different ramp."""
    volume = np.stack([panoramic_pattern(0, 255 - i, width=400, height=200) for i in range(frames)])
    return make_dicom(volume, bits_stored=8, modality=modality, frames=frames)
