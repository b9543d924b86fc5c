"""The clinic profile: who hands out the report, their prices and their plan choices (a YAML file).

Example::

    name: Smile Dental Clinic
    address: 12 Harbour Road, Shanghai
    phone: +86 21 5555 0100
    dentist: Dr. Li Wei
    logo: logo.png                # PNG, JPEG or SVG, relative to this file
    numbering: fdi                # or universal
    recall_months: 6              # overrides the interval derived from risk
    rules: my-plan-rules.yaml     # the clinic's copy of xrayreport/plan/rules.yaml
    prices:
      currency: CNY
      items:
        filling: {amount: 300, includes: "anaesthesia, the filling and polishing"}
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from ..errors import UnknownNameError, XrayReportError
from ..plan import PlanRules, PriceList, load_rules, price_list_from_dict

Numbering = Literal["fdi", "universal"]
NUMBERINGS: tuple[Numbering, ...] = ("fdi", "universal")
_LOGO_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml"}
_MAX_LOGO_BYTES = 2 * 1024 * 1024
_KEYS = ("name", "address", "phone", "dentist", "logo", "numbering", "recall_months", "rules", "prices")


class ClinicConfigError(XrayReportError):
    """A clinic file is malformed; the message names the key."""


@dataclass(frozen=True)
class Clinic:
    """The clinic's identity and choices; every field is optional. ``logo`` is a ``data:`` URI."""

    name: str | None = None
    address: str | None = None
    phone: str | None = None
    dentist: str | None = None
    logo: str | None = None
    numbering: Numbering = "fdi"
    recall_months: int | None = None
    rules: PlanRules | None = None
    prices: PriceList | None = None


def load_clinic(path: str | os.PathLike[str]) -> Clinic:
    """Read a clinic file (YAML). Paths inside it (logo, rules) are relative to the file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ClinicConfigError(f"{path}: no such clinic file; check the path") from None
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ClinicConfigError(f"{path}: not a valid YAML text file ({exc.__class__.__name__}); fix it") from None
    return clinic_from_dict(data or {}, path.parent, str(path))


def clinic_from_dict(data: Any, base: Path, origin: str) -> Clinic:
    """Build a :class:`Clinic` from parsed YAML; ``base`` is the folder that relative paths start from."""
    if not isinstance(data, dict):
        raise ClinicConfigError(f"{origin}: expected a mapping such as 'name: My Clinic'")
    for key in data:
        if key not in _KEYS:
            raise ClinicConfigError(f"{origin}: unknown key {key!r}; valid keys are: {', '.join(_KEYS)}")
    texts = {}
    for key in ("name", "address", "phone", "dentist"):
        value = data.get(key)
        if value is not None and not isinstance(value, (str, int)):
            raise ClinicConfigError(f"{origin}: {key}: expected a text")
        texts[key] = None if value is None else str(value)
    numbering = data.get("numbering", "fdi")
    if numbering not in NUMBERINGS:
        raise UnknownNameError("tooth numbering", str(numbering), NUMBERINGS)
    recall = data.get("recall_months")
    if recall is not None and (not isinstance(recall, int) or not 1 <= recall <= 24):
        raise ClinicConfigError(f"{origin}: recall_months: expected whole months from 1 to 24, got {recall!r}")
    rules = load_rules(base / str(data["rules"])) if data.get("rules") else None
    prices = price_list_from_dict(data["prices"], f"{origin}: prices") if data.get("prices") else None
    logo = _logo(base / str(data["logo"]), origin) if data.get("logo") else None
    return Clinic(
        texts["name"], texts["address"], texts["phone"], texts["dentist"], logo, numbering, recall, rules, prices
    )


def _logo(path: Path, origin: str) -> str:
    media_type = _LOGO_TYPES.get(path.suffix.lower())
    if media_type is None:
        raise ClinicConfigError(f"{origin}: logo {path.name}: use a PNG, JPEG or SVG file")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ClinicConfigError(f"{origin}: logo {path}: no such file; paths are relative to the clinic file") from None
    if len(data) > _MAX_LOGO_BYTES:
        raise ClinicConfigError(f"{origin}: logo {path.name} is over 2 MiB; use a smaller image")
    return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"
