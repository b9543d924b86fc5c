"""Encoding boxes into CenterNet training targets at the network's output stride.

Each object becomes an elliptical Gaussian peak at its centre in its class heatmap (sigma proportional
to the box's width and height, as in TTFNet, which suits long narrow teeth), plus regression targets
at the peak cell: log box size in cells, sub-cell offset, and the FDI class for teeth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .datasets import Annotation

MAX_OBJECTS = 96  # a panoramic has at most 52 teeth plus findings


@dataclass(frozen=True)
class Targets:
    heatmap: NDArray[np.float32]  # (C, h, w) in [0, 1]
    class_mask: NDArray[np.float32]  # (C,) 1 where this image's source labels the class
    # (C,) 1 where an image-level label says the class is somewhere on the image but no box says where
    present_mask: NDArray[np.float32]
    index: NDArray[np.int64]  # (MAX_OBJECTS,) flat cell index y * w + x of each object's centre
    size: NDArray[np.float32]  # (MAX_OBJECTS, 2) log(width, height) in cells
    offset: NDArray[np.float32]  # (MAX_OBJECTS, 2) centre minus its cell, in cells
    fdi: NDArray[np.int64]  # (MAX_OBJECTS,) FDI class index, -1 for non-teeth
    mask: NDArray[np.float32]  # (MAX_OBJECTS,) 1 for real objects, 0 for padding


def encode(
    annotations: list[Annotation],
    labelled: frozenset[str],
    classes: tuple[str, ...],
    fdi_classes: tuple[str, ...],
    input_size: tuple[int, int],
    stride: int,
    present: frozenset[str] = frozenset(),
) -> Targets:
    """Targets for boxes given in network-input pixels; ``input_size`` is (width, height). ``present``: classes
    an image-level label puts somewhere on the image (taught by :func:`~.loss.somewhere_loss` where unboxed)."""
    out_w, out_h = input_size[0] // stride, input_size[1] // stride
    heatmap = np.zeros((len(classes), out_h, out_w), np.float32)
    index = np.zeros(MAX_OBJECTS, np.int64)
    size = np.zeros((MAX_OBJECTS, 2), np.float32)
    offset = np.zeros((MAX_OBJECTS, 2), np.float32)
    fdi = np.full(MAX_OBJECTS, -1, np.int64)
    mask = np.zeros(MAX_OBJECTS, np.float32)
    ys, xs = np.arange(out_h, dtype=np.float32)[:, None], np.arange(out_w, dtype=np.float32)[None, :]
    fdi_index = {name: i for i, name in enumerate(fdi_classes)}
    for k, ann in enumerate(annotations[:MAX_OBJECTS]):
        x1, y1, x2, y2 = (v / stride for v in ann.box)
        w, h = max(x2 - x1, 1e-3), max(y2 - y1, 1e-3)
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        ix, iy = min(int(cx), out_w - 1), min(int(cy), out_h - 1)
        sigma_x, sigma_y = max(w / 6, 0.6), max(h / 6, 0.6)
        peak = np.exp(-(((xs - ix) ** 2) / (2 * sigma_x**2) + ((ys - iy) ** 2) / (2 * sigma_y**2)))
        channel = classes.index(ann.label)
        np.maximum(heatmap[channel], peak, out=heatmap[channel])
        index[k] = iy * out_w + ix
        size[k] = (np.log(w), np.log(h))
        offset[k] = (cx - ix, cy - iy)
        fdi[k] = fdi_index[ann.fdi] if ann.fdi is not None else -1
        mask[k] = 1.0
    class_mask = np.array([1.0 if name in labelled else 0.0 for name in classes], np.float32)
    present_mask = np.array([1.0 if name in present - labelled else 0.0 for name in classes], np.float32)
    return Targets(heatmap, class_mask, present_mask, index, size, offset, fdi, mask)
