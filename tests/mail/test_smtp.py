"""Sending through a real SMTP server on 127.0.0.1 (aiosmtpd): plain, STARTTLS and TLS, with and without a
login; every failure a MailError that says what to check and never names the recipient or the message."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from dataclasses import replace

import pytest
from mail.smtp_server import HOST, SmtpServer, client_tls, unused_port

from xrayreport.mail import Attachment, MailError, MailSettings, OutgoingMail, send_mail

PDF = b"%PDF-1.7\n% a letter\n%%EOF\n"
MAIL = OutgoingMail(
    to="olga.test@example.org",
    subject="Напоминание от вашего стоматолога",
    body="Здравствуйте, Olga Test!\n\nЗапишитесь на приём.\n",
    attachments=(Attachment("recall-letter-ru.pdf", PDF, "application", "pdf"),),
    sender_name="Smile Dental",
)
SECRETS = ("olga", "Olga", "Здравствуйте", "Напоминание", "hunter2")
LOGIN = ("recall", "hunter2")


def plain(server: SmtpServer, **changes: object) -> MailSettings:
    return replace(MailSettings(HOST, "recall@smile.example", server.port, "none"), **changes)  # type: ignore[arg-type]


def test_the_message_arrives_with_its_recipient_subject_body_and_attachment() -> None:
    with SmtpServer() as server:
        send_mail(plain(server), MAIL)
    (received,) = server.received
    assert received.sender == "recall@smile.example" and received.recipients == ["olga.test@example.org"]
    message = received.message
    assert message["From"] == "Smile Dental <recall@smile.example>" and message["To"] == "olga.test@example.org"
    assert message["Subject"] == "Напоминание от вашего стоматолога"
    assert message["Message-ID"].endswith("@smile.example>") and message["Date"]
    body = message.get_body(("plain",))
    assert body is not None and body.get_content().replace("\r\n", "\n") == MAIL.body
    (attachment,) = message.iter_attachments()
    assert attachment.get_filename() == "recall-letter-ru.pdf" and attachment.get_content_type() == "application/pdf"
    assert attachment.get_content() == PDF


@pytest.mark.filterwarnings("ignore:Session.login_data is deprecated")  # aiosmtpd's own, when a login succeeds
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # it is TLS: aiosmtpd cannot tell
@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_a_login_over_tls_with_the_password_from_the_environment(
    security: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_MAIL_PASSWORD", "hunter2")
    with SmtpServer(tls=security, login=LOGIN) as server:
        settings = plain(server, security=security, username="recall", password_env="TEST_MAIL_PASSWORD")
        send_mail(settings, MAIL, tls=client_tls())
    assert [r.recipients for r in server.received] == [["olga.test@example.org"]]


def failure(settings: MailSettings, **options: object) -> str:
    """The message of the MailError sending ``MAIL`` raises; it never names the recipient or the message."""
    with pytest.raises(MailError) as raised:
        send_mail(settings, MAIL, **options)  # type: ignore[arg-type]
    text = str(raised.value)
    assert not [secret for secret in SECRETS if secret in text], text
    cause = raised.value.__cause__ or (None if raised.value.__suppress_context__ else raised.value.__context__)
    assert cause is None  # no server answer chained to it
    return text


def test_a_wrong_password_or_none_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with SmtpServer(tls="starttls", login=LOGIN) as server:
        settings = plain(server, security="starttls", username="recall", password_env="TEST_MAIL_PASSWORD")
        assert failure(settings, tls=client_tls()) == (
            "the mail password is not set: give the server process the environment variable TEST_MAIL_PASSWORD "
            "(mail: password_env in the clinic file names it)"
        )
        monkeypatch.setenv("TEST_MAIL_PASSWORD", "wrong")
        assert failure(settings, tls=client_tls()) == (
            f"the mail server {HOST}:{server.port} refused the login of recall (535); check mail: username and "
            "the password in $TEST_MAIL_PASSWORD"
        )
    assert server.received == []


def test_a_refused_recipient_is_not_named_in_the_error() -> None:
    with SmtpServer(refuse=frozenset({"olga.test@example.org"})) as server:
        assert failure(plain(server)) == (
            f"the mail server {HOST}:{server.port} refused the recipient (550); check the patient's e-mail address"
        )
    assert server.received == []


def test_tls_that_cannot_be_had_or_trusted() -> None:
    with SmtpServer() as server:  # offers no STARTTLS
        assert failure(plain(server, security="starttls")).startswith(
            f"the mail server {HOST}:{server.port} does not offer STARTTLS; set mail: security to ssl"
        )
    with SmtpServer(tls="starttls") as server:  # the system's authorities do not know the test CA
        assert failure(plain(server, security="starttls")) == (
            f"the mail server {HOST}:{server.port}'s certificate is not trusted (unable to get local issuer "
            "certificate); check mail: host"
        )
    assert server.received == []


def test_a_server_that_offers_no_login_where_one_is_set_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_MAIL_PASSWORD", "hunter2")
    with SmtpServer() as server:  # aiosmtpd offers a login only over TLS
        settings = plain(server, username="recall", password_env="TEST_MAIL_PASSWORD")
        assert failure(settings) == (
            f"the mail server {HOST}:{server.port} offers no login on this connection; check mail: security, or "
            "leave out username and password_env if it takes mail without one"
        )
    assert server.received == []


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that takes connections and never says a word."""
    with socket.socket() as listener:
        listener.bind((HOST, 0))
        listener.listen()
        yield listener.getsockname()[1]


def test_a_server_that_is_not_there_or_never_answers(silent_port: int) -> None:
    closed_port = unused_port()
    settings = MailSettings(HOST, "recall@smile.example", closed_port, "none")
    assert failure(settings) == (
        f"cannot reach the mail server {HOST}:{closed_port} (Connection refused); check mail: host and port"
    )
    settings = MailSettings(HOST, "recall@smile.example", silent_port, "none", timeout_s=1)
    assert failure(settings) == (
        f"the mail server {HOST}:{silent_port} did not answer within 1 s; check mail: host and port"
    )


def test_an_address_that_would_add_a_header_is_never_sent() -> None:
    settings = MailSettings(HOST, "recall@smile.example", unused_port(), "none")  # checked before connecting
    with pytest.raises(MailError, match=r"the recipient's e-mail address cannot be used \(a space or line break"):
        send_mail(settings, replace(MAIL, to="olga.test@example.org\r\nBcc: everyone@example.org"))


def test_the_log_says_a_message_went_out_and_nothing_about_it(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with SmtpServer(refuse=frozenset({"refused@example.org"})) as server:
        send_mail(plain(server), MAIL)
        with pytest.raises(MailError):
            send_mail(plain(server), replace(MAIL, to="refused@example.org"))
    # The test server's own log ("mail.log") stands for the clinic's mail server, which may log whom it served.
    ours = [r for r in caplog.records if not r.name.startswith("mail.")]
    logged = "\n".join(r.getMessage() for r in ours)
    assert f"e-mail handed to {HOST}:{server.port} (1 attachment(s))" in logged
    assert not [secret for secret in (*SECRETS, "refused@") if secret in logged], logged
