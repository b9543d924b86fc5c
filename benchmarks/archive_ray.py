"""Archive analysis throughput: the plain loop of ``analyze FOLDER`` against Ray with 1 and 2 workers, same scans.

Usage: .venv/bin/python benchmarks/archive_ray.py [--dataset tufts] [--scans 16] [--repeat 3] [--model PATH.onnx]

Each pass analyses the same scans into a fresh temporary folder (nothing is skipped as already analysed) with the
shipped models. Prints, per way of running, the median over the passes of scans per second, and the median per
scan of the three stages each scan goes through (read and decode, models, write the findings), measured where the
work is done. Ray's start-up (the local cluster once; the workers and their models once per run) is timed on its
own: it is paid once per archive, not per scan. Needs the [archive] extra and ../shared/datasets.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from xrayreport.archive.ray_analysis import ray_cluster, run_jobs, start_workers
from xrayreport.detection.batch import ScanJob, ScanOutcome, analyse_scan
from xrayreport.detection.detector import Detector

REPO = Path(__file__).resolve().parents[1]
DATASETS = REPO.parent / "shared" / "datasets"


def timed_pass(
    scans: list[Path], run: Callable[[list[ScanJob]], Iterable[ScanOutcome]]
) -> tuple[float, list[ScanOutcome]]:
    """Seconds for one pass of ``run`` over ``scans`` into a fresh folder, and its outcomes."""
    with tempfile.TemporaryDirectory(prefix="archive-bench-") as out:
        jobs = [ScanJob(scan, Path(out) / f"{scan.stem}.json") for scan in scans]
        started = time.perf_counter()
        outcomes = list(run(jobs))
        seconds = time.perf_counter() - started
    failed = [o.error for o in outcomes if o.status != "analysed"]
    if failed:
        sys.exit(f"archive benchmark: a scan failed: {failed[0]}")
    return seconds, outcomes


def report(label: str, scans: int, passes: list[tuple[float, list[ScanOutcome]]]) -> None:
    rate = statistics.median(scans / seconds for seconds, _ in passes)
    outcomes = [o for _, pass_outcomes in passes for o in pass_outcomes]
    read, model, write = (statistics.median(getattr(o, f) for o in outcomes) for f in ("read_s", "model_s", "write_s"))
    print(
        f"{label:<34} {rate:6.2f} scans/s   per scan: read {1000 * read:5.0f} ms, models {1000 * model:5.0f} ms, "
        f"write {1000 * write:4.0f} ms",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=DATASETS, help="folder holding the datasets")
    parser.add_argument("--dataset", default="tufts", help="dataset folder whose images/ to read (default: tufts)")
    parser.add_argument("--scans", type=int, default=16, help="scans per pass (default: 16)")
    parser.add_argument("--repeat", type=int, default=3, help="passes per way of running (default: 3)")
    parser.add_argument("--model", type=Path, default=None, help="detection model (default: the shipped one)")
    args = parser.parse_args()

    images = args.data_root / args.dataset / "images"
    if not images.is_dir():
        print(f"archive benchmark: no scans at {images}; needs ../shared/datasets", file=sys.stderr)
        return 1
    scans = sorted(images.iterdir())[: args.scans]
    print(f"{len(scans)} scans of {args.dataset}, {args.repeat} passes each, {os.cpu_count()} CPUs", flush=True)

    with tempfile.TemporaryDirectory(prefix="archive-bench-warm-") as warm_folder:
        measure(args, scans, ScanJob(scans[0], Path(warm_folder) / "warm.json"))
    return 0


def measure(args: argparse.Namespace, scans: list[Path], warm: ScanJob) -> None:
    """Each way of running, after one scan to warm it up."""
    for threads in (1, None):
        detector = Detector(args.model, threads=threads)
        analyse_scan(detector, warm)

        def plain(jobs: list[ScanJob], detector: Detector = detector) -> list[ScanOutcome]:
            return [analyse_scan(detector, job) for job in jobs]

        passes = [timed_pass(scans, plain) for _ in range(args.repeat)]
        report(f"plain loop, {threads or 'all'} onnxruntime thread(s)", len(scans), passes)

    started = time.perf_counter()
    with ray_cluster(None, cpus=2):  # two workers even on a one-CPU machine
        print(f"Ray local cluster start: {time.perf_counter() - started:.1f} s", flush=True)
        for workers in (1, 2):
            started = time.perf_counter()
            with start_workers(args.model, workers) as actors:
                print(f"Ray, {workers} worker(s): start and load models: {time.perf_counter() - started:.1f} s")
                list(run_jobs(actors, [warm] * workers))
                passes = [timed_pass(scans, lambda jobs, a=actors: run_jobs(a, jobs)) for _ in range(args.repeat)]
            report(f"Ray, {workers} worker(s) of 1 thread", len(scans), passes)


if __name__ == "__main__":
    sys.exit(main())
