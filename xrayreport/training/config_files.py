"""Reading the YAML files researchers write (training and dataset configurations), with one-line errors."""

from __future__ import annotations

import os
import re
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


def environment_path(value: str, where: Path) -> Path:
    """``value`` with its ``$NAME`` / ``${NAME}`` replaced from the environment, as an absolute path (relative to the
    current folder): data whose place differs per machine, e.g. a clinic's unpacked training export. ``where``
    names the YAML in the error when a variable is not set."""
    expanded = os.path.expandvars(value)
    unset = re.search(r"\$\{?(\w+)", expanded)
    if unset:
        name = unset.group(1)
        raise XrayReportError(
            f"{where}: {value} needs the environment variable {name}; set it, e.g. {name}=/path/to/it"
        )
    return Path(expanded).absolute()
