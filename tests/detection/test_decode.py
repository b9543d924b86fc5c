"""CenterNet decoding of a hand-made network output: peaks, offsets and sizes -> exact boxes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from xrayreport.detection.decode import decode

CLASSES, FDI, H, W, STRIDE = 2, 4, 30, 40, 4


def outputs() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Empty network outputs: (heatmap, fdi logits, log size, offset), each (channels, H, W) float32."""
    return (
        np.zeros((CLASSES, H, W), np.float32),
        np.zeros((FDI, H, W), np.float32),
        np.zeros((2, H, W), np.float32),
        np.zeros((2, H, W), np.float32),
    )


def put(
    maps: tuple[np.ndarray, ...], cls: int, y: int, x: int, score: float, size: tuple[float, float], off=(0.0, 0.0)
) -> None:
    """One object: its peak at cell (y, x), box size (w, h) in cells and sub-cell centre offset (dx, dy)."""
    heatmap, _, log_size, offset = maps
    heatmap[cls, y, x] = score
    log_size[:, y, x] = np.log(size)
    offset[:, y, x] = off


def run(maps: tuple[np.ndarray, ...], thresholds=(0.3, 0.3), nms_iou=0.5, max_detections=100):
    heatmap, fdi, size, offset = maps
    return decode(
        heatmap,
        fdi,
        size,
        offset,
        stride=STRIDE,
        thresholds=np.array(thresholds),
        nms_iou=nms_iou,
        max_detections=max_detections,
    )


def test_a_peak_becomes_a_box_from_its_offset_and_log_size() -> None:
    maps = outputs()
    put(maps, 0, y=10, x=10, score=0.9, size=(8, 16), off=(0.25, 0.5))
    maps[1][2, 10, 10] = math.log(3)  # FDI class 2 three times as likely as each of the other three
    raw = run(maps)
    # Centre (10.25, 10.5) cells = (41, 42) px; size 8 x 16 cells = 32 x 64 px.
    np.testing.assert_allclose(raw.boxes, [[25, 10, 57, 74]])
    np.testing.assert_allclose(raw.scores, [0.9], rtol=1e-6)
    np.testing.assert_array_equal(raw.classes, [0])
    np.testing.assert_allclose(raw.fdi_probabilities, [[1 / 6, 1 / 6, 3 / 6, 1 / 6]])


def test_peaks_below_their_class_threshold_are_dropped() -> None:
    maps = outputs()
    put(maps, 0, y=5, x=5, score=0.25, size=(4, 4))
    put(maps, 1, y=20, x=30, score=0.25, size=(4, 4))
    raw = run(maps, thresholds=(0.3, 0.2))
    np.testing.assert_array_equal(raw.classes, [1])
    np.testing.assert_allclose(raw.boxes, [[112, 72, 128, 88]])


def test_nothing_found_gives_empty_arrays_of_the_right_shape() -> None:
    raw = run(outputs())
    assert raw.boxes.shape == (0, 4) and raw.scores.shape == (0,) and raw.classes.shape == (0,)
    assert raw.fdi_probabilities.shape == (0, FDI)


def test_only_the_maximum_of_a_3x3_neighbourhood_is_a_peak() -> None:
    maps = outputs()
    put(maps, 0, y=10, x=10, score=0.9, size=(2, 2))
    put(maps, 0, y=11, x=11, score=0.8, size=(2, 2))  # touches the 0.9 cell: not a peak
    put(maps, 0, y=10, x=13, score=0.7, size=(2, 2))  # three cells away: its own peak, boxes do not overlap
    raw = run(maps)
    np.testing.assert_allclose(raw.scores, [0.9, 0.7], rtol=1e-6)
    np.testing.assert_allclose(raw.boxes[:, 0], [36, 48])


def test_overlapping_boxes_of_one_class_are_suppressed_but_other_classes_are_kept() -> None:
    maps = outputs()
    put(maps, 0, y=10, x=10, score=0.9, size=(10, 10))
    put(maps, 0, y=10, x=12, score=0.6, size=(10, 10))  # a second peak on the same tooth: IoU 8/12 = 0.67
    put(maps, 0, y=10, x=30, score=0.5, size=(10, 10))  # another tooth
    put(maps, 1, y=12, x=11, score=0.4, size=(2, 2))  # a finding on the tooth is a different class
    raw = run(maps)
    np.testing.assert_array_equal(raw.classes, [0, 0, 1])
    np.testing.assert_allclose(raw.scores, [0.9, 0.5, 0.4], rtol=1e-6)
    # At a looser IoU limit the double peak survives.
    assert len(run(maps, nms_iou=0.7).boxes) == 4


@pytest.mark.parametrize("limit", [1, 2])
def test_max_detections_keeps_the_highest_scores(limit: int) -> None:
    maps = outputs()
    for x, score in ((5, 0.5), (15, 0.9), (25, 0.7)):
        put(maps, 0, y=10, x=x, score=score, size=(2, 2))
    np.testing.assert_allclose(run(maps, max_detections=limit).scores, [0.9, 0.7][:limit], rtol=1e-6)
