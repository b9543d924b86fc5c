"""Radiograph pixels -> network input, and network coordinates -> original image pixels.

Training and inference both call :func:`letterbox` and :func:`normalise`, so the model always sees what
it was trained on. :class:`Letterbox` is the one place where predictions are mapped back to the
original image's coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from .config import Preprocessing


@dataclass(frozen=True)
class Letterbox:
    """An aspect-keeping resize: original pixel = network pixel / scale (padding is bottom/right)."""

    scale: float
    original_width: int
    original_height: int

    def to_original(self, boxes: NDArray[np.floating]) -> NDArray[np.float64]:
        """Map (N, 4) boxes [x1, y1, x2, y2] from network-input pixels to original pixels, clipped to the image."""
        out = np.asarray(boxes, dtype=np.float64) / self.scale
        out[:, 0::2] = np.clip(out[:, 0::2], 0, self.original_width)
        out[:, 1::2] = np.clip(out[:, 1::2], 0, self.original_height)
        return out


def letterbox(
    pixels: NDArray[np.uint8], width: int, height: int, *, scale: float | None = None
) -> tuple[NDArray[np.uint8], Letterbox]:
    """Resize a (H, W) uint8 image to fit in ``width`` x ``height`` keeping aspect; pad with zeros.

    ``scale`` overrides the fitting scale (training uses it for scale augmentation); content beyond the
    canvas is cropped. Returns the (height, width) canvas and the mapping back to original pixels.
    """
    h, w = pixels.shape[:2]
    if scale is None:
        scale = min(width / w, height / h)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(pixels, (new_w, new_h), interpolation=interpolation)
    canvas = np.zeros((height, width), np.uint8)
    canvas[: min(new_h, height), : min(new_w, width)] = resized[:height, :width]
    return canvas, Letterbox(scale=scale, original_width=w, original_height=h)


def normalise(canvas: NDArray[np.uint8], config: Preprocessing) -> NDArray[np.float32]:
    """CLAHE then mean/std normalisation: (H, W) uint8 -> (1, 1, H, W) float32 network input.

    CLAHE evens out the very different contrast of panoramic machines, so the model does not learn
    one clinic's exposure.
    """
    clahe = cv2.createCLAHE(clipLimit=config.clahe_clip_limit, tileGridSize=(config.clahe_tile_grid,) * 2)
    equalised = clahe.apply(canvas).astype(np.float32) / 255.0
    return ((equalised - config.mean) / config.std)[None, None]
