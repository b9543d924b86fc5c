"""A batch of scans into a folder: jobs, the resume rule, outcomes without patient data, progress lines."""

from __future__ import annotations

import io
import os
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from ingestion.dicom_factory import make_dicom

from xrayreport.cli import main
from xrayreport.detection.batch import (
    BatchProgress,
    ScanJob,
    ScanOutcome,
    analyse_scan,
    file_sha256,
    is_current,
    plan_batch,
)
from xrayreport.detection.detector import Detector
from xrayreport.findings import StageInfo, load_findings


@pytest.fixture(scope="module")
def detector(tiny_model: Path) -> Detector:
    return Detector(tiny_model, threads=1)


def noise_scan(path: Path, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    assert cv2.imwrite(str(path), rng.integers(0, 255, size=(400, 800), dtype=np.uint8))
    return path


def test_plan_names_each_scans_files_by_its_stem(tmp_path: Path) -> None:
    scans = tmp_path / "scans"
    scans.mkdir()
    for name in ("b.png", "a.dcm", "notes.txt"):
        (scans / name).write_bytes(b"x")
    jobs, batch = plan_batch([scans], tmp_path / "out", tmp_path / "overlays")
    assert batch
    assert jobs == [
        ScanJob(scans / "a.dcm", tmp_path / "out" / "a.json", tmp_path / "overlays" / "a.png"),
        ScanJob(scans / "b.png", tmp_path / "out" / "b.json", tmp_path / "overlays" / "b.png"),
    ]
    jobs, batch = plan_batch([scans / "a.dcm"], tmp_path / "a.json", None)
    assert not batch and jobs == [ScanJob(scans / "a.dcm", tmp_path / "a.json", None)]


def test_a_scan_is_current_only_for_the_same_file_and_models(detector: Detector, tmp_path: Path) -> None:
    scan = noise_scan(tmp_path / "a.png", 1)
    job = ScanJob(scan, tmp_path / "out" / "a.json")
    assert not is_current(job, detector.model_info)  # no findings yet
    assert analyse_scan(detector, job).status == "analysed"
    assert is_current(job, detector.model_info)
    assert not is_current(job, replace(detector.model_info, version="0.0.2"))
    assert not is_current(job, replace(detector.model_info, second_stage=StageInfo("teeth", "1")))
    assert not is_current(replace(job, overlay=tmp_path / "a-overlay.png"), detector.model_info)
    noise_scan(scan, 2)  # the same name, another scan
    assert not is_current(job, detector.model_info)
    job.findings.write_text("{ cut short")
    assert not is_current(job, detector.model_info)


def test_resume_skips_current_scans_without_touching_them(detector: Detector, tmp_path: Path) -> None:
    job = ScanJob(noise_scan(tmp_path / "a.png", 1), tmp_path / "a.json")
    first = analyse_scan(detector, job, resume=True)
    assert first.status == "analysed" and first.model_s > 0 and first.write_s > 0
    os.utime(job.findings, (1, 1))
    again = analyse_scan(detector, job, resume=True)
    assert again == ScanOutcome("a.png", "current", read_s=again.read_s)
    assert job.findings.stat().st_mtime == 1
    assert analyse_scan(detector, job).status == "analysed"  # without resume it is analysed again
    assert job.findings.stat().st_mtime > 1


def test_a_bad_file_is_a_failed_outcome_whose_error_holds_no_patient_data(detector: Detector, tmp_path: Path) -> None:
    # A DICOM whose patient fields are filled but whose pixels are cut short.
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(make_dicom()[:-5000])
    outcome = analyse_scan(detector, ScanJob(bad, tmp_path / "bad.json"), resume=True)
    assert outcome.status == "failed" and outcome.error is not None and outcome.error.startswith("bad.dcm: ")
    assert all(value not in outcome.error for value in ("Doe", "P-0042", "19800131"))
    assert not (tmp_path / "bad.json").exists()


def test_progress_lines_give_the_pace_and_the_time_left() -> None:
    stream = io.StringIO()
    progress = BatchProgress(4, stream=stream)
    progress.started -= 30  # 30 s into the batch
    progress.report(ScanOutcome("a.png", "analysed", teeth=28, findings=3, warnings=("low contrast",)))
    progress.report(ScanOutcome("b.png", "current"))
    progress.report(ScanOutcome("c.png", "failed", error="c.png: the file is empty"))
    progress.finish(Path("out"))
    # 30 s for the first scan: 30 s/scan, 3 scans left: 1:30; after two scans 15 s/scan, 2 left: 0:30.
    lines = stream.getvalue().splitlines()
    assert lines[0] == "xrayreport: warning: a.png: low contrast"
    assert lines[1].startswith("[1/4] a.png: 28 teeth, 3 findings (30.0") and lines[1].endswith("ETA 0:01:30)")
    assert lines[2].startswith("[2/4] b.png: already analysed with these models (15.0")
    assert lines[2].endswith("ETA 0:00:30)")
    assert lines[3] == "xrayreport: error: c.png: the file is empty"
    assert lines[4] == "analysed 2 of 4 scans into out (1 already analysed with these models, skipped)"
    assert progress.failed == 1


def test_a_rerun_of_the_command_analyses_only_what_changed(
    tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scans, out = tmp_path / "scans", tmp_path / "out"
    scans.mkdir()
    for seed, name in enumerate(("a.png", "b.png", "c.png")):
        noise_scan(scans / name, seed)
    assert main(["analyze", str(scans), "-o", str(out), "--model", str(tiny_model)]) == 0
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()
    noise_scan(scans / "b.png", 7)
    (out / "c.json").unlink()
    assert main(["analyze", str(scans), "-o", str(out), "--model", str(tiny_model)]) == 0
    progress = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("xrayreport:")]
    assert [line.split(" (")[0] for line in progress] == [
        "[1/3] a.png: already analysed with these models",
        "[2/3] b.png: 0 teeth, 0 findings",
        "[3/3] c.png: 0 teeth, 0 findings",
        f"analysed 3 of 3 scans into {out}",
    ]
    assert progress[-1].endswith("(1 already analysed with these models, skipped)")
    assert (out / "a.json").read_bytes() == first["a.json"] and (out / "c.json").read_bytes() == first["c.json"]
    assert load_findings(out / "b.json").image.sha256 == file_sha256(scans / "b.png")
    assert (out / "b.json").read_bytes() != first["b.json"]
