"""``xrayreport report``: the patient report of one scan, as PDF (default) or HTML."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import XrayReportError
from ..exit_codes import EXIT_OK

_LANGUAGE_CODES = ("en", "zh", "ru")


def _report(args: argparse.Namespace) -> int:
    from ..atomic_write import write_bytes_atomically, write_text_atomically
    from ..changes import check_pair
    from ..findings import load_findings
    from ..ingestion import load_scan
    from .build import build_report
    from .clinic import Clinic, load_clinic
    from .i18n import Messages
    from .render import render_html, render_pdf

    radiograph = load_scan(args.scan)
    if args.findings is not None:
        findings = load_findings(args.findings)
    else:
        # Unreviewed model output: the report itself says that no dentist has confirmed it yet.
        from ..detection.detector import Detector

        try:
            detector = Detector(args.model)
        except XrayReportError as exc:
            raise XrayReportError(f"{exc}; or pass --findings FILE with the reviewed findings of this scan") from None
        findings = detector.analyze(radiograph)
    previous = None if args.previous is None else load_findings(args.previous)
    if previous is not None:
        check_pair(previous, findings)
    clinic = load_clinic(args.clinic) if args.clinic else Clinic()
    if args.numbering is not None:
        clinic = replace(clinic, numbering=args.numbering)
    messages = Messages(args.lang)
    view = build_report(radiograph, findings, messages, clinic=clinic, age_years=args.patient_age, previous=previous)
    output: Path = args.output
    if args.html:
        write_text_atomically(output, render_html(view, messages))
    else:
        write_bytes_atomically(output, render_pdf(view, messages))
    print(f"wrote {output}")
    return EXIT_OK


def register(commands: Any) -> None:
    """Add the ``report`` subcommand to an argparse subparsers object."""
    report = commands.add_parser(
        "report",
        help="make the patient report (PDF or HTML) of a scan from its findings",
        description="Make the patient report of a scan: the X-ray with numbered findings, a tooth chart, "
        "what was found in everyday words, the staged plan and the next visit.",
    )
    report.add_argument("scan", type=Path, metavar="SCAN", help="DICOM, PNG, JPEG or TIFF file")
    report.add_argument("-o", "--output", type=Path, required=True, help="where to write the report")
    report.add_argument(
        "--findings",
        type=Path,
        help="findings JSON of this scan, as reviewed by the dentist (default: analyse the scan)",
    )
    report.add_argument("--model", type=Path, help="ONNX detection model used without --findings (default: shipped)")
    report.add_argument(
        "--previous",
        type=Path,
        metavar="FINDINGS",
        help="reviewed findings JSON of the patient's last earlier scan: the report says what changed since",
    )
    report.add_argument("--lang", choices=_LANGUAGE_CODES, default="en", help="report language (default: en)")
    report.add_argument("--clinic", type=Path, help="clinic file (YAML): name, logo, address, prices, plan rules")
    report.add_argument("--patient-age", type=float, metavar="YEARS", help="age at the X-ray, if not in the findings")
    report.add_argument(
        "--numbering", choices=("fdi", "universal"), help="tooth numbers shown (default: the clinic's, else FDI)"
    )
    report.add_argument("--html", action="store_true", help="write HTML instead of PDF")
    report.set_defaults(run=_report)
