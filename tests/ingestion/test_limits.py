"""Resource caps: a file that would cost far more to read than any panoramic is refused before the work."""

from __future__ import annotations

import io
import sys
import tracemalloc
from collections.abc import Callable
from types import CodeType, FrameType
from typing import Any

import cv2
import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset

from xrayreport.errors import ImageTooLargeError, NotAPanoramicError
from xrayreport.ingestion import ScanLimits, load_scan
from xrayreport.ingestion.structure import jpeg_structure

from .dicom_factory import WIDTH, make_dicom
from .fuzz_corpus import (
    _deflated,
    deflate_bomb,
    jpeg_with_fill,
    jpeg_with_segments,
    many_elements_dicom,
    png_with_chunks,
    tiff_pages,
)


def test_a_deflated_dicom_loads_like_the_uncompressed_one() -> None:
    plain = make_dicom()
    assert np.array_equal(load_scan(_deflated(plain)).pixels, load_scan(plain).pixels)


def test_a_deflate_bomb_is_refused_once_the_inflated_size_passes_the_cap() -> None:
    bomb = deflate_bomb(64 * 2**20)  # 64 KiB on disk
    assert len(bomb) < 2**20
    limits = ScanLimits(dicom_bytes=4 * 2**20)
    tracemalloc.start()
    try:
        with pytest.raises(ImageTooLargeError, match=r"inflates to more than 4 MiB") as caught:
            load_scan(bomb, name="bomb.dcm", limits=limits)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20  # inflating stopped at the cap: nowhere near the 64 MiB the file holds
    assert str(caught.value).startswith("bomb.dcm: ") and "\n" not in str(caught.value)


def test_a_truncated_deflated_data_set_is_damaged() -> None:
    data = _deflated(make_dicom())
    with pytest.raises(Exception, match="damaged or truncated"):
        load_scan(data[: len(data) - 2000], name="cut.dcm")


def test_a_dicom_of_many_tiny_elements_is_refused_at_the_element_cap() -> None:
    # 5,000 empty private elements: proportionally the 7.5 million that took 30 s and 2.5 GiB.
    data = many_elements_dicom(5_000)
    assert load_scan(data).width > 0  # under the default cap it is an ordinary file
    with pytest.raises(ImageTooLargeError, match=r"more than 1,000 data elements"):
        load_scan(data, name="tags.dcm", limits=ScanLimits(dicom_elements=1_000))


def with_items(count: int, keyword: str, undefined_length: bool) -> bytes:
    """The factory's DICOM with a sequence ``keyword`` of ``count`` one-element items."""
    ds = pydicom.dcmread(io.BytesIO(make_dicom()))
    items = []
    for number in range(count):
        item = Dataset()
        item.ReferencedSOPInstanceUID = f"1.2.3.{number}"
        items.append(item)
    setattr(ds, keyword, items)
    ds[keyword].is_undefined_length = undefined_length
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("keyword", "undefined_length"),
    [
        ("ReferencedImageSequence", True),  # pydicom parses it with the data set
        ("VOILUTSequence", False),  # parsed when used: the reader uses it, so it is parsed within the cap
    ],
)
def test_the_element_cap_counts_inside_sequences_too(keyword: str, undefined_length: bool) -> None:
    data = with_items(1_500, keyword, undefined_length)
    with pytest.raises(ImageTooLargeError, match=r"more than 1,000 data elements"):
        load_scan(data, name="nested.dcm", limits=ScanLimits(dicom_elements=1_000))


@pytest.fixture
def pillow_must_not_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if Pillow is asked to open the file: the cap must hold before its header parser runs."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("Pillow parsed a file that a cap should have refused first")

    monkeypatch.setattr("xrayreport.ingestion.radiograph.Image.open", refuse)


@pytest.mark.usefixtures("pillow_must_not_parse")
@pytest.mark.parametrize(
    ("data", "says"),
    [
        # 5,000 empty APP1 segments: proportionally the 15 million that took 32 s and 3.6 GiB in Pillow.
        pytest.param(jpeg_with_segments(5_000), "more than 1,000 marker segments", id="jpeg-app1"),
        pytest.param(jpeg_with_segments(5_000, b"\xff\xfe"), "more than 1,000 marker segments", id="jpeg-comments"),
        pytest.param(png_with_chunks(5_000), "more than 1,000 chunks", id="png-chunks"),
    ],
)
def test_segment_bombs_are_refused_before_pillow_parses_them(data: bytes, says: str) -> None:
    with pytest.raises(ImageTooLargeError, match=says) as caught:
        load_scan(data, name="bomb", limits=ScanLimits(segments=1_000))
    assert "\n" not in str(caught.value)


def test_segments_under_the_cap_are_an_ordinary_file() -> None:
    assert load_scan(jpeg_with_segments(900), limits=ScanLimits(segments=1_000)).width == WIDTH
    assert load_scan(png_with_chunks(900), limits=ScanLimits(segments=1_000)).width == WIDTH


def python_lines_run(function: Callable[[], object], code: CodeType) -> int:
    """How many lines of ``code`` Python executes while ``function`` runs (a measure of work, not of time)."""
    lines = 0

    def trace(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal lines
        if frame.f_code is not code:
            return None
        if event == "line":
            lines += 1
        return trace

    sys.settrace(trace)
    try:
        function()
    finally:
        sys.settrace(None)
    return lines


def test_jpeg_fill_bytes_cost_no_python_loop_per_byte() -> None:
    # 0xFF padding before markers and before the end made the walk loop once per byte (11-27 s at 64 MiB).
    padded = jpeg_with_fill(30_000)
    assert load_scan(padded, name="padded.jpg").width == WIDTH
    lines = python_lines_run(lambda: jpeg_structure(padded, 65_536), jpeg_structure.__code__)
    assert lines < 500


@pytest.mark.usefixtures("pillow_must_not_parse")
def test_jpeg_fill_bytes_count_towards_the_segment_cap() -> None:
    # Pillow's header parser steps over fill bytes one by one in Python: 30 million took 40 s.
    with pytest.raises(ImageTooLargeError, match="more than 1,000 marker segments and fill bytes"):
        load_scan(jpeg_with_fill(5_000), name="padded.jpg", limits=ScanLimits(segments=1_000))


def test_a_tiff_of_many_pages_is_refused_without_walking_them_all() -> None:
    # 5,000 chained pages: Pillow's n_frames walked all 570,000 of the file (over 120 s).
    with pytest.raises(NotAPanoramicError, match="holds more than 1,000 images"):
        load_scan(tiff_pages(5_000), name="pages.tif")
    with pytest.raises(NotAPanoramicError, match="holds 3 images"):
        load_scan(tiff_pages(3), name="pages.tif")
    looping = bytearray(tiff_pages(2))
    looping[-4:] = (8 + 480).to_bytes(4, "little")  # the second page links back to the first
    with pytest.raises(NotAPanoramicError, match="holds 2 images"):
        load_scan(bytes(looping), name="loop.tif")


def test_a_dicom_too_large_once_decoded_is_refused_before_decoding() -> None:
    # 480 x 240 RGB: within a pixel limit of 150,000, but 345,600 decoded bytes are over twice that.
    data = make_dicom(np.zeros((240, 480, 3), np.uint8), bits_stored=8, photometric="RGB")
    assert load_scan(data).width == WIDTH
    with pytest.raises(ImageTooLargeError, match="once decoded"):
        load_scan(data, name="rgb.dcm", limits=ScanLimits(pixels=150_000))


def ramp(height: int, width: int) -> np.ndarray:
    return ((np.arange(width)[None, :] + np.arange(height)[:, None]) % 4096).astype(np.uint16)


@pytest.mark.parametrize("kind", ["dicom-used-range", "dicom-rescale-window", "dicom-rgb", "png-16-bit", "tiff-16-bit"])
def test_grey_levels_never_hold_the_whole_image_in_float64(kind: str) -> None:
    # A 64-megapixel 16-bit image within the upload limit peaked at 2.8 GiB: the grey-level transforms
    # made several float64 copies of it (8 bytes a pixel each, 36 bytes a pixel in all).
    height, width = 1_500, 3_000
    grey = ramp(height, width)
    data = {
        "dicom-used-range": lambda: make_dicom(grey),
        "dicom-rescale-window": lambda: make_dicom(grey, rescale=(2, -100), window=(2000, 1000)),
        "dicom-rgb": lambda: make_dicom(
            np.repeat((grey >> 4).astype(np.uint8)[:, :, None], 3, 2), bits_stored=8, photometric="RGB"
        ),
        "png-16-bit": lambda: cv2.imencode(".png", grey)[1].tobytes(),
        "tiff-16-bit": lambda: cv2.imencode(".tif", grey)[1].tobytes(),
    }[kind]()
    tracemalloc.start()
    try:
        load_scan(data, name=kind)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * height * width
