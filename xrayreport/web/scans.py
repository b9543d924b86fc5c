"""Uploaded scan files: stored under random names, outside any served folder, written atomically."""

from __future__ import annotations

import re
import secrets
import time
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np

from ..atomic_write import write_bytes_atomically
from ..errors import ImageTooLargeError, ScanError
from ..ingestion import Radiograph, load_scan

PREVIEW_MAX_WIDTH = 1600
"""Width in pixels of the PNG the review page shows; boxes stay in original-image pixels."""
_NAME = re.compile(r"^[0-9a-f]{32}\.scan$")


class UploadTooLargeError(ImageTooLargeError):
    """An upload over the workspace's size limit (answered with 413)."""


class ScanStore:
    """A folder of uploaded scans; each has a random name and a downscaled PNG preview beside it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def save(self, data: bytes, radiograph: Radiograph) -> str:
        """Store a validated upload and its preview; returns the stored file's name."""
        name = f"{secrets.token_hex(16)}.scan"
        write_bytes_atomically(self.folder / name, data)
        write_bytes_atomically(self._preview_path(name), _preview_png(radiograph.pixels))
        return name

    def load(self, name: str, source_name: str | None = None) -> Radiograph:
        """Read a stored scan back; ``source_name`` is the uploaded file's name to record in it."""
        return load_scan(self._path(name), name=source_name)

    def preview(self, name: str) -> bytes:
        """The downscaled PNG of a stored scan (greyscale, at most PREVIEW_MAX_WIDTH wide)."""
        path = self._preview_path(name)
        if not path.exists():  # a store from before previews, or a preview lost: make it again
            write_bytes_atomically(path, _preview_png(self.load(name).pixels))
        return path.read_bytes()

    def remove_orphans(self, known: set[str], older_than_s: float = 3600) -> int:
        """Delete stored scans no study refers to, and half-written temporary files, older than ``older_than_s``.

        A server killed between writing a scan and committing its study leaves such files; the age
        limit spares uploads another server process is finishing right now. Returns how many went.
        """
        cutoff = time.time() - older_than_s
        removed = 0
        for path in self.folder.iterdir():
            scan_name = path.name.removesuffix(".preview.png")
            scan_name = scan_name if scan_name.endswith(".scan") else f"{scan_name}.scan"
            is_temporary = path.name.startswith(".") and path.name.endswith(".tmp")
            is_orphan = _NAME.match(scan_name) is not None and scan_name not in known
            if (is_temporary or is_orphan) and path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def _path(self, name: str) -> Path:
        if not _NAME.match(name):  # names come from the database, but never let one walk out of the folder
            raise ScanError(f"invalid stored scan name {name!r}")
        return self.folder / name

    def _preview_path(self, name: str) -> Path:
        return self._path(name).with_suffix(".preview.png")


def _preview_png(pixels: np.ndarray) -> bytes:
    height, width = pixels.shape[:2]
    if width > PREVIEW_MAX_WIDTH:
        size = (PREVIEW_MAX_WIDTH, max(1, round(height * PREVIEW_MAX_WIDTH / width)))
        pixels = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".png", pixels)
    if not ok:
        raise ScanError("could not encode the scan preview as PNG")
    return encoded.tobytes()


def read_limited(handle: BinaryIO, limit: int, chunk_bytes: int = 1024 * 1024) -> bytes:
    """Read an uploaded file in chunks, stopping with :class:`UploadTooLargeError` once it passes ``limit`` bytes."""
    chunks, total = [], 0
    while chunk := handle.read(chunk_bytes):
        total += len(chunk)
        if total > limit:
            raise UploadTooLargeError(
                f"the file is larger than the {limit // 2**20} MiB upload limit; "
                "export the panoramic as a single 2D image"
            )
        chunks.append(chunk)
    return b"".join(chunks)
