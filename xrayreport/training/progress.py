"""Progress lines for long work (training, crop extraction): timestamped, on stderr, flushed at once."""

from __future__ import annotations

import sys
import time


def log_progress(message: str) -> None:
    """Print ``[HH:MM:SS] message`` to stderr. Never pass patient data: these lines end up in logs."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
