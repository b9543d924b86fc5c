"""Uploaded scan files: stored under random names, outside any served folder, written atomically."""

from __future__ import annotations

import fcntl
import re
import secrets
import time
from pathlib import Path
from typing import BinaryIO, Literal

import cv2
import numpy as np
from fastapi.responses import Response

from ..atomic_write import write_bytes_atomically
from ..errors import ImageTooLargeError, ScanError
from ..ingestion import Radiograph, load_scan

PRIVATE_FILE_MODE = 0o600
"""Scans and previews are patient data: readable and writable by the server's user only."""
PREVIEW_MAX_WIDTH = 1600
"""Width in pixels of the PNG the review page shows first; boxes stay in original-image pixels."""
DETAIL_MAX_WIDTH = 4096
"""Width in pixels of the PNG the review page loads when zoomed in: a panoramic (2,000-3,000 pixels wide) at its
full resolution; only a wider scan is downscaled to this."""
Rendition = Literal["preview", "detail"]
RENDITIONS: dict[str, int] = {"preview": PREVIEW_MAX_WIDTH, "detail": DETAIL_MAX_WIDTH}
"""Each PNG rendition of a stored scan (its name is the file's suffix, ``<scan>.<name>.png``) and its widest width
in pixels."""
_NAME = re.compile(r"^[0-9a-f]{32}\.scan$")


class UploadTooLargeError(ImageTooLargeError):
    """An upload over the workspace's size limit (answered with 413)."""


class ScanStore:
    """A folder of uploaded scans; each has a random name and PNG renditions beside it (:data:`RENDITIONS`: the
    preview written with the scan, the detail when first asked for), readable by the server's user only.

    Every server process using the folder holds a shared lock on its ``.lock`` file while the store is open
    (:meth:`open`, :meth:`close`); the kernel drops it when a process dies, even under kill -9.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._lock: BinaryIO | None = None

    def save(self, data: bytes, radiograph: Radiograph) -> str:
        """Store a validated upload and its preview; returns the stored file's name."""
        name = f"{secrets.token_hex(16)}.scan"
        write_bytes_atomically(self.folder / name, data, mode=PRIVATE_FILE_MODE)
        preview = _rendition_png(radiograph.pixels, PREVIEW_MAX_WIDTH)
        write_bytes_atomically(self._rendition_path(name, "preview"), preview, mode=PRIVATE_FILE_MODE)
        return name

    def load(self, name: str, source_name: str | None = None) -> Radiograph:
        """Read a stored scan back; ``source_name`` is the uploaded file's name to record in it."""
        return load_scan(self._path(name), name=source_name)

    def read(self, name: str) -> bytes:
        """A stored scan's bytes as they were uploaded or received (e.g. to read a DICOM scan's UIDs)."""
        return self._path(name).read_bytes()

    def open_scan(self, name: str) -> BinaryIO:
        """A stored scan opened for reading, for a reader that needs only its start (a DICOM header, without the
        megabytes of pixels behind it)."""
        return self._path(name).open("rb")

    def rendition(self, name: str, kind: Rendition = "preview") -> bytes:
        """A greyscale PNG of a stored scan, at most ``RENDITIONS[kind]`` pixels wide; made from the scan and kept
        the first time it is asked for (a detail, a store from before previews, a preview lost)."""
        path = self._rendition_path(name, kind)
        if not path.exists():
            png = _rendition_png(self.load(name).pixels, RENDITIONS[kind])
            write_bytes_atomically(path, png, mode=PRIVATE_FILE_MODE)
        return path.read_bytes()

    def open(self, known: set[str], busy_older_than_s: float = 3600) -> int:
        """Join the server processes using this folder and delete the stored scans, previews and half-written
        temporary files that no study in ``known`` refers to; returns how many went.

        A server killed between writing a scan and committing its study leaves such files. When no other
        server process holds the folder (this one gets the lock alone), they all go, whatever their age;
        otherwise only those older than ``busy_older_than_s``, sparing an upload another process is finishing.
        """
        self._lock = (self.folder / ".lock").open("ab")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            alone = True
        except BlockingIOError:
            alone = False
        try:
            return self._remove_orphans(known, time.time() if alone else time.time() - busy_older_than_s)
        finally:
            fcntl.flock(self._lock, fcntl.LOCK_SH)  # from exclusive: never refused; else waits out a cleanup

    def close(self) -> None:
        """Leave the folder to the other server processes (see :meth:`open`)."""
        if self._lock is not None:
            self._lock.close()  # closing the file releases the lock
            self._lock = None

    def _remove_orphans(self, known: set[str], cutoff: float) -> int:
        removed = 0
        for path in self.folder.iterdir():
            scan_name = path.name.split(".", 1)[0] + ".scan"  # the scan's own name, or its rendition's
            is_temporary = path.name.startswith(".") and path.name.endswith(".tmp")
            is_orphan = _NAME.match(scan_name) is not None and scan_name not in known
            if (is_temporary or is_orphan) and path.is_file() and path.stat().st_mtime <= cutoff:
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def _path(self, name: str) -> Path:
        if not _NAME.match(name):  # names come from the database, but never let one walk out of the folder
            raise ScanError(f"invalid stored scan name {name!r}")
        return self.folder / name

    def image_response(self, name: str, kind: Rendition) -> Response:
        """The answer to a request for a scan's image: a rendition as PNG, which the browser may keep an hour."""
        return Response(
            self.rendition(name, kind), media_type="image/png", headers={"Cache-Control": "private, max-age=3600"}
        )

    def _rendition_path(self, name: str, kind: str) -> Path:
        return self._path(name).with_suffix(f".{kind}.png")


def _rendition_png(pixels: np.ndarray, max_width: int) -> bytes:
    height, width = pixels.shape[:2]
    if width > max_width:
        size = (max_width, max(1, round(height * max_width / width)))
        pixels = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".png", pixels)
    if not ok:
        raise ScanError("could not encode the scan as PNG")
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
