"""Report languages: gettext catalogues (English source, Simplified Chinese, Russian) and Babel formatting.

Catalogues are the ``.po`` files under ``xrayreport/locale/<locale>/LC_MESSAGES/xrayreport.po``,
compiled in memory on first use, so there is no build step and no binary file in the repository.
A :class:`Messages` records every message it could not translate, which the tests use to prove
that each language is complete.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

from babel import Locale
from babel.dates import format_date, format_skeleton
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal
from babel.support import Translations

from ..errors import UnknownNameError
from ..plan import Text

DOMAIN = "xrayreport"


@dataclass(frozen=True)
class Language:
    """A report language: CLI code, Babel locale, HTML ``lang`` value and catalogue folder (None: source)."""

    code: str
    locale: str
    html_lang: str
    catalogue: str | None


LANGUAGES: Mapping[str, Language] = {
    "en": Language("en", "en_GB", "en", None),
    "zh": Language("zh", "zh_Hans_CN", "zh-Hans", "zh_Hans"),
    "ru": Language("ru", "ru_RU", "ru", "ru"),
}


def language(code: str) -> Language:
    """The :class:`Language` for a code (``en``, ``zh``, ``ru``); raises listing the valid codes."""
    try:
        return LANGUAGES[code]
    except KeyError:
        raise UnknownNameError("report language", code, LANGUAGES) from None


@cache
def _catalogue(folder: str) -> tuple[Translations, frozenset[str]]:
    path = resources.files("xrayreport").joinpath("locale", folder, "LC_MESSAGES", f"{DOMAIN}.po")
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=folder, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    translated = frozenset(str(m.id[0] if isinstance(m.id, tuple) else m.id) for m in catalog if m.id and m.string)
    return Translations(buffer, domain=DOMAIN), translated


class Messages:
    """Translations and formatting for one language; ``missing`` collects messages without a translation."""

    def __init__(self, code: str) -> None:
        self.language = language(code)
        self.locale = Locale.parse(self.language.locale)
        self.missing: set[str] = set()
        if self.language.catalogue is None:
            self._translations: Translations | None = None
            self._known: frozenset[str] = frozenset()
        else:
            self._translations, self._known = _catalogue(self.language.catalogue)

    def translate(self, message: str) -> str:
        """Translate ``message`` without filling placeholders (Jinja's new-style gettext fills and escapes them)."""
        if self._translations is None:
            return message
        if message not in self._known:
            self.missing.add(message)
        return str(self._translations.gettext(message))

    def translate_plural(self, singular: str, plural: str, num: int) -> str:
        """The form of a message for ``num`` (Russian has three forms, Chinese one), placeholders unfilled."""
        if self._translations is None:
            return singular if num == 1 else plural
        if singular not in self._known:
            self.missing.add(singular)
        return str(self._translations.ngettext(singular, plural, num))

    def gettext(self, message: str, **params: Any) -> str:
        """Translate ``message`` and fill its ``%(name)s`` placeholders."""
        text = self.translate(message)
        return text % params if params else text

    def ngettext(self, singular: str, plural: str, num: int, **params: Any) -> str:
        """Translate a plural message and fill ``%(num)d`` and the other placeholders."""
        return self.translate_plural(singular, plural, num) % {"num": num, **params}

    def text(self, wording: Text, **params: Any) -> str:
        """Translate a rules-table wording: a message id, or the clinic's own text per language."""
        if isinstance(wording, str):
            return self.gettext(wording, **params)
        chosen = wording.get(self.language.code, wording["en"])
        return chosen % params if params else chosen

    def date(self, value: dt.date) -> str:
        """A full date: "2 March 2026", "2026年3月2日", "2 марта 2026 г."."""
        return str(format_date(value, format="long", locale=self.locale))

    def month(self, value: dt.date) -> str:
        """Month and year only: "March 2026", "2026年3月", "март 2026 г."."""
        return str(format_skeleton("yMMMM", value, locale=self.locale))

    def number(self, value: float | Decimal) -> str:
        return str(format_decimal(value, locale=self.locale))

    def money(self, amount: Decimal, currency: str) -> str:
        """An amount with its currency, in the language's conventions ("CN¥1,200.00", "1 200,00 ₽")."""
        return str(format_currency(amount, currency, locale=self.locale))
