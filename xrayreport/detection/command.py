"""``xrayreport analyze``: scans in, findings JSON (and optional overlay PNG) out."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import XrayReportError
from ..exit_codes import EXIT_FAILED, EXIT_OK

if TYPE_CHECKING:
    from .batch import BatchProgress, ScanJob


def _analyze(args: argparse.Namespace) -> int:
    from .batch import BatchProgress, analyse_scan, plan_batch

    jobs, batch = plan_batch(args.scans, args.output, args.overlay)
    if args.ray is not None:
        if not batch:
            raise XrayReportError("--ray analyses a folder or several scans; give -o a folder")
        progress = _analyse_on_ray(args, jobs)
    else:
        from .detector import Detector

        detector = Detector(args.model)
        progress = BatchProgress(len(jobs), batch)
        for job in jobs:
            # A batch is resumable: a rerun skips the scans whose findings are already there for these models.
            progress.report(analyse_scan(detector, job, resume=batch))
    progress.finish(args.output)
    return EXIT_FAILED if progress.failed else EXIT_OK


def _analyse_on_ray(args: argparse.Namespace, jobs: list[ScanJob]) -> BatchProgress:
    from .batch import BatchProgress

    try:
        from ..archive.ray_analysis import analyse_on_ray, ray_cluster
    except ModuleNotFoundError as exc:
        if exc.name != "ray":
            raise
        raise XrayReportError("--ray needs Ray: pip install 'xrayreport[archive]'") from None
    # A local cluster gets at least the CPUs the workers ask for: on a smaller machine they share its cores.
    with ray_cluster(args.ray or None, cpus=(args.workers or 1) * args.threads):
        progress = BatchProgress(len(jobs))
        for outcome in analyse_on_ray(jobs, args.model, workers=args.workers, threads=args.threads):
            progress.report(outcome)
    return progress


def register(commands: Any) -> None:
    """Add the ``analyze`` subcommand to an argparse subparsers object."""
    analyze = commands.add_parser(
        "analyze",
        help="find teeth (with FDI numbers), caries, restorations and missing teeth on scans",
        description="Analyse panoramic X-rays with the detection model. One scan: OUT is the findings JSON "
        "file. Several scans or a folder: OUT is a folder that receives <scan-name>.json per scan; a bad file "
        "is reported and skipped, and a rerun skips the scans whose findings are there for the same scan file and "
        "models. Findings are decision support for a dentist to review, not a diagnosis.",
    )
    analyze.add_argument("scans", nargs="+", type=Path, metavar="SCAN", help="scan file(s) or folder(s)")
    analyze.add_argument("-o", "--output", type=Path, required=True, metavar="OUT", help="findings JSON or folder")
    analyze.add_argument(
        "--overlay", type=Path, metavar="PNG", help="also draw the findings on the scan (a PNG, or a folder)"
    )
    analyze.add_argument("--model", type=Path, metavar="ONNX", help="detection model (default: the shipped one)")
    analyze.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="spread a batch over Ray workers: a local cluster on this machine's CPUs, or the running cluster at "
        "ADDRESS (auto, HOST:PORT, ray://HOST:PORT); needs the [archive] extra. See docs/archive.md",
    )
    analyze.add_argument(
        "--workers", type=int, metavar="N", help="with --ray: Ray workers (default: the cluster's CPUs / threads)"
    )
    analyze.add_argument(
        "--threads", type=int, default=1, metavar="N", help="with --ray: onnxruntime threads per worker (default: 1)"
    )
    analyze.set_defaults(run=_analyze)
