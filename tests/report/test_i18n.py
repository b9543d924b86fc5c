"""Report languages: plural forms, dates and money per language, and complete catalogues."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from xrayreport.errors import UnknownNameError
from xrayreport.findings import FINDING_TYPES
from xrayreport.plan import load_rules
from xrayreport.report import Messages, tooth_name

DAY = dt.date(2026, 3, 2)


def plain(text: str) -> str:
    # CLDR's choice of no-break spaces changes between Babel releases; the words and order do not.
    return text.replace("\u202f", " ").replace("\u00a0", " ")


def test_russian_has_three_plural_forms_and_chinese_one() -> None:
    ru = Messages("ru")
    forms = [ru.ngettext("every %(num)d month", "every %(num)d months", n) for n in (1, 3, 5, 21, 12)]
    assert forms == ["каждый 1 месяц", "каждые 3 месяца", "каждые 5 месяцев", "каждый 21 месяц", "каждые 12 месяцев"]
    assert Messages("zh").ngettext("%(num)d year", "%(num)d years", 8) == "8 岁"
    assert Messages("en").ngettext("%(num)d year", "%(num)d years", 1) == "1 year"


def test_dates_months_and_money_follow_the_language() -> None:
    en, zh, ru = Messages("en"), Messages("zh"), Messages("ru")
    assert (en.date(DAY), zh.date(DAY), plain(ru.date(DAY))) == ("2 March 2026", "2026年3月2日", "2 марта 2026 г.")
    assert (en.month(DAY), zh.month(DAY)) == ("March 2026", "2026年3月")
    assert plain(ru.money(Decimal("1200.5"), "RUB")) == "1 200,50 ₽"
    assert zh.money(Decimal(300), "CNY") == "¥300.00"


def test_tooth_names_in_everyday_words() -> None:
    assert tooth_name("36", Messages("en")) == "lower left first molar"
    assert tooth_name("18", Messages("zh")) == "右上智齿"
    assert tooth_name("85", Messages("ru")) == "второй молочный моляр (нижний правый)"


@pytest.mark.parametrize("lang", ["zh", "ru"])
def test_every_text_of_the_shipped_rules_is_translated(lang: str) -> None:
    rules = load_rules()
    messages = Messages(lang)
    texts = [t for s in rules.stages for t in (s.title, s.purpose, s.when)] + list(rules.bring)
    for finding_type in FINDING_TYPES:
        rule = rules.findings[finding_type]
        texts += [rule.name, rule.explain]
        for step in (rule.step, rule.maintain):
            if step is not None:
                texts += [step.what, step.why] + ([step.duration] if step.duration else [])
    texts += [t for step in rules.maintenance for t in (step.what, step.why)]
    translated = [messages.text(t) for t in texts]
    assert messages.missing == set()
    assert all(a != b for a, b in zip(texts, translated, strict=True) if isinstance(a, str))


def test_clinic_wording_per_language_falls_back_to_english() -> None:
    wording = {"en": "Our words.", "ru": "Наши слова."}
    assert Messages("ru").text(wording) == "Наши слова."
    assert Messages("zh").text(wording) == "Our words."


def test_unknown_language_lists_the_valid_ones() -> None:
    with pytest.raises(UnknownNameError, match="valid report languages are: en, ru, zh"):
        Messages("de")
