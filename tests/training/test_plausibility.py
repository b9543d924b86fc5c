"""Per-scan and per-label figures where a source has no tooth labels for a class, on hand-made teeth."""

from __future__ import annotations

import numpy as np

from xrayreport.training.plausibility import (
    per_scan,
    per_tag,
    reported_metrics,
    reported_per_tooth,
    scan_plausibility,
    scan_report,
)
from xrayreport.training.tooth_crops import ToothCrop

CLASSES = ("caries", "deep_caries", "periapical_lesion", "restoration", "root_canal", "implant")
PIXELS = np.zeros((4, 4), np.uint8)


def _tooth(scan: str, labels: dict[str, int], present: frozenset[str] = frozenset(), tag: str = "") -> ToothCrop:
    return ToothCrop(PIXELS, (0, 0, 4, 4), labels, "ufba" if not tag else "folder", scan, tag, present)


def test_what_is_reported_per_tooth_follows_the_product_rules() -> None:
    probabilities = np.array(
        [
            [0.9, 0.0, 0.0, 0.9, 0.9, 0.0],  # carious, root filled
            [0.0, 0.0, 0.0, 0.9, 0.0, 0.0],  # restored
            [0.9, 0.0, 0.0, 0.9, 0.0, 0.9],  # implant: only that
        ]
    )
    reported = reported_per_tooth(probabilities, CLASSES, lambda name: 0.5)
    assert reported == [
        frozenset({"caries", "restoration", "root_canal"}),
        frozenset({"restoration"}),
        frozenset({"implant"}),
    ]


def test_per_scan_counts_false_findings_where_labels_rule_them_out() -> None:
    # Scan a: no restoration anywhere (image category), 3 teeth, one reported restored and two carious.
    # Scan b: holds an implant somewhere (image-level), 2 teeth, one reported implant.
    crops = [
        _tooth("a", {"restoration": 0, "implant": 0}),
        _tooth("a", {"restoration": 0, "implant": 0}),
        _tooth("a", {"restoration": 0, "implant": 0}),
        _tooth("b", {}, frozenset({"implant"})),
        _tooth("b", {}, frozenset({"implant"})),
    ]
    reported = [
        frozenset({"restoration", "caries"}),
        frozenset({"caries"}),
        frozenset(),
        frozenset({"implant"}),
        frozenset(),
    ]
    figures = per_scan(reported, crops)["ufba"]
    assert figures["scans"] == 2 and figures["teeth_per_scan"] == 2.5
    assert figures["mean_per_scan"]["caries"] == 1.0  # (2 + 0) / 2
    assert figures["on_scans_without"]["restoration"] == {"scans": 1, "false_per_scan": 1.0, "scans_with_any": 1}
    assert figures["on_scans_without"]["implant"] == {"scans": 1, "false_per_scan": 0.0, "scans_with_any": 0}
    assert figures["image_level_recall"]["implant"] == {"scans": 1, "share_found": 1.0}
    # Precision / recall of what is reported, on teeth whose label is known (scan a's restorations).
    assert reported_metrics(reported, crops)["restoration"]["all"] == {
        "tp": 0,
        "fp": 1,
        "fn": 0,
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
    }


def test_per_crop_label_gives_the_share_flagged() -> None:
    crops = [_tooth("p1", {"caries": 0}, tag="Intact"), _tooth("p1", {"caries": 0}, tag="Intact")]
    shares = per_tag([frozenset({"caries"}), frozenset()], crops)["folder/Intact"]
    assert shares["crops"] == 2 and shares["share_reported"]["caries"] == 0.5


def test_primary_numbers_are_counted_on_full_permanent_dentitions_only() -> None:
    adult = [f"{q}{p}" for q in "1234" for p in range(1, 8)]  # 28 permanent teeth labelled
    child = [*adult[:20], "55", "65", "75", "85"]
    reports = [
        scan_report("tufts", ["caries"], [*adult, "65"], frozenset(), frozenset(), adult),  # stray primary
        scan_report("tufts", [], adult, frozenset(), frozenset(), adult),
        scan_report("tufts", [], child, frozenset(), frozenset(), child),  # a child: not counted
        # UFBA labels no primary tooth even in children: its category says "full permanent dentition".
        scan_report("ufba", ["implant"], adult[:20], frozenset({"implant", "primary_tooth"}), frozenset(), adult[:20]),
    ]
    figures = scan_plausibility(reports)
    assert figures["tufts"]["full_permanent_dentitions"] == {"scans": 2, "scans_with_a_primary_number": 1}
    assert figures["tufts"]["mean_per_scan"]["caries"] == round(1 / 3, 3)
    assert figures["ufba"]["full_permanent_dentitions"] == {"scans": 1, "scans_with_a_primary_number": 0}
    assert figures["ufba"]["on_scans_without"]["implant"] == {"scans": 1, "false_per_scan": 1.0, "scans_with_any": 1}
