"""Findings drawn on a synthetic radiograph: colours, line styles, markers, scaling and where the texts go."""

from __future__ import annotations

import numpy as np
import pytest

from xrayreport.errors import FindingsError
from xrayreport.findings import Finding, Findings, ImageInfo, ModelInfo, Tooth
from xrayreport.ingestion import Radiograph
from xrayreport.overlay import (
    FINDING_STYLES,
    OverlayLayout,
    Rect,
    draw_overlay,
    encode_png,
    overlay_layout,
    place_labels,
)

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


def test_numbered_markers_are_white_discs_just_above_the_box_corner() -> None:
    plain = draw_overlay(radiograph(), findings(), show_teeth=False, labels=False, legend=False)
    marked = draw_overlay(radiograph(), findings(), numbered={"c1": 1}, show_teeth=False, labels=False, legend=False)
    ((_, _, rect),) = overlay_layout(
        findings(), numbered={"c1": 1}, show_teeth=False, labels=False, legend=False
    ).markers
    # On a 512x512 scan a unit is 2 px: the marker's square (27 px) sits 2 px above the caries box at (200, 200),
    # centred on its left edge, and the drawing stays in it.
    assert rect == (187, 171, 214, 198)
    ys, xs = np.nonzero(np.any(plain != marked, axis=2))
    assert (xs.min(), ys.min(), xs.max(), ys.max()) == (187, 171, 213, 197)
    assert (marked[184, 193:196] == 255).all()  # the white disc left of the digit, around the centre (200, 184)


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


def test_a_label_takes_its_ideal_place_when_free_and_stays_inside_the_image() -> None:
    assert place_labels([(10, 10, 30, 20)], (100, 100), gap=2) == [(10, 10, 30, 20)]
    # 10 px over the right edge and 5 above the top: shifted in, same size.
    assert place_labels([(90, -5, 110, 5)], (100, 100), gap=2) == [(80, 0, 100, 10)]
    # Wider than the image: cut to its width.
    assert place_labels([(0, 0, 200, 10)], (100, 50), gap=1) == [(0, 0, 100, 10)]


def test_a_label_moves_to_the_nearest_place_clear_of_the_others() -> None:
    # The second label's ideal place overlaps the first: below it (2 px gap) is 11 px away, above 13, sideways 22.
    assert place_labels([(40, 40, 60, 50), (40, 41, 60, 51)], (100, 100), gap=2) == [
        (40, 40, 60, 50),
        (40, 52, 60, 62),
    ]
    # A blocked rectangle (the legend): 18 px to its left beats 23 px above, to the right or below.
    assert place_labels([(50, 50, 60, 60)], (100, 100), gap=3, blocked=[(45, 40, 70, 70)]) == [(32, 50, 42, 60)]
    # Covering a box counts as moving 3 label heights: 10 px to the right leaves the box (0, 0, 10, 14) visible.
    assert place_labels([(0, 0, 10, 10)], (100, 100), gap=2, avoid=[(0, 0, 10, 14)]) == [(10, 0, 20, 10)]
    # No room left: the label overlaps rather than leaving the image.
    assert place_labels([(0, 0, 20, 10), (0, 0, 20, 10)], (20, 10), gap=1) == [(0, 0, 20, 10), (0, 0, 20, 10)]


def dense_findings(width: int, height: int) -> Findings:
    """32 teeth in two rows across the middle of a ``width`` x ``height`` scan, a finding on all but 18 and 28.

    Boxes are in scan pixels: each of the 30 findings covers the crown third of its tooth (a root canal the
    whole tooth), finding types in turn, as on a heavily treated dentition.
    """
    types = [t for t in FINDING_STYLES if t != "missing"]
    tooth_w, row_h = width * 0.45 / 16, height * 0.2
    teeth, found = [], []
    for row, top in enumerate((height * 0.35, height * 0.55)):
        right, left = ("1", "2") if row == 0 else ("4", "3")
        for i, fdi in enumerate([right + str(8 - i) for i in range(8)] + [left + str(i + 1) for i in range(8)]):
            x1 = width * 0.275 + i * tooth_w
            tooth = (x1, top, x1 + tooth_w * 0.95, top + row_h)
            teeth.append(Tooth(fdi, tooth))
            if fdi not in ("18", "28"):
                kind = types[len(found) % len(types)]
                y1 = top + row_h * 2 / 3 if row == 0 else top
                box = tooth if kind == "root_canal" else (x1, y1, tooth[2], y1 + row_h / 3)
                found.append(Finding(f"f{len(found)}", kind, fdi, box))
    return Findings(ImageInfo(width, height, SHA), ModelInfo("test", "1"), tuple(teeth), tuple(found))


def texts(layout: OverlayLayout) -> list[Rect]:
    """Every text's rectangle: tooth numbers, markers, type labels and the legend."""
    rects = [r for _, r in layout.teeth] + [r for _, _, r in layout.markers] + [r for _, r in layout.labels]
    return rects + ([layout.legend] if layout.legend is not None else [])


def outside(rects: list[Rect], size: tuple[int, int]) -> list[Rect]:
    return [r for r in rects if not (0 <= r[0] < r[2] <= size[0] and 0 <= r[1] < r[3] <= size[1])]


def overlapping(rects: list[Rect]) -> list[tuple[Rect, Rect]]:
    return [
        (a, b)
        for i, a in enumerate(rects)
        for b in rects[i + 1 :]
        if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
    ]


@pytest.mark.parametrize(
    ("width", "height", "numbered", "labels", "max_width"),
    [
        (2943, 1435, True, False, 1600),  # the report's figure: numbered markers, shrunk to 1600 px
        (1024, 533, False, True, None),  # analyze --overlay: type labels and the legend
        (512, 512, True, True, None),  # both on a small scan
    ],
)
def test_thirty_findings_texts_stay_inside_and_never_overlap(
    width: int, height: int, numbered: bool, labels: bool, max_width: int | None
) -> None:
    doc = dense_findings(width, height)
    numbers = {f.id: i + 1 for i, f in enumerate(doc.findings)} if numbered else None
    layout = overlay_layout(doc, numbered=numbers, labels=labels, legend=labels, max_width=max_width)
    assert (len(layout.teeth), len(layout.markers), len(layout.labels)) == (32, 30 * numbered, 30 * labels)
    assert outside(texts(layout), layout.size) == []
    assert overlapping(texts(layout)) == []


def test_texts_of_findings_in_the_corners_stay_whole_inside_the_image() -> None:
    corners = [
        (0.0, 0.0, 40.0, 30.0),
        (472.0, 0.0, 512.0, 30.0),
        (0.0, 482.0, 40.0, 512.0),
        (472.0, 482.0, 512.0, 512.0),
    ]
    doc = Findings(
        ImageInfo(512, 512, SHA),
        ModelInfo("test", "1"),
        tuple(Tooth(fdi, box) for fdi, box in zip(["18", "28", "48", "38"], corners, strict=True)),
        tuple(Finding(f"c{i}", "caries", None, box) for i, box in enumerate(corners)),
    )
    layout = overlay_layout(doc, numbered={f"c{i}": i + 1 for i in range(4)}, labels=True, legend=True)
    assert outside(texts(layout), (512, 512)) == []
    assert overlapping(texts(layout)) == []
