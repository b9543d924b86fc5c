"""DICOM ingestion: generated files of each kind, with pixel values computed by hand."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from pydicom import uid

from xrayreport.ingestion import load_scan

from .dicom_factory import HEIGHT, WIDTH, make_dicom, panoramic_pattern


def first_row(data: bytes, count: int) -> list[int]:
    return [int(v) for v in load_scan(data, name="scan.dcm").pixels[0, :count]]


# --- grey-level transforms -------------------------------------------------------------------


def test_12_bit_without_window_stretches_the_used_range() -> None:
    # 0..4095 used; v -> rint(v * 255 / 4095): 2048 -> 127.53 -> 128, 4095 -> 255.
    stored = panoramic_pattern(0, 4095, probes=[0, 16, 2048, 4095])
    assert first_row(make_dicom(stored), 4) == [0, 1, 128, 255]


def test_monochrome1_is_inverted_so_bone_stays_bright() -> None:
    stored = panoramic_pattern(0, 4095, probes=[0, 16, 2048, 4095])
    assert first_row(make_dicom(stored, photometric="MONOCHROME1"), 4) == [255, 254, 127, 0]
    teeth = load_scan(make_dicom(stored, photometric="MONOCHROME1")).pixels == 0
    assert teeth.sum() > 0.05 * WIDTH * HEIGHT  # stored at the maximum, MONOCHROME1 shows them black


def test_linear_window_follows_the_dicom_formula() -> None:
    # Center 2048, width 1024: x <= 1536 -> 0, x > 2559 -> 255, else ((x - 2047.5) / 1023 + 0.5) * 255.
    stored = panoramic_pattern(0, 4095, probes=[0, 1536, 1537, 1792, 2048, 2559, 2560, 4095])
    data = make_dicom(stored, window=(2048, 1024))
    assert first_row(data, 8) == [0, 0, 0, 64, 128, 255, 255, 255]


def test_window_applies_to_rescaled_values() -> None:
    # Slope 2, intercept -1000: 500 -> 0, 750 -> 500, 1000 -> 1000. Window 1000/2000 over -1..1999:
    # ((y - 999.5) / 1999 + 0.5) * 255 -> 0 -> 0.06 -> 0, 500 -> 63.8 -> 64, 1000 -> 127.6 -> 128.
    stored = panoramic_pattern(0, 4095, probes=[0, 500, 750, 1000, 1500])
    data = make_dicom(stored, rescale=(2, -1000), window=(1000, 2000))
    assert first_row(data, 5) == [0, 0, 64, 128, 255]


def test_window_top_reaches_white_with_a_negative_intercept() -> None:
    # The window maps onto the display range whatever the rescale: its top must be 255, not 191.
    stored = panoramic_pattern(0, 4095, probes=[1024, 2047, 2048, 3000])
    data = make_dicom(stored, rescale=(1, -1024), window=(1024, 1024))
    assert first_row(data, 4) == [0, 127, 128, 255]


def test_linear_exact_and_sigmoid_windows() -> None:
    stored = panoramic_pattern(0, 4095, probes=[1536, 1792, 2048, 2560])
    # LINEAR_EXACT: ((x - 2048) / 1024 + 0.5) * 255 -> 0, 63.75 -> 64, 127.5 -> 128, 255.
    assert first_row(make_dicom(stored, window=(2048, 1024), voi_function="LINEAR_EXACT"), 4) == [0, 64, 128, 255]
    # SIGMOID: 255 / (1 + exp(-4 (x - 2048) / 1024)): 30.4, 68.6, 127.5, 224.6.
    assert first_row(make_dicom(stored, window=(2048, 1024), voi_function="SIGMOID"), 4) == [30, 69, 128, 225]


def test_window_with_monochrome1_inverts_after_windowing() -> None:
    stored = panoramic_pattern(0, 4095, probes=[1536, 1792, 2048, 2560])
    data = make_dicom(stored, window=(2048, 1024), photometric="MONOCHROME1")
    assert first_row(data, 4) == [255, 191, 127, 0]


def test_unusable_window_falls_back_to_the_used_range() -> None:
    stored = panoramic_pattern(0, 4095, probes=[0, 2048, 4095])
    assert first_row(make_dicom(stored, window=(2048, 0)), 3) == [0, 128, 255]


def test_voi_lut_sequence_is_applied_and_its_output_range_stretched() -> None:
    # An inverting 8-bit LUT of 256 entries starting at 1000: x < 1000 -> entry 0 (255),
    # 1100 -> entry 100 (155), x >= 1255 -> last entry (0).
    stored = panoramic_pattern(0, 4095, probes=[0, 1000, 1100, 1255, 4095])
    data = make_dicom(stored, voi_lut=(1000, 8, list(range(255, -1, -1))))
    assert first_row(data, 5) == [255, 255, 155, 0, 0]


def test_voi_lut_wins_over_the_window_and_12_bit_entries_reach_white() -> None:
    # Entries 0..4095 in a LUT that claims 16 bits: its own range, not 65535, becomes 0..255.
    entries = list(range(0, 4096, 16))  # 256 entries, 0..4080
    stored = panoramic_pattern(0, 4095, probes=[0, 128, 255, 4095])
    data = make_dicom(stored, voi_lut=(0, 16, entries), window=(100, 10))
    assert first_row(data, 4) == [0, 128, 255, 255]


@pytest.mark.parametrize("bits", [12, 16])
def test_signed_samples_keep_their_order(bits: int) -> None:
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    stored = panoramic_pattern(low, high, probes=[low, -1, 0, high])
    data = make_dicom(stored, bits_stored=bits, signed=True)
    # (v - low) * 255 / (high - low): -1 and 0 sit just below and at the middle.
    assert first_row(data, 4) == [0, 127, 128, 255]


def test_signed_samples_with_rescale_and_window() -> None:
    # Signed 16-bit, intercept +1000: stored -1000 -> 0 and 1000 -> 2000; window 1000/2000.
    stored = panoramic_pattern(-32768, 32767, probes=[-1000, 0, 1000])
    data = make_dicom(stored, bits_stored=16, signed=True, rescale=(1, 1000), window=(1000, 2000))
    assert first_row(data, 3) == [0, 128, 255]


def test_8_bit_samples_pass_through() -> None:
    stored = panoramic_pattern(0, 255, probes=[0, 1, 128, 255])
    radiograph = load_scan(make_dicom(stored, bits_stored=8))
    assert radiograph.bits_stored == 8
    assert np.array_equal(radiograph.pixels, stored.astype(np.uint8))


# --- transfer syntaxes -----------------------------------------------------------------------

LOSSLESS = [
    pytest.param(uid.ExplicitVRLittleEndian, 12, False, id="explicit-little"),
    pytest.param(uid.ImplicitVRLittleEndian, 16, False, id="implicit-little"),
    pytest.param(uid.RLELossless, 12, False, id="rle-12"),
    pytest.param(uid.RLELossless, 16, True, id="rle-16-signed"),
    pytest.param(uid.JPEG2000Lossless, 12, False, id="j2k-12"),
    pytest.param(uid.JPEG2000Lossless, 16, True, id="j2k-16-signed"),
    pytest.param(uid.JPEGLosslessSV1, 12, False, id="jpeg-lossless-12"),
    pytest.param(uid.JPEGLosslessSV1, 16, False, id="jpeg-lossless-16"),
    pytest.param(uid.JPEGLSLossless, 12, False, id="jpeg-ls-12"),
]


@pytest.mark.parametrize(("syntax", "bits", "signed"), LOSSLESS)
def test_lossless_transfer_syntaxes_decode_exactly(syntax: str, bits: int, signed: bool) -> None:
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    stored = panoramic_pattern(low, high)
    reference = load_scan(make_dicom(stored, bits_stored=bits, signed=signed)).pixels
    radiograph = load_scan(make_dicom(stored, bits_stored=bits, signed=signed, transfer_syntax=syntax))
    assert (radiograph.width, radiograph.height, radiograph.bits_stored) == (WIDTH, HEIGHT, bits)
    assert np.array_equal(radiograph.pixels, reference)
    expected = np.rint((stored - low) * (255 / (high - low))).astype(np.uint8)
    assert np.array_equal(radiograph.pixels, expected)


def test_jpeg_baseline_decodes_close_to_the_original() -> None:
    stored = panoramic_pattern(0, 255)
    radiograph = load_scan(make_dicom(stored, bits_stored=8, transfer_syntax=uid.JPEGBaseline8Bit))
    error = np.abs(radiograph.pixels.astype(int) - stored)
    assert error.mean() < 2 and radiograph.bits_stored == 8


def test_rgb_secondary_capture_becomes_luminance() -> None:
    rgb = np.repeat(panoramic_pattern(0, 255)[:, :, None], 3, axis=2).astype(np.uint8)
    rgb[0, :3] = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]  # BT.601: 0.299, 0.587, 0.114 of 255
    radiograph = load_scan(make_dicom(rgb, bits_stored=8, photometric="RGB", modality="OT"))
    assert radiograph.photometric == "RGB"
    assert [int(v) for v in radiograph.pixels[0, :3]] == [76, 150, 29]
    assert np.array_equal(radiograph.pixels[1:], rgb[1:, :, 0])


def test_ybr_jpeg_secondary_capture_becomes_luminance() -> None:
    rgb = np.repeat(panoramic_pattern(0, 255)[:, :, None], 3, axis=2).astype(np.uint8)
    data = make_dicom(rgb, bits_stored=8, photometric="YBR_FULL_422", transfer_syntax=uid.JPEGBaseline8Bit)
    radiograph = load_scan(data)
    assert radiograph.photometric == "YBR_FULL_422"
    assert np.abs(radiograph.pixels.astype(int) - rgb[:, :, 0]).mean() < 2


def test_file_without_preamble_and_file_meta_is_read() -> None:
    stored = panoramic_pattern(0, 4095, probes=[0, 2048, 4095])
    data = make_dicom(stored, preamble=False)
    assert data[128:132] != b"DICM" and data[:2] == b"\x08\x00"
    radiograph = load_scan(data)
    assert radiograph.file_format == "DICOM"
    assert [int(v) for v in radiograph.pixels[0, :3]] == [0, 128, 255]
    assert radiograph.metadata.patient_id == "P-0042"


# --- modalities, metadata, spacing -----------------------------------------------------------


@pytest.mark.parametrize("modality", ["PX", "DX", "CR", "IO", "OT", None])
def test_dental_modalities_are_accepted(modality: str | None) -> None:
    radiograph = load_scan(make_dicom(modality=modality))
    assert radiograph.metadata.modality == modality
    assert (radiograph.width, radiograph.height) == (WIDTH, HEIGHT)


def test_metadata_is_parsed_for_a_report() -> None:
    meta = load_scan(make_dicom()).metadata
    assert meta.patient_name == "Doe Jane Q"  # DICOM PN "Doe^Jane^Q", components in their order
    assert meta.patient_id == "P-0042"
    assert meta.birth_date == "1980-01-31"
    assert meta.sex == "F"
    assert meta.study_date == "2024-06-15"
    assert meta.institution == "Riverside Dental Clinic"
    assert meta.modality == "PX"
    assert meta.present_patient_fields() == ["patient_name", "patient_id", "birth_date", "sex"]


@pytest.mark.filterwarnings("ignore:Invalid value for VR DA")  # pydicom, while the test writes the bad date
def test_absent_and_malformed_patient_fields_are_none() -> None:
    assert load_scan(make_dicom(patient=False)).metadata.present_patient_fields() == []
    extra = {
        "PatientName": "Yamada^Tarou=山田^太郎",
        "PatientBirthDate": "19801399",  # no 13th month
        "PatientSex": "X",
        "StudyDate": "",
        "ContentDate": "20240102",
        "SpecificCharacterSet": "ISO_IR 192",
    }
    meta = load_scan(make_dicom(patient=False, extra=extra)).metadata
    assert meta.patient_name == "Yamada Tarou"  # the first (alphabetic) group
    assert meta.birth_date is None
    assert meta.sex is None
    assert meta.study_date == "2024-01-02"  # falls back to ContentDate


@pytest.mark.parametrize(
    ("pixel", "imager", "expected"),
    [
        ((0.1, 0.12), (0.2, 0.2), (0.1, 0.12)),  # calibrated spacing wins
        (None, (0.125, 0.125), (0.125, 0.125)),  # else the detector's
        (None, None, None),
        ((0.0, 0.1), None, None),  # zero spacing means unknown
    ],
)
def test_pixel_spacing(
    pixel: tuple[float, float] | None, imager: tuple[float, float] | None, expected: tuple[float, float] | None
) -> None:
    radiograph = load_scan(make_dicom(pixel_spacing=pixel, imager_pixel_spacing=imager))
    assert radiograph.pixel_spacing_mm == expected


def test_sha256_and_name_identify_the_file() -> None:
    data = make_dicom()
    radiograph = load_scan(data, name="/clinic/patients/scan.dcm")
    assert radiograph.sha256 == hashlib.sha256(data).hexdigest()
    assert radiograph.source_name == "scan.dcm"  # never the directories


def test_palette_colour_is_looked_up_then_made_grey() -> None:
    # A 16-bit grey ramp palette (entry i -> i * 257 in R, G and B) with entry 1 pure red.
    red = np.arange(256, dtype="<u2") * 257
    green, blue = red.copy(), red.copy()
    green[1] = blue[1] = 0
    red[1] = 65535
    palette = {f"{colour}PaletteColorLookupTableDescriptor": [256, 0, 16] for colour in ("Red", "Green", "Blue")} | {
        "RedPaletteColorLookupTableData": red.tobytes(),
        "GreenPaletteColorLookupTableData": green.tobytes(),
        "BluePaletteColorLookupTableData": blue.tobytes(),
    }
    stored = panoramic_pattern(0, 255, probes=[0, 1, 128, 255])
    radiograph = load_scan(make_dicom(stored, bits_stored=8, photometric="PALETTE COLOR", modality="OT", extra=palette))
    assert [int(v) for v in radiograph.pixels[0, :4]] == [0, 76, 128, 255]
