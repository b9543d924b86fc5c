"""Prevalence per finding type with Wilson intervals, checked against the formula worked by hand."""

from __future__ import annotations

import pytest

from xrayreport.archive.prevalence import Prevalence, prevalence, prevalence_table, wilson_interval
from xrayreport.errors import XrayReportError
from xrayreport.findings import FINDING_TYPES


def test_wilson_interval_by_hand() -> None:
    # 3 of 10, z = 1.96: centre (0.3 + 1.96²/20) / (1 + 1.96²/10) = 0.35551,
    # half width 1.96 * sqrt(0.3 * 0.7 / 10 + 1.96² / 400) / 1.38416 = 0.24772.
    assert wilson_interval(3, 10) == pytest.approx((0.10779, 0.60322), abs=1e-5)
    # 0 of 4: the lower end is 0 and the upper z² / (n + z²) = 3.8416 / 7.8416.
    assert wilson_interval(0, 4) == pytest.approx((0.0, 0.48990), abs=1e-5)
    assert wilson_interval(4, 4) == pytest.approx((0.51010, 1.0), abs=1e-5)


def test_the_share_of_scans_with_at_least_one() -> None:
    counts = [{"caries": 2, "missing": 1}, {"caries": 0, "missing": 3}, {"caries": 1}, {}]
    rows = prevalence({kind: row.get(kind, 0) for kind in FINDING_TYPES} for row in counts)
    assert [row.finding_type for row in rows] == list(FINDING_TYPES)
    by_type = {row.finding_type: row for row in rows}
    assert (by_type["caries"].scans_with, by_type["caries"].scans, by_type["caries"].share) == (2, 4, 0.5)
    assert (by_type["missing"].scans_with, by_type["implant"].scans_with) == (2, 0)
    assert (by_type["implant"].low, by_type["implant"].high) == pytest.approx((0.0, 0.48990), abs=1e-5)


def test_no_scans_is_an_error() -> None:
    with pytest.raises(XrayReportError, match="no scans to count"):
        prevalence([])


def test_the_printed_table() -> None:
    table = prevalence_table([Prevalence("caries", 3, 10, 0.10779, 0.60322)])
    assert table.splitlines() == [
        "finding type                 scans   share  95 % interval (Wilson)",
        "caries                     3 of 10  30.0 %  10.8 - 60.3 %",
    ]
