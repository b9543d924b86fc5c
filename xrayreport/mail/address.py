"""E-mail addresses as the clinic types them: checked before they are stored or written into a message."""

from __future__ import annotations

ADDRESS_LENGTH = 254
"""The longest address SMTP carries (RFC 5321: a 256-character path, less its angle brackets)."""


def address_problem(address: str) -> str | None:
    """What is wrong with ``address`` (already stripped), in words for whoever typed it; ``None`` when it can be
    used: at most 254 characters, no spaces or control characters, one @ with something on either side.

    Deliberately loose beyond that (international addresses pass): the mail server has the last word.
    """
    if len(address) > ADDRESS_LENGTH:
        return f"use at most {ADDRESS_LENGTH} characters"
    if any(c.isspace() or not c.isprintable() for c in address):
        return "an e-mail address has no spaces or line breaks; check what was typed"
    local, _, domain = address.partition("@")
    if not local or not domain or "@" in domain:
        return "use the form name@example.com, with one @"
    return None
