"""Geometric and intensity augmentation that keeps boxes and FDI numbers right.

A horizontal flip swaps the patient's sides, so every tooth number changes quadrant (11 <-> 21,
36 <-> 46); :func:`augment` applies :func:`~xrayreport.dentition.mirror_fdi` whenever it flips.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from ..dentition import mirror_fdi
from .datasets import Annotation


@dataclass(frozen=True)
class AugmentConfig:
    flip: float = 0.5  # probability of a horizontal flip
    scale: tuple[float, float] = (0.8, 1.2)  # relative to fitting the input
    shift: float = 0.08  # fraction of the input size
    rotate_degrees: float = 5.0
    gamma: tuple[float, float] = (0.7, 1.4)
    contrast: tuple[float, float] = (0.75, 1.25)
    brightness: float = 0.1  # fraction of full range
    blur: float = 0.2  # probability of a slight Gaussian blur
    noise: float = 0.2  # probability of Gaussian noise


def augment(
    image: NDArray[np.uint8],
    annotations: list[Annotation],
    width: int,
    height: int,
    config: AugmentConfig,
    rng: np.random.Generator,
) -> tuple[NDArray[np.uint8], list[Annotation]]:
    """Randomly transform a (H, W) image already letterboxed to ``width`` x ``height`` and its boxes.

    Boxes are in pixels of ``image``; objects that end up mostly outside the canvas are dropped.
    """
    flip = rng.random() < config.flip
    scale = rng.uniform(*config.scale)
    angle = rng.uniform(-config.rotate_degrees, config.rotate_degrees)
    centre = (image.shape[1] / 2, image.shape[0] / 2)
    matrix = cv2.getRotationMatrix2D(centre, angle, scale)
    matrix[0, 2] += rng.uniform(-config.shift, config.shift) * width
    matrix[1, 2] += rng.uniform(-config.shift, config.shift) * height
    if flip:
        # x' = width - x after the affine map: negate the first row and add the width.
        matrix[0] = -matrix[0]
        matrix[0, 2] += width
    # ``matrix`` maps box coordinates, where pixel i spans [i, i + 1]; OpenCV warps pixel centres, where pixel i
    # sits at i. Seen half a pixel over, the same map keeps the image on its boxes (a flip would otherwise be
    # one pixel off and leave a black first column).
    pixel_matrix = matrix.copy()
    pixel_matrix[:, 2] += 0.5 * matrix[:, :2].sum(axis=1) - 0.5
    warped = np.asarray(
        cv2.warpAffine(image, pixel_matrix, (width, height), flags=cv2.INTER_LINEAR, borderValue=0), np.uint8
    )

    out: list[Annotation] = []
    for ann in annotations:
        bx1, by1, bx2, by2 = mapped_box(ann.box, matrix)
        area = (bx2 - bx1) * (by2 - by1)
        cx1, cy1, cx2, cy2 = max(bx1, 0), max(by1, 0), min(bx2, width), min(by2, height)
        if cx2 <= cx1 or cy2 <= cy1 or (cx2 - cx1) * (cy2 - cy1) < 0.6 * area:
            continue
        fdi = mirror_fdi(ann.fdi) if flip and ann.fdi else ann.fdi
        out.append(Annotation((float(cx1), float(cy1), float(cx2), float(cy2)), ann.label, fdi))
    return _intensity(warped, config, rng), out


def mapped_box(box: tuple[float, float, float, float], matrix: NDArray[Any]) -> tuple[float, ...]:
    """The box [x1, y1, x2, y2] (pixels) of an object after the affine ``matrix`` (2 x 3).

    The box of the mapped ellipse inscribed in the box, not of the mapped corners: a tooth is rounded, and the
    corners' box of a tall tooth turned by 5 degrees is a third wider than the tooth, which taught the detector
    loose boxes. Without rotation both are the same box.
    """
    x1, y1, x2, y2 = box
    centre = matrix[:, :2] @ np.array([(x1 + x2) / 2, (y1 + y2) / 2]) + matrix[:, 2]
    half_axes = matrix[:, :2] * np.array([(x2 - x1) / 2, (y2 - y1) / 2])
    half_extent = np.sqrt((half_axes**2).sum(axis=1))
    return (*(centre - half_extent).tolist(), *(centre + half_extent).tolist())


def _intensity(image: NDArray[np.uint8], config: AugmentConfig, rng: np.random.Generator) -> NDArray[np.uint8]:
    values = image.astype(np.float32) / 255.0
    values = values ** rng.uniform(*config.gamma)
    values = (values - 0.5) * rng.uniform(*config.contrast) + 0.5 + rng.uniform(-config.brightness, config.brightness)
    if rng.random() < config.blur:
        values = np.asarray(cv2.GaussianBlur(values, (0, 0), rng.uniform(0.5, 1.2)), np.float32)
    if rng.random() < config.noise:
        values = values + rng.normal(0, rng.uniform(0.01, 0.04), values.shape).astype(np.float32)
    result: NDArray[np.uint8] = np.clip(values * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return result
