"""The one rule on pixels in every export: a scan's pixels go only when its header says NO or a dentist checked it."""

from __future__ import annotations

import pytest

from xrayreport.export.burnedin import pixels_withheld


@pytest.mark.parametrize("annotation", ["NO", "no", " NO "])
def test_a_header_saying_no_lets_the_pixels_go(annotation: str) -> None:
    assert pixels_withheld(annotation, checked=False) is None


@pytest.mark.parametrize(
    ("annotation", "said"),
    [("YES", "is YES"), ("", "is missing"), ("MAYBE", "is missing"), (None, "is unknown (the scan came as an image")],
)
def test_anything_else_withholds_them_until_a_dentist_checked(annotation: str | None, said: str) -> None:
    reason = pixels_withheld(annotation, checked=False)
    assert reason is not None and f"Burned In Annotation (0028,0301) {said}" in reason
    assert "mark the scan checked free of burned-in text" in reason
    assert pixels_withheld(annotation, checked=True) is None
