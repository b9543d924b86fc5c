"""A DICOM's compressed frame is checked before its decoder sees it: complete, the declared size, few fragments."""

from __future__ import annotations

import io
import struct

import numpy as np
import pydicom
import pytest
from pydicom import uid
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate, generate_frames

from xrayreport.errors import CorruptScanError, ImageTooLargeError
from xrayreport.ingestion import ScanLimits, load_scan

from .dicom_factory import HEIGHT, WIDTH, make_dicom, panoramic_pattern

JPEG_FAMILY = [uid.JPEGBaseline8Bit, uid.JPEGLosslessSV1, uid.JPEGLSLossless]


def compressed(transfer_syntax: str) -> bytes:
    if transfer_syntax == uid.JPEGBaseline8Bit:
        return make_dicom(panoramic_pattern(0, 255), bits_stored=8, transfer_syntax=transfer_syntax)
    return make_dicom(transfer_syntax=transfer_syntax)


def frame_of(data: bytes) -> bytes:
    ds = pydicom.dcmread(io.BytesIO(data))
    return bytes(next(generate_frames(ds.PixelData, number_of_frames=1)))


def with_frame(data: bytes, frame: bytes, fragments: int = 1) -> bytes:
    """``data`` with its pixel data replaced by ``frame``, split into ``fragments`` fragments."""
    ds = pydicom.dcmread(io.BytesIO(data))
    ds.PixelData = encapsulate([frame + b"\x00" * (len(frame) % 2)], fragments_per_frame=fragments)
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


@pytest.fixture
def decoding_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if the pixel data is decoded: the check must hold before the decoder runs."""

    def refuse(self: Dataset) -> None:
        raise AssertionError("the frame was decoded")

    monkeypatch.setattr(Dataset, "pixel_array", property(refuse))


@pytest.mark.usefixtures("decoding_refused")
@pytest.mark.parametrize("keep", [0.5, 0.9, 0.99])
@pytest.mark.parametrize("transfer_syntax", JPEG_FAMILY, ids=lambda ts: uid.UID(ts).keyword)
def test_a_truncated_jpeg_frame_is_corrupt_not_filled_with_grey(transfer_syntax: str, keep: float) -> None:
    data = compressed(transfer_syntax)
    frame = frame_of(data)
    cut = with_frame(data, frame[: int(len(frame) * keep)])
    with pytest.raises(CorruptScanError, match="truncated"):
        load_scan(cut, name="cut.dcm")


@pytest.mark.parametrize("transfer_syntax", JPEG_FAMILY, ids=lambda ts: uid.UID(ts).keyword)
def test_a_whole_frame_in_many_fragments_still_loads(transfer_syntax: str) -> None:
    data = compressed(transfer_syntax)
    split = with_frame(data, frame_of(data), fragments=7)
    assert np.array_equal(load_scan(split).pixels, load_scan(data).pixels)


def claiming(frame: bytes, transfer_syntax: str, width: int, height: int) -> bytes:
    """``frame`` with the size in its codestream header patched to ``width`` x ``height``."""
    patched = bytearray(frame)
    if transfer_syntax == uid.JPEG2000Lossless:
        siz = patched.index(b"\xff\x51")  # SIZ: marker, length (2), capabilities (2), Xsiz, Ysiz
        patched[siz + 6 : siz + 14] = struct.pack(">II", width, height)
    else:
        sof = max(patched.find(marker) for marker in (b"\xff\xc0", b"\xff\xc3", b"\xff\xf7"))
        patched[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(patched)


@pytest.mark.usefixtures("decoding_refused")
@pytest.mark.parametrize("transfer_syntax", [*JPEG_FAMILY, uid.JPEG2000Lossless], ids=lambda ts: uid.UID(ts).keyword)
def test_a_frame_declaring_another_size_than_the_header_is_refused_before_decoding(transfer_syntax: str) -> None:
    # A JPEG-LS frame claiming 30000 x 30000 in a 480 x 240 DICOM took 70 s and 3.5 GiB to fail in the decoder.
    data = compressed(transfer_syntax)
    bomb = with_frame(data, claiming(frame_of(data), transfer_syntax, 30000, 30000))
    with pytest.raises(CorruptScanError, match=f"30000 x 30000 pixels, not the {WIDTH} x {HEIGHT}"):
        load_scan(bomb, name="bomb.dcm")


@pytest.mark.usefixtures("decoding_refused")
def test_a_frame_in_too_many_fragments_is_refused() -> None:
    data = compressed(uid.JPEGLSLossless)
    split = with_frame(data, frame_of(data), fragments=50)
    with pytest.raises(ImageTooLargeError, match="more than 10 fragments"):
        load_scan(split, name="fragments.dcm", limits=ScanLimits(segments=10))
