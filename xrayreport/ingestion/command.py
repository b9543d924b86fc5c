"""``xrayreport inspect``: check that scans can be read and say what they hold."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..errors import XrayReportError
from ..exit_codes import EXIT_FAILED, EXIT_OK
from .radiograph import Radiograph, load_scan

_FIELD_LABELS = {"patient_name": "name", "patient_id": "ID", "birth_date": "birth date", "sex": "sex"}


def _describe(shown_as: str, radiograph: Radiograph, show_phi: bool) -> str:
    meta = radiograph.metadata
    lines = [
        shown_as,
        f"  format:      {radiograph.file_format}",
        f"  size:        {radiograph.width} x {radiograph.height} px",
        f"  bit depth:   {radiograph.bits_stored}",
        f"  modality:    {meta.modality or 'unknown (not a DICOM file)'}",
        f"  photometric: {radiograph.photometric}",
    ]
    if radiograph.pixel_spacing_mm:
        row, column = radiograph.pixel_spacing_mm
        lines.append(f"  spacing:     {row:g} x {column:g} mm")
    patient = {_FIELD_LABELS[name]: getattr(meta, name) for name in meta.present_patient_fields()}
    study = {label: value for label, value in (("date", meta.study_date), ("institution", meta.institution)) if value}
    lines.append(f"  patient:     {_fields(patient, show_phi, 'no identity fields')}")
    lines.append(f"  study:       {_fields(study, show_phi, 'no date or institution')}")
    return "\n".join(lines)


def _fields(values: dict[str, str], show_phi: bool, when_empty: str) -> str:
    # Without --show-phi only the names of the fields are printed: terminals and logs are not private.
    if not values:
        return when_empty
    if show_phi:
        return ", ".join(f"{label}={value}" for label, value in values.items())
    return ", ".join(values) + " present"


def _inspect(args: argparse.Namespace) -> int:
    failed = 0
    for scan in args.scans:
        try:
            radiograph = load_scan(scan)
        except XrayReportError as exc:
            print(f"xrayreport: error: {exc}", file=sys.stderr)
            failed += 1
            continue
        print(_describe(str(scan), radiograph, args.show_phi))
    return EXIT_FAILED if failed else EXIT_OK


def register(commands: Any) -> None:
    """Add the ``inspect`` subcommand to an argparse subparsers object."""
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
