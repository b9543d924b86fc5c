"""A real SMTP server on 127.0.0.1 for the tests (aiosmtpd in a thread), which keeps what it receives.

``tls/`` holds a test-only CA and a certificate for 127.0.0.1 it signed (valid until 2126), made with::

    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 36500 -subj "/CN=xrayreport test CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
    openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=127.0.0.1"
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -out server.pem -days 36500 -extfile ext.cnf

with ``ext.cnf`` giving ``subjectAltName=IP:127.0.0.1`` and a server's key usages; the CA's key was thrown away.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, cast

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

TLS = Path(__file__).parent / "tls"
HOST = "127.0.0.1"


@dataclass(frozen=True)
class Received:
    """One message as the server got it: the envelope and the parsed message."""

    sender: str
    recipients: list[str]
    message: EmailMessage


class _Handler:
    def __init__(self, refuse: set[str]) -> None:
        self.refuse = refuse
        self.received: list[Received] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:  # noqa: N802
        if address in self.refuse:  # a real server's refusal quotes the address
            return f"550 5.1.1 <{address}>: recipient address rejected: user unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = cast(EmailMessage, message_from_bytes(envelope.original_content, policy=policy.default))
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


class _Controller(Controller):
    def _trigger_server(self) -> None:  # bound to port 0: learn the port the system gave before connecting
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class SmtpServer:
    """``with SmtpServer() as server:`` a server on ``HOST``:``server.port``; ``server.received`` fills as
    messages arrive. ``tls``: "starttls" offers STARTTLS, "ssl" speaks TLS from the start (the certificate of
    ``tls/``); ``login``: (user, password) it requires; ``refuse``: recipients it refuses."""

    def __init__(
        self, tls: str | None = None, login: tuple[str, str] | None = None, refuse: frozenset[str] = frozenset()
    ) -> None:
        self.handler = _Handler(set(refuse))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(TLS / "server.pem", TLS / "server.key")
        options: dict[str, Any] = {"hostname": HOST, "port": 0}
        if tls == "starttls":
            options["tls_context"] = context
        elif tls == "ssl":  # aiosmtpd counts only STARTTLS as TLS when it decides to offer a login
            options.update(ssl_context=context, auth_require_tls=False)
        if login is not None:
            options.update(auth_required=True, authenticator=_authenticator(login))
        self.controller = _Controller(self.handler, **options)

    @property
    def port(self) -> int:
        port: int = self.controller.port
        return port

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


def _authenticator(login: tuple[str, str]) -> Any:
    def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == login
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself

    return check


def unused_port() -> int:
    """A port on ``HOST`` nothing listens on (one the system just gave out and took back)."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
    return port


def client_tls() -> ssl.SSLContext:
    """A client context that trusts the test CA (and only it)."""
    return ssl.create_default_context(cafile=str(TLS / "ca.pem"))
