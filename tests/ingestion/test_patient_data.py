"""No patient data in logs or messages: hostile DICOMs full of a patient's identity, read and rejected.

pydicom's own logger and warnings quote raw element values (``Invalid value for VR UI: ...`` with the
bytes after a broken UID), and a bad Modality or transfer syntax used to be echoed in the error. Here
every log record (at DEBUG, from any logger), every error message and everything the CLI prints is
searched for the patient's name, ID and birth date.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path

import pytest

from xrayreport.cli import main
from xrayreport.errors import ScanError
from xrayreport.ingestion import load_scan

from .fuzz_corpus import SECRETS, Input, _with_patient, hostile_dicom, seeds
from .hostile_files import hostile_dicoms


def leaked(text: str) -> list[str]:
    """The identity strings of ``fuzz_corpus.SECRETS`` found in ``text``, whatever their case."""
    return [secret for secret in SECRETS if secret.lower() in text.lower()]


def dicoms_full_of_patient_data(count: int = 120) -> list[Input]:
    """The hand-made hostile DICOMs and ``count`` DICOMs with random hostile values, all with the identity."""
    rng = random.Random(11)
    templates = [s for s in seeds() if s.name.endswith(".dcm")]
    inputs = [Input(h.name, h.content) for h in hostile_dicoms() if h.content is not None]
    for number in range(count):
        template = rng.choice(templates)
        inputs.append(Input(f"{number:03d}-{template.name}", hostile_dicom(template.data, rng)))
    return inputs


INPUTS = dicoms_full_of_patient_data()


def test_the_inputs_do_carry_the_identity() -> None:
    readable = [load_scan(_with_patient(s.data)) for s in seeds() if s.name.endswith(".dcm")]
    assert all(r.metadata.patient_name == "Kowalczyk Marianna Teodora" for r in readable)
    assert all(leaked(i.data.decode("latin-1")) for i in INPUTS if "deflated" not in i.name)


def test_load_scan_logs_and_says_nothing_of_the_patient(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    messages = []
    for item in INPUTS:
        try:
            load_scan(item.data, name=item.name)
        except ScanError as exc:
            messages.append(str(exc))
    assert len(messages) > len(INPUTS) // 4  # most are rejected ...
    for message in messages:
        assert not leaked(message), message  # ... without repeating a value
    logged = "\n".join(f"{r.name}: {r.getMessage()}" for r in caplog.records)
    assert not leaked(logged), logged[:2000]


@pytest.fixture
def scan_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "scans"
    folder.mkdir()
    for item in INPUTS[:40]:
        (folder / item.name).write_bytes(item.data)
    return folder


def test_inspect_prints_and_logs_nothing_of_the_patient(
    scan_folder: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    main(["inspect", *map(str, sorted(scan_folder.iterdir()))])
    out, err = capsys.readouterr()
    assert "patient:" in out and "xrayreport: error: " in err  # some read, some rejected
    for text in (out, err, "\n".join(r.getMessage() for r in caplog.records)):
        assert not leaked(text), text[:2000]


def test_analyze_prints_and_logs_nothing_of_the_patient(
    scan_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    main(["analyze", str(scan_folder), "-o", str(tmp_path / "findings")])
    out, err = capsys.readouterr()
    assert "xrayreport: error: " in err and "analysed" in err
    for text in (out, err, "\n".join(r.getMessage() for r in caplog.records)):
        assert not leaked(text), text[:2000]
