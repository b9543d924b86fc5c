"""The clinic file's ``mail:`` section: what it may say, and what a wrong one is told."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from xrayreport.mail import MailSettings, MailSettingsError, mail_settings_from_dict
from xrayreport.report import load_clinic

LOGIN = {"host": "smtp.example.com", "sender": "recall@smile.example", "username": "recall", "password_env": "PW"}


def test_a_login_over_starttls_on_port_587_is_the_default() -> None:
    assert mail_settings_from_dict(LOGIN, "clinic.yaml: mail") == MailSettings(
        "smtp.example.com", "recall@smile.example", 587, "starttls", "recall", "PW", 30.0
    )


@pytest.mark.parametrize(("security", "port"), [("ssl", 465), ("none", 25)])
def test_each_security_has_its_usual_port(security: str, port: int) -> None:
    settings = mail_settings_from_dict({"host": "h", "sender": "a@b", "security": security}, "mail")
    assert (settings.security, settings.port, settings.username) == (security, port, None)


def test_the_clinic_file_holds_the_mail_section(tmp_path: Path) -> None:
    path = tmp_path / "clinic.yaml"
    path.write_text("name: Smile\nmail: {host: 127.0.0.1, port: 2525, security: none, sender: a@b.c}\n")
    assert load_clinic(path).mail == MailSettings("127.0.0.1", "a@b.c", 2525, "none")
    path.write_text("name: Smile\n")
    assert load_clinic(path).mail is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"password": "secret"}, "mail: password: never put the password in this file; set it in an environment"),
        ({"server": "x"}, "unknown key 'server'; valid keys are: host, port, security, sender, username"),
        ({"host": None}, "give both 'host' (the SMTP server) and 'sender' (the From address)"),
        ({"sender": "recall"}, "sender: use the form name@example.com, with one @"),
        ({"security": "tls"}, "security: use starttls, ssl, none, got 'tls'"),
        ({"port": 0}, "port: expected a port number from 1 to 65535, got 0"),
        ({"port": "587"}, "port: expected a port number from 1 to 65535, got '587'"),
        ({"password_env": None}, "give both 'username' and 'password_env' to log in to the server, or neither"),
        ({"security": "none"}, "logging in needs security starttls or ssl; without it the password would cross"),
        ({"timeout_s": 0}, "timeout_s: expected seconds from 1 to 300, got 0"),
        ({"host": 25}, "host: expected a text"),
    ],
)
def test_a_wrong_mail_section_names_the_key_and_the_fix(change: dict[str, Any], message: str) -> None:
    data = {key: value for key, value in {**LOGIN, **change}.items() if value is not None}
    with pytest.raises(MailSettingsError) as raised:
        mail_settings_from_dict(data, "clinic.yaml: mail")
    assert str(raised.value).startswith("clinic.yaml: mail") and message in str(raised.value)
    assert "secret" not in str(raised.value)
