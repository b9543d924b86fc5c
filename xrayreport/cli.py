"""The ``xrayreport`` command: one entry point, one subcommand per job.

Every user-caused error ends as one line on stderr and a non-zero exit code; tracebacks are for bugs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .errors import XrayReportError
from .ingestion import Radiograph, load_scan

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

_FIELD_LABELS = {"patient_name": "name", "patient_id": "ID", "birth_date": "birth date", "sex": "sex"}


def _describe(radiograph: Radiograph, show_phi: bool) -> str:
    meta = radiograph.metadata
    lines = [
        f"{radiograph.source_name}",
        f"  format:      {radiograph.file_format}",
        f"  size:        {radiograph.width} x {radiograph.height} px",
        f"  bit depth:   {radiograph.bits_stored}",
        f"  modality:    {meta.modality or 'unknown (not a DICOM file)'}",
        f"  photometric: {radiograph.photometric}",
    ]
    if radiograph.pixel_spacing_mm:
        row, column = radiograph.pixel_spacing_mm
        lines.append(f"  spacing:     {row:g} x {column:g} mm")
    present = meta.present_patient_fields()
    if show_phi:
        values = [f"{_FIELD_LABELS[name]}={getattr(meta, name)}" for name in present]
        for label, value in (("study date", meta.study_date), ("institution", meta.institution)):
            if value:
                values.append(f"{label}={value}")
        lines.append(f"  patient:     {', '.join(values) or 'none'}")
    else:
        labels = [_FIELD_LABELS[name] for name in present]
        lines.append(f"  patient:     {', '.join(labels) + ' present' if labels else 'no identity fields'}")
    return "\n".join(lines)


def _inspect(args: argparse.Namespace) -> int:
    failed = 0
    for scan in args.scans:
        try:
            radiograph = load_scan(scan)
        except XrayReportError as exc:
            print(f"xrayreport: error: {exc}", file=sys.stderr)
            failed += 1
            continue
        print(_describe(radiograph, args.show_phi))
    return EXIT_FAILED if failed else EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xrayreport",
        description="Turn a dental panoramic X-ray into a visual oral-health report.",
        epilog="Run 'xrayreport COMMAND --help' for the options of one command.",
    )
    parser.add_argument("--version", action="version", version=f"xrayreport {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    inspect = commands.add_parser(
        "inspect",
        help="show what a scan file holds (size, bit depth, modality) and check that it can be read",
        description="Check that scan files can be read and show their size, bit depth, modality, "
        "photometric interpretation and which patient fields they carry. Patient values are hidden "
        "unless --show-phi is given.",
    )
    inspect.add_argument("scans", nargs="+", type=Path, metavar="SCAN", help="DICOM, PNG, JPEG or TIFF file")
    inspect.add_argument("--show-phi", action="store_true", help="print patient names, IDs and dates")
    inspect.set_defaults(run=_inspect)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.run(args)
    except XrayReportError as exc:
        print(f"xrayreport: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("xrayreport: interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
