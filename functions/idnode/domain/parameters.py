"""System parameters (IOT-1): what platform admins tune without redeploying.

The node prefix is not among them: it is fixed at deployment (every prefix and identifier is
keyed under it) and shown beside them read-only.

Parameters are stored and exchanged as one JSON document (`to_json` / `parse_parameters`):
field names as below, decimals as strings so that no precision is lost. A document may leave
fields out (they keep their defaults), so that parameters added later need no migration.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from itertools import pairwise
from typing import Any

from idnode.domain.errors import InvalidValueError
from idnode.domain.industries import SECTIONS


class NodeType(StrEnum):
    """SN-1: an industry node serves one GB/T 4754 division; a comprehensive node several."""

    INDUSTRY = "industry"
    COMPREHENSIVE = "comprehensive"


@dataclass(frozen=True, slots=True)
class PriceList:
    """Unit prices from a month on (until a later price list takes over)."""

    effective_from: str  # YYYY-MM
    currency: str = "CNY"
    registration: Decimal = Decimal("0.01")
    resolution: Decimal = Decimal("0.0001")
    free_resolutions: int = 100_000  # per enterprise and month


@dataclass(frozen=True, slots=True)
class Parameters:
    node_name: str = "idnode secondary node"
    node_type: NodeType = NodeType.COMPREHENSIVE
    # GB/T 4754 divisions (e.g. "C34") enterprises may come from; empty: any.
    industries: tuple[str, ...] = ()
    first_enterprise_number: int = 1000  # the first number allocated under the node prefix
    prices: tuple[PriceList, ...] = field(default_factory=lambda: (PriceList("2020-01"),))
    operation_log_retention_days: int = 365
    telemetry_retention_days: int = 90
    max_page_size: int = 1000
    max_pending_applications: int = 3  # per applicant
    identifier_quota: int = 0  # per enterprise; 0: unlimited
    suspension_stops_resolution: bool = False  # the default when suspending an enterprise

    def to_json(self) -> dict[str, Any]:
        """The JSON document form (what is stored, and what `parse_parameters` reads)."""
        return {
            "node_name": self.node_name,
            "node_type": self.node_type.value,
            "industries": list(self.industries),
            "first_enterprise_number": self.first_enterprise_number,
            "prices": [_price_list_to_json(p) for p in self.prices],
            "operation_log_retention_days": self.operation_log_retention_days,
            "telemetry_retention_days": self.telemetry_retention_days,
            "max_page_size": self.max_page_size,
            "max_pending_applications": self.max_pending_applications,
            "identifier_quota": self.identifier_quota,
            "suspension_stops_resolution": self.suspension_stops_resolution,
        }

    def price_on(self, month: str) -> PriceList | None:
        """The price list in force in `month` (YYYY-MM), if any started by then."""
        current = None
        for prices in self.prices:  # sorted by month: the last one started wins
            if prices.effective_from <= month:
                current = prices
        return current


# Chinese law (Cybersecurity Law, art. 21) requires network operators to keep logs of their
# network's operation for at least six months.
MIN_OPERATION_LOG_RETENTION_DAYS = 180
MAX_RETENTION_DAYS = 3650
MIN_PAGE_SIZE, MAX_PAGE_SIZE = 10, 1000
MAX_PENDING_APPLICATIONS = 20
MAX_ENTERPRISE_NUMBER = 99_999_999
MAX_NODE_NAME = 200
MAX_PRICE_PLACES = 6
MAX_PRICE = Decimal(1_000_000)
PARAMETER_NAMES = frozenset(f.name for f in fields(Parameters))

_DIVISION = re.compile(r"([A-T])(\d{2})")
_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
_CURRENCY = re.compile(r"[A-Z]{3}")
_PRICE_FIELDS = frozenset(f.name for f in fields(PriceList))


class _BadFieldError(Exception):
    """One problem with one field; collected so that a reply names every bad input."""


def is_division(code: str) -> bool:
    """A GB/T 4754-2017 division (section letter and two-digit major category): `C34`."""
    match = _DIVISION.fullmatch(code)
    if match is None:
        return False
    low, high = SECTIONS[match.group(1)]
    return low <= int(match.group(2)) <= high


def parse_parameters(document: Mapping[str, Any], base: Parameters | None = None) -> Parameters:
    """Parameters from their JSON form, over `base` (default: the defaults) for fields the
    document leaves out. Raises InvalidValueError naming every bad field at once."""
    if not isinstance(document, Mapping):
        raise InvalidValueError("parameters must be a JSON object")
    problems: list[str] = []
    unknown = sorted(str(name) for name in document if name not in PARAMETER_NAMES)
    if unknown:
        problems.append(f"unknown parameters: {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for name, parse in _PARSERS.items():
        if name not in document:
            continue
        try:
            values[name] = parse(document[name])
        except _BadFieldError as bad:
            problems.append(f"{name}: {bad}")
    if not problems:
        parameters = _replace(base or Parameters(), values)
        problems.extend(_cross_checks(parameters))
        if not problems:
            return parameters
    raise InvalidValueError("invalid parameters: " + "; ".join(problems))


def _replace(base: Parameters, values: Mapping[str, Any]) -> Parameters:
    return Parameters(**{**{f.name: getattr(base, f.name) for f in fields(base)}, **values})


def _cross_checks(parameters: Parameters) -> list[str]:
    count = len(parameters.industries)
    if parameters.node_type is NodeType.INDUSTRY and count != 1:
        return [
            f"industries: an industry node serves exactly one GB/T 4754 division ({count} given)"
        ]
    if parameters.node_type is NodeType.COMPREHENSIVE and count == 1:
        return [
            "industries: a comprehensive node serves any industry (none listed) or two or more "
            "divisions; with one, make it an industry node"
        ]
    return []


def _text(raw: Any, longest: int) -> str:
    if not isinstance(raw, str):
        raise _BadFieldError("must be a string")
    text = raw.strip()
    if not text:
        raise _BadFieldError("must not be empty")
    if len(text) > longest:
        raise _BadFieldError(f"at most {longest} characters")
    if any(not c.isprintable() for c in text):
        raise _BadFieldError("must not contain control characters")
    return text


def _integer(low: int, high: int | None = None, why: str = "") -> Callable[[Any], int]:
    def parse(raw: Any) -> int:
        # JSON has one number type; bool is an int subclass in Python, but not a number here.
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise _BadFieldError("must be a whole number")
        if raw < low or (high is not None and raw > high):
            span = f"at least {low}" if high is None else f"between {low} and {high}"
            raise _BadFieldError(f"must be {span}{why}")
        return raw

    return parse


def _flag(raw: Any) -> bool:
    if not isinstance(raw, bool):
        raise _BadFieldError("must be true or false")
    return raw


def _node_type(raw: Any) -> NodeType:
    if raw not in NodeType._value2member_map_:
        names = " or ".join(t.value for t in NodeType)
        raise _BadFieldError(f"must be {names}")
    return NodeType(raw)


def _industries(raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list | tuple):
        raise _BadFieldError("must be a list of GB/T 4754 divisions such as C34")
    codes: list[str] = []
    for position, code in enumerate(raw):
        if not isinstance(code, str) or not is_division(code):
            raise _BadFieldError(
                f"item {position + 1} ({code!r}) is not a GB/T 4754 division "
                "(section letter and two-digit major category, such as C34)"
            )
        if code in codes:
            raise _BadFieldError(f"{code} is listed twice")
        codes.append(code)
    return tuple(codes)


def _decimal(raw: Any) -> Decimal:
    if isinstance(raw, bool | float):
        raise _BadFieldError(
            'must be a decimal string such as "0.01" (numbers with a fraction lose precision)'
        )
    if not isinstance(raw, str | int):
        raise _BadFieldError('must be a decimal string such as "0.01"')
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise _BadFieldError(f"{raw!r} is not a decimal number") from None
    if not value.is_finite():
        raise _BadFieldError("must be a finite number")
    if value < 0:
        raise _BadFieldError("must not be negative")
    if value > MAX_PRICE:
        raise _BadFieldError(f"must not exceed {MAX_PRICE}")
    # Stored without exponent or trailing zeros, so that "0.010" and "0.01" are one price.
    value = Decimal(format(value.normalize(), "f"))
    places = -int(value.as_tuple().exponent)
    if places > MAX_PRICE_PLACES:
        raise _BadFieldError(f"at most {MAX_PRICE_PLACES} decimal places")
    return value


def _price_list(raw: Any) -> PriceList:
    if not isinstance(raw, Mapping):
        raise _BadFieldError(
            "must be an object with effective_from, currency, registration, resolution"
        )
    unknown = sorted(str(name) for name in raw if name not in _PRICE_FIELDS)
    if unknown:
        raise _BadFieldError(f"unknown fields: {', '.join(unknown)}")
    defaults = PriceList("2020-01")
    problems: list[str] = []
    values: dict[str, Any] = {}
    parsers: dict[str, Callable[[Any], Any]] = {
        "effective_from": _month,
        "currency": _currency,
        "registration": _decimal,
        "resolution": _decimal,
        "free_resolutions": _integer(0),
    }
    if "effective_from" not in raw:
        problems.append("effective_from: is required (YYYY-MM)")
    for name, parse in parsers.items():
        if name in raw:
            try:
                values[name] = parse(raw[name])
            except _BadFieldError as bad:
                problems.append(f"{name}: {bad}")
    if problems:
        raise _BadFieldError("; ".join(problems))
    return PriceList(
        effective_from=values["effective_from"],
        currency=values.get("currency", defaults.currency),
        registration=values.get("registration", defaults.registration),
        resolution=values.get("resolution", defaults.resolution),
        free_resolutions=values.get("free_resolutions", defaults.free_resolutions),
    )


def _month(raw: Any) -> str:
    if not isinstance(raw, str) or not _MONTH.fullmatch(raw):
        raise _BadFieldError(f"{raw!r} is not a month in the form YYYY-MM")
    return raw


def _currency(raw: Any) -> str:
    if not isinstance(raw, str) or not _CURRENCY.fullmatch(raw):
        raise _BadFieldError(
            f"{raw!r} is not a three-letter currency code in capitals, such as CNY"
        )
    return raw


def _prices(raw: Any) -> tuple[PriceList, ...]:
    if not isinstance(raw, list | tuple) or not raw:
        raise _BadFieldError("must be a non-empty list of price lists")
    problems: list[str] = []
    lists: list[PriceList] = []
    for position, item in enumerate(raw):
        try:
            lists.append(_price_list(item))
        except _BadFieldError as bad:
            problems.append(f"price list {position + 1}: {bad}")
    if problems:
        raise _BadFieldError("; ".join(problems))
    months = [p.effective_from for p in lists]
    for earlier, later in pairwise(months):
        if later <= earlier:
            raise _BadFieldError(
                f"months must be unique and in increasing order ({later} follows {earlier})"
            )
    return tuple(lists)


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "node_name": lambda raw: _text(raw, MAX_NODE_NAME),
    "node_type": _node_type,
    "industries": _industries,
    "first_enterprise_number": _integer(1, MAX_ENTERPRISE_NUMBER),
    "prices": _prices,
    "operation_log_retention_days": _integer(
        MIN_OPERATION_LOG_RETENTION_DAYS,
        MAX_RETENTION_DAYS,
        " (the law requires keeping operation logs for at least six months)",
    ),
    "telemetry_retention_days": _integer(1, MAX_RETENTION_DAYS),
    "max_page_size": _integer(MIN_PAGE_SIZE, MAX_PAGE_SIZE),
    "max_pending_applications": _integer(1, MAX_PENDING_APPLICATIONS),
    "identifier_quota": _integer(0, why=" (0: unlimited)"),
    "suspension_stops_resolution": _flag,
}


def _price_list_to_json(prices: PriceList) -> dict[str, Any]:
    return {
        "effective_from": prices.effective_from,
        "currency": prices.currency,
        "registration": format(prices.registration, "f"),
        "resolution": format(prices.resolution, "f"),
        "free_resolutions": prices.free_resolutions,
    }
