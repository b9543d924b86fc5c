"""Analysis speed and memory of the shipped detector on real panoramics of several sizes, model loaded once.

Usage: .venv/bin/python benchmarks/analysis.py [--model PATH.onnx] [--scans N] [--repeat N] [--threads N]

Prints the model load time, then per dataset the median time per scan of ``load_scan`` (decoding the file)
and ``Detector.analyze`` (inference, decoding, numbering, quality) and their sum, the median over every
scan, and the process's peak resident memory (``ru_maxrss``). The first analysis of the run (onnxruntime
warming up) is reported on its own and left out of the medians. Reads the scans in place from
../shared/datasets. The issue's target is at most 1 s per scan on a 2-core CPU with the model loaded.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import onnxruntime

from xrayreport.detection.detector import Detector, default_model_path
from xrayreport.errors import XrayReportError
from xrayreport.ingestion import load_scan

REPO = Path(__file__).resolve().parents[1]
DATASETS = REPO.parent / "shared" / "datasets"
# Dataset folder -> its panoramics' size as stored (see ../shared/datasets/README.md).
FOLDERS = {
    "ufba425": "512x512",
    "dental-radiography": "640x640",
    "tufts": "1024x533",
    "dc1000-subset": "2943x1435",
}


def peak_memory_mib() -> float:
    """Peak resident memory of this process so far (Linux reports ``ru_maxrss`` in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help=f"ONNX model (default: {default_model_path()})")
    parser.add_argument("--data-root", type=Path, default=DATASETS, help="folder holding the datasets")
    parser.add_argument("--scans", type=int, default=3, help="scans per dataset (default: 3)")
    parser.add_argument("--repeat", type=int, default=3, help="passes over the scans (default: 3)")
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime threads (default: all cores)")
    args = parser.parse_args()

    model_path = args.model or default_model_path()
    started = time.perf_counter()
    try:
        detector = Detector(model_path, threads=args.threads)
    except XrayReportError as exc:
        print(
            f"analysis benchmark: {exc}\n  no model to measure: train and export one first "
            "(xrayreport train configs/detector-v1.yaml; xrayreport export runs/detector-v1/best.pt "
            "-o models/detector-v1.onnx) or pass --model",
            file=sys.stderr,
        )
        return 1
    load_seconds = time.perf_counter() - started
    memory_after_load = peak_memory_mib()

    scans = {}
    for folder in FOLDERS:
        images = args.data_root / folder / "images"
        if not images.is_dir():
            print(f"analysis benchmark: {images} not found; pass --data-root", file=sys.stderr)
            return 1
        scans[folder] = sorted(images.iterdir())[: args.scans]

    prep = detector.config.preprocessing
    print(
        f"model {model_path} ({detector.config.name} {detector.config.version}, input "
        f"{prep.input_width}x{prep.input_height}); onnxruntime {onnxruntime.__version__}, "
        f"{os.cpu_count()} CPUs, threads {args.threads or 'default'}"
    )
    print(f"model load: {load_seconds:.3f} s (peak memory after load {memory_after_load:.0f} MiB)")

    first = next(iter(scans.values()))[0]
    started = time.perf_counter()
    detector.analyze(load_scan(first))
    print(f"first analysis (warm-up, not in the medians): {time.perf_counter() - started:.3f} s")

    print(f"{'dataset':20s} {'size':>10s} {'scans':>6s} {'load_scan':>10s} {'analyze':>9s} {'per scan':>9s}")
    every_scan = []
    for folder, paths in scans.items():
        loading, analysing, totals = [], [], []
        for _ in range(args.repeat):
            for path in paths:
                t0 = time.perf_counter()
                radiograph = load_scan(path)
                t1 = time.perf_counter()
                detector.analyze(radiograph)
                t2 = time.perf_counter()
                loading.append(t1 - t0)
                analysing.append(t2 - t1)
                totals.append(t2 - t0)
        every_scan += totals
        print(
            f"{folder:20s} {FOLDERS[folder]:>10s} {len(paths):>6d} {statistics.median(loading):>8.3f} s "
            f"{statistics.median(analysing):>7.3f} s {statistics.median(totals):>7.3f} s"
        )
    print(
        f"all scans: median {statistics.median(every_scan):.3f} s per scan, slowest {max(every_scan):.3f} s "
        f"({len(every_scan)} analyses; target <= 1 s)"
    )
    print(f"peak memory (ru_maxrss): {peak_memory_mib():.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
