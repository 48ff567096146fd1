"""Statistics (SN-8): daily series of the node, an enterprise or an industry."""

from __future__ import annotations

from datetime import date
from typing import Protocol

from idnode.domain.access import Operation, Principal, Scope, authorise
from idnode.domain.errors import NotAuthorisedError
from idnode.domain.statistics import ScopeKind, Series, check_range, scope_key, series


class DailyCounters(Protocol):
    def days(
        self, scope: str, last: str, first: str | None = None
    ) -> dict[str, dict[str, int]]: ...


class StatisticsService:
    def __init__(self, counters: DailyCounters) -> None:
        self._counters = counters

    def series(
        self,
        principal: Principal,
        kind: ScopeKind,
        key: str | None,
        first: date,
        last: date,
    ) -> Series:
        """Staff see any scope; an enterprise admin only its own enterprise's (the key may
        then be left out)."""
        if kind is ScopeKind.ENTERPRISE and not key and principal.enterprise:
            key = principal.enterprise
        target = key if kind is ScopeKind.ENTERPRISE and key else None
        granted = authorise(principal, Operation.VIEW_STATISTICS, enterprise=target)
        if granted is not Scope.ANY and kind is not ScopeKind.ENTERPRISE:
            raise NotAuthorisedError(
                f"{principal.name} may view the statistics of its own enterprise only"
            )
        scope, counted = scope_key(kind, key)
        check_range(first, last)
        # Levels are sums of net changes since the scope's first day: read from there.
        counters = self._counters.days(scope, last.isoformat())
        return series(kind, counted, first, last, counters)
