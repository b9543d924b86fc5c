"""Fuzzing ``load_scan``: every input ends as a Radiograph or as the project's own error, one clean line.

A seeded mutator (``fuzz_corpus``) over generated DICOM, PNG, JPEG and TIFF files and the issue's
bombs, scaled down against caps scaled down alike. A few hundred inputs, a few seconds; the long
campaign with timings and memory is ``benchmarks/ingestion_fuzz.py``.
"""

from __future__ import annotations

import logging
from collections import Counter

import pytest

from xrayreport.errors import ImageTooLargeError, NotAPanoramicError, ScanError
from xrayreport.ingestion import DEFAULT_LIMITS, ScanLimits, load_scan

from .fuzz_corpus import SECRETS, Input, bombs, corpus

INPUTS = 600
SEED = 20240611
SCALE = 0.001
SCALED_LIMITS = ScanLimits(
    pixels=64_000_000, dicom_bytes=int(160 * 2**20 * SCALE), dicom_elements=int(100_000 * SCALE), segments=65
)


def leaked(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret.lower() in text.lower()]


def read(item: Input, limits: ScanLimits = DEFAULT_LIMITS) -> str:
    """The outcome of reading ``item``: "Radiograph" or the ScanError's class; checks the message on the way."""
    try:
        load_scan(item.data, name=item.name, limits=limits)
    except ScanError as exc:
        message = str(exc)
        assert message.startswith(f"{item.name}: ") and "\n" not in message, message
        assert not leaked(message), message
        return type(exc).__name__
    return "Radiograph"


def test_every_mutant_ends_as_a_radiograph_or_a_scan_error(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    outcomes = Counter(read(item) for item in corpus(INPUTS, SEED))
    # The mix proves the corpus reaches every branch: readable files, damage of each kind, the caps.
    assert outcomes["Radiograph"] > INPUTS // 10
    assert {"CorruptScanError", "UnsupportedFormatError", "NotAPanoramicError"} <= set(outcomes)
    assert sum(outcomes.values()) == INPUTS
    logged = [r for r in caplog.records if not r.name.startswith("PIL")]  # Pillow logs each chunk at DEBUG
    # No input needed the safety net in load_scan: each failure is handled where it happens.
    assert not [r.getMessage() for r in logged if "unexpected" in r.getMessage()]
    assert not leaked("\n".join(r.getMessage() for r in logged))


@pytest.mark.parametrize("bomb", bombs(SCALE), ids=lambda b: b.name)
def test_the_issues_bombs_hit_their_caps(bomb: Input) -> None:
    # 570 pages: refused as a multi-page file, counted by the IFD walk; the others: over a cap.
    expected = NotAPanoramicError if bomb.name == "bomb-tiff-pages.tif" else ImageTooLargeError
    assert read(bomb, SCALED_LIMITS) == expected.__name__
