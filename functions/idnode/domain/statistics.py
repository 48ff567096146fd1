"""Statistics (SN-8): the daily counters of a scope turned into series.

The statistics table holds, per scope and UTC day, what changed that day: events counted
(registrations, resolutions, deletions) and net changes of levels (identifiers, enterprises,
prefixes). A day's level is the sum of every net change up to and including that day, so a
series of levels starts from the sum of all days before its first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from idnode.domain.errors import InvalidValueError
from idnode.domain.industries import parse_industry

EVENTS = ("registrations", "resolutions", "deletions")  # counted per day
LEVELS = ("identifiers", "enterprises", "prefixes")  # running totals of net changes
MAX_DAYS = 366
MAX_KEY_LENGTH = 128

NODE_SCOPE = "node"


class ScopeKind(StrEnum):
    """What a series counts: the whole node, one enterprise, or one GB/T 4754 industry."""

    NODE = "node"
    ENTERPRISE = "enterprise"
    INDUSTRY = "industry"


def enterprise_scope(enterprise: str) -> str:
    return f"enterprise#{enterprise}"


def industry_scope(code: str) -> str:
    return f"industry#{code}"


def prefix_scope(prefix: str) -> str:
    return f"prefix#{prefix}"


def scope_key(kind: ScopeKind, key: str | None) -> tuple[str, str | None]:
    """The statistics table's scope for `kind` and `key`, and the key as counted (an
    industry is counted by its division, or its section when that is all that is known)."""
    if kind is ScopeKind.NODE:
        if key:
            raise InvalidValueError("key: the node's statistics take no key")
        return NODE_SCOPE, None
    text = (key or "").strip()
    if not text:
        what = (
            "enterprise (its unified social credit code)"
            if kind is ScopeKind.ENTERPRISE
            else "industry (a GB/T 4754 division such as C34)"
        )
        raise InvalidValueError(f"key: name the {what}")
    if len(text) > MAX_KEY_LENGTH:
        raise InvalidValueError(f"key: at most {MAX_KEY_LENGTH} characters")
    if kind is ScopeKind.INDUSTRY:
        code = parse_industry(text, "key").statistics_code
        return industry_scope(code), code
    return enterprise_scope(text), text


def check_range(first: date, last: date) -> None:
    if last < first:
        raise InvalidValueError(f"to: {last} is before from ({first})")
    days = (last - first).days + 1
    if days > MAX_DAYS:
        raise InvalidValueError(f"to: at most {MAX_DAYS} days at a time ({days} asked for)")


@dataclass(frozen=True, slots=True)
class DayFigures:
    """One day of a series: that day's events, and the levels at its end."""

    day: date
    registrations: int = 0
    resolutions: int = 0
    deletions: int = 0
    identifiers: int = 0
    enterprises: int = 0
    prefixes: int = 0


@dataclass(frozen=True, slots=True)
class Series:
    kind: ScopeKind
    key: str | None
    first: date
    last: date
    days: tuple[DayFigures, ...]

    def total(self, event: str) -> int:
        """The sum of one event's daily counts over the series."""
        if event not in EVENTS:
            raise ValueError(f"{event} is not an event counter")
        return sum(getattr(day, event) for day in self.days)


def series(
    kind: ScopeKind,
    key: str | None,
    first: date,
    last: date,
    counters: Mapping[str, Mapping[str, int]],
) -> Series:
    """The series from `first` to `last` of counters by ISO day, which must hold every day of
    the scope up to `last` (levels are sums from the scope's first day)."""
    check_range(first, last)
    start = first.isoformat()
    levels = dict.fromkeys(LEVELS, 0)
    for iso_day, counts in counters.items():
        if iso_day < start:
            for level in LEVELS:
                levels[level] += counts.get(level, 0)
    days = []
    for offset in range((last - first).days + 1):
        day = first + timedelta(days=offset)
        counts = counters.get(day.isoformat(), {})
        for level in LEVELS:
            levels[level] += counts.get(level, 0)
        days.append(
            DayFigures(
                day,
                registrations=counts.get("registrations", 0),
                resolutions=counts.get("resolutions", 0),
                deletions=counts.get("deletions", 0),
                identifiers=levels["identifiers"],
                enterprises=levels["enterprises"],
                prefixes=levels["prefixes"],
            )
        )
    return Series(kind, key, first, last, tuple(days))
