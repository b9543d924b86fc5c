"""Findings documents as scan and tooth rows, and those rows as CSV and Parquet tables, on hand-made documents."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from xrayreport.archive import tables
from xrayreport.archive.summary import SCAN_COLUMNS, TOOTH_COLUMNS, read_findings_folder, summarise, summarise_folder
from xrayreport.errors import XrayReportError
from xrayreport.findings import (
    FINDING_TYPES,
    Finding,
    Findings,
    ImageInfo,
    ModelInfo,
    Patient,
    Quality,
    QualityWarning,
    StageInfo,
    Tooth,
    save_findings,
)

pq = pytest.importorskip("pyarrow.parquet", reason="the tables need the [archive] extra")

NO_COUNTS = dict.fromkeys(FINDING_TYPES, 0)


def adult() -> Findings:
    """Teeth 11, 12 and 36 seen; caries and a filling on 36, an implant in 46, 47 missing, a restoration on no
    tooth; a patient who must not reach the tables."""
    findings = [("caries", "36"), ("filling", "36"), ("implant", "46"), ("missing", "47"), ("restoration", None)]
    return Findings(
        image=ImageInfo(width=1000, height=500, sha256="a" * 64, source="Doe_Jane.dcm"),
        model=ModelInfo("detector", "1.2", StageInfo("teeth", "1.1")),
        teeth=tuple(Tooth(fdi, None) for fdi in ("11", "12", "36")),
        findings=tuple(Finding(f"f{i}", kind, tooth, None) for i, (kind, tooth) in enumerate(findings)),
        patient=Patient(name="Doe^Jane", id="P-0042"),
        quality=Quality("doubtful", (QualityWarning("few_teeth", "only 3 teeth"), QualityWarning("contrast", "low"))),
    )


def child() -> Findings:
    """A primary molar 55 with caries: the chart shows the primary rows; no quality section, no second stage."""
    return Findings(
        image=ImageInfo(width=800, height=400, sha256="b" * 64),
        model=ModelInfo("detector", "1.2"),
        teeth=(Tooth("55", None), Tooth("16", None)),
        findings=(Finding("c", "caries", "55", None),),
    )


def test_a_scan_row_counts_each_type_and_the_teeth_present() -> None:
    row = summarise("scan-1", adult()).scan
    assert list(row) == list(SCAN_COLUMNS)
    assert row == {
        "scan": "scan-1",
        "sha256": "a" * 64,
        "width": 1000,
        "height": 500,
        "model": "detector",
        "model_version": "1.2",
        "second_stage": "teeth",
        "second_stage_version": "1.1",
        "quality": "doubtful",
        "quality_warnings": "few_teeth;contrast",
        "teeth_numbered": 3,
        "teeth_present": 4,  # 11, 12, 36, and 46 with its implant
        **NO_COUNTS,
        "caries": 1,
        "filling": 1,
        "implant": 1,
        "restoration": 1,
        "missing": 1,
    }
    assert "Doe" not in str(row) and "P-0042" not in str(row)


def test_tooth_rows_are_every_chart_slot_with_its_state_and_counts() -> None:
    teeth = summarise("scan-1", adult()).teeth
    assert len(teeth) == 32 and all(list(row) == list(TOOTH_COLUMNS) for row in teeth)
    by_tooth = {row["tooth"]: row for row in teeth}
    assert [row["tooth"] for row in teeth[:9]] == ["11", "12", "13", "14", "15", "16", "17", "18", "21"]
    assert by_tooth["36"] == {
        "scan": "scan-1",
        "tooth": "36",
        "state": "problem",
        **NO_COUNTS,
        "caries": 1,
        "filling": 1,
    }
    assert by_tooth["46"] == {"scan": "scan-1", "tooth": "46", "state": "treated", **NO_COUNTS, "implant": 1}
    assert by_tooth["47"] == {"scan": "scan-1", "tooth": "47", "state": "missing", **NO_COUNTS, "missing": 1}
    assert by_tooth["11"]["state"] == "healthy" and by_tooth["21"]["state"] == "not_seen"
    # The restoration on no tooth is counted on the scan only.
    assert sum(row["restoration"] for row in teeth) == 0


def test_a_child_scan_adds_the_primary_teeth() -> None:
    summary = summarise("kid", child())
    assert len(summary.teeth) == 52
    assert {row["tooth"]: row["state"] for row in summary.teeth}["55"] == "problem"
    assert (summary.scan["quality"], summary.scan["second_stage"], summary.scan["teeth_present"]) == (None, None, 2)


def test_a_folder_is_read_by_file_name_and_a_bad_file_is_reported_and_skipped(tmp_path: Path) -> None:
    save_findings(child(), tmp_path / "b.json")
    save_findings(adult(), tmp_path / "a.json")
    (tmp_path / "c.json").write_text('{"schema": "xrayreport.findings/1"}')
    (tmp_path / "notes.txt").write_text("not read")
    errors: list[str] = []
    assert [s.scan["scan"] for s in summarise_folder(tmp_path, errors.append)] == ["a", "b"]
    assert len(errors) == 1 and errors[0].startswith(f"{tmp_path / 'c.json'}: invalid findings document")
    with pytest.raises(XrayReportError, match="not a folder"):
        read_findings_folder(tmp_path / "a.json", errors.append)


def test_csv_and_parquet_hold_the_same_rows_across_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tables, "SCANS_PER_BATCH", 2)  # three scans: a full batch and the last one
    summaries = [summarise("a", adult()), summarise("b", child()), summarise("c", adult())]
    written = tables.write_tables(summaries, tmp_path / "tables")
    names = ("scans.csv", "scans.parquet", "teeth.csv", "teeth.parquet")
    assert [path.name for path in written] == list(names) and all(
        path.parent == tmp_path / "tables" for path in written
    )
    scans = pq.read_table(tmp_path / "tables" / "scans.parquet").to_pylist()
    assert scans == [s.scan for s in summaries]
    assert pq.read_table(tmp_path / "tables" / "teeth.parquet").num_rows == 32 + 52 + 32
    with (tmp_path / "tables" / "scans.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["scan"] for row in rows] == ["a", "b", "c"]
    assert rows[1]["quality"] == "" and rows[0]["caries"] == "1" and rows[0]["teeth_present"] == "4"
    schema = pq.read_schema(tmp_path / "tables" / "teeth.parquet")
    assert schema.names == list(TOOTH_COLUMNS) and str(schema.field("caries").type) == "int32"


def test_no_scans_still_gives_tables_with_their_columns(tmp_path: Path) -> None:
    tables.write_tables([], tmp_path, ["csv"])
    assert (tmp_path / "scans.csv").read_text().splitlines() == [",".join(f'"{c}"' for c in SCAN_COLUMNS)]
    assert not (tmp_path / "scans.parquet").exists()
