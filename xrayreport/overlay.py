"""Findings drawn on their radiograph: tooth boxes with FDI numbers, finding boxes by type, numbered markers.

Used for the report's X-ray figure and for ``xrayreport analyze --overlay``. Colours come from the
Okabe-Ito palette (distinguishable with the common colour-vision deficiencies) and every finding
type is also told apart without colour: problems are drawn with solid lines, existing treatments
dashed and missing teeth dotted, each box carries a short label, and every line has a dark outline
so it stays visible on bright bone and in greyscale print. Line widths and text scale with the image,
so the drawing reads the same on a 512x512 scan and on a 2943x1435 one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
from numpy.typing import NDArray

from .atomic_write import write_bytes_atomically
from .errors import FindingsError, UnknownNameError
from .findings import Box, Findings
from .ingestion import Radiograph

LineStyle = Literal["solid", "dashed", "dotted"]

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
    marker at their box's top-left corner. ``show_teeth`` draws faint tooth boxes with their FDI
    number outside the box (above for upper teeth, below for lower ones). ``labels`` writes each
    finding's type under its box and ``legend`` adds an English legend of the types drawn; the report
    turns both off and prints a translated legend beside the figure. ``max_width`` (pixels) shrinks a
    wider scan first; boxes follow.
    """
    check_findings_match(radiograph, findings)
    for finding in findings.findings:
        if finding.type not in FINDING_STYLES:
            raise UnknownNameError("finding type", finding.type, FINDING_STYLES)
    scale = 1.0
    pixels = radiograph.pixels
    if max_width is not None and radiograph.width > max_width:
        scale = max_width / radiograph.width
        size = (max_width, max(1, round(radiograph.height * scale)))
        pixels = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA).astype(np.uint8, copy=False)
    canvas = cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR).astype(np.uint8, copy=False)
    unit = _unit(canvas)

    if show_teeth:
        _teeth(canvas, findings, scale, unit)

    # Treatments first, problems last, so that a problem's box is never hidden under a filling's.
    order = sorted(findings.findings, key=lambda f: FINDING_STYLES[f.type].line != "solid")
    for finding in reversed(order):
        if finding.box is None:
            continue
        style = FINDING_STYLES[finding.type]
        box = _scaled(finding.box, scale)
        _rectangle(canvas, box, style.bgr, style.line, max(2, unit))
        if labels:
            _label(canvas, style.label, (box[0], box[3] + unit), 0.24 * unit, style.bgr, anchor="top")
    marked = [f for f in findings.findings if f.box is not None and f.id in (numbered or {})]
    marked.sort(key=lambda f: (numbered or {})[f.id])
    centres = _marker_centres([_scaled(f.box, scale) for f in marked if f.box is not None], 5 * unit)
    for finding, centre in zip(marked, centres, strict=True):
        _marker(canvas, (numbered or {})[finding.id], centre, FINDING_STYLES[finding.type].bgr, unit)
    if legend:
        types = list(dict.fromkeys(f.type for f in findings.findings if f.box is not None))
        _legend(canvas, types, unit)
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


def _unit(canvas: NDArray[np.uint8]) -> int:
    # About 1/350 of the longer side: 2 px on a 512x512 scan, 3 on 1024x533, 8 on 2943x1435.
    return max(2, round(int(max(canvas.shape[:2])) / 350))


def _teeth(canvas: NDArray[np.uint8], findings: Findings, scale: float, unit: int) -> None:
    # Faint boxes (blended, thin) so that the findings stay the first thing the eye meets.
    layer = canvas.copy()
    placed = []
    for tooth in findings.teeth:
        if tooth.box is None:
            continue
        x1, y1, x2, y2 = _scaled(tooth.box, scale)
        cv2.rectangle(layer, (x1, y1), (x2, y2), _TOOTH_BGR, max(1, unit // 3), cv2.LINE_AA)
        placed.append((tooth.fdi, x1, y1, x2, y2))
    cv2.addWeighted(layer, 0.45, canvas, 0.55, 0, dst=canvas)
    for fdi, x1, y1, x2, y2 in placed:
        upper = fdi[0] in "1256"
        centre = (x1 + x2) // 2
        _label(
            canvas,
            fdi,
            (centre, y1 - unit if upper else y2 + unit),
            0.2 * unit,
            _TOOTH_BGR,
            "bottom" if upper else "top",
            centred=True,
        )


def _scaled(box: Box, scale: float) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = (round(v * scale) for v in box)
    return x1, y1, x2, y2


def _rectangle(
    canvas: NDArray[np.uint8], box: tuple[int, int, int, int], bgr: tuple[int, int, int], line: LineStyle, width: int
) -> None:
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


def _label(
    canvas: NDArray[np.uint8],
    text: str,
    at: tuple[int, int],
    font_scale: float,
    bgr: tuple[int, int, int],
    anchor: Literal["top", "bottom"],
    centred: bool = False,
) -> None:
    thickness = max(1, round(font_scale * 1.5))
    (w, h), baseline = cv2.getTextSize(text, _FONT, font_scale, thickness)
    x = at[0] - w // 2 if centred else at[0]
    x = min(max(0, x), canvas.shape[1] - w - 2)
    y = at[1] + h if anchor == "top" else at[1]
    y = min(max(h + 2, y), canvas.shape[0] - baseline - 2)
    pad = max(1, thickness)
    cv2.rectangle(canvas, (x - pad, y - h - pad), (x + w + pad, y + baseline), _OUTLINE_BGR, -1)
    cv2.putText(canvas, text, (x, y), _FONT, font_scale, bgr, thickness, cv2.LINE_AA)


def _marker_centres(boxes: list[tuple[int, int, int, int]], radius: int) -> list[tuple[int, int]]:
    # Try each box's corners in turn and keep the first that clears the markers already placed, so
    # that neighbouring small boxes (caries on adjacent teeth) do not stack their numbers.
    placed: list[tuple[int, int]] = []
    for x1, y1, x2, y2 in boxes:
        candidates = [(x1, y1), (x2, y1), (x1, y2), (x2, y2), (x1, y1 - 2 * radius), (x2, y2 + 2 * radius)]
        clear = (c for c in candidates if all(np.hypot(c[0] - p[0], c[1] - p[1]) >= 2.2 * radius for p in placed))
        placed.append(next(clear, candidates[0]))
    return placed


def _marker(
    canvas: NDArray[np.uint8], number: int, centre: tuple[int, int], bgr: tuple[int, int, int], unit: int
) -> None:
    # White disc, coloured ring, black number: legible on any background and in greyscale.
    radius = 5 * unit
    x = min(max(radius + 1, centre[0]), canvas.shape[1] - radius - 2)
    y = min(max(radius + 1, centre[1]), canvas.shape[0] - radius - 2)
    cv2.circle(canvas, (x, y), radius + unit // 2 + 1, _OUTLINE_BGR, -1, cv2.LINE_AA)
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


def _legend(canvas: NDArray[np.uint8], types: list[str], unit: int) -> None:
    if not types:
        return
    font_scale = 0.27 * unit
    thickness = max(1, round(font_scale * 2))
    sizes = [cv2.getTextSize(FINDING_STYLES[t].label, _FONT, font_scale, thickness)[0] for t in types]
    widest, tallest = max(w for w, _ in sizes), max(h for _, h in sizes)
    row = round(tallest * 1.9)
    sample = 14 * unit
    width, height = sample + widest + 6 * unit, row * len(types) + 2 * unit
    x0, y0 = canvas.shape[1] - width - 2 * unit, canvas.shape[0] - height - 2 * unit
    panel = canvas[y0 : y0 + height, x0 : x0 + width]
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
