"""``xrayreport dicom listen``: the DICOM node on its own, storing into the workspace's home and database; and
the options that describe a node, shared with ``xrayreport serve --dicom-port``."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import XrayReportError
from ..exit_codes import EXIT_FAILED, EXIT_OK
from .node import DEFAULT_AE_TITLE, DEFAULT_PORT, NodeConfig

if TYPE_CHECKING:
    from .receive import Receiver

NO_PULL_SOURCE = (
    "no PACS is set up to pull from: add a dicomweb: section (url) or a pacs: section (ae_title, host, port) to the "
    "workspace's clinic.yaml; see docs/dicom.md"
)


def require_dicom_extra() -> None:
    """Fail in one line, naming the install command, when the [dicom] extra is not installed."""
    try:
        import pynetdicom  # noqa: F401
    except ImportError:
        raise XrayReportError(
            "the DICOM node needs the [dicom] extra (pynetdicom is missing): pip install 'xrayreport[dicom]'"
        ) from None


def add_node_options(parser: argparse.ArgumentParser, prefix: str, port: int | None) -> None:
    """The node's ``--{prefix}ae-title``, ``--{prefix}allow``, ``--{prefix}host`` and ``--{prefix}port``
    (default ``port``; ``None``: no node unless it is given)."""
    parser.add_argument(
        f"--{prefix}ae-title",
        default=DEFAULT_AE_TITLE,
        metavar="AE_TITLE",
        help=f"this node's AE title, which senders call (default {DEFAULT_AE_TITLE})",
    )
    parser.add_argument(
        f"--{prefix}allow",
        action="append",
        metavar="CALLING_AE",
        help="the calling AE title of a device allowed to send (panoramic unit, imaging software, PACS); "
        "repeat for several; associations from any other are rejected",
    )
    parser.add_argument(
        f"--{prefix}port",
        type=int,
        default=port,
        help=f"TCP port for DICOM (default {port})" if port else "TCP port for DICOM: also receive scans there",
    )
    parser.add_argument(
        f"--{prefix}host",
        default=None,
        help="address to listen on for DICOM (default 127.0.0.1; 0.0.0.0 for every network the devices are on)",
    )


def node_config(args: argparse.Namespace, prefix: str, host: str = "127.0.0.1") -> NodeConfig:
    """The :class:`NodeConfig` of :func:`add_node_options`' options (their port must be set); ``host`` is the
    address when ``--{prefix}host`` is not given."""
    key = prefix.replace("-", "_")
    return NodeConfig(
        allowed_callers=tuple(getattr(args, f"{key}allow") or ()),
        ae_title=getattr(args, f"{key}ae_title"),
        host=getattr(args, f"{key}host") or host,
        port=getattr(args, f"{key}port"),
    )


@contextmanager
def _workspace_receiver(
    args: argparse.Namespace, finish_analyses: bool, queue_only: bool = False
) -> Iterator[Receiver]:
    """A receiver into the home and database of ``args`` (``--home``, ``--database-url``, ``--max-upload-mib``), opened
    as the web workspace starts (crash leftovers removed, unfinished analyses resumed) with the model ``serve`` would
    use; on leaving, analyses running finish, and queued ones too when ``finish_analyses`` (else the next start
    resumes them). ``queue_only``: studies are only queued, for ``xrayreport worker`` processes, as by ``serve
    --queue-only`` (PostgreSQL only; the model then only says whether analysis is installed)."""
    import dataclasses
    import logging

    from sqlalchemy import select

    from ..web.analysis import AnalysisRunner, default_analyser
    from ..web.config import WebConfig, default_home
    from ..web.database import make_engine, make_sessions, upgrade
    from ..web.models import Study
    from ..web.scans import ScanStore
    from ..web.worker import require_postgresql
    from .receive import Receiver

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = WebConfig(
        home=args.home or default_home(),
        analyser=None,
        renderer=None,
        database_url=args.database_url,
        max_upload_bytes=int(args.max_upload_mib * 2**20),
        queue_only=queue_only,
    )
    if queue_only:  # refused before the model loads and before the home or an SQLite file is made
        require_postgresql(config.db_url, "a DICOM node that only queues analyses")
    config = dataclasses.replace(config, analyser=default_analyser())
    config.ensure_home()
    engine = make_engine(config.db_url)
    upgrade(engine)
    sessions = make_sessions(engine)
    scans = ScanStore(config.scans_dir)
    runner = AnalysisRunner(config.analyser, sessions, scans, config.analysis_workers, config.queue_only)
    with sessions() as db:  # as the web workspace starts: crash leftovers go, unfinished analyses resume
        known = set(db.scalars(select(Study.scan_file)))
    if removed := scans.open(known):
        logging.getLogger(__name__).info("removed %d scan files left without a study by an interrupted run", removed)
    runner.recover()
    try:
        yield Receiver(sessions, scans, runner, config.max_upload_bytes, config.clock)
    finally:
        runner.shutdown(finish_queued=finish_analyses)
        scans.close()
        engine.dispose()


def _require_extras() -> None:
    require_dicom_extra()
    from ..web.command import require_web_extra

    require_web_extra()


def _listen(args: argparse.Namespace) -> int:
    _require_extras()
    import signal
    import threading

    from .scp import StorageSCP

    node = node_config(args, "")
    with _workspace_receiver(args, finish_analyses=False, queue_only=args.queue_only) as receiver:
        scp = StorageSCP(node, receiver)
        try:
            scp.start()  # logs where it listens, and whom it accepts
            stop = threading.Event()
            for signal_number in (signal.SIGINT, signal.SIGTERM):  # stop as cleanly on `kill` as on Ctrl-C
                signal.signal(signal_number, lambda *_: stop.set())
            stop.wait()
        finally:
            scp.stop()
    return EXIT_OK


def _pull(args: argparse.Namespace) -> int:
    _require_extras()
    import sys

    from ..web.config import default_home
    from ..web.reports import clinic_file_of
    from .pacs import PacsSettings
    from .pull import pull_studies

    clinic = clinic_file_of(args.home or default_home())
    source = None if clinic is None else clinic.dicomweb or clinic.pacs
    if source is None:
        raise XrayReportError(NO_PULL_SOURCE)
    with _workspace_receiver(args, finish_analyses=True) as receiver:
        pulled = pull_studies(source, receiver, args.patient_id, args.study_uid)
        for study_id in pulled.studies:
            print(f"study {study_id}: pulled, analysing")
        for reason in pulled.refused:
            print(f"xrayreport: an image was refused: {reason}", file=sys.stderr)
        if not pulled.studies and not pulled.refused:
            where = f"PACS {source.label}" if isinstance(source, PacsSettings) else source.label
            raise XrayReportError(f"the {where} has no dental radiograph in the studies asked for")
    return EXIT_OK if not pulled.refused else EXIT_FAILED


def _export(args: argparse.Namespace) -> int:
    _require_extras()
    import sys

    from ..export import pseudonym
    from ..web.dicomresults import deidentified_objects, dicom_bytes, reviewed_study
    from ..web.resultfiles import find_studies, open_home, write_files
    from .deidentify import Deidentifier

    if args.images and not args.deidentify:
        raise XrayReportError("--images goes with --deidentify: an identified export always holds the overlay")
    source = open_home(args.home, args.database_url)
    secret = source.config.secret_key().encode()
    renderer = source.config.renderer
    if renderer is None and not args.deidentify:
        print("xrayreport: report.dcm is not written: the report stage cannot be loaded here", file=sys.stderr)
    for study_id, patient_id in find_studies(source, args.studies):
        reviewed = reviewed_study(source, study_id, args.lang)
        if args.deidentify:
            key = pseudonym(secret, "study", study_id)
            objects, left_out = deidentified_objects(
                source, reviewed, Deidentifier(secret), pseudonym(secret, "patient", str(patient_id)), args.images
            )
            for name, reason in left_out.items():
                print(f"xrayreport: study {study_id[:8]}: {name} left out: {reason}", file=sys.stderr)
            folder = args.output / key
        else:
            results = reviewed.results(None if renderer is None else reviewed.report_pdf(renderer))
            objects = {"sr.dcm": results.structured_report, "overlay.dcm": results.overlay}
            if results.pdf is not None:
                objects["report.dcm"] = results.pdf
            folder = args.output / study_id
        for path in write_files(folder, {name: dicom_bytes(ds) for name, ds in objects.items()}):
            print(f"study {study_id[:8]}: {path}")
    return EXIT_OK


def register(commands: Any) -> None:
    """Add the ``dicom`` subcommand to an argparse subparsers object."""
    from ..web.command import add_storage_options

    dicom = commands.add_parser(
        "dicom", help="the DICOM node: receive scans from imaging equipment, pull them from the PACS, export results"
    )
    actions = dicom.add_subparsers(dest="dicom_command", metavar="ACTION", required=True)
    listen = actions.add_parser(
        "listen",
        help="receive scans over DICOM (C-STORE) into the workspace",
        description="Run a DICOM Storage SCP: the devices allowed with --allow send CR, DX/PX, IO and secondary "
        "capture images, each becomes a study of the patient with its Patient ID and is analysed like an upload. "
        "C-ECHO is answered. It stores into the same home and database as 'xrayreport serve' (which can run the "
        "node itself with --dicom-port). See docs/dicom.md.",
    )
    add_node_options(listen, "", DEFAULT_PORT)
    listen.add_argument("--max-upload-mib", type=float, default=64, help="largest object accepted (default 64)")
    listen.add_argument(
        "--queue-only",
        action="store_true",
        help="analyse nothing in this process: 'xrayreport worker' processes analyse the studies it queues "
        "(PostgreSQL only; docs/workers.md)",
    )
    add_storage_options(listen)
    listen.set_defaults(run=_listen)

    pull = actions.add_parser(
        "pull",
        help="fetch studies from the clinic's PACS into the workspace",
        description="Find a patient's studies (or one study) on the PACS of the workspace's clinic.yaml and bring "
        "each dental radiograph in them here: from its DICOMweb server (dicomweb: url) with QIDO-RS and WADO-RS, "
        "else from its pacs: with C-FIND and C-MOVE to a Storage SCP this command runs on the pacs: move_port (the "
        "PACS must know AE title calling_ae_title at this machine and that port). Each image becomes a study of the "
        "patient with its Patient ID, as a scan sent to 'dicom listen', and is analysed before the command ends. "
        "Images pulled before are not stored twice; reports, PDFs, other modalities and xrayreport's own results "
        "are left. See docs/dicom.md.",
    )
    wanted = pull.add_mutually_exclusive_group(required=True)
    wanted.add_argument("--patient-id", help="every study of the patient with this Patient ID")
    wanted.add_argument("--study-uid", help="one study by its Study Instance UID")
    pull.add_argument("--max-upload-mib", type=float, default=64, help="largest object accepted (default 64)")
    add_storage_options(pull)
    pull.set_defaults(run=_pull)

    export = actions.add_parser(
        "export",
        help="write reviewed studies' results as DICOM files",
        description="Write each reviewed study's results as DICOM files into OUTPUT/<study id>/: the structured "
        "report (sr.dcm), the overlay as a secondary capture (overlay.dcm) and the report as an encapsulated PDF "
        "(report.dcm), with the workspace's patient details. With --deidentify, research copies instead, in "
        "OUTPUT/<study key>/: the SR de-identified with DICOM PS3.15's basic profile, and with --images the "
        "overlay and the DICOM scan where their pixels are marked free of burned-in text; never the report. "
        "See docs/dicom.md.",
    )
    export.add_argument("studies", nargs="+", metavar="STUDY", help="a study's id, or its first 8 or more characters")
    export.add_argument("-o", "--output", type=Path, required=True, help="folder to write into (created as needed)")
    export.add_argument("--lang", default=None, help="the report's language (en, zh, ru; default the patient's)")
    export.add_argument("--deidentify", action="store_true", help="de-identified research copies (PS3.15)")
    export.add_argument("--images", action="store_true", help="with --deidentify: the overlay and scan too")
    add_storage_options(export)
    export.set_defaults(run=_export)
