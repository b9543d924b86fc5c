"""A batch of scans analysed into a folder, one scan at a time.

What ``xrayreport analyze FOLDER -o OUT/`` and the archive analysis on Ray (:mod:`xrayreport.archive`) share, so
that both write the same files, skip the same scans on a rerun and print the same lines:

- :func:`plan_batch` turns the command's paths into one :class:`ScanJob` per scan (``OUT/<stem>.json``);
- :func:`analyse_scan` runs one job with a loaded :class:`~xrayreport.detection.detector.Detector` and returns a
  :class:`ScanOutcome`, which holds counts, messages and timings but no patient data (it crosses processes);
- :class:`BatchProgress` prints each outcome on stderr: errors and warnings on one line each, then progress with
  the time per scan and the estimated time left.

A rerun is resumable: a scan whose findings file already records the same scan (sha256 of the file's bytes) and
the same models (detector and second stage, by name and version), and whose overlay exists when one is asked for,
is not analysed again.
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TextIO

from ..errors import XrayReportError
from ..findings import ModelInfo, load_findings, save_findings
from ..ingestion import load_scan
from ..overlay import draw_overlay, write_overlay_png
from .detector import Detector

SCAN_SUFFIXES = {".dcm", ".dicom", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ""}
_HASH_CHUNK = 1 << 20  # bytes read at a time when hashing a scan for the resume check


@dataclass(frozen=True)
class ScanJob:
    """One scan and where its results go; ``overlay`` is ``None`` when no overlay is asked for."""

    scan: Path
    findings: Path
    overlay: Path | None = None


@dataclass(frozen=True)
class ScanOutcome:
    """What became of one job. Carries no patient values: it is printed and sent between processes.

    ``status`` is ``analysed``, ``current`` (skipped: its findings file is for this scan and these models) or
    ``failed`` (``error`` says why, in one line). ``findings`` counts findings other than missing teeth.
    ``read_s``, ``model_s`` and ``write_s`` are the seconds spent reading and decoding the scan, in the models,
    and writing the findings (and overlay); the resume check counts as reading.
    """

    scan_name: str
    status: Literal["analysed", "current", "failed"]
    teeth: int = 0
    findings: int = 0
    warnings: tuple[str, ...] = ()
    error: str | None = None
    read_s: float = 0.0
    model_s: float = 0.0
    write_s: float = 0.0


def _expand(paths: Sequence[Path]) -> list[Path]:
    scans: list[Path] = []
    for path in paths:
        if path.is_dir():
            scans += sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in SCAN_SUFFIXES)
        else:
            scans.append(path)
    return scans


def plan_batch(paths: Sequence[Path], output: Path, overlay: Path | None) -> tuple[list[ScanJob], bool]:
    """The jobs for scan files and folders (a folder's scans by file suffix, not recursive), and whether this is a
    batch (several scans, a folder, or an existing folder as ``output``: results go to ``output/<stem>.json``).

    Raises :class:`XrayReportError` when there is no scan, when several scans would go to one ``.json`` file, or
    when two scans share a file name stem.
    """
    scans = _expand(paths)
    if not scans:
        raise XrayReportError("no scan files found in the given folder(s); pass DICOM, PNG, JPEG or TIFF files")
    batch = len(scans) > 1 or paths[0].is_dir() or output.is_dir()
    if batch and output.suffix.lower() == ".json":
        raise XrayReportError(f"{len(scans)} scans need an output folder, not the file {output}; pass -o FOLDER")
    stems = [scan.stem for scan in scans]
    if batch and len(set(stems)) < len(stems):
        raise XrayReportError("two scans share a file name stem; their findings would overwrite each other")
    jobs = []
    for scan in scans:
        overlay_path = None
        if overlay is not None:
            overlay_path = overlay / f"{scan.stem}.png" if batch or overlay.is_dir() else overlay
        jobs.append(ScanJob(scan, output / f"{scan.stem}.json" if batch else output, overlay_path))
    return jobs, batch


def file_sha256(path: Path) -> str:
    """The hex sha256 of a file's bytes, as a findings document's ``image.sha256`` records it."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def is_current(job: ScanJob, model: ModelInfo) -> bool:
    """Whether ``job`` needs no analysis: its findings file is valid, records ``model`` and the scan's sha256, and
    its overlay exists if one is asked for. A findings file that cannot be read counts as not current."""
    if not job.findings.is_file() or (job.overlay is not None and not job.overlay.is_file()):
        return False
    try:
        findings = load_findings(job.findings)
        # The models first: comparing them is free, hashing the scan reads it whole.
        return findings.model == model and findings.image.sha256 == file_sha256(job.scan)
    except (XrayReportError, OSError):
        return False


def analyse_scan(detector: Detector, job: ScanJob, *, resume: bool = False) -> ScanOutcome:
    """Read, analyse and write one scan; with ``resume`` skip it when :func:`is_current`.

    A file that cannot be read or analysed (any :class:`XrayReportError`) is a ``failed`` outcome, not an error.
    """
    name = job.scan.name
    started = time.perf_counter()
    if resume and is_current(job, detector.model_info):
        return ScanOutcome(name, "current", read_s=time.perf_counter() - started)
    try:
        radiograph = load_scan(job.scan)
        read = time.perf_counter()
        findings = detector.analyze(radiograph)
        analysed = time.perf_counter()
        save_findings(findings, job.findings)
        if job.overlay is not None:
            write_overlay_png(job.overlay, draw_overlay(radiograph, findings))
        written = time.perf_counter()
    except XrayReportError as exc:
        return ScanOutcome(name, "failed", error=str(exc), read_s=time.perf_counter() - started)
    quality = findings.quality
    return ScanOutcome(
        name,
        "analysed",
        teeth=len(findings.teeth),
        findings=sum(f.type != "missing" for f in findings.findings),
        warnings=tuple(w.message for w in quality.warnings) if quality else (),
        read_s=read - started,
        model_s=analysed - read,
        write_s=written - analysed,
    )


class BatchProgress:
    """Prints outcomes as they come, in the order they come, and the closing line of a batch.

    Each failure is ``xrayreport: error: ...`` and each quality warning ``xrayreport: warning: SCAN: ...``. In a
    batch each scan also gets ``[n/total] SCAN: ...`` with the mean seconds per scan so far and the estimated time
    left (``ETA h:mm:ss``) at that pace.
    """

    def __init__(self, total: int, batch: bool = True, stream: TextIO | None = None) -> None:
        self.total = total
        self.batch = batch
        self.stream = stream if stream is not None else sys.stderr
        self.started = time.monotonic()
        self.done = 0
        self.counts = {"analysed": 0, "current": 0, "failed": 0}

    def report(self, outcome: ScanOutcome) -> None:
        self.done += 1
        self.counts[outcome.status] += 1
        if outcome.status == "failed":
            print(f"xrayreport: error: {outcome.error}", file=self.stream, flush=True)
            return
        for message in outcome.warnings:
            print(f"xrayreport: warning: {outcome.scan_name}: {message}", file=self.stream)
        if not self.batch:
            return
        per_scan = (time.monotonic() - self.started) / self.done
        what = (
            "already analysed with these models"
            if outcome.status == "current"
            else f"{outcome.teeth} teeth, {outcome.findings} findings"
        )
        print(
            f"[{self.done}/{self.total}] {outcome.scan_name}: {what} "
            f"({per_scan:.2f} s/scan, ETA {_clock(per_scan * (self.total - self.done))})",
            file=self.stream,
            flush=True,
        )

    @property
    def failed(self) -> int:
        return self.counts["failed"]

    def finish(self, output: Path) -> None:
        """The batch's closing line: how many scans have findings in ``output`` now."""
        if not self.batch:
            return
        done = self.counts["analysed"] + self.counts["current"]
        line = f"analysed {done} of {self.total} scans into {output}"
        if self.counts["current"]:
            line += f" ({self.counts['current']} already analysed with these models, skipped)"
        print(line, file=self.stream, flush=True)


def _clock(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"
