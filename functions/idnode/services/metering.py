"""Metering of registrations and resolutions (SN-8): counts per prefix and day, buffered in
the process and added to the statistics table in batches, so that resolution pays a
dictionary update, not a write. See docs/decisions.md."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Protocol


class Meter(Protocol):
    def count(self, prefix: str, metric: str, n: int = 1) -> None:
        """Count `n` events of `metric` (a statistics counter) under `prefix`."""
        ...

    def flush_if_due(self) -> None:
        """Write the buffered counts if the flush interval has passed."""
        ...


class Counters(Protocol):
    def add(self, scope: str, day: str, counts: Mapping[str, int]) -> None: ...


ScopesOf = Callable[[str], Iterable[str]]


class BufferedMeter:
    """Counts kept in memory per (prefix, day, metric) and written every `flush_seconds` to
    every scope the prefix counts towards (the node, its enterprise, its industry...)."""

    def __init__(
        self,
        counters: Counters,
        scopes_of: ScopesOf,
        flush_seconds: float,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
        on_error: Callable[[Exception], None] = lambda _error: None,
    ) -> None:
        self._counters = counters
        self._scopes_of = scopes_of
        self._flush_seconds = flush_seconds
        self._clock = clock
        self._monotonic = monotonic
        self._on_error = on_error
        self._pending: Counter[tuple[str, str, str]] = Counter()
        self._since: float | None = None

    def count(self, prefix: str, metric: str, n: int = 1) -> None:
        self._pending[(prefix.lower(), self._clock().strftime("%Y-%m-%d"), metric)] += n
        if self._since is None:
            self._since = self._monotonic()

    def flush_if_due(self) -> None:
        if self._since is not None and self._monotonic() - self._since >= self._flush_seconds:
            self.flush()

    def flush(self) -> None:
        """Write every buffered count; what fails to be written stays buffered."""
        pending, self._pending, self._since = self._pending, Counter(), None
        by_prefix_day: dict[tuple[str, str], Counter[str]] = {}
        for (prefix, day, metric), n in pending.items():
            by_prefix_day.setdefault((prefix, day), Counter())[metric] += n
        for (prefix, day), counts in by_prefix_day.items():
            try:
                for scope in self._scopes_of(prefix):
                    self._counters.add(scope, day, counts)
            except Exception as error:  # noqa: BLE001 - keep the counts for the next flush
                for metric, n in counts.items():
                    self._pending[(prefix, day, metric)] += n
                if self._since is None:
                    self._since = self._monotonic()
                self._on_error(error)
