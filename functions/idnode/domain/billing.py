"""Billing (SN-8): an enterprise's monthly statement of registrations and resolutions.

Rules (docs/figures.md):
- a month is billed at the price list in force in it: the one with the latest
  `effective_from` not after the month (prices change from the first of a month);
- registrations are billed one by one; resolutions beyond the month's free quota;
- each line's amount is rounded half-up to 0.01, and the total is the sum of the rounded
  lines, so that a statement always adds up as printed.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from idnode.domain.errors import InvalidValueError, NotFoundError
from idnode.domain.parameters import PriceList

CENT = Decimal("0.01")
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def parse_month(raw: str) -> str:
    """A month as YYYY-MM."""
    text = raw.strip()
    if not _MONTH.fullmatch(text):
        raise InvalidValueError(f"month: {raw!r} is not a month in the form YYYY-MM")
    return text


def month_days(month: str) -> tuple[date, date]:
    """The first and the last day of a month (YYYY-MM)."""
    match = _MONTH.fullmatch(month)
    if match is None:
        raise InvalidValueError(f"month: {month!r} is not a month in the form YYYY-MM")
    year, number = int(match.group(1)), int(match.group(2))
    return date(year, number, 1), date(year, number, calendar.monthrange(year, number)[1])


def price_list_for(prices: Iterable[PriceList], month: str) -> PriceList:
    """The price list in force in `month`: the latest that took effect by then."""
    started = [p for p in prices if p.effective_from <= month]
    if not started:
        raise NotFoundError(f"no price list is in force in {month}")
    return max(started, key=lambda p: p.effective_from)


def money(amount: Decimal) -> Decimal:
    """Rounded half-up to 0.01."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class StatementLine:
    item: str  # "registrations" | "resolutions"
    quantity: int  # billed units
    unit_price: Decimal
    amount: Decimal  # rounded


@dataclass(frozen=True, slots=True)
class Statement:
    enterprise: str
    month: str
    prices: PriceList
    registrations: int
    resolutions: int
    free_resolutions: int  # the quota of the price list
    lines: tuple[StatementLine, ...]
    total: Decimal
    final: bool  # the month is over: the figures will not change

    @property
    def currency(self) -> str:
        return self.prices.currency

    @property
    def billable_resolutions(self) -> int:
        return max(0, self.resolutions - self.free_resolutions)


def statement(
    enterprise: str,
    month: str,
    registrations: int,
    resolutions: int,
    prices: Iterable[PriceList],
    *,
    final: bool,
) -> Statement:
    """The statement of `month` for the counted registrations and resolutions."""
    month = parse_month(month)
    price_list = price_list_for(prices, month)
    registrations, resolutions = max(0, registrations), max(0, resolutions)
    billable = max(0, resolutions - price_list.free_resolutions)
    lines = (
        _line("registrations", registrations, price_list.registration),
        _line("resolutions", billable, price_list.resolution),
    )
    return Statement(
        enterprise=enterprise,
        month=month,
        prices=price_list,
        registrations=registrations,
        resolutions=resolutions,
        free_resolutions=price_list.free_resolutions,
        lines=lines,
        total=sum((line.amount for line in lines), Decimal("0.00")),
        final=final,
    )


def _line(item: str, quantity: int, unit_price: Decimal) -> StatementLine:
    return StatementLine(item, quantity, unit_price, money(unit_price * quantity))
