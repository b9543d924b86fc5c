"""``dciodvfy`` (Debian dicom3tools) checks a DICOM object against the standard's IOD definitions."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from pydicom.dataset import Dataset

PRIVATE_SCHEME_WARNING = "Unrecognized defined term <99XRAYREPORT>"
"""dciodvfy does not know xrayreport's private coding scheme (declared in the SR itself): a warning, no error."""


def dciodvfy_errors(ds: Dataset, folder: Path) -> list[str]:
    """The ``Error`` lines dciodvfy prints for ``ds`` (written as a file in ``folder``); the test skips, saying how to
    install it, when dciodvfy is missing."""
    program = shutil.which("dciodvfy")
    if program is None:
        pytest.skip("dciodvfy is not installed: apt-get install dicom3tools (scripts/install-system-deps.sh --tests)")
    path = folder / f"{ds.SOPInstanceUID}.dcm"
    ds.save_as(path, enforce_file_format=True)
    result = subprocess.run([program, str(path)], capture_output=True, text=True, timeout=60, check=False)
    lines = (result.stdout + result.stderr).splitlines()
    assert lines, "dciodvfy printed nothing: is it working?"
    return [line for line in lines if line.startswith("Error")]
