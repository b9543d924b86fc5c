"""``xrayreport analyze``: one scan -> a findings file, several -> a folder, bad files reported and skipped."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from xrayreport.cli import main
from xrayreport.findings import load_findings


@pytest.fixture(scope="module")
def real_scans(datasets_dir: Path) -> list[Path]:
    """Two real panoramics of different sizes and distinct stems, read in place."""
    tufts = sorted((datasets_dir / "tufts" / "images").iterdir())[0]
    ufba = sorted((datasets_dir / "ufba425" / "images").iterdir())[0]
    assert tufts.stem != ufba.stem
    return [tufts, ufba]


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("xrayreport: error:")]


def test_one_scan_writes_one_findings_file(
    tiny_model: Path, real_scans: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "findings.json"
    assert main(["analyze", str(real_scans[0]), "-o", str(out), "--model", str(tiny_model)]) == 0
    findings = load_findings(out)
    assert (findings.image.width, findings.image.height, findings.image.source) == (1024, 533, real_scans[0].name)
    _, err = capsys.readouterr()
    assert "[1/1]" not in err and error_lines(err) == []
    # Quality warnings, if any, name the scan and fit on one line each.
    assert all(f": {real_scans[0].name}: " in line for line in err.splitlines() if "warning" in line)


def test_a_batch_with_a_bad_file_writes_the_others_and_fails_with_one_line(
    tiny_model: Path, real_scans: list[Path], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "xrayreport", "analyze", *map(str, [real_scans[0], bad, real_scans[1]])]
    result = subprocess.run([*command, "-o", str(out), "--model", str(tiny_model)], capture_output=True, text=True)
    assert result.returncode == 1, result.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{scan.stem}.json" for scan in real_scans)
    for scan in real_scans:
        assert load_findings(out / f"{scan.stem}.json").image.source == scan.name
    errors = error_lines(result.stderr)
    assert len(errors) == 1 and "bad.png" in errors[0], result.stderr
    progress = [line for line in result.stderr.splitlines() if line.startswith("[")]
    assert [line.split()[0] for line in progress] == ["[1/3]", "[3/3]"]
    assert f"[3/3] {real_scans[1].name}: " in progress[1] and " teeth, " in progress[1]
    assert progress[1].endswith(" s/scan, ETA 0:00:00)")
    assert result.stderr.splitlines()[-1] == f"analysed 2 of 3 scans into {out}"
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_a_folder_of_scans_and_overlays(tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scans = tmp_path / "scans"
    scans.mkdir()
    rng = np.random.default_rng(1)
    for name in ("a.png", "b.jpg"):
        cv2.imwrite(str(scans / name), rng.integers(0, 255, size=(400, 800), dtype=np.uint8))
    (scans / "notes.txt").write_text("not a scan: skipped by suffix")
    out, overlays = tmp_path / "out", tmp_path / "overlays"
    code = main(["analyze", str(scans), "-o", str(out), "--overlay", str(overlays), "--model", str(tiny_model)])
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["a.json", "b.json"]
    assert sorted(p.name for p in overlays.iterdir()) == ["a.png", "b.png"]
    overlay = cv2.imread(str(overlays / "a.png"))
    assert overlay is not None and overlay.shape[2] == 3
    assert "analysed 2 of 2 scans" in capsys.readouterr().err


def test_one_scan_with_an_overlay_png(tiny_model: Path, real_scans: list[Path], tmp_path: Path) -> None:
    overlay = tmp_path / "overlay.png"
    args = ["analyze", str(real_scans[1]), "-o", str(tmp_path / "f.json"), "--overlay", str(overlay)]
    assert main([*args, "--model", str(tiny_model)]) == 0
    image = cv2.imread(str(overlay))
    assert image is not None and image.shape[2] == 3 and image.shape[1] >= 512


@pytest.mark.parametrize(
    ("make_args", "message"),
    [
        (lambda scans, tmp: [*scans, "-o", str(tmp / "all.json")], "2 scans need an output folder"),
        (lambda scans, tmp: [scans[0], scans[0], "-o", str(tmp / "out")], "share a file name stem"),
        (lambda scans, tmp: [str(tmp / "empty"), "-o", str(tmp / "out")], "no scan files found"),
    ],
)
def test_impossible_requests_are_refused_with_one_line(
    make_args, message: str, tiny_model: Path, real_scans: list[Path], tmp_path: Path, capsys
) -> None:
    (tmp_path / "empty").mkdir()
    args = make_args([str(s) for s in real_scans], tmp_path)
    assert main(["analyze", *args, "--model", str(tiny_model)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_a_missing_model_is_one_line(real_scans: list[Path], tmp_path: Path, capsys) -> None:
    code = main(["analyze", str(real_scans[0]), "-o", str(tmp_path / "f.json"), "--model", str(tmp_path / "m.onnx")])
    assert code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "detection model not found" in err


def test_an_existing_folder_as_output_receives_the_stem_even_for_one_scan(
    tiny_model: Path, real_scans: list[Path], tmp_path: Path
) -> None:
    out, overlays = tmp_path / "out", tmp_path / "overlays"
    out.mkdir()
    overlays.mkdir()
    args = ["analyze", str(real_scans[0]), "-o", str(out), "--overlay", str(overlays), "--model", str(tiny_model)]
    assert main(args) == 0
    assert load_findings(out / f"{real_scans[0].stem}.json").image.source == real_scans[0].name
    assert (overlays / f"{real_scans[0].stem}.png").is_file()
