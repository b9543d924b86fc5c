"""How the clinic's mail server is reached: the ``mail:`` section of the clinic file.

Example::

    mail:
      host: smtp.example.com
      port: 587                   # default: 587 with starttls, 465 with ssl, 25 with none
      security: starttls          # starttls (default), ssl, or none (only for a relay on this machine)
      sender: recall@smile.example
      username: recall@smile.example   # optional: log in (needs starttls or ssl) ...
      password_env: XRAYREPORT_MAIL_PASSWORD   # ... with the password in this environment variable
      timeout_s: 30               # default 30: how long one exchange with the server may take

The password is never in the file: the server process reads it from the environment variable named here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ..errors import XrayReportError
from .address import address_problem

Security = Literal["starttls", "ssl", "none"]
SECURITY: tuple[Security, ...] = ("starttls", "ssl", "none")
DEFAULT_PORTS: dict[Security, int] = {"starttls": 587, "ssl": 465, "none": 25}
_KEYS = ("host", "port", "security", "sender", "username", "password_env", "timeout_s")


class MailSettingsError(XrayReportError):
    """A ``mail:`` section that cannot be used; the message names the key and how to fix it."""


@dataclass(frozen=True)
class MailSettings:
    """An SMTP server and the account the clinic's e-mails go out from."""

    host: str
    sender: str  # the From address
    port: int = DEFAULT_PORTS["starttls"]
    security: Security = "starttls"
    username: str | None = None  # log in as this user ...
    password_env: str | None = None  # ... with the password in this environment variable
    timeout_s: float = 30.0


def mail_settings_from_dict(data: Any, origin: str) -> MailSettings:
    """The settings of a parsed ``mail:`` section; ``origin`` (e.g. "clinic.yaml: mail") starts every message."""
    if not isinstance(data, dict):
        raise MailSettingsError(f"{origin}: expected a mapping with at least 'host' and 'sender'")
    if "password" in data:
        raise MailSettingsError(
            f"{origin}: password: never put the password in this file; set it in an environment variable of the "
            "server and name that variable in password_env"
        )
    for key in data:
        if key not in _KEYS:
            raise MailSettingsError(f"{origin}: unknown key {key!r}; valid keys are: {', '.join(_KEYS)}")
    host, sender = _text(data, "host", origin), _text(data, "sender", origin)
    if host is None or sender is None:
        raise MailSettingsError(f"{origin}: give both 'host' (the SMTP server) and 'sender' (the From address)")
    if (problem := address_problem(sender)) is not None:
        raise MailSettingsError(f"{origin}: sender: {problem}")
    security = data.get("security", "starttls")
    if security not in SECURITY:
        raise MailSettingsError(f"{origin}: security: use {', '.join(SECURITY)}, got {security!r}")
    port = data.get("port", DEFAULT_PORTS[security])
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise MailSettingsError(f"{origin}: port: expected a port number from 1 to 65535, got {port!r}")
    username, password_env = _text(data, "username", origin), _text(data, "password_env", origin)
    if (username is None) != (password_env is None):
        raise MailSettingsError(
            f"{origin}: give both 'username' and 'password_env' to log in to the server, or neither"
        )
    if username is not None and security == "none":
        raise MailSettingsError(
            f"{origin}: username: logging in needs security starttls or ssl; without it the password would cross "
            "the network unencrypted"
        )
    timeout = data.get("timeout_s", MailSettings.timeout_s)
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not 1 <= timeout <= 300:
        raise MailSettingsError(f"{origin}: timeout_s: expected seconds from 1 to 300, got {timeout!r}")
    return MailSettings(host, sender, port, security, username, password_env, float(timeout))


def _text(data: dict[str, Any], key: str, origin: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise MailSettingsError(f"{origin}: {key}: expected a text")
    return value.strip()
