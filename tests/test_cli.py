"""The ``xrayreport`` command line: ``inspect`` output, PHI hidden by default, exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from ingestion.dicom_factory import PATIENT, make_dicom, panoramic_pattern
from ingestion.hostile_files import encoded
from pydicom import uid

from xrayreport import __version__
from xrayreport.cli import main

PHI_VALUES = ("Doe", "Jane", "P-0042", "1980-01-31", "19800131", "2024-06-15", "Riverside")


@pytest.fixture
def scans(tmp_path: Path) -> dict[str, Path]:
    files = {
        "px.dcm": make_dicom(bits_stored=16, photometric="MONOCHROME1", pixel_spacing=(0.1, 0.12)),
        "anon.dcm": make_dicom(modality="DX", patient=False, transfer_syntax=uid.RLELossless),
        "scan.png": encoded(panoramic_pattern(0, 255), "PNG"),
    }
    paths = {}
    for name, data in files.items():
        paths[name] = tmp_path / name
        paths[name].write_bytes(data)
    return paths


def block(out: str, path: Path) -> list[str]:
    """The lines ``inspect`` printed for one file."""
    lines = out.splitlines()
    start = lines.index(str(path))
    return lines[start : start + 9]


def test_inspect_describes_a_dicom_without_patient_values(
    scans: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["inspect", str(scans["px.dcm"])]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert block(out, scans["px.dcm"]) == [
        str(scans["px.dcm"]),
        "  format:      DICOM",
        "  size:        480 x 240 px",
        "  bit depth:   16",
        "  modality:    PX",
        "  photometric: MONOCHROME1",
        "  spacing:     0.1 x 0.12 mm",
        "  patient:     name, ID, birth date, sex present",
        "  study:       date, institution present",
    ]
    assert not any(value in out for value in PHI_VALUES)


def test_show_phi_prints_the_values(scans: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", "--show-phi", str(scans["px.dcm"])]) == 0
    lines = block(capsys.readouterr().out, scans["px.dcm"])
    assert lines[7] == "  patient:     name=Doe Jane Q, ID=P-0042, birth date=1980-01-31, sex=F"
    assert lines[8] == f"  study:       date=2024-06-15, institution={PATIENT['InstitutionName']}"


def test_inspect_several_files_of_each_kind(scans: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", *(str(p) for p in scans.values())]) == 0
    out, _ = capsys.readouterr()
    anon = block(out, scans["anon.dcm"])
    assert "  modality:    DX" in anon and "  bit depth:   12" in anon
    assert "  patient:     no identity fields" in anon
    png = block(out, scans["scan.png"])[:8]
    assert png[1:6] == [
        "  format:      PNG",
        "  size:        480 x 240 px",
        "  bit depth:   8",
        "  modality:    unknown (not a DICOM file)",
        "  photometric: MONOCHROME2",
    ]


def test_a_bad_file_in_a_batch_fails_the_run_but_not_the_others(
    scans: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "notes.png"
    bad.write_text("not an image\n")
    code = main(["inspect", str(scans["px.dcm"]), str(bad), str(scans["scan.png"])])
    out, err = capsys.readouterr()
    assert code == 1
    assert str(scans["px.dcm"]) in out and str(scans["scan.png"]) in out
    assert err.splitlines() == [
        "xrayreport: error: notes.png: not a DICOM, PNG, JPEG or TIFF file (unrecognised content, whatever its "
        "name); export the panoramic from the X-ray software as DICOM or PNG"
    ]


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["inspect"])
    assert exit_.value.code == 2
    assert "SCAN" in capsys.readouterr().err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"xrayreport {__version__}"


def test_inspect_as_a_process(scans: dict[str, Path], tmp_path: Path) -> None:
    missing = tmp_path / "missing.dcm"
    result = subprocess.run(
        [sys.executable, "-m", "xrayreport", "inspect", str(scans["px.dcm"]), str(missing)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "  size:        480 x 240 px" in result.stdout
    assert result.stderr == f"xrayreport: error: {missing}: no such file; check the path\n"
    assert not any(value in result.stdout for value in PHI_VALUES)
