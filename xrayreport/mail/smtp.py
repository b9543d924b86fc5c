"""Sending one e-mail through the clinic's SMTP server (:class:`~.settings.MailSettings`).

Whatever goes wrong becomes a :class:`MailError` that says what failed and what to check: never the
recipient's address, their name or the message's text, which the server's own answers may quote. The log
says a message went out, through which server, and nothing about whom it went to.
"""

from __future__ import annotations

import logging
import os
import smtplib
import socket
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid

from ..errors import XrayReportError
from .address import address_problem
from .settings import MailSettings

log = logging.getLogger(__name__)


class MailError(XrayReportError):
    """An e-mail could not be sent; the message names the server and what to check, never the recipient."""


@dataclass(frozen=True)
class Attachment:
    """A file sent along, e.g. ``Attachment("letter.pdf", pdf, "application", "pdf")``."""

    filename: str
    content: bytes
    maintype: str
    subtype: str


@dataclass(frozen=True)
class OutgoingMail:
    """One plain-text e-mail to one recipient, from the settings' sender under ``sender_name``."""

    to: str
    subject: str
    body: str
    attachments: tuple[Attachment, ...] = ()
    sender_name: str | None = None  # e.g. the clinic's name, shown beside the From address


def send_mail(settings: MailSettings, mail: OutgoingMail, tls: ssl.SSLContext | None = None) -> None:
    """Send ``mail``: connect (TLS from the start with ``ssl``, upgraded with ``starttls``), log in when the
    settings name a user, hand the message over, and raise :class:`MailError` on any failure. ``tls`` is the
    context that checks the server's certificate: the system's trusted authorities by default."""
    if address_problem(mail.to) is not None:
        raise MailError(
            "the recipient's e-mail address cannot be used (a space or line break, or not one @); correct it"
        )
    credentials = _credentials(settings)
    message = _message(settings, mail)
    server = f"{settings.host}:{settings.port}"
    tls = tls or ssl.create_default_context()
    try:
        if settings.security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout_s, context=tls)
        else:
            smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_s)
        with smtp:
            smtp.ehlo()
            if settings.security == "starttls":
                if not smtp.has_extn("starttls"):
                    raise MailError(
                        f"the mail server {server} does not offer STARTTLS; set mail: security to ssl (and its "
                        "port, usually 465), or ask for TLS on that server"
                    )
                smtp.starttls(context=tls)
                smtp.ehlo()
            if credentials is not None:
                if not smtp.has_extn("auth"):
                    raise MailError(
                        f"the mail server {server} offers no login on this connection; check mail: security, or "
                        "leave out username and password_env if it takes mail without one"
                    )
                smtp.login(*credentials)
            smtp.send_message(message)
    except MailError:
        raise
    except smtplib.SMTPAuthenticationError as exc:
        raise MailError(
            f"the mail server {server} refused the login of {settings.username} ({exc.smtp_code}); check mail: "
            f"username and the password in ${settings.password_env}"
        ) from None
    except smtplib.SMTPRecipientsRefused as exc:
        codes = sorted({code for code, _ in exc.recipients.values()})
        raise MailError(
            f"the mail server {server} refused the recipient ({', '.join(map(str, codes))}); check the patient's "
            "e-mail address"
        ) from None
    except smtplib.SMTPSenderRefused as exc:
        raise MailError(
            f"the mail server {server} refused the sender address {settings.sender} ({exc.smtp_code}); check mail: "
            "sender, and that the account may send from it"
        ) from None
    except smtplib.SMTPNotSupportedError:
        raise MailError(
            f"the mail server {server} cannot take an address with characters beyond ASCII (no SMTPUTF8)"
        ) from None
    except smtplib.SMTPResponseException as exc:
        raise MailError(f"the mail server {server} answered with error {exc.smtp_code}; its log says why") from None
    except smtplib.SMTPServerDisconnected as exc:
        if isinstance(exc.__context__, TimeoutError):  # smtplib reports a server that fell silent this way
            raise MailError(
                f"the mail server {server} did not answer within {settings.timeout_s:g} s; check mail: host and port"
            ) from None
        raise MailError(f"the mail server {server} closed the connection; check mail: port and security") from None
    except smtplib.SMTPException as exc:
        raise MailError(f"the exchange with the mail server {server} failed ({type(exc).__name__})") from None
    except ssl.SSLCertVerificationError as exc:
        raise MailError(
            f"the mail server {server}'s certificate is not trusted ({exc.verify_message}); check mail: host"
        ) from None
    except ssl.SSLError:
        raise MailError(f"TLS with the mail server {server} failed; check mail: security and port") from None
    except TimeoutError:
        raise MailError(
            f"the mail server {server} did not answer within {settings.timeout_s:g} s; check mail: host and port"
        ) from None
    except socket.gaierror:
        raise MailError(f"the mail server's name {settings.host!r} is unknown; check mail: host") from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise MailError(f"cannot reach the mail server {server} ({reason}); check mail: host and port") from None
    log.info("e-mail handed to %s (%d attachment(s))", server, len(mail.attachments))


def _credentials(settings: MailSettings) -> tuple[str, str] | None:
    """The user name and the password from the environment, when the settings log in."""
    if settings.username is None or settings.password_env is None:
        return None
    password = os.environ.get(settings.password_env)
    if not password:
        raise MailError(
            f"the mail password is not set: give the server process the environment variable "
            f"{settings.password_env} (mail: password_env in the clinic file names it)"
        )
    return settings.username, password


def _message(settings: MailSettings, mail: OutgoingMail) -> EmailMessage:
    message = EmailMessage()
    message["From"] = formataddr((mail.sender_name, settings.sender)) if mail.sender_name else settings.sender
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain=settings.sender.rpartition("@")[2])
    message.set_content(mail.body)
    for attachment in mail.attachments:
        message.add_attachment(
            attachment.content, maintype=attachment.maintype, subtype=attachment.subtype, filename=attachment.filename
        )
    return message
