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
    recalls:                      # when a patient counts as sleeping, and how often one is contacted
      sleeping_after_months: {not_treated: 1, complaint_only: 1, partly_done: 3, all_done: 6}
      contact_interval_days: 14
    mail:                         # the SMTP server recall e-mails go through (xrayreport/mail/settings.py)
      host: smtp.example.com
      sender: recall@smile.example
      username: recall@smile.example
      password_env: XRAYREPORT_MAIL_PASSWORD   # the password stays in the server's environment, never here
    pacs:                         # where DICOM results are sent (xrayreport/dicomnet/pacs.py, docs/dicom.md)
      ae_title: ORTHANC
      host: 192.168.1.20
      port: 4242
    dicomweb:                     # or a DICOMweb server (STOW-RS; xrayreport/dicomnet/dicomweb.py): results go there
      url: https://pacs.clinic.example/dicom-web
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from ..dicomnet.dicomweb import DicomWebSettings, dicomweb_settings_from_dict
from ..dicomnet.pacs import PacsSettings, pacs_settings_from_dict
from ..errors import UnknownNameError, XrayReportError
from ..mail import MailSettings, mail_settings_from_dict
from ..plan import PlanRules, PriceList, load_rules, price_list_from_dict
from ..recall import DEFAULT_WAIT_MONTHS, Category, SleepRules

Numbering = Literal["fdi", "universal"]
NUMBERINGS: tuple[Numbering, ...] = ("fdi", "universal")
_LOGO_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml"}
_MAX_LOGO_BYTES = 2 * 1024 * 1024
_KEYS = (
    "name",
    "address",
    "phone",
    "dentist",
    "logo",
    "numbering",
    "recall_months",
    "rules",
    "prices",
    "recalls",
    "mail",
    "pacs",
    "dicomweb",
)


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
    sleep_rules: SleepRules | None = None
    mail: MailSettings | None = None  # None: the clinic sends no e-mail
    pacs: PacsSettings | None = None  # None: results are not sent to a PACS with C-STORE
    dicomweb: DicomWebSettings | None = None  # None: no DICOMweb server (else results go there, studies come from it)


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
    sleep_rules = _sleep_rules(data["recalls"], f"{origin}: recalls") if data.get("recalls") is not None else None
    mail = mail_settings_from_dict(data["mail"], f"{origin}: mail") if data.get("mail") is not None else None
    pacs = pacs_settings_from_dict(data["pacs"], f"{origin}: pacs") if data.get("pacs") is not None else None
    dicomweb = (
        dicomweb_settings_from_dict(data["dicomweb"], f"{origin}: dicomweb")
        if data.get("dicomweb") is not None
        else None
    )
    return Clinic(
        texts["name"],
        texts["address"],
        texts["phone"],
        texts["dentist"],
        logo,
        numbering,
        recall,
        rules,
        prices,
        sleep_rules,
        mail,
        pacs,
        dicomweb,
    )


def _sleep_rules(data: Any, origin: str) -> SleepRules:
    """``recalls:`` of a clinic file: months before each category counts as sleeping, days between contacts."""
    if not isinstance(data, dict) or set(data) - {"sleeping_after_months", "contact_interval_days"}:
        raise ClinicConfigError(f"{origin}: expected 'sleeping_after_months' and/or 'contact_interval_days'")
    months = dict(DEFAULT_WAIT_MONTHS)
    names = {c.name.lower(): c for c in Category}
    given = data.get("sleeping_after_months") or {}
    if not isinstance(given, dict):
        raise ClinicConfigError(f"{origin}: sleeping_after_months: expected a mapping such as 'not_treated: 1'")
    for key, value in given.items():
        if key not in names:
            raise UnknownNameError("patient category", str(key), names)
        if not isinstance(value, int) or not 1 <= value <= 36:
            raise ClinicConfigError(f"{origin}: sleeping_after_months: {key}: expected whole months from 1 to 36")
        months[names[key]] = value
    interval = data.get("contact_interval_days", SleepRules().contact_interval_days)
    if not isinstance(interval, int) or not 0 <= interval <= 365:
        raise ClinicConfigError(f"{origin}: contact_interval_days: expected whole days from 0 to 365, got {interval!r}")
    return SleepRules(months, interval)


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
