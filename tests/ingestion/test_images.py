"""PNG, JPEG and TIFF ingestion: bit depths, colour to grey, and the end-of-file checks."""

from __future__ import annotations

import io
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from xrayreport.errors import CorruptScanError
from xrayreport.ingestion import load_scan

from .dicom_factory import HEIGHT, WIDTH, panoramic_pattern
from .hostile_files import encoded


def cv2_encoded(pixels: np.ndarray, extension: str, *params: int) -> bytes:
    ok, buffer = cv2.imencode(extension, pixels, list(params))
    assert ok
    return buffer.tobytes()


def test_8_bit_grey_png_passes_through_unchanged() -> None:
    picture = panoramic_pattern(0, 255, probes=[0, 1, 254, 255]).astype(np.uint8)
    radiograph = load_scan(encoded(picture, "PNG"), name="scan.png")
    assert (radiograph.file_format, radiograph.bits_stored, radiograph.photometric) == ("PNG", 8, "MONOCHROME2")
    assert (radiograph.width, radiograph.height) == (WIDTH, HEIGHT)
    assert np.array_equal(radiograph.pixels, picture)


@pytest.mark.parametrize("extension", [".png", ".tif"])
def test_16_bit_grey_is_stretched_to_8_bit(extension: str) -> None:
    # 12-bit values in a 16-bit file, as detectors export them: 0..4095 -> 0..255 (2048 -> 127.53 -> 128).
    picture = panoramic_pattern(0, 4095, probes=[0, 16, 2048, 4095]).astype(np.uint16)
    radiograph = load_scan(cv2_encoded(picture, extension), name=f"scan{extension}")
    assert radiograph.bits_stored == 16
    assert radiograph.photometric == "MONOCHROME2"
    assert radiograph.file_format == ("PNG" if extension == ".png" else "TIFF")
    assert [int(v) for v in radiograph.pixels[0, :4]] == [0, 1, 128, 255]
    assert radiograph.pixels.dtype == np.uint8


def bgr_with_primaries() -> np.ndarray:
    grey = panoramic_pattern(0, 255).astype(np.uint8)
    bgr = np.repeat(grey[:, :, None], 3, axis=2)
    bgr[0, :3] = [(0, 0, 255), (0, 255, 0), (255, 0, 0)]  # red, green, blue in OpenCV's BGR order
    return bgr


def test_colour_png_becomes_luminance() -> None:
    radiograph = load_scan(cv2_encoded(bgr_with_primaries(), ".png"), name="scan.png")
    assert (radiograph.bits_stored, radiograph.photometric) == (8, "RGB")
    # ITU-R BT.601: 0.299 R + 0.587 G + 0.114 B
    assert [int(v) for v in radiograph.pixels[0, :3]] == [76, 150, 29]
    assert np.array_equal(radiograph.pixels[1:], panoramic_pattern(0, 255)[1:].astype(np.uint8))


def test_16_bit_colour_png_becomes_8_bit_grey() -> None:
    bgr = bgr_with_primaries().astype(np.uint16) * 257  # 0..255 -> 0..65535
    radiograph = load_scan(cv2_encoded(bgr, ".png"), name="scan.png")
    assert (radiograph.bits_stored, radiograph.photometric) == (16, "RGB")
    assert [int(v) for v in radiograph.pixels[0, :3]] == [76, 150, 29]


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P"])
def test_alpha_and_palette_pngs_become_grey(mode: str) -> None:
    grey = panoramic_pattern(0, 255).astype(np.uint8)
    image = Image.fromarray(grey).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    radiograph = load_scan(buffer.getvalue(), name="scan.png")
    assert radiograph.photometric == ("MONOCHROME2" if mode == "LA" else "RGB")
    assert np.abs(radiograph.pixels.astype(int) - grey).max() <= 1


def test_colour_jpeg_becomes_grey() -> None:
    grey = panoramic_pattern(0, 255).astype(np.uint8)
    data = encoded(np.repeat(grey[:, :, None], 3, axis=2), "JPEG", quality=95)
    radiograph = load_scan(data, name="scan.jpg")
    assert (radiograph.file_format, radiograph.bits_stored, radiograph.photometric) == ("JPEG", 8, "RGB")
    assert np.abs(radiograph.pixels.astype(int) - grey).mean() < 2


@pytest.mark.parametrize(
    "params",
    [
        pytest.param((cv2.IMWRITE_JPEG_PROGRESSIVE, 1), id="progressive"),  # several scans, tables between
        pytest.param((cv2.IMWRITE_JPEG_RST_INTERVAL, 4), id="restart-markers"),
    ],
)
def test_jpeg_structure_walk_accepts_valid_variants(params: tuple[int, int]) -> None:
    grey = panoramic_pattern(0, 255).astype(np.uint8)
    radiograph = load_scan(cv2_encoded(grey, ".jpg", *params), name="scan.jpg")
    assert (radiograph.width, radiograph.height) == (WIDTH, HEIGHT)


@pytest.mark.parametrize("extension", [".png", ".jpg"])
def test_trailing_bytes_after_the_end_marker_are_accepted(extension: str) -> None:
    # Some transfer tools pad files; the image itself is complete.
    data = cv2_encoded(panoramic_pattern(0, 255).astype(np.uint8), extension) + b"\x00\x1a" * 100
    assert load_scan(data, name=f"scan{extension}").width == WIDTH


@pytest.mark.parametrize("extension", [".png", ".jpg"])
@pytest.mark.parametrize("keep", [0.95, 0.6, 0.1])
def test_files_cut_anywhere_are_rejected(extension: str, keep: float) -> None:
    data = cv2_encoded(panoramic_pattern(0, 255).astype(np.uint8), extension)
    with pytest.raises(CorruptScanError, match="truncated"):
        load_scan(data[: int(len(data) * keep)], name=f"scan{extension}")


def test_jpeg_cut_after_an_embedded_end_marker_is_rejected() -> None:
    # A comment holding FF D9 (as an EXIF thumbnail's end would), then the image cut short.
    data = cv2_encoded(panoramic_pattern(0, 255).astype(np.uint8), ".jpg")
    comment = b"\xff\xfe" + (2 + 4).to_bytes(2, "big") + b"\xff\xd9\xff\xd9"
    with_comment = data[:2] + comment + data[2:]
    assert load_scan(with_comment, name="scan.jpg").width == WIDTH
    with pytest.raises(CorruptScanError, match="truncated"):
        load_scan(with_comment[: len(comment) + 600], name="scan.jpg")


def test_exif_orientation_is_not_applied() -> None:
    # Findings boxes are in stored pixels, so the stored orientation is kept.
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    buffer = io.BytesIO()
    Image.fromarray(panoramic_pattern(0, 255).astype(np.uint8)).save(buffer, "JPEG", exif=exif)
    radiograph = load_scan(buffer.getvalue(), name="scan.jpg")
    assert (radiograph.width, radiograph.height) == (WIDTH, HEIGHT)


def test_images_carry_no_dicom_metadata() -> None:
    radiograph = load_scan(encoded(panoramic_pattern(0, 255), "PNG"), name="scan.png")
    assert radiograph.metadata.present_patient_fields() == []
    assert radiograph.metadata.modality is None
    assert radiograph.pixel_spacing_mm is None


def damaged_jpeg_scan_data() -> bytes:
    """A JPEG whose entropy-coded data is overwritten in its middle (structure intact: libjpeg complains)."""
    data = bytearray(cv2_encoded(panoramic_pattern(0, 255).astype(np.uint8), ".jpg"))
    start = data.index(b"\xff\xda") + 20
    middle = start + (len(data) - start) // 2
    data[middle : middle + 64] = bytes(range(1, 65))
    return bytes(data)


def damaged_png_image_data() -> bytes:
    """A PNG whose compressed image data is damaged but whose CRCs are recomputed (libpng complains)."""
    data = bytearray(cv2_encoded(panoramic_pattern(0, 255).astype(np.uint8), ".png"))
    idat = data.index(b"IDAT")
    length = int.from_bytes(data[idat - 4 : idat], "big")
    data[idat + 4 + length // 2 : idat + 4 + length // 2 + 32] = bytes(range(200, 232))
    end = idat + 4 + length
    data[end : end + 4] = zlib.crc32(bytes(data[idat:end])).to_bytes(4, "big")
    return bytes(data)


def damaged_lzw_tiff() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(panoramic_pattern(0, 255).astype(np.uint8)).save(buffer, "TIFF", compression="tiff_lzw")
    data = bytearray(buffer.getvalue())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)
    return bytes(data)


def test_decoders_print_nothing_of_their_own(tmp_path: Path) -> None:
    # libpng and libjpeg (through OpenCV) wrote "libpng error: ..." and "Corrupt JPEG data: ..." to stderr,
    # so a bad file was more than the one line the command promises.
    files = {
        "scan-data.jpg": damaged_jpeg_scan_data(),
        "image-data.png": damaged_png_image_data(),
        "lzw.tif": damaged_lzw_tiff(),
        "exif.jpg": encoded(panoramic_pattern(0, 255), "JPEG", exif=b"Exif\x00\x00II*\x00\x08\x00\x00\x00\xff\xff"),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        result = subprocess.run(
            [sys.executable, "-m", "xrayreport", "inspect", str(tmp_path / name)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if result.returncode == 0:
            assert result.stderr == "", (name, result.stderr)
        else:
            assert result.stderr.count("\n") == 1 and result.stderr.startswith("xrayreport: error: "), (
                name,
                result.stderr,
            )


def test_a_png_whose_image_data_fails_its_crc_is_damaged() -> None:
    # Pillow does not check the CRC of image data: one changed byte would decode as a wrong pixel.
    data = bytearray(cv2_encoded(panoramic_pattern(0, 255).astype(np.uint8), ".png"))
    idat = data.index(b"IDAT")
    data[idat + 40] ^= 0x01
    with pytest.raises(CorruptScanError, match="damaged"):
        load_scan(bytes(data), name="scan.png")
