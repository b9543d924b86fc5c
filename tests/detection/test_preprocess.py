"""Letterboxing a radiograph into the network input and mapping boxes back to original pixels."""

from __future__ import annotations

import numpy as np
import pytest

from xrayreport.detection.config import Preprocessing
from xrayreport.detection.preprocess import Letterbox, letterbox, normalise


def test_a_wide_scan_fills_the_input_and_boxes_round_trip() -> None:
    pixels = np.full((500, 1000), 200, np.uint8)
    canvas, box_map = letterbox(pixels, 640, 320)
    assert canvas.shape == (320, 640) and canvas.dtype == np.uint8
    assert box_map == Letterbox(scale=0.64, original_width=1000, original_height=500)
    assert (canvas == 200).all()  # 1000x500 at 0.64 is exactly 640x320: no padding
    # A tooth at [100, 50, 300, 450] in the scan is at [64, 32, 192, 288] in the network input.
    np.testing.assert_allclose(box_map.to_original(np.array([[64.0, 32.0, 192.0, 288.0]])), [[100, 50, 300, 450]])


def test_a_square_scan_is_padded_right_and_boxes_are_clipped_to_the_image() -> None:
    pixels = np.full((1000, 1000), 255, np.uint8)
    canvas, box_map = letterbox(pixels, 640, 320)
    assert box_map.scale == pytest.approx(0.32)
    assert (canvas[:, :320] == 255).all() and (canvas[:, 320:] == 0).all()
    # A box reaching into the padding ends at the image's right edge, not beyond it.
    np.testing.assert_allclose(box_map.to_original(np.array([[300.0, 0.0, 400.0, 100.0]])), [[937.5, 0, 1000, 312.5]])


def test_a_scale_override_crops_what_falls_outside_the_canvas() -> None:
    pixels = np.arange(100, dtype=np.uint8).reshape(1, 100).repeat(50, axis=0)
    canvas, box_map = letterbox(pixels, 64, 32, scale=1.0)
    assert box_map.scale == 1.0
    np.testing.assert_array_equal(canvas, pixels[:32, :64])


def test_normalise_gives_one_greyscale_channel_scaled_by_mean_and_std() -> None:
    canvas = np.zeros((32, 64), np.uint8)
    canvas[:, 32:] = 255
    plain = normalise(canvas, Preprocessing(input_width=64, input_height=32, mean=0.0, std=1.0))
    tensor = normalise(canvas, Preprocessing(input_width=64, input_height=32, mean=0.5, std=0.25))
    assert tensor.shape == (1, 1, 32, 64) and tensor.dtype == np.float32
    assert plain.min() >= 0.0 and plain.max() <= 1.0
    assert plain[0, 0, 0, 0] < plain[0, 0, 0, -1]  # CLAHE evens contrast out but keeps dark below bright
    np.testing.assert_allclose(tensor, (plain - 0.5) / 0.25, rtol=1e-6)
