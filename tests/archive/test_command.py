"""``xrayreport archive summary`` and ``archive prevalence`` on a folder of hand-made findings documents."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from xrayreport.cli import main
from xrayreport.findings import Finding, Findings, ImageInfo, ModelInfo, Patient, Quality, Tooth, save_findings


@pytest.fixture
def findings_folder(tmp_path: Path) -> Path:
    """Three scans: caries on two (one of them unusable), nothing on the third; and one broken file."""
    folder = tmp_path / "findings"
    base = Findings(
        image=ImageInfo(width=1000, height=500, sha256="0" * 64),
        model=ModelInfo("detector", "1"),
        teeth=(Tooth("36", None),),
        patient=Patient(name="Doe^Jane"),
        quality=Quality("ok"),
    )
    caries = (Finding("f1", "caries", "36", None),)
    save_findings(replace(base, findings=caries), folder / "s1.json")
    save_findings(replace(base, findings=caries, quality=Quality("unusable")), folder / "s2.json")
    save_findings(base, folder / "s3.json")
    (folder / "s4.json").write_text("not json")
    return folder


def test_summary_writes_both_tables_and_reports_the_broken_file(findings_folder: Path, tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "xrayreport",
        "archive",
        "summary",
        str(findings_folder),
        "-o",
        str(tmp_path / "t"),
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 1
    names = ("scans.csv", "scans.parquet", "teeth.csv", "teeth.parquet")
    assert result.stdout.splitlines() == [str(tmp_path / "t" / name) for name in names]
    assert result.stderr.splitlines() == [
        f"xrayreport: error: {findings_folder / 's4.json'}: not valid JSON (Expecting value at line 1); "
        "fix or re-export it"
    ]
    scans = (tmp_path / "t" / "scans.csv").read_text()
    assert len(scans.splitlines()) == 4 and "Doe" not in scans


def test_summary_in_one_format(findings_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (findings_folder / "s4.json").unlink()
    assert main(["archive", "summary", str(findings_folder), "-o", str(tmp_path / "t"), "--format", "parquet"]) == 0
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == ["scans.parquet", "teeth.parquet"]


def test_prevalence_of_all_scans_and_of_the_usable_ones(
    findings_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["archive", "prevalence", str(findings_folder)]) == 1
    out, err = capsys.readouterr()
    lines = {line.split()[0]: line for line in out.splitlines()}
    # 2 of 3: Wilson (0.2077, 0.9385).
    assert lines["caries"] == "caries                      2 of 3  66.7 %  20.8 - 93.9 %"
    assert lines["implant"].split()[1:4] == ["0", "of", "3"]
    assert "s4.json" in err
    (findings_folder / "s4.json").unlink()
    assert main(["archive", "prevalence", str(findings_folder), "--quality", "ok", "doubtful"]) == 0
    caries = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("caries"))
    assert caries.split()[1:5] == ["1", "of", "2", "50.0"]


@pytest.mark.parametrize("action", [["prevalence"], ["summary", "-o", "tables"]])
def test_a_missing_folder_is_one_line_and_writes_nothing(
    action: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["archive", action[0], "none", *action[1:]]) == 1
    assert (
        capsys.readouterr().err
        == "xrayreport: error: none: not a folder; give the folder that analyze -o wrote the findings into\n"
    )
    assert list(tmp_path.iterdir()) == []
