"""``xrayreport archive``: a folder of findings (``analyze ARCHIVE/ -o OUT/``) as tables and prevalence figures."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..exit_codes import EXIT_FAILED, EXIT_OK


class _Errors:
    """Prints each unreadable findings file as one line and remembers that one failed."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, message: str) -> None:
        self.count += 1
        print(f"xrayreport: error: {message}", file=sys.stderr)


def _summary(args: argparse.Namespace) -> int:
    try:
        from .tables import write_tables
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] != "pyarrow":
            raise
        from ..errors import XrayReportError

        raise XrayReportError("archive summary needs pyarrow: pip install 'xrayreport[archive]'") from None
    from .summary import summarise_folder

    errors = _Errors()
    for path in write_tables(summarise_folder(args.findings, errors), args.output, args.format):
        print(path)
    return EXIT_FAILED if errors.count else EXIT_OK


def _prevalence(args: argparse.Namespace) -> int:
    from .prevalence import prevalence, prevalence_table
    from .summary import summarise_folder

    errors = _Errors()
    summaries = summarise_folder(args.findings, errors)
    rows = (s.scan for s in summaries if args.quality is None or s.scan["quality"] in args.quality)
    print(prevalence_table(prevalence(rows)))
    return EXIT_FAILED if errors.count else EXIT_OK


def register(commands: Any) -> None:
    """Add the ``archive`` subcommand to an argparse subparsers object."""
    archive = commands.add_parser("archive", help="a folder of findings as tables and prevalence figures")
    actions = archive.add_subparsers(dest="archive_command", metavar="ACTION", required=True)
    summary = actions.add_parser(
        "summary",
        help="write the findings of a folder as tables (CSV, Parquet)",
        description="Write OUTPUT/scans.{csv,parquet} (one row per scan: counts per finding type, teeth present, "
        "quality verdict) and OUTPUT/teeth.{csv,parquet} (one row per tooth slot: its chart state and counts per "
        "finding type) from the findings documents in FINDINGS (what analyze FOLDER -o FINDINGS wrote). No "
        "patient fields are carried. Needs the [archive] extra. See docs/archive.md.",
    )
    summary.add_argument("findings", type=Path, metavar="FINDINGS", help="folder of findings JSON files")
    summary.add_argument("-o", "--output", type=Path, required=True, help="folder to write into (created as needed)")
    summary.add_argument(
        "--format", nargs="+", choices=("csv", "parquet"), default=["csv", "parquet"], help="(default: both)"
    )
    summary.set_defaults(run=_summary)
    prevalence = actions.add_parser(
        "prevalence",
        help="print the share of scans with each finding type, with 95 %% intervals",
        description="Print, per finding type, how many scans of FINDINGS have at least one, the share and its "
        "Wilson 95 %% interval (scans counted as independent). See docs/archive.md.",
    )
    prevalence.add_argument("findings", type=Path, metavar="FINDINGS", help="folder of findings JSON files")
    prevalence.add_argument(
        "--quality",
        nargs="+",
        choices=("ok", "doubtful", "unusable"),
        metavar="VERDICT",
        help="count only scans with these quality verdicts (ok, doubtful, unusable; default: every scan)",
    )
    prevalence.set_defaults(run=_prevalence)
