"""The summary rows of :mod:`.summary` written as CSV and Parquet files with pyarrow (the ``[archive]`` extra).

Rows are written in batches as they come, so an archive of 100,000 scans (5 million tooth rows) never sits in
memory whole. Counts are 32-bit integers, text columns strings; an absent value (no quality section, no second
stage) is an empty CSV field and a Parquet null.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from ..errors import XrayReportError
from ..findings import FINDING_TYPES
from .summary import SCAN_COLUMNS, TOOTH_COLUMNS, ScanSummary

FORMATS = ("csv", "parquet")
SCANS_PER_BATCH = 1000
"""Scans whose rows are gathered before a batch is written (about 52,000 tooth rows)."""

_INTEGER_COLUMNS = frozenset({"width", "height", "teeth_numbered", "teeth_present", *FINDING_TYPES})
SCAN_SCHEMA = pa.schema([(c, pa.int32() if c in _INTEGER_COLUMNS else pa.string()) for c in SCAN_COLUMNS])
TOOTH_SCHEMA = pa.schema([(c, pa.int32() if c in _INTEGER_COLUMNS else pa.string()) for c in TOOTH_COLUMNS])


class _TableWriter:
    """One table in each asked format, appended to batch by batch."""

    def __init__(self, folder: Path, name: str, schema: pa.Schema, formats: Iterable[str]) -> None:
        self.schema = schema
        self.paths = [folder / f"{name}.{kind}" for kind in formats]
        self._writers: list[Any] = []
        for path in self.paths:
            try:
                if path.suffix == ".csv":
                    self._writers.append(pa_csv.CSVWriter(str(path), schema))
                else:
                    self._writers.append(pq.ParquetWriter(str(path), schema))
            except OSError as exc:
                self.close()
                raise XrayReportError(f"{path}: cannot be written ({exc}); check the folder") from None

    def write(self, rows: list[dict[str, Any]]) -> None:
        batch = pa.RecordBatch.from_pylist(rows, schema=self.schema)
        for writer in self._writers:
            writer.write_batch(batch)

    def close(self) -> None:
        for writer in self._writers:
            writer.close()


def write_tables(summaries: Iterable[ScanSummary], folder: Path, formats: Iterable[str] = FORMATS) -> list[Path]:
    """Write ``scans`` and ``teeth`` tables into ``folder`` (created as needed) in each format of ``formats``
    (``csv``, ``parquet``); returns the files written. A table with no rows still has its columns."""
    formats = list(formats)
    folder.mkdir(parents=True, exist_ok=True)
    scans = _TableWriter(folder, "scans", SCAN_SCHEMA, formats)
    try:
        teeth = _TableWriter(folder, "teeth", TOOTH_SCHEMA, formats)
    except XrayReportError:
        scans.close()
        raise
    try:
        scan_rows: list[dict[str, Any]] = []
        tooth_rows: list[dict[str, Any]] = []
        for summary in summaries:
            scan_rows.append(summary.scan)
            tooth_rows += summary.teeth
            if len(scan_rows) == SCANS_PER_BATCH:
                scans.write(scan_rows)
                teeth.write(tooth_rows)
                scan_rows, tooth_rows = [], []
        # The last batch, written even when empty: a CSV writer writes its header with the first batch.
        scans.write(scan_rows)
        teeth.write(tooth_rows)
    finally:
        scans.close()
        teeth.close()
    return scans.paths + teeth.paths
