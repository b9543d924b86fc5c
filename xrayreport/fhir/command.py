"""``xrayreport fhir export``: reviewed studies of a workspace as FHIR Bundle files."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..exit_codes import EXIT_OK


def _export(args: argparse.Namespace) -> int:
    from ..web.command import require_web_extra

    require_web_extra()
    from ..export import pseudonym
    from ..web.fhirexport import fhir_json
    from ..web.resultfiles import find_studies, open_home, write_files

    source = open_home(args.home, args.database_url)
    secret = source.config.secret_key().encode()
    for study_id, patient_id in find_studies(source, args.studies):
        if args.deidentify:  # keyed as the researcher's exports and dicom export --deidentify key them
            key = pseudonym(secret, "patient", str(patient_id))
            bundle = fhir_json(source, study_id, args.lang, key).encode()
            folder = args.output / pseudonym(secret, "study", study_id)
        else:
            bundle = fhir_json(source, study_id, args.lang).encode()
            folder = args.output / study_id
        for path in write_files(folder, {"fhir.json": bundle}):
            print(f"study {study_id[:8]}: {path}")
    return EXIT_OK


def register(commands: Any) -> None:
    """Add the ``fhir`` subcommand to an argparse subparsers object."""
    from ..web.command import add_storage_options

    fhir = commands.add_parser("fhir", help="reviewed studies as FHIR")
    actions = fhir.add_subparsers(dest="fhir_command", metavar="ACTION", required=True)
    export = actions.add_parser(
        "export",
        help="write reviewed studies as FHIR Bundles",
        description="Write each reviewed study as a FHIR R4 Bundle (DiagnosticReport, one Observation per finding, "
        "ImagingStudy, Patient; the report PDF as presentedForm when the report stage is installed) to "
        "OUTPUT/<study id>/fhir.json, as GET /api/studies/{id}/fhir answers it. Needs the [fhir] extra. See "
        "docs/dicom.md, section FHIR.",
    )
    export.add_argument("studies", nargs="+", metavar="STUDY", help="a study's id, or its first 8 or more characters")
    export.add_argument("-o", "--output", type=Path, required=True, help="folder to write into (created as needed)")
    export.add_argument("--lang", default=None, help="the report's language (en, zh, ru; default the patient's)")
    export.add_argument(
        "--deidentify",
        action="store_true",
        help="research copies in OUTPUT/<study key>/: the patient's export key as the only identity, UIDs mapped as "
        "in dicom export --deidentify, no dates, reviewer or report PDF",
    )
    add_storage_options(export)
    export.set_defaults(run=_export)
