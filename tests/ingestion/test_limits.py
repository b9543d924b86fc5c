"""Resource caps: a file that would cost far more to read than any panoramic is refused before the work."""

from __future__ import annotations

import io
import tracemalloc

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset

from xrayreport.errors import ImageTooLargeError
from xrayreport.ingestion import ScanLimits, load_scan

from .dicom_factory import make_dicom
from .fuzz_corpus import _deflated, deflate_bomb, many_elements_dicom


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
