"""Findings drawn on their radiograph: tooth boxes with FDI numbers, finding boxes by type, numbered markers.

Used for the report's X-ray figure and for ``xrayreport analyze --overlay``. Colours come from the
Okabe-Ito palette (distinguishable with the common colour-vision deficiencies) and every finding
type is also told apart without colour: problems are drawn with solid lines, existing treatments
dashed and missing teeth dotted, each box carries a short label, and every line has a dark outline
so it stays visible on bright bone and in greyscale print. Line widths and text scale with the image,
so the drawing reads the same on a 512x512 scan and on a 2943x1435 one. Texts (tooth numbers, markers,
labels, legend) stay inside the image and off one another: :func:`place_labels` moves each to the
nearest free place, and a leader line joins one that moved away to its box.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
from numpy.typing import NDArray

from .atomic_write import write_bytes_atomically
from .errors import FindingsError, UnknownNameError
from .findings import Box, Finding, Findings
from .ingestion import Radiograph

LineStyle = Literal["solid", "dashed", "dotted"]
Rect = tuple[int, int, int, int]
"""A rectangle in pixels of the drawn image: (x1, y1, x2, y2), x2 and y2 exclusive."""

# Okabe & Ito (2008), "Color Universal Design".
OKABE_ITO: Mapping[str, str] = {
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
    "black": "#000000",
}


@dataclass(frozen=True)
class FindingStyle:
    """How one finding type is drawn: ``hex`` colour (``#RRGGBB``), line style and a short English label."""

    hex: str
    line: LineStyle
    label: str

    @property
    def bgr(self) -> tuple[int, int, int]:
        """The colour as an OpenCV BGR triple."""
        value = int(self.hex[1:], 16)
        return (value & 0xFF, (value >> 8) & 0xFF, value >> 16)


FINDING_STYLES: Mapping[str, FindingStyle] = {
    "caries": FindingStyle(OKABE_ITO["orange"], "solid", "caries"),
    "deep_caries": FindingStyle(OKABE_ITO["vermillion"], "solid", "deep caries"),
    "periapical_lesion": FindingStyle(OKABE_ITO["reddish_purple"], "solid", "lesion"),
    "residual_root": FindingStyle(OKABE_ITO["reddish_purple"], "solid", "root"),
    "fracture": FindingStyle(OKABE_ITO["vermillion"], "solid", "fracture"),
    "impacted": FindingStyle(OKABE_ITO["yellow"], "solid", "impacted"),
    "restoration": FindingStyle(OKABE_ITO["sky_blue"], "dashed", "restored"),
    "filling": FindingStyle(OKABE_ITO["sky_blue"], "dashed", "filling"),
    "crown": FindingStyle(OKABE_ITO["sky_blue"], "dashed", "crown"),
    "root_canal": FindingStyle(OKABE_ITO["sky_blue"], "dashed", "root canal"),
    "implant": FindingStyle(OKABE_ITO["bluish_green"], "dashed", "implant"),
    "bridge": FindingStyle(OKABE_ITO["bluish_green"], "dashed", "bridge"),
    "missing": FindingStyle("#FFFFFF", "dotted", "missing"),
}
"""Drawing style of every finding type of the contract; the report's legend uses the same table."""

_TOOTH_BGR = (200, 200, 200)
_OUTLINE_BGR = (0, 0, 0)
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_TOOTH_FONT = 0.2  # font scale of the tooth numbers, per line-width unit
_TYPE_FONT = 0.24  # font scale of the finding type labels, per line-width unit


def check_findings_match(radiograph: Radiograph, findings: Findings) -> None:
    """Raise :class:`FindingsError` when a findings document was not made from this scan (size or sha256)."""
    image = findings.image
    if (image.width, image.height) != (radiograph.width, radiograph.height):
        raise FindingsError(
            f"the findings document is for a {image.width}x{image.height} image but "
            f"{radiograph.source_name} is {radiograph.width}x{radiograph.height}; pass the findings made from this scan"
        )
    if image.sha256 != radiograph.sha256:
        raise FindingsError(
            f"the findings document is for another file (sha256 {image.sha256[:12]}...) than "
            f"{radiograph.source_name} (sha256 {radiograph.sha256[:12]}...); pass the findings made from this scan"
        )


@dataclass(frozen=True)
class OverlayLayout:
    """Where the overlay's texts go, in pixels of the drawn image (:data:`Rect`).

    ``size`` is the drawn image's (width, height) in pixels, ``scale`` drawn pixels per scan pixel and
    ``unit`` the line-width unit in pixels. ``teeth`` holds each FDI number's label, ``markers`` each
    numbered finding's marker (a disc in its square), ``labels`` each finding's type label, ``legend``
    the legend panel. Every rectangle lies inside the image, and none overlaps another while the image has
    room for them (:func:`place_labels`).
    """

    size: tuple[int, int]
    scale: float
    unit: int
    teeth: tuple[tuple[str, Rect], ...]
    markers: tuple[tuple[Finding, int, Rect], ...]
    labels: tuple[tuple[Finding, Rect], ...]
    legend: Rect | None


def place_labels(
    ideal: Sequence[Rect],
    image_size: tuple[int, int],
    *,
    gap: int,
    avoid: Sequence[Rect] = (),
    blocked: Sequence[Rect] = (),
) -> list[Rect]:
    """Where to draw labels: one rectangle per ``ideal`` rectangle, of its size, greedily in the given order.

    All rectangles are in pixels (:data:`Rect`); ``image_size`` is the image's (width, height). Each label
    takes the free position nearest its ideal one (distance between top-left corners, in pixels), where
    free means inside the image and at least ``gap`` pixels away from the ``blocked`` rectangles and from
    the labels placed before it. Covering an ``avoid`` rectangle (the boxes that labels point at) counts
    as moving 3 label heights per label area covered, so a label moves a little to leave a box visible.
    Candidates are the ideal position, the positions just clear of each obstacle on the ideal's row and
    column, and a grid over the image in steps of half the label's width and height. Only when no free
    position is left on the image does a label overlap another (the nearest position is taken).
    """
    width, height = image_size
    avoided = np.array(avoid, np.float64).reshape(-1, 4)
    obstacles = list(blocked)
    placed: list[Rect] = []
    for ix1, iy1, ix2, iy2 in ideal:
        w, h = min(ix2 - ix1, width), min(iy2 - iy1, height)
        x, y = _candidates((ix1, iy1), (w, h), (width, height), obstacles + placed, gap)
        cost = np.hypot(x - ix1, y - iy1)
        if len(avoided):
            across = np.clip(np.minimum(x[:, None] + w, avoided[:, 2]) - np.maximum(x[:, None], avoided[:, 0]), 0, None)
            down = np.clip(np.minimum(y[:, None] + h, avoided[:, 3]) - np.maximum(y[:, None], avoided[:, 1]), 0, None)
            cost += 3 * h * (across * down).sum(axis=1) / (w * h)
        if obstacles or placed:
            taken = np.array(obstacles + placed, np.int64)
            hit = (
                (x[:, None] < taken[:, 2] + gap)
                & (x[:, None] + w > taken[:, 0] - gap)
                & (y[:, None] < taken[:, 3] + gap)
                & (y[:, None] + h > taken[:, 1] - gap)
            ).any(axis=1)
            if not hit.all():
                cost[hit] = np.inf
        best = int(np.argmin(cost))
        placed.append((int(x[best]), int(y[best]), int(x[best]) + w, int(y[best]) + h))
    return placed


def _candidates(
    at: tuple[int, int], size: tuple[int, int], image_size: tuple[int, int], obstacles: list[Rect], gap: int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    # Top-left corners (x, y) a label of ``size`` could take, all inside the image, the ideal one first.
    (x0, y0), (w, h), (width, height) = at, size, image_size
    xs, ys = [x0], [y0]
    for ox1, oy1, ox2, oy2 in obstacles:
        xs += [ox1 - gap - w, ox2 + gap, x0, x0]
        ys += [y0, y0, oy1 - gap - h, oy2 + gap]
    grid_x = np.unique(np.append(np.arange(0, width - w + 1, max(1, w // 2)), width - w))
    grid_y = np.unique(np.append(np.arange(0, height - h + 1, max(1, h // 2)), height - h))
    gx, gy = np.meshgrid(grid_x, grid_y)
    x = np.clip(np.concatenate([np.array(xs, np.int64), gx.ravel()]), 0, width - w)
    y = np.clip(np.concatenate([np.array(ys, np.int64), gy.ravel()]), 0, height - h)
    return x, y


def overlay_layout(
    findings: Findings,
    *,
    numbered: Mapping[str, int] | None = None,
    show_teeth: bool = True,
    labels: bool = True,
    legend: bool = True,
    max_width: int | None = None,
) -> OverlayLayout:
    """Where :func:`draw_overlay` puts every text for ``findings`` (same arguments); needs no pixels.

    Tooth numbers go above upper teeth and below lower ones, markers above a finding's box, type labels
    under it; each moves to the nearest free place (:func:`place_labels`), away from the legend in the
    bottom-right corner, and a marker or label far from its box gets a leader line when drawn.
    """
    for finding in findings.findings:
        if finding.type not in FINDING_STYLES:
            raise UnknownNameError("finding type", finding.type, FINDING_STYLES)
    size, scale = _drawn_size(findings.image.width, findings.image.height, max_width)
    unit = _unit(size)
    gap = unit
    types = list(dict.fromkeys(f.type for f in findings.findings if f.box is not None))
    legend_rect = _legend_rect(types, unit, size) if legend and types else None
    blocked = [legend_rect] if legend_rect is not None else []

    boxed = [(f, _scaled(f.box, scale)) for f in findings.findings if f.box is not None]
    # The boxes as drawn: their outline is max(2, unit) + 2 pixels wide, centred on the edge.
    outlines = [_grown(box, max(2, unit) // 2 + 2) for _, box in boxed]

    teeth = [(t.fdi, _scaled(t.box, scale)) for t in findings.teeth if t.box is not None] if show_teeth else []
    ideal_teeth = []
    for fdi, (x1, y1, x2, y2) in teeth:
        w, h = _text_size(fdi, _TOOTH_FONT * unit)
        left, top = (x1 + x2) // 2 - w // 2, y1 - unit - h if fdi[0] in "1256" else y2 + unit
        ideal_teeth.append((left, top, left + w, top + h))
    teeth_rects = place_labels(ideal_teeth, size, gap=max(1, unit // 2), avoid=outlines, blocked=blocked)

    numbers = numbered or {}
    marked = sorted(((f, box) for f, box in boxed if f.id in numbers), key=lambda pair: numbers[pair[0].id])
    typed = sorted(boxed, key=lambda pair: pair[1]) if labels else []
    side = 2 * _marker_radius(unit) + 1
    ideal = [_beside(f, box, (side, side), side // 2, gap) for f, box in marked]
    for finding, box in typed:
        ideal.append(_beside(finding, box, _text_size(FINDING_STYLES[finding.type].label, _TYPE_FONT * unit), 0, gap))
    rects = place_labels(ideal, size, gap=gap, avoid=outlines, blocked=blocked + teeth_rects)
    return OverlayLayout(
        size,
        scale,
        unit,
        tuple((fdi, r) for (fdi, _), r in zip(teeth, teeth_rects, strict=True)),
        tuple((f, numbers[f.id], r) for (f, _), r in zip(marked, rects[: len(marked)], strict=True)),
        tuple((f, r) for (f, _), r in zip(typed, rects[len(marked) :], strict=True)),
        legend_rect,
    )


def _beside(finding: Finding, box: Rect, size: tuple[int, int], shift: int, gap: int) -> Rect:
    # A text's ideal place: ``gap`` pixels above the box, or below it for a lower tooth (towards the root,
    # away from the bite where both jaws' texts would meet), starting ``shift`` pixels left of the box.
    w, h = size
    top = box[3] + gap if finding.tooth is not None and finding.tooth[0] in "3478" else box[1] - gap - h
    return box[0] - shift, top, box[0] - shift + w, top + h


def draw_overlay(
    radiograph: Radiograph,
    findings: Findings,
    *,
    numbered: Mapping[str, int] | None = None,
    show_teeth: bool = True,
    labels: bool = True,
    legend: bool = True,
    max_width: int | None = None,
) -> NDArray[np.uint8]:
    """Draw ``findings`` on ``radiograph``; returns a (H, W, 3) BGR uint8 image.

    ``numbered`` maps finding ids to the numbers of a findings list: those findings get a numbered
    marker above their box's top-left corner. ``show_teeth`` draws faint tooth boxes with their FDI
    number outside the box (above for upper teeth, below for lower ones). ``labels`` writes each
    finding's type under its box and ``legend`` adds an English legend of the types drawn; the report
    turns both off and prints a translated legend beside the figure. ``max_width`` (pixels) shrinks a
    wider scan first; boxes follow. Texts go where :func:`overlay_layout` puts them.
    """
    check_findings_match(radiograph, findings)
    layout = overlay_layout(
        findings, numbered=numbered, show_teeth=show_teeth, labels=labels, legend=legend, max_width=max_width
    )
    pixels = radiograph.pixels
    if layout.size != (radiograph.width, radiograph.height):
        pixels = cv2.resize(pixels, layout.size, interpolation=cv2.INTER_AREA).astype(np.uint8, copy=False)
    canvas = cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR).astype(np.uint8, copy=False)
    scale, unit = layout.scale, layout.unit

    if show_teeth:
        _teeth(canvas, findings, scale, unit)

    # Treatments first, problems last, so that a problem's box is never hidden under a filling's.
    order = sorted(findings.findings, key=lambda f: FINDING_STYLES[f.type].line != "solid")
    for finding in reversed(order):
        if finding.box is not None:
            style = FINDING_STYLES[finding.type]
            _rectangle(canvas, _scaled(finding.box, scale), style.bgr, style.line, max(2, unit))
    pointers = [(f, r) for f, _, r in layout.markers] + list(layout.labels)
    for finding, rect in pointers:
        if finding.box is not None:
            _leader(canvas, _scaled(finding.box, scale), rect, FINDING_STYLES[finding.type].bgr, unit)
    # Texts last, on top of every line.
    for fdi, rect in layout.teeth:
        _text(canvas, fdi, rect, _TOOTH_FONT * unit, _TOOTH_BGR)
    for finding, rect in layout.labels:
        style = FINDING_STYLES[finding.type]
        _text(canvas, style.label, rect, _TYPE_FONT * unit, style.bgr)
    for finding, number, rect in layout.markers:
        _marker(canvas, number, rect, FINDING_STYLES[finding.type].bgr, unit)
    if layout.legend is not None:
        types = list(dict.fromkeys(f.type for f in findings.findings if f.box is not None))
        _legend(canvas, types, unit, layout.legend)
    return canvas


def encode_png(image: NDArray[np.uint8]) -> bytes:
    """PNG bytes of a BGR or greyscale uint8 image."""
    ok, data = cv2.imencode(".png", image)
    if not ok:
        raise ValueError("OpenCV could not encode the image as PNG")
    return bytes(data.tobytes())


def write_overlay_png(path: str | os.PathLike[str], image: NDArray[np.uint8]) -> None:
    """Write an overlay image as PNG, atomically."""
    write_bytes_atomically(path, encode_png(image))


def _drawn_size(width: int, height: int, max_width: int | None) -> tuple[tuple[int, int], float]:
    # The drawn image's (width, height) in pixels and drawn pixels per scan pixel.
    if max_width is None or width <= max_width:
        return (width, height), 1.0
    scale = max_width / width
    return (max_width, max(1, round(height * scale))), scale


def _unit(size: tuple[int, int]) -> int:
    # About 1/350 of the longer side: 2 px on a 512x512 scan, 3 on 1024x533, 8 on 2943x1435.
    return max(2, round(max(size) / 350))


def _grown(rect: Rect, by: int) -> Rect:
    return rect[0] - by, rect[1] - by, rect[2] + by, rect[3] + by


def _teeth(canvas: NDArray[np.uint8], findings: Findings, scale: float, unit: int) -> None:
    # Faint boxes (blended, thin) so that the findings stay the first thing the eye meets.
    layer = canvas.copy()
    for tooth in findings.teeth:
        if tooth.box is not None:
            x1, y1, x2, y2 = _scaled(tooth.box, scale)
            cv2.rectangle(layer, (x1, y1), (x2, y2), _TOOTH_BGR, max(1, unit // 3), cv2.LINE_AA)
    cv2.addWeighted(layer, 0.45, canvas, 0.55, 0, dst=canvas)


def _scaled(box: Box, scale: float) -> Rect:
    x1, y1, x2, y2 = (round(v * scale) for v in box)
    return x1, y1, x2, y2


def _rectangle(canvas: NDArray[np.uint8], box: Rect, bgr: tuple[int, int, int], line: LineStyle, width: int) -> None:
    x1, y1, x2, y2 = box
    corners = [(x1, y1), (x2, y1), (x2, y2), (x1, y2)]
    edges = list(zip(corners, corners[1:] + corners[:1], strict=True))
    for colour, thickness in ((_OUTLINE_BGR, width + 2), (bgr, width)):
        for start, end in edges:
            _segment(canvas, start, end, colour, thickness, line, width)


def _segment(
    canvas: NDArray[np.uint8],
    start: tuple[int, int],
    end: tuple[int, int],
    bgr: tuple[int, int, int],
    thickness: int,
    line: LineStyle,
    width: int,
) -> None:
    if line == "solid":
        cv2.line(canvas, start, end, bgr, thickness, cv2.LINE_AA)
        return
    length = float(np.hypot(end[0] - start[0], end[1] - start[1]))
    dash, gap = (5 * width, 3 * width) if line == "dashed" else (0, 3 * width)
    step = dash + gap
    for offset in np.arange(0.0, max(length, 1.0), step):
        t0, t1 = offset / length if length else 0.0, min(offset + dash, length) / length if length else 0.0
        p0 = (round(start[0] + (end[0] - start[0]) * t0), round(start[1] + (end[1] - start[1]) * t0))
        if line == "dotted":
            cv2.circle(canvas, p0, max(1, thickness // 2 + 1), bgr, -1, cv2.LINE_AA)
        else:
            p1 = (round(start[0] + (end[0] - start[0]) * t1), round(start[1] + (end[1] - start[1]) * t1))
            cv2.line(canvas, p0, p1, bgr, thickness, cv2.LINE_AA)


def _text_metrics(text: str, font_scale: float) -> tuple[int, int, int, int]:
    # Width, height above the baseline and depth below it of a text, and its stroke thickness, which is
    # also the padding of its patch; all in pixels.
    thickness = max(1, round(font_scale * 1.5))
    (w, h), baseline = cv2.getTextSize(text, _FONT, font_scale, thickness)
    return w, h, baseline, thickness


def _text_size(text: str, font_scale: float) -> tuple[int, int]:
    # The (width, height) in pixels of a text's patch as _text draws it.
    w, h, baseline, pad = _text_metrics(text, font_scale)
    return w + 2 * pad, h + baseline + 2 * pad


def _text(canvas: NDArray[np.uint8], text: str, rect: Rect, font_scale: float, bgr: tuple[int, int, int]) -> None:
    # Coloured text on a black patch filling ``rect``, legible on bright and dark bone alike.
    _, h, _, thickness = _text_metrics(text, font_scale)
    x1, y1, x2, y2 = rect
    cv2.rectangle(canvas, (x1, y1), (x2 - 1, y2 - 1), _OUTLINE_BGR, -1)
    cv2.putText(canvas, text, (x1 + thickness, y1 + thickness + h), _FONT, font_scale, bgr, thickness, cv2.LINE_AA)


def _leader(canvas: NDArray[np.uint8], box: Rect, rect: Rect, bgr: tuple[int, int, int], unit: int) -> None:
    # A line from a label placed away from its box to the box's nearest point; none when they are close.
    cx, cy = (rect[0] + rect[2]) // 2, (rect[1] + rect[3]) // 2
    bx, by = min(max(cx, box[0]), box[2]), min(max(cy, box[1]), box[3])
    lx, ly = min(max(bx, rect[0]), rect[2] - 1), min(max(by, rect[1]), rect[3] - 1)
    if np.hypot(lx - bx, ly - by) <= 3 * unit:
        return
    width = max(1, (unit + 1) // 2)
    cv2.line(canvas, (lx, ly), (bx, by), _OUTLINE_BGR, width + 2, cv2.LINE_AA)
    cv2.line(canvas, (lx, ly), (bx, by), bgr, width, cv2.LINE_AA)


def _marker_radius(unit: int) -> int:
    # Half the side of a marker's square, in pixels: the black rim's radius and a pixel of anti-aliasing.
    return 5 * unit + unit // 2 + 2


def _marker(canvas: NDArray[np.uint8], number: int, rect: Rect, bgr: tuple[int, int, int], unit: int) -> None:
    # White disc, coloured ring, black number, centred in ``rect``: legible on any background and in greyscale.
    x, y = (rect[0] + rect[2] - 1) // 2, (rect[1] + rect[3] - 1) // 2
    radius = 5 * unit
    cv2.circle(canvas, (x, y), _marker_radius(unit) - 1, _OUTLINE_BGR, -1, cv2.LINE_AA)
    cv2.circle(canvas, (x, y), radius, bgr, -1, cv2.LINE_AA)
    inner = radius - max(1, unit)
    cv2.circle(canvas, (x, y), inner, (255, 255, 255), -1, cv2.LINE_AA)
    text = str(number)
    (w, h), _ = cv2.getTextSize(text, _FONT, 1.0, 2)
    # Fit the digits into the white disc: height about its radius, width about 1.6 times.
    font_scale = min(inner * 1.1 / h, inner * 1.6 / w)
    thickness = max(1, round(font_scale * 2.2))
    (w, h), _ = cv2.getTextSize(text, _FONT, font_scale, thickness)
    cv2.putText(canvas, text, (x - w // 2, y + h // 2), _FONT, font_scale, (0, 0, 0), thickness, cv2.LINE_AA)


def _legend_font(unit: int) -> tuple[float, int]:
    font_scale = 0.27 * unit
    return font_scale, max(1, round(font_scale * 2))


def _legend_rect(types: list[str], unit: int, size: tuple[int, int]) -> Rect:
    # The legend panel in the bottom-right corner, one row per finding type.
    font_scale, thickness = _legend_font(unit)
    sizes = [cv2.getTextSize(FINDING_STYLES[t].label, _FONT, font_scale, thickness)[0] for t in types]
    widest, tallest = max(w for w, _ in sizes), max(h for _, h in sizes)
    width, height = 14 * unit + widest + 6 * unit, round(tallest * 1.9) * len(types) + 2 * unit
    x0, y0 = max(0, size[0] - width - 2 * unit), max(0, size[1] - height - 2 * unit)
    return x0, y0, min(size[0], x0 + width), min(size[1], y0 + height)


def _legend(canvas: NDArray[np.uint8], types: list[str], unit: int, rect: Rect) -> None:
    font_scale, thickness = _legend_font(unit)
    tallest = max(cv2.getTextSize(FINDING_STYLES[t].label, _FONT, font_scale, thickness)[0][1] for t in types)
    row = round(tallest * 1.9)
    sample = 14 * unit
    x0, y0, x1, y1 = rect
    panel = canvas[y0:y1, x0:x1]
    panel[:] = (panel * 0.25).astype(np.uint8)
    for i, finding_type in enumerate(types):
        style = FINDING_STYLES[finding_type]
        y = y0 + unit + row * i + row // 2
        _segment(canvas, (x0 + 2 * unit, y), (x0 + sample, y), style.bgr, max(2, unit), style.line, max(2, unit))
        cv2.putText(
            canvas,
            style.label,
            (x0 + sample + 3 * unit, y + tallest // 2),
            _FONT,
            font_scale,
            style.bgr,
            thickness,
            cv2.LINE_AA,
        )
