"""Login throttling: after repeated failed logins for a user name, or from one client address, further
logins are refused (429 with Retry-After) until the oldest counted failure is older than the window.

Failures are kept in the database (``login_failures``), not in the server process, so that every
process serving the clinic (several uvicorn workers, a restarted server) counts the same failures.
User names and addresses are stored only as keyed hashes: what is typed into the user name field may
be a patient's name by mistake, and it is never logged either.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fastapi import Request
from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session, sessionmaker

from ..errors import XrayReportError
from .auth import authenticate
from .models import LoginFailure, User

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
"""The current time as an aware UTC datetime (injected so tests need not sleep)."""


@dataclass(frozen=True)
class LoginLimits:
    """How many failed logins within ``window_s`` seconds refuse further logins.

    A user name gets few tries (password guessing aims at one account); an address gets more, because a
    whole clinic behind one router shares it. A successful login clears the failures of its user name.
    """

    per_user: int = 5
    per_address: int = 20
    window_s: int = 15 * 60


class TooManyLoginsError(XrayReportError):
    """Logins are refused for ``retry_after_s`` seconds after too many failures."""

    def __init__(self, retry_after_s: int) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(f"too many failed logins; try again in {_duration(retry_after_s)}")


def _duration(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)  # SQLite hands back naive UTC


def client_address(request: Request) -> str:
    """The caller's address (uvicorn puts the forwarded one here behind a trusted local proxy)."""
    return request.client.host if request.client else "unknown"


class LoginThrottle:
    """Checks passwords for the login page and ``POST /api/token``, counting and limiting failures."""

    def __init__(self, secret_key: str, limits: LoginLimits, clock: Clock) -> None:
        self._secret = secret_key.encode()
        self.limits = limits
        self._clock = clock

    def _key(self, kind: str, value: str) -> str:
        return hmac.new(self._secret, f"{kind}\0{value}".encode(), hashlib.sha256).hexdigest()

    def log_in(self, sessions: sessionmaker[Session], username: str, password: str, address: str) -> User | None:
        """The user when ``password`` is theirs, else ``None`` and the failure is counted.

        Raises :class:`TooManyLoginsError` without looking at the password when the user name or the
        address is over its limit, so that guessing goes no faster with the right password among the guesses.

        The attempt is recorded as a failure and committed *before* the failures are counted (and taken back
        if it is refused or succeeds): of any number of simultaneous guesses, the last to count sees every
        other one that was let through, so at most the limit reach the password check. Counting first and
        recording after let 16 of 40 parallel guesses through a limit of 5. Each transaction writes before it
        reads or only reads, so SQLite never has to upgrade a stale snapshot.
        """
        now = self._clock()
        window = timedelta(seconds=self.limits.window_s)
        user_key = self._key("user", username)
        limits = {user_key: self.limits.per_user, self._key("address", address): self.limits.per_address}
        with sessions.begin() as db:
            db.execute(delete(LoginFailure).where(LoginFailure.at <= now - window))  # too old to count again
            claims = [LoginFailure(key=key, at=now) for key in limits]
            db.add_all(claims)
            db.flush()
            claim_ids = [claim.id for claim in claims]
        with sessions() as db:
            waits = []
            for key, limit in limits.items():
                recent = db.scalars(
                    select(LoginFailure.at)
                    .where(LoginFailure.key == key, LoginFailure.at > now - window, LoginFailure.id.not_in(claim_ids))
                    .order_by(LoginFailure.at.desc())
                    .limit(limit)
                ).all()
                if len(recent) >= limit:  # allowed again once the limit-th newest failure leaves the window
                    waits.append(_aware(recent[-1]) + window - now)
        if waits:
            with sessions.begin() as db:
                db.execute(delete(LoginFailure).where(LoginFailure.id.in_(claim_ids)))
            log.warning("login refused: too many failed logins for the user name or from the address")
            raise TooManyLoginsError(max(1, math.ceil(max(waits).total_seconds())))
        with sessions.begin() as db:
            user = authenticate(db, username, password)
        if user is not None:
            with sessions.begin() as db:
                db.execute(
                    delete(LoginFailure).where(or_(LoginFailure.key == user_key, LoginFailure.id.in_(claim_ids)))
                )
        return user
