"""Augmentation keeps boxes on their objects and FDI numbers on the right side of the mouth."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from training.still_augmentation import STILL
from xrayreport.training.augment import AugmentConfig, augment, mapped_box
from xrayreport.training.datasets import Annotation

W, H = 64, 32


def image() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(H, W), dtype=np.uint8)


ANNOTATIONS = [
    Annotation((10, 5, 20, 15), "tooth", "11"),
    Annotation((30, 16, 38, 30), "tooth", "36"),
    Annotation((0, 0, 6, 8), "tooth", "55"),
    Annotation((40, 2, 44, 6), "caries"),
]


def test_with_every_change_off_nothing_changes() -> None:
    pixels = image()
    out, boxes = augment(pixels, ANNOTATIONS, W, H, STILL, np.random.default_rng(1))
    np.testing.assert_array_equal(out, pixels)
    assert boxes == ANNOTATIONS


def test_a_flip_mirrors_the_image_and_boxes_and_swaps_quadrants() -> None:
    pixels = image()
    flip = AugmentConfig(**{**STILL.__dict__, "flip": 1.0})
    out, boxes = augment(pixels, ANNOTATIONS, W, H, flip, np.random.default_rng(1))
    np.testing.assert_array_equal(out, pixels[:, ::-1])
    assert boxes == [
        Annotation((44, 5, 54, 15), "tooth", "21"),
        Annotation((26, 16, 34, 30), "tooth", "46"),
        Annotation((58, 0, 64, 8), "tooth", "65"),
        Annotation((20, 2, 24, 6), "caries", None),
    ]


def test_a_flipped_box_still_frames_its_object() -> None:
    pixels = np.zeros((H, W), np.uint8)
    pixels[5:15, 10:20] = 255  # exactly the first box
    flip = AugmentConfig(**{**STILL.__dict__, "flip": 1.0})
    out, (box, *_) = augment(pixels, ANNOTATIONS, W, H, flip, np.random.default_rng(1))
    x1, y1, x2, y2 = (int(v) for v in box.box)
    assert out[y1:y2, x1:x2].min() == 255 and out.sum() == 255 * 100


@pytest.mark.parametrize(
    ("box", "expected"),
    [
        ((28, 12, 36, 20), (24, 8, 40, 24)),  # at the centre: doubled around it
        ((40, 12, 50, 20), (48, 8, 64, 24)),  # 80% still inside: kept, clipped to the canvas
        ((44, 12, 52, 20), None),  # half outside: dropped
        ((0, 0, 10, 10), None),  # entirely outside
    ],
)
def test_zooming_in_scales_boxes_around_the_centre_and_drops_those_mostly_outside(box, expected) -> None:
    zoom = AugmentConfig(**{**STILL.__dict__, "scale": (2.0, 2.0)})
    _, boxes = augment(image(), [Annotation(box, "implant")], W, H, zoom, np.random.default_rng(1))
    assert [b.box for b in boxes] == ([] if expected is None else [expected])


def test_random_augmentation_is_reproducible_from_its_generator() -> None:
    config = AugmentConfig()
    first = augment(image(), ANNOTATIONS, W, H, config, np.random.default_rng(7))
    second = augment(image(), ANNOTATIONS, W, H, config, np.random.default_rng(7))
    np.testing.assert_array_equal(first[0], second[0])
    assert first[1] == second[1]


def test_a_turned_tooth_keeps_a_tight_box() -> None:
    # A 10 x 40 tooth turned by 5 degrees about its centre: its rounded outline's box is 2 sqrt(5^2 cos^2 +
    # 20^2 sin^2) = 10.55 wide and 2 sqrt(5^2 sin^2 + 20^2 cos^2) = 39.86 tall, where the turned corners' box
    # would be 13.45 x 40.72.
    turn = cv2.getRotationMatrix2D((32.0, 32.0), 5.0, 1.0)
    x1, y1, x2, y2 = mapped_box((27, 12, 37, 52), turn)
    assert (x2 - x1, y2 - y1) == pytest.approx((10.55, 39.86), abs=0.01)
    assert ((x1 + x2) / 2, (y1 + y2) / 2) == pytest.approx((32, 32))
    # Unturned, scaled and mirrored: exactly the mapped corners.
    mirror_and_double = np.array([[-2.0, 0.0, 64.0], [0.0, 2.0, 0.0]])
    assert mapped_box((27, 12, 37, 52), mirror_and_double) == pytest.approx((-10, 24, 10, 104))
