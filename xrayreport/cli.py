"""The ``xrayreport`` command: one entry point, one subcommand per job.

Every user-caused error ends as one line on stderr and a non-zero exit code; tracebacks are for bugs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import __version__
from .archive import command as archive_command
from .detection import command as detection_command
from .dicomnet import command as dicom_command
from .errors import XrayReportError
from .exit_codes import EXIT_FAILED
from .fhir import command as fhir_command
from .ingestion import command as ingestion_command
from .report import command as report_command
from .training import command as training_command
from .web import command as web_command


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xrayreport",
        description="Turn a dental panoramic X-ray into a visual oral-health report.",
        epilog="Run 'xrayreport COMMAND --help' for the options of one command.",
    )
    parser.add_argument("--version", action="version", version=f"xrayreport {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    ingestion_command.register(commands)
    detection_command.register(commands)
    training_command.register(commands)
    report_command.register(commands)
    web_command.register(commands)
    dicom_command.register(commands)
    fhir_command.register(commands)
    archive_command.register(commands)
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
