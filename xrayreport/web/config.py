"""Where the web app keeps its state, and the knobs a clinic may turn."""

from __future__ import annotations

import logging
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

from ..atomic_write import write_text_atomically
from ..dicomnet.node import NodeConfig
from ..errors import XrayReportError
from ..recall import SleepRules
from .analysis import Analyser
from .models import utc_now
from .reports import Planner, ReportRenderer
from .throttle import Clock, LoginLimits

log = logging.getLogger(__name__)

DEFAULT_MAX_UPLOAD_BYTES = 64 * 1024 * 1024


def default_home() -> Path:
    """``$XRAYREPORT_HOME``, else ``~/.local/share/xrayreport`` (``$XDG_DATA_HOME`` respected)."""
    if os.environ.get("XRAYREPORT_HOME"):
        return Path(os.environ["XRAYREPORT_HOME"]).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "xrayreport"


@dataclass(frozen=True)
class WebConfig:
    """Everything :func:`~xrayreport.web.create_app` needs.

    ``database_url`` defaults to an SQLite file in ``home``; a clinic with several dentists may point
    it at PostgreSQL (``postgresql+psycopg://...``). ``analyser`` and ``renderer`` are ``None`` when
    the detection or report stage is not installed; the app then says so instead of inventing results.
    """

    home: Path
    analyser: Analyser | None
    renderer: ReportRenderer | None
    planner: Planner | None = None  # None: the report's own planning with home/clinic.yaml (default_planner)
    sleep_rules: SleepRules | None = None  # None: home/clinic.yaml's recalls, else the defaults
    database_url: str | None = None
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    analysis_workers: int = 1
    queue_only: bool = False  # PostgreSQL: analyse nothing here, `xrayreport worker` processes do (worker.py)
    token_max_age_s: int = 8 * 3600
    session_max_age_s: int = 12 * 3600
    secure_cookies: bool = False  # set behind HTTPS so the session cookie is never sent in clear
    login_limits: LoginLimits = field(default_factory=LoginLimits)
    clock: Clock = utc_now  # what the login throttle and session expiry take for now
    dicom: NodeConfig | None = None  # a DICOM node to run beside the app (needs the [dicom] extra); None: none

    @property
    def scans_dir(self) -> Path:
        return self.home / "scans"

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'xrayreport.sqlite3'}"

    def ensure_home(self) -> None:
        """Create the home folder readable by this user only: it holds patient scans and the secret key.

        An existing folder that others may read or enter (made by hand, or by an older version) is made
        private too, with a log line saying so.
        """
        self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        mode = stat.S_IMODE(self.home.stat().st_mode)
        if mode & 0o077:
            self.home.chmod(mode & 0o700)
            log.warning("made the data folder private to this user (its mode was %o, now %o)", mode, mode & 0o700)

    def secret_key(self) -> str:
        """The key that signs session cookies and API tokens, created once per installation."""
        if os.environ.get("XRAYREPORT_SECRET_KEY"):
            return os.environ["XRAYREPORT_SECRET_KEY"]
        path = self.home / "secret.key"
        if not path.exists():
            self.ensure_home()
            write_text_atomically(path, secrets.token_urlsafe(48), mode=0o600)
        key = path.read_text(encoding="utf-8").strip()
        if len(key) < 32:
            raise XrayReportError(f"{path}: the secret key is too short; delete the file to make a new one")
        return key
