"""Fuzz campaign for ``load_scan``: thousands of mutated and hostile scans, counted by outcome.

Usage: nice -n 19 .venv/bin/python benchmarks/ingestion_fuzz.py [--inputs 10000] [--seed 0]
           [--bomb-scale 1.0] [--no-large] [--time-cap 5] [--memory-cap-mib 1024]

The inputs are ``tests/ingestion/fuzz_corpus.py``'s: the issue's resource bombs at ``--bomb-scale`` (1.0:
full size, each within a 64 MiB upload), valid scans at the 64-megapixel limit (unless ``--no-large``),
the valid seeds, then mutants of them (bytes flipped, cut, repeated, spliced; DICOM elements holding
hostile values and the patient's identity). Each is read by a worker process, which measures the time
and its own peak resident memory (VmHWM, reset through /proc/self/clear_refs before each input, after
malloc_trim has given the previous input's memory back; the worker itself takes about 110 MiB), sends
its own stderr (file descriptor 2, where C libraries write) to a file it checks after each input, and
records every log record at INFO and above, as the server logs. A worker that runs past ten times the
time cap is killed and replaced.

Prints the counts by outcome (Radiograph, each ScanError subclass, UNCAUGHT <exception>, KILLED,
CRASHED), then the inputs over the time or memory cap, those that wrote to stderr, those whose
message or log carried the patient's identity, the ones the ingestion's safety net caught, and the
slowest and largest. The issue's aim: 10,000 inputs, 0 uncaught, 0 over the caps.
"""

from __future__ import annotations

import argparse
import collections
import ctypes
import io
import logging
import multiprocessing
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from ingestion.fuzz_corpus import SECRETS, Input, corpus, large_valid  # noqa: E402


def _peak_kib() -> int:
    """This process's peak resident memory since the last reset (VmHWM), in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def _leaks(text: str) -> bool:
    lowered = text.lower()
    return any(secret.lower() in lowered for secret in SECRETS)


class _Recorder(logging.Handler):
    """Keeps every log record."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _worker(connection: Connection) -> None:
    """Read each input sent through ``connection`` and answer with what happened."""
    from xrayreport.errors import ScanError
    from xrayreport.ingestion import load_scan

    libc = ctypes.CDLL("libc.so.6")
    recorder = _Recorder()
    records = recorder.records
    logging.getLogger().addHandler(recorder)
    logging.getLogger().setLevel(logging.INFO)  # as the server logs (Pillow logs every PNG chunk at DEBUG)
    with tempfile.TemporaryFile() as stderr:
        os.dup2(stderr.fileno(), 2)
        while True:
            try:
                name, data = connection.recv()
            except EOFError:
                return
            records.clear()
            stderr.seek(0)
            stderr.truncate()
            libc.malloc_trim(0)  # give the previous input's freed memory back, so the peak is this one's
            _reset_peak()
            started = time.monotonic()
            message = ""
            try:
                load_scan(data, name=name)
                outcome = "Radiograph"
            except ScanError as exc:
                outcome, message = type(exc).__name__, str(exc)
            except Exception as exc:  # the campaign's point: none of these must happen
                outcome, message = f"UNCAUGHT {type(exc).__name__}", str(exc)[:200]
            elapsed = time.monotonic() - started
            sys.stderr.flush()
            stderr.seek(0)
            written = stderr.read().decode(errors="replace")
            logged = "\n".join(f"{r.name}: {r.getMessage()}" for r in records)
            connection.send(
                {
                    "outcome": outcome,
                    "message": message,
                    "seconds": elapsed,
                    "peak_mib": _peak_kib() / 1024,
                    "stderr": written[:300],
                    "leak": _leaks(message) or _leaks(logged) or _leaks(written),
                    "net": "unexpected" in logged,
                    "one_line": "\n" not in message and (not message or message.startswith(name)),
                }
            )


class Worker:
    """A worker process, replaced when it is killed or dies."""

    def __init__(self) -> None:
        self.start()

    def start(self) -> None:
        # Spawned, not forked: a forked worker would share (and count as resident) the parent's pages.
        context = multiprocessing.get_context("spawn")
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_worker, args=(child,), daemon=True)
        self.process.start()
        child.close()

    def read(self, item: Input, wait: float) -> dict[str, Any]:
        try:
            self.connection.send((item.name, item.data))
            if self.connection.poll(wait):
                answer: dict[str, Any] = self.connection.recv()
                return answer
            outcome = "KILLED"
        except (EOFError, BrokenPipeError, ConnectionResetError):
            outcome = "CRASHED"
        self.process.kill()
        self.process.join()
        self.start()
        return {"outcome": outcome, "message": "", "seconds": wait, "peak_mib": 0.0, "stderr": "", "leak": False}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=10_000, help="how many inputs in all (default 10,000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bomb-scale", type=float, default=1.0, help="size of the issue's bombs (1.0: full)")
    parser.add_argument("--no-large", action="store_true", help="leave out the valid 64-megapixel scans")
    parser.add_argument("--time-cap", type=float, default=5.0, help="seconds one input may take (default 5)")
    parser.add_argument("--memory-cap-mib", type=float, default=1024.0, help="peak resident memory (default 1024)")
    args = parser.parse_args()

    def inputs() -> Iterator[Input]:
        """Built one at a time (the whole corpus is gigabytes)."""
        large = [] if args.no_large else large_valid()
        yield from large
        yield from corpus(args.inputs - len(large), args.seed, bomb_scale=args.bomb_scale)

    worker = Worker()
    outcomes: collections.Counter[str] = collections.Counter()
    results: list[tuple[str, dict[str, Any]]] = []
    started = time.monotonic()
    for number, item in enumerate(inputs(), start=1):
        result = worker.read(item, wait=10 * args.time_cap)
        outcomes[result["outcome"]] += 1
        results.append((item.name, result))
        if number % 1000 == 0:
            print(f"  {number}/{args.inputs} ({time.monotonic() - started:.0f} s)", file=sys.stderr, flush=True)
    worker.process.kill()
    elapsed = time.monotonic() - started
    reading = sum(result["seconds"] for _, result in results)

    def names(select: Any) -> list[str]:
        return [f"{name} ({result['outcome']})" for name, result in results if select(result)]

    report = io.StringIO()
    print(
        f"{len(results)} inputs in {elapsed:.0f} s, building them included; load_scan took {reading:.0f} s "
        f"({reading / len(results) * 1000:.1f} ms each)",
        file=report,
    )
    print("outcomes:", file=report)
    for outcome, count in outcomes.most_common():
        print(f"  {outcome:28s} {count:6d}", file=report)
    checks = {
        f"over {args.time_cap:g} s": names(lambda r: r["seconds"] > args.time_cap),
        f"over {args.memory_cap_mib:g} MiB peak": names(lambda r: r["peak_mib"] > args.memory_cap_mib),
        "uncaught, killed or crashed": names(lambda r: r["outcome"].startswith(("UNCAUGHT", "KILLED", "CRASHED"))),
        "wrote to stderr": names(lambda r: r["stderr"]),
        "patient identity in a message, log or stderr": names(lambda r: r["leak"]),
        "caught by the safety net (an unexpected exception)": names(lambda r: r.get("net")),
        "message not one line starting with the file name": names(lambda r: not r.get("one_line", True)),
    }
    for label, found in checks.items():
        print(f"{label}: {len(found)}" + (f"  e.g. {', '.join(found[:5])}" if found else ""), file=report)
    by_time = sorted(results, key=lambda pair: -pair[1]["seconds"])[:5]
    by_memory = sorted(results, key=lambda pair: -pair[1]["peak_mib"])[:5]
    print("slowest: " + ", ".join(f"{name} {r['seconds']:.2f} s" for name, r in by_time), file=report)
    print("largest: " + ", ".join(f"{name} {r['peak_mib']:.0f} MiB" for name, r in by_memory), file=report)
    print(report.getvalue(), end="")
    return 0 if not any(found for label, found in checks.items() if not label.startswith("caught")) else 1


if __name__ == "__main__":
    sys.exit(main())
