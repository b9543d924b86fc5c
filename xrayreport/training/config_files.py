"""Reading the YAML files researchers write (training and dataset configurations), with one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..errors import XrayReportError


def read_config_yaml(path: Path, what: str) -> Any:
    """The parsed YAML at ``path``; ``what`` (e.g. "training configuration") names it in the error."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise XrayReportError(f"{path}: {what} not found") from None
    except yaml.YAMLError as exc:
        raise XrayReportError(f"{path}: not valid YAML ({' '.join(str(exc).split())})") from None
