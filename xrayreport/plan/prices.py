"""A clinic's price list: complete prices per treatment, each saying what it includes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from babel.numbers import get_currency_name

from .rules import PlanRulesError, Text, parse_text


@dataclass(frozen=True)
class Price:
    """A complete price: ``amount`` in the list's currency, ``includes`` what it covers."""

    amount: Decimal
    includes: Text


@dataclass(frozen=True)
class PriceList:
    """Prices by treatment name (the ``treatment`` of the plan rules, e.g. ``filling``)."""

    currency: str  # ISO 4217, e.g. "CNY"
    items: Mapping[str, Price]


def price_list_from_dict(data: Any, where: str) -> PriceList:
    """Read ``{currency: CNY, items: {filling: {amount: 300, includes: "..."}}}``.

    Every price must say what it includes: the report promises complete prices (CLINICAL.md,
    principle 4), so a bare number is refused.
    """
    if not isinstance(data, dict) or set(data) - {"currency", "items"} or "currency" not in data:
        raise PlanRulesError(f"{where}: expected 'currency' (e.g. CNY) and 'items' (treatment: amount and includes)")
    currency = data["currency"]
    if not isinstance(currency, str) or len(currency) != 3 or get_currency_name(currency.upper()) == currency.upper():
        raise PlanRulesError(f"{where}.currency: {currency!r} is not an ISO 4217 currency code such as CNY, EUR, RUB")
    items_data = data.get("items") or {}
    if not isinstance(items_data, dict):
        raise PlanRulesError(f"{where}.items: expected a mapping of treatment name to price")
    items: dict[str, Price] = {}
    for name, entry in items_data.items():
        item_where = f"{where}.items.{name}"
        if not isinstance(entry, dict) or set(entry) != {"amount", "includes"}:
            raise PlanRulesError(
                f"{item_where}: give 'amount' and 'includes' (what the price covers, e.g. "
                "'anaesthesia, canal treatment and the final filling'); prices in the report are complete"
            )
        try:
            amount = Decimal(str(entry["amount"]))
        except InvalidOperation:
            raise PlanRulesError(f"{item_where}.amount: {entry['amount']!r} is not a number") from None
        if not amount.is_finite() or amount < 0:
            raise PlanRulesError(f"{item_where}.amount: expected a price of zero or more, got {entry['amount']!r}")
        items[str(name)] = Price(amount, parse_text(entry["includes"], f"{item_where}.includes"))
    return PriceList(currency.upper(), items)
