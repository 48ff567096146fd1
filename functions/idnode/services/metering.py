"""Metering of registrations and resolutions (SN-8): counts per prefix and day, buffered in
the process and added to the statistics table in batches, so that resolution pays a
dictionary update, not a write. See docs/decisions.md and docs/figures.md.

A flush spreads each prefix's counts over the scopes it counts towards (the node, the
prefix, its enterprise, its industry) and sums them per scope and day, so that one write
per scope and day carries the counts of every prefix in it. A write that fails is kept for
the next flush as it is: per scope and day, so that scopes already written are not counted
twice. The buffer is bounded: a count that needs a new key when it is full flushes at once;
if the store refused a flush less than a flush interval ago, the count is dropped (and
reported) instead, so that a failing store costs neither memory nor the hot path's time.

Not thread-safe: a Lambda process handles one event at a time.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Protocol

# Distinct (prefix or scope, day, metric) keys held at most: about 3,000 busy prefixes per
# flush interval and process, a few megabytes.
DEFAULT_MAX_KEYS = 10_000
# Writes (or scope look-ups) that may fail in one flush before it stops trying: a store that
# is down would otherwise hold the invocation for every key's retries and timeouts.
DEFAULT_MAX_FAILURES = 3


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
PrefixKey = tuple[str, str, str]  # (prefix, day, metric)
ScopeDay = tuple[str, str]  # (scope, day)


class BufferedMeter:
    """Counts kept in memory per (prefix, day, metric) and written every `flush_seconds` to
    every scope the prefix counts towards. The day is the UTC day on which an event was
    counted, however late it is written."""

    def __init__(
        self,
        counters: Counters,
        scopes_of: ScopesOf,
        flush_seconds: float,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
        on_error: Callable[[Exception], None] = lambda _error: None,
        on_drop: Callable[[int], None] = lambda _events: None,
        max_keys: int = DEFAULT_MAX_KEYS,
        max_failures: int = DEFAULT_MAX_FAILURES,
    ) -> None:
        if max_keys < 1 or max_failures < 1:
            raise ValueError("max_keys and max_failures must be at least 1")
        self._counters = counters
        self._scopes_of = scopes_of
        self._flush_seconds = flush_seconds
        self._clock = clock
        self._monotonic = monotonic
        self._on_error = on_error
        self._on_drop = on_drop
        self._max_keys = max_keys
        self._max_failures = max_failures
        # Counts not yet spread over their scopes.
        self._pending: dict[PrefixKey, int] = {}
        # Counts spread over their scopes whose write failed (or was not tried), per scope and
        # day: retried as they are, never spread again.
        self._unwritten: dict[ScopeDay, Counter[str]] = {}
        self._unwritten_keys = 0
        self._since: float | None = None  # when the oldest buffered count arrived
        self._refused_at: float | None = None  # when a flush last left counts unwritten

    @property
    def size(self) -> int:
        """Distinct keys buffered: per prefix not yet spread, and per scope not yet written."""
        return len(self._pending) + self._unwritten_keys

    def count(self, prefix: str, metric: str, n: int = 1) -> None:
        key = (prefix.lower(), self._clock().date().isoformat(), metric)
        pending = self._pending
        if key in pending:
            pending[key] += n
            return
        if n == 0:
            return
        if self.size >= self._max_keys and not self._make_room():
            self._on_drop(abs(n))
            return
        self._pending[key] = n  # a new dictionary if room was made
        if self._since is None:
            self._since = self._monotonic()

    def flush_if_due(self) -> None:
        if self._since is not None and self._monotonic() - self._since >= self._flush_seconds:
            self.flush()

    def flush(self) -> None:
        """Write every buffered count; what could not be written stays buffered, per scope."""
        pending, self._pending, self._since = self._pending, {}, None
        failures = 0
        batch: dict[ScopeDay, Counter[str]] = {}
        for (prefix, day), counts in _by_prefix_and_day(pending).items():
            scopes: list[str] | None = None
            if failures < self._max_failures:
                try:
                    scopes = list(self._scopes_of(prefix))
                except Exception as error:  # any failure: keep the counts for the next flush
                    failures += 1
                    self._on_error(error)
            if scopes is None:
                for metric, n in counts.items():
                    self._pending[(prefix, day, metric)] = n
                continue
            for scope in scopes:
                batch.setdefault((scope, day), Counter()).update(counts)
        # Earlier failures come after this interval's counts, and writes that failed after
        # those not tried, so that a scope whose writes keep failing cannot hold back others.
        for key, counts in self._unwritten.items():
            batch.setdefault(key, Counter()).update(counts)
        untried: dict[ScopeDay, Counter[str]] = {}
        failed: dict[ScopeDay, Counter[str]] = {}
        for (scope, day), counts in batch.items():
            if failures >= self._max_failures:
                untried[(scope, day)] = counts
                continue
            try:
                self._counters.add(scope, day, counts)
            except Exception as error:  # any failure: retried at the next flush
                failures += 1
                self._on_error(error)
                failed[(scope, day)] = counts
        self._unwritten = {**untried, **failed}
        self._unwritten_keys = sum(len(counts) for counts in self._unwritten.values())
        if self._pending or self._unwritten:
            self._since = self._refused_at = self._monotonic()
        else:
            self._refused_at = None

    def _make_room(self) -> bool:
        """Flush early because the buffer is full; False if there is still no room."""
        refused = self._refused_at
        if refused is None or self._monotonic() - refused >= self._flush_seconds:
            self.flush()
        return self.size < self._max_keys


def _by_prefix_and_day(pending: Mapping[PrefixKey, int]) -> dict[tuple[str, str], Counter[str]]:
    grouped: dict[tuple[str, str], Counter[str]] = {}
    for (prefix, day, metric), n in pending.items():
        grouped.setdefault((prefix, day), Counter())[metric] += n
    return grouped
