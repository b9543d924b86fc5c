"""Bad input: each file is rejected with the right ScanError, one clear line, and nothing written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from xrayreport.cli import main
from xrayreport.errors import ScanError
from xrayreport.ingestion import load_scan

from .fuzz_corpus import SECRETS
from .hostile_files import Hostile, hostile_dicoms, hostile_files

HOSTILE = hostile_files()


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``folder`` with its size and modification time, to prove nothing was written."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))}


@pytest.mark.parametrize("hostile", HOSTILE, ids=[h.name for h in HOSTILE])
def test_load_scan_rejects_with_a_helpful_message(hostile: Hostile, tmp_path: Path) -> None:
    path = hostile.place(tmp_path)
    before = snapshot(tmp_path)
    with pytest.raises(ScanError) as caught:
        load_scan(path)
    assert type(caught.value) is hostile.error
    message = str(caught.value)
    assert hostile.says in message
    assert message.startswith((hostile.name, str(path)))  # says which file
    assert "\n" not in message
    assert snapshot(tmp_path) == before


def leaked(text: str) -> list[str]:
    """The patient identity strings of ``fuzz_corpus.SECRETS`` found in ``text``, whatever their case."""
    return [secret for secret in SECRETS if secret.lower() in text.lower()]


@pytest.mark.parametrize("hostile", hostile_dicoms(), ids=lambda h: h.name)
def test_messages_name_the_bad_element_never_its_value(hostile: Hostile) -> None:
    # The values are the patient's name, ID and birth date, put where a code or a number belongs.
    assert hostile.content is not None
    with pytest.raises(hostile.error) as caught:
        load_scan(hostile.content, name=hostile.name)
    assert not leaked(str(caught.value)), str(caught.value)


@pytest.mark.parametrize("hostile", [h for h in HOSTILE if h.kind == "file"], ids=lambda h: h.name)
def test_load_scan_rejects_the_same_bytes_given_as_an_upload(hostile: Hostile) -> None:
    assert hostile.content is not None
    with pytest.raises(hostile.error, match=hostile.says):
        load_scan(hostile.content, name=f"uploads/{hostile.name}")


@pytest.mark.parametrize("hostile", HOSTILE, ids=[h.name for h in HOSTILE])
def test_inspect_prints_one_line_and_fails(
    hostile: Hostile, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = hostile.place(tmp_path)
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    code = main(["inspect", str(path)])
    out, err = capsys.readouterr()
    assert code != 0
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("xrayreport: error: ") and hostile.says in err
    assert snapshot(tmp_path) == before


def test_inspect_as_a_process_rejects_every_hostile_file_cleanly(tmp_path: Path) -> None:
    scans = tmp_path / "scans"
    scans.mkdir()
    paths = [str(h.place(scans)) for h in HOSTILE]
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    before = snapshot(tmp_path)
    env = {**os.environ, "TMPDIR": str(private_tmp)}
    result = subprocess.run(
        [sys.executable, "-m", "xrayreport", "inspect", *paths],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == len(HOSTILE), result.stderr  # one line per file: no warnings, no decoder chatter
    assert all(line.startswith("xrayreport: error: ") for line in lines)
    assert "Traceback" not in result.stderr
    assert not leaked(result.stderr)  # the hostile DICOMs put the patient's identity where codes belong
    assert snapshot(tmp_path) == before


def test_an_unforeseen_failure_is_a_scan_error_logged_without_values(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # The safety net: a failure no check foresaw (here a stand-in) is not a 500 or a traceback.
    def unforeseen(*args: object) -> None:
        raise TypeError("Kowalczyk^Marianna is not a number")

    monkeypatch.setattr("xrayreport.ingestion.radiograph._read_dicom", unforeseen)
    with pytest.raises(ScanError, match=r"^scan.dcm: the DICOM file cannot be read \(TypeError\)"):
        load_scan(hostile_dicoms()[0].content or b"", name="scan.dcm")
    [record] = [r for r in caplog.records if r.name == "xrayreport.ingestion.radiograph"]
    assert "unexpected TypeError" in record.getMessage() and "unforeseen()" in record.getMessage()
    assert not leaked(record.getMessage())
