"""``xrayreport analyze``: scans in, findings JSON (and optional overlay PNG) out."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from ..errors import XrayReportError
from ..exit_codes import EXIT_FAILED, EXIT_OK

SCAN_SUFFIXES = {".dcm", ".dicom", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ""}


def _expand(paths: list[Path]) -> list[Path]:
    scans: list[Path] = []
    for path in paths:
        if path.is_dir():
            scans += sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in SCAN_SUFFIXES)
        else:
            scans.append(path)
    return scans


def _analyze(args: argparse.Namespace) -> int:
    from ..findings import save_findings
    from ..ingestion import load_scan
    from ..overlay import draw_overlay, write_overlay_png
    from .detector import Detector

    scans = _expand(args.scans)
    if not scans:
        raise XrayReportError("no scan files found in the given folder(s); pass DICOM, PNG, JPEG or TIFF files")
    # An existing folder as OUT receives <scan-stem>.json even for a single scan.
    batch = len(scans) > 1 or args.scans[0].is_dir() or args.output.is_dir()
    if batch and args.output.suffix.lower() == ".json":
        raise XrayReportError(f"{len(scans)} scans need an output folder, not the file {args.output}; pass -o FOLDER")
    stems = [scan.stem for scan in scans]
    if batch and len(set(stems)) < len(stems):
        raise XrayReportError("two scans share a file name stem; their findings would overwrite each other")
    detector = Detector(args.model)
    failed = 0
    started = time.monotonic()
    for number, scan in enumerate(scans, start=1):
        findings_path = args.output / f"{scan.stem}.json" if batch else args.output
        overlay_path = None
        if args.overlay is not None:
            overlay_path = args.overlay / f"{scan.stem}.png" if batch or args.overlay.is_dir() else args.overlay
        try:
            radiograph = load_scan(scan)
            findings = detector.analyze(radiograph)
            save_findings(findings, findings_path)
            if overlay_path is not None:
                write_overlay_png(overlay_path, draw_overlay(radiograph, findings))
        except XrayReportError as exc:
            failed += 1
            print(f"xrayreport: error: {exc}", file=sys.stderr)
            continue
        quality = findings.quality
        for warning in quality.warnings if quality else ():
            print(f"xrayreport: warning: {scan.name}: {warning.message}", file=sys.stderr)
        if batch:
            elapsed = time.monotonic() - started
            print(
                f"[{number}/{len(scans)}] {scan.name}: {len(findings.teeth)} teeth, "
                f"{sum(f.type != 'missing' for f in findings.findings)} findings "
                f"({elapsed / number:.2f} s/scan)",
                file=sys.stderr,
            )
    if batch:
        print(f"analysed {len(scans) - failed} of {len(scans)} scans into {args.output}", file=sys.stderr)
    return EXIT_FAILED if failed else EXIT_OK


def register(commands: Any) -> None:
    """Add the ``analyze`` subcommand to an argparse subparsers object."""
    analyze = commands.add_parser(
        "analyze",
        help="find teeth (with FDI numbers), caries, restorations and missing teeth on scans",
        description="Analyse panoramic X-rays with the detection model. One scan: OUT is the findings JSON "
        "file. Several scans or a folder: OUT is a folder that receives <scan-name>.json per scan; a bad file "
        "is reported and skipped. Findings are decision support for a dentist to review, not a diagnosis.",
    )
    analyze.add_argument("scans", nargs="+", type=Path, metavar="SCAN", help="scan file(s) or folder(s)")
    analyze.add_argument("-o", "--output", type=Path, required=True, metavar="OUT", help="findings JSON or folder")
    analyze.add_argument(
        "--overlay", type=Path, metavar="PNG", help="also draw the findings on the scan (a PNG, or a folder)"
    )
    analyze.add_argument("--model", type=Path, metavar="ONNX", help="detection model (default: the shipped one)")
    analyze.set_defaults(run=_analyze)
