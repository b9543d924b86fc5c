"""Median time to render one patient report (view + HTML + PDF), fonts already loaded.

Usage: .venv/bin/python benchmarks/report_render.py [--repeat N]
Reads the report test fixtures and their scans in ../shared/datasets; prints one line per case.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time
from pathlib import Path

from xrayreport.findings import load_findings
from xrayreport.ingestion import load_scan
from xrayreport.report import Messages, build_report
from xrayreport.report.render import render_pdf

REPO = Path(__file__).resolve().parents[1]
DATASETS = REPO.parent / "shared" / "datasets"
CASES = [
    ("many_caries", "tufts/images/20.jpg", "en"),
    ("many_caries", "tufts/images/20.jpg", "zh"),
    ("edentulous", "tufts/images/44.jpg", "ru"),
    ("no_tooth_numbers", "dc1000-subset/images/979.jpg", "en"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    for name, scan, lang in CASES:
        radiograph = load_scan(DATASETS / scan)
        findings = load_findings(REPO / "tests" / "report" / "fixtures" / f"{name}.json")
        times = []
        for i in range(args.repeat + 1):
            start = time.perf_counter()
            messages = Messages(lang)
            pdf = render_pdf(build_report(radiograph, findings, messages, today=dt.date(2026, 3, 2)), messages)
            if i:  # the first run loads fonts and compiles templates
                times.append(time.perf_counter() - start)
        print(
            f"{name:18s} {lang}  {radiograph.width}x{radiograph.height}  median {statistics.median(times):.3f} s"
            f"  (min {min(times):.3f}, {len(pdf) / 1024:.0f} KiB)"
        )


if __name__ == "__main__":
    main()
