"""Who is calling: password hashing (argon2), users, signed API tokens, page sessions and CSRF tokens."""

from __future__ import annotations

import re
import secrets
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import XrayReportError
from .models import User

_hasher = PasswordHasher()
_USERNAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
MIN_PASSWORD_LENGTH = 8
# Verifying against a real hash for unknown names keeps their answer as slow as a wrong password.
_DUMMY_HASH = _hasher.hash("not a password of anyone")


def add_user(db: Session, username: str, password: str) -> User:
    """Create a user with an argon2 hash of ``password``; raises XrayReportError for a bad name or password."""
    if not _USERNAME.match(username):
        raise XrayReportError(f"invalid user name {username!r}: use 1-64 letters, digits, dots, dashes or underscores")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise XrayReportError(f"the password is too short: use at least {MIN_PASSWORD_LENGTH} characters")
    if db.scalar(select(User).where(User.username == username)) is not None:
        raise XrayReportError(f"user {username!r} exists already; pick another name")
    user = User(username=username, password_hash=_hasher.hash(password))
    db.add(user)
    return user


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


class TokenSigner:
    """Signed, expiring bearer tokens for the API: ``{"uid": user id}`` signed with the server secret."""

    def __init__(self, secret_key: str, max_age_s: int) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt="xrayreport-api-token")
        self.max_age_s = max_age_s

    def issue(self, user: User) -> str:
        token: str = self._serializer.dumps({"uid": user.id, "n": secrets.token_hex(4)})
        return token

    def user_id(self, token: str) -> int | None:
        """The user id a valid, unexpired token carries, else ``None``."""
        try:
            payload: Any = self._serializer.loads(token, max_age=self.max_age_s)
        except BadSignature:  # also covers SignatureExpired
            return None
        uid = payload.get("uid") if isinstance(payload, dict) else None
        return uid if isinstance(uid, int) else None


def csrf_token(session: dict[str, Any]) -> str:
    """The CSRF token of a page session, created on first use; forms send it back in a hidden field."""
    token = session.get("csrf")
    if not isinstance(token, str):
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def csrf_ok(session: dict[str, Any], sent: str | None) -> bool:
    expected = session.get("csrf")
    return isinstance(expected, str) and sent is not None and secrets.compare_digest(expected, sent)
