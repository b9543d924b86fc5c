"""Network outputs -> scored boxes in network-input pixels (numpy only, no torch)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class RawDetections:
    """Detections of one image in network-input pixels.

    ``boxes`` (N, 4) [x1, y1, x2, y2], ``scores`` (N,), ``classes`` (N,) indices into the model's
    classes, ``fdi_probabilities`` (N, F) softmax over tooth numbers (meaningful for teeth only).
    """

    boxes: NDArray[np.float64]
    scores: NDArray[np.float64]
    classes: NDArray[np.int64]
    fdi_probabilities: NDArray[np.float64]


def decode(
    heatmap: NDArray[np.float32],
    fdi_logits: NDArray[np.float32],
    log_size: NDArray[np.float32],
    offset: NDArray[np.float32],
    *,
    stride: int,
    thresholds: NDArray[np.float64],
    nms_iou: float,
    max_detections: int,
) -> RawDetections:
    """Peaks of each (C, h, w) class heatmap above that class's threshold become boxes.

    A peak is a cell that is the maximum of its 3x3 neighbourhood (CenterNet's NMS); overlapping
    boxes of the same class are then suppressed at ``nms_iou`` to remove double peaks on one object.
    """
    boxes, scores, classes, cells = [], [], [], []
    kernel = np.ones((3, 3), np.uint8)
    for c in range(heatmap.shape[0]):
        channel = heatmap[c]
        peaks = (channel == cv2.dilate(channel, kernel)) & (channel >= thresholds[c])
        ys, xs = np.nonzero(peaks)
        if len(ys) == 0:
            continue
        order = np.argsort(-channel[ys, xs])[:max_detections]
        ys, xs = ys[order], xs[order]
        cx = (xs + offset[0, ys, xs]) * stride
        cy = (ys + offset[1, ys, xs]) * stride
        w = np.exp(log_size[0, ys, xs]) * stride
        h = np.exp(log_size[1, ys, xs]) * stride
        class_boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1).astype(np.float64)
        class_scores = channel[ys, xs].astype(np.float64)
        kept = cv2.dnn.NMSBoxes(
            [[float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])] for b in class_boxes],
            class_scores.tolist(),
            0.0,
            nms_iou,
        )
        keep = np.asarray(kept, dtype=np.int64).reshape(-1)
        boxes.append(class_boxes[keep])
        scores.append(class_scores[keep])
        classes.append(np.full(len(keep), c, np.int64))
        cells.append((ys[keep], xs[keep]))
    if not boxes:
        return RawDetections(np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64), np.zeros((0, fdi_logits.shape[0])))
    all_ys = np.concatenate([c[0] for c in cells])
    all_xs = np.concatenate([c[1] for c in cells])
    logits = fdi_logits[:, all_ys, all_xs].T.astype(np.float64)
    logits -= logits.max(axis=1, keepdims=True)
    probabilities = np.exp(logits)
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    return RawDetections(np.concatenate(boxes), np.concatenate(scores), np.concatenate(classes), probabilities)
