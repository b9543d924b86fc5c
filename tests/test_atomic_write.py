"""Atomic writes are durable: the data, then the folder holding the renamed entry, reach the disk."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from xrayreport.atomic_write import write_bytes_atomically


def test_the_file_then_its_folder_are_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append("folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    write_bytes_atomically(tmp_path / "scan.bin", b"pixels", mode=0o600)
    assert synced == ["file", "folder"]
    assert (tmp_path / "scan.bin").read_bytes() == b"pixels"
    assert [path.name for path in tmp_path.iterdir()] == ["scan.bin"]  # no temporary file left
