"""Findings drawn on a synthetic radiograph: colours, line styles, markers and scaling."""

from __future__ import annotations

import numpy as np
import pytest

from xrayreport.errors import FindingsError
from xrayreport.findings import Finding, Findings, ImageInfo, ModelInfo, Tooth
from xrayreport.ingestion import Radiograph
from xrayreport.overlay import FINDING_STYLES, draw_overlay, encode_png

SHA = "a" * 64


def radiograph(width: int = 512, height: int = 512) -> Radiograph:
    pixels = np.full((height, width), 60, np.uint8)
    return Radiograph(pixels, "synthetic.png", "PNG", SHA, 8, "MONOCHROME2")


def findings(width: int = 512, height: int = 512, sha: str = SHA) -> Findings:
    return Findings(
        image=ImageInfo(width, height, sha),
        model=ModelInfo("test", "1"),
        teeth=(Tooth("16", (40.0, 40.0, 120.0, 200.0)),),
        findings=(
            Finding("c1", "caries", "16", (200.0, 200.0, 300.0, 300.0)),
            Finding("r1", "filling", "26", (350.0, 100.0, 450.0, 200.0)),
        ),
    )


def colour_count(image: np.ndarray, hex_colour: str) -> int:
    value = int(hex_colour[1:], 16)
    bgr = np.array([value & 0xFF, (value >> 8) & 0xFF, value >> 16], np.uint8)
    return int(np.all(image == bgr, axis=2).sum())


def test_finding_boxes_in_their_colours_solid_for_problems_dashed_for_treatments() -> None:
    image = draw_overlay(radiograph(), findings(), show_teeth=False, labels=False, legend=False)
    assert image.shape == (512, 512, 3) and image.dtype == np.uint8
    caries, filling = FINDING_STYLES["caries"].hex, FINDING_STYLES["filling"].hex
    # The caries box's left edge is a solid line: every row along it carries the colour.
    left_edge = image[210:290, 198:203]
    assert colour_count(left_edge, caries) >= 80
    # The filling's left edge is dashed: coloured rows alternate with background rows.
    dashed = np.array([colour_count(image[y : y + 1, 348:353], filling) > 0 for y in range(110, 190)])
    assert 0.3 < dashed.mean() < 0.9
    assert colour_count(image[:30, :30], caries) == 0  # background untouched away from the boxes


def test_numbered_markers_are_white_discs_at_the_box_corner() -> None:
    plain = draw_overlay(radiograph(), findings(), show_teeth=False, labels=False, legend=False)
    marked = draw_overlay(radiograph(), findings(), numbered={"c1": 1}, show_teeth=False, labels=False, legend=False)
    changed = np.any(plain != marked, axis=2)
    ys, xs = np.nonzero(changed)
    assert abs(xs.mean() - 200) < 6 and abs(ys.mean() - 200) < 6
    assert (marked[195:206, 195:206] == 255).all(axis=2).any()


def test_max_width_scales_the_image_and_the_boxes() -> None:
    big = radiograph(2000, 1000)
    doc = Findings(
        image=ImageInfo(2000, 1000, SHA),
        model=ModelInfo("test", "1"),
        findings=(Finding("c1", "caries", None, (1000.0, 400.0, 1400.0, 800.0)),),
    )
    image = draw_overlay(big, doc, show_teeth=False, labels=False, legend=False, max_width=1000)
    assert image.shape == (500, 1000, 3)
    assert colour_count(image[220:380, 497:504], FINDING_STYLES["caries"].hex) > 100


def test_teeth_labels_and_legend_are_drawn_and_png_encodes() -> None:
    plain = draw_overlay(radiograph(), findings(), show_teeth=False, labels=False, legend=False)
    full = draw_overlay(radiograph(), findings(), show_teeth=True, labels=True, legend=True)
    assert np.any(plain[30:45, 60:100] != full[30:45, 60:100])  # "16" above the upper tooth's box
    assert np.any(plain[440:, 380:] != full[440:, 380:])  # legend in the bottom-right corner
    assert encode_png(full)[:8] == b"\x89PNG\r\n\x1a\n"


def test_findings_of_another_scan_are_refused() -> None:
    with pytest.raises(FindingsError, match="512x400 image"):
        draw_overlay(radiograph(), findings(height=400))
    with pytest.raises(FindingsError, match="another file"):
        draw_overlay(radiograph(), findings(sha="b" * 64))
