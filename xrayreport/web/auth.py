"""Who is calling: password hashing (argon2), users, login sessions (pages and API tokens) and CSRF tokens."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..errors import XrayReportError
from .models import LoginSession, User
from .roles import Role, parse_roles
from .studies import NotFoundError

_hasher = PasswordHasher()
_USERNAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
MIN_PASSWORD_LENGTH = 8
# Verifying against a real hash for unknown names keeps their answer as slow as a wrong password.
_DUMMY_HASH = _hasher.hash("not a password of anyone")


def add_user(db: Session, username: str, password: str, roles: Iterable[str]) -> User:
    """Create a user with an argon2 hash of ``password`` and ``roles`` (see :mod:`.roles`); raises
    XrayReportError for a bad name, password or role."""
    if not _USERNAME.match(username):
        raise XrayReportError(f"invalid user name {username!r}: use 1-64 letters, digits, dots, dashes or underscores")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise XrayReportError(f"the password is too short: use at least {MIN_PASSWORD_LENGTH} characters")
    if db.scalar(select(User).where(User.username == username)) is not None:
        raise XrayReportError(f"user {username!r} exists already; pick another name")
    user = User(username=username, password_hash=_hasher.hash(password), roles_text=",".join(parse_roles(roles)))
    db.add(user)
    return user


def get_user(db: Session, username: str) -> User:
    """The user called ``username``; NotFoundError (404) otherwise."""
    user = db.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFoundError(f"no user {username!r}; 'xrayreport users list' or the users page lists them")
    return user


def set_roles(db: Session, user: User, roles: Iterable[str]) -> None:
    """Give ``user`` exactly ``roles``; refused when it would leave the workspace without an admin."""
    chosen = parse_roles(roles)
    if Role.ADMIN in user.roles and Role.ADMIN not in chosen:
        admins = [u for u in db.scalars(select(User)) if Role.ADMIN in u.roles]
        if len(admins) <= 1:
            raise XrayReportError(f"{user.username} is the only admin; make another user admin first")
    user.roles_text = ",".join(chosen)


def authenticate(db: Session, username: str, password: str) -> User | None:
    """The user when ``password`` is theirs, else ``None`` (unknown name and wrong password look alike)."""
    user = db.scalar(select(User).where(User.username == username))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is not None and _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return user


SessionKind = Literal["page", "api"]


class LoginSessions:
    """Page sessions and API tokens kept in the database (:class:`LoginSession`), so that they end when the
    user logs out or the token is revoked, and at a fixed time after login however much they are used (a
    signed cookie alone could be replayed after logout and was renewed on every page).

    The client gets a random secret (the session cookie carries it, signed; an API token is the secret);
    only its SHA-256 is stored, so a copy of the database opens no session.
    """

    def __init__(self, clock: Callable[[], datetime], max_age_s: dict[SessionKind, int]) -> None:
        self._clock = clock
        self.max_age_s = max_age_s

    def start(self, db: Session, user: User, kind: SessionKind) -> str:
        """A new session of ``kind`` for ``user``; returns the secret to hand to the client."""
        now = self._clock()
        db.execute(delete(LoginSession).where(LoginSession.expires_at <= now))
        secret = secrets.token_urlsafe(32)
        expires = now + timedelta(seconds=self.max_age_s[kind])
        db.add(LoginSession(secret_hash=_digest(secret), user=user, kind=kind, created_at=now, expires_at=expires))
        return secret

    def user(self, db: Session, secret: object, kind: SessionKind) -> User | None:
        """The user of an unexpired session of ``kind`` with this secret, else ``None``."""
        if not isinstance(secret, str) or not secret:
            return None
        found = db.scalar(
            select(LoginSession).where(
                LoginSession.secret_hash == _digest(secret),
                LoginSession.kind == kind,
                LoginSession.expires_at > self._clock(),
            )
        )
        return None if found is None else found.user

    def end(self, db: Session, secret: object) -> None:
        """End the session with this secret (nothing happens for an unknown one)."""
        if isinstance(secret, str):
            db.execute(delete(LoginSession).where(LoginSession.secret_hash == _digest(secret)))


def end_all_sessions(db: Session, user: User) -> int:
    """End every page session and API token of ``user`` (see :class:`LoginSessions`); returns how many."""
    ended = db.execute(delete(LoginSession).where(LoginSession.user_id == user.id))
    return int(getattr(ended, "rowcount", 0))


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def csrf_token(session: dict[str, Any]) -> str:
    """The CSRF token of a page session, created on first use; forms send it back in a hidden field."""
    token = session.get("csrf")
    if not isinstance(token, str):
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def csrf_ok(session: dict[str, Any], sent: str | None) -> bool:
    expected = session.get("csrf")
    return isinstance(expected, str) and sent is not None and secrets.compare_digest(expected, sent)
