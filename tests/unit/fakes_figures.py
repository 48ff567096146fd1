"""In-memory stand-ins for the statistics table and the search indexes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from idnode.domain.enterprises import Enterprise, EnterpriseStatus
from idnode.domain.handles import Handle
from idnode.domain.records import Record
from idnode.domain.search import IdentifierMatch, NameMatch
from idnode.store.search import SearchPage


class CounterWriteError(Exception):
    """The statistics table refused a write."""


class InMemoryCounters:
    """Daily counters per (scope, day), with writes that can be made to fail per scope."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], Counter[str]] = {}
        self.writes: list[tuple[str, str, dict[str, int]]] = []
        self.attempts: list[str] = []
        self.failing: set[str] = set()
        self.reads: list[tuple[str, str, str | None]] = []

    def add(self, scope: str, day: str, counts: Mapping[str, int]) -> None:
        self.attempts.append(scope)
        if scope in self.failing:
            raise CounterWriteError(scope)
        deltas = {name: n for name, n in counts.items() if n}
        if deltas:
            self.writes.append((scope, day, deltas))
            self.items.setdefault((scope, day), Counter()).update(deltas)

    def days(self, scope: str, last: str, first: str | None = None) -> dict[str, dict[str, int]]:
        self.reads.append((scope, last, first))
        return {
            day: dict(counts)
            for (item_scope, day), counts in self.items.items()
            if item_scope == scope and day <= last and (first is None or day >= first)
        }

    def total(self, scope: str, metric: str) -> int:
        return sum(c[metric] for (s, _day), c in self.items.items() if s == scope)

    def scopes_written(self) -> list[str]:
        return [scope for scope, _day, _counts in self.writes]


@dataclass
class WallClock:
    """A UTC wall clock that moves only when told to."""

    now: datetime = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class ScopeMap:
    """The scopes each prefix counts towards, with look-ups that can be made to fail."""

    enterprises: dict[str, str] = field(default_factory=dict)
    failing: set[str] = field(default_factory=set)
    lookups: list[str] = field(default_factory=list)

    def __call__(self, prefix: str) -> list[str]:
        self.lookups.append(prefix)
        if prefix in self.failing:
            raise LookupError(f"prefix {prefix} could not be read")
        scopes = ["node", f"prefix#{prefix}"]
        if prefix in self.enterprises:
            scopes.append(f"enterprise#{self.enterprises[prefix]}")
        return scopes


@dataclass
class IdentifierSearchCall:
    text: str
    match: IdentifierMatch
    prefixes: list[str] | None
    first: int
    read_limit: int
    cursor: str | None


class InMemoryIdentifierIndex:
    """Records by key; `search` answers with whatever matches, and remembers how it was asked."""

    def __init__(self, *records: Record) -> None:
        self.records = {r.handle.key: r for r in records}
        self.calls: list[IdentifierSearchCall] = []

    def get(self, handle: Handle) -> Record | None:
        return self.records.get(handle.key)

    def search(
        self,
        text: str,
        match: IdentifierMatch,
        prefixes: Sequence[str] | None,
        *,
        first: int,
        read_limit: int,
        cursor: str | None,
    ) -> SearchPage[Record]:
        self.calls.append(
            IdentifierSearchCall(
                text, match, None if prefixes is None else list(prefixes), first, read_limit, cursor
            )
        )
        found = [
            r
            for key, r in sorted(self.records.items())
            if (prefixes is None or r.handle.prefix_key in prefixes)
            and (
                key.partition("/")[2].startswith(text)
                if match is IdentifierMatch.STARTS_WITH
                else text in key.partition("/")[2]
            )
        ]
        return SearchPage(found[:first], ["c"] * len(found[:first]), None, True, len(self.records))


class InMemoryDirectory:
    """Enterprises by id, and the prefixes they hold."""

    def __init__(self, *enterprises: Enterprise) -> None:
        self.enterprises = {e.id: e for e in enterprises}
        self.searched: list[dict[str, Any]] = []

    def get(self, enterprise_id: str) -> Enterprise | None:
        return self.enterprises.get(enterprise_id)

    def holder_of(self, prefix: str) -> Enterprise | None:
        return next((e for e in self.enterprises.values() if e.prefix == prefix.lower()), None)

    def search(
        self,
        text: str,
        match: NameMatch,
        statuses: Sequence[EnterpriseStatus],
        *,
        first: int,
        read_limit: int,
        cursor: str | None,
    ) -> SearchPage[Enterprise]:
        self.searched.append({"text": text, "match": match, "statuses": tuple(statuses)})
        found = [
            e
            for e in sorted(self.enterprises.values(), key=lambda e: e.name.casefold())
            if e.status in statuses
            and (
                e.name.casefold().startswith(text)
                if match is NameMatch.STARTS_WITH
                else text in e.name.casefold()
            )
        ]
        return SearchPage(found[:first], ["c"] * len(found[:first]), None, True, len(found))
