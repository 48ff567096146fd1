"""The buffered meter: what it writes, when, and what it keeps when writes fail."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idnode.services.metering import BufferedMeter
from tests.unit.fakes import ManualClock
from tests.unit.fakes_figures import InMemoryCounters, ScopeMap, WallClock

DAY = "2026-03-14"
A, B = "88.100.1234", "88.100.5678"
INTERVAL = 10.0


@dataclass
class Rig:
    """The meter's surroundings: its store, scopes, clocks, and what it reports."""

    counters: InMemoryCounters = field(default_factory=InMemoryCounters)
    scopes: ScopeMap = field(default_factory=lambda: ScopeMap(enterprises={A: "ent-a", B: "ent-b"}))
    wall: WallClock = field(default_factory=WallClock)
    ticks: ManualClock = field(default_factory=ManualClock)
    errors: list[Exception] = field(default_factory=list)
    dropped: list[int] = field(default_factory=list)

    def meter(self, **options: int) -> BufferedMeter:
        return BufferedMeter(
            self.counters,
            self.scopes,
            INTERVAL,
            clock=self.wall,
            monotonic=self.ticks,
            on_error=self.errors.append,
            on_drop=self.dropped.append,
            **options,
        )


@pytest.fixture
def rig() -> Rig:
    return Rig()


@pytest.fixture
def counters(rig: Rig) -> InMemoryCounters:
    return rig.counters


@pytest.fixture
def scopes(rig: Rig) -> ScopeMap:
    return rig.scopes


@pytest.fixture
def wall(rig: Rig) -> WallClock:
    return rig.wall


@pytest.fixture
def ticks(rig: Rig) -> ManualClock:
    return rig.ticks


@pytest.fixture
def errors(rig: Rig) -> list[Exception]:
    return rig.errors


@pytest.fixture
def meter(rig: Rig) -> BufferedMeter:
    return rig.meter()


# Writing


def test_counts_wait_in_memory_until_flushed(
    meter: BufferedMeter, counters: InMemoryCounters
) -> None:
    meter.count(A, "resolutions")
    meter.count(A, "resolutions", 2)
    assert counters.attempts == []
    assert meter.size == 1
    meter.flush()
    assert counters.items == {
        ("node", DAY): {"resolutions": 3},
        (f"prefix#{A}", DAY): {"resolutions": 3},
        ("enterprise#ent-a", DAY): {"resolutions": 3},
    }
    assert meter.size == 0


def test_a_flush_writes_each_scope_once_with_the_counts_of_every_prefix(
    meter: BufferedMeter, counters: InMemoryCounters
) -> None:
    meter.count(A, "resolutions", 2)
    meter.count(B, "resolutions", 5)
    meter.count(B, "registrations")
    meter.flush()
    assert counters.scopes_written().count("node") == 1
    assert counters.items[("node", DAY)] == {"resolutions": 7, "registrations": 1}
    assert counters.items[("enterprise#ent-b", DAY)] == {"resolutions": 5, "registrations": 1}


def test_prefixes_are_counted_case_insensitively(
    meter: BufferedMeter, counters: InMemoryCounters, scopes: ScopeMap
) -> None:
    meter.count("88.100.ABC", "resolutions")
    meter.count("88.100.abc", "resolutions")
    meter.flush()
    assert scopes.lookups == ["88.100.abc"]
    assert counters.total("prefix#88.100.abc", "resolutions") == 2


def test_changes_that_cancel_out_write_nothing(
    meter: BufferedMeter, counters: InMemoryCounters
) -> None:
    meter.count(A, "identifiers")
    meter.count(A, "identifiers", -1)
    meter.flush()
    assert counters.writes == []


def test_a_flush_with_nothing_buffered_writes_nothing(
    meter: BufferedMeter, counters: InMemoryCounters, scopes: ScopeMap
) -> None:
    meter.flush()
    meter.flush_if_due()
    assert counters.attempts == []
    assert scopes.lookups == []


# When


def test_flush_if_due_waits_for_the_interval_since_the_first_pending_count(
    meter: BufferedMeter, counters: InMemoryCounters, ticks: ManualClock
) -> None:
    meter.count(A, "resolutions")
    ticks.advance(INTERVAL - 0.5)
    meter.count(A, "resolutions")
    meter.flush_if_due()
    assert counters.attempts == []
    ticks.advance(0.5)
    meter.flush_if_due()
    assert counters.total("node", "resolutions") == 2
    # The interval starts again with the next count, not at the flush.
    ticks.advance(INTERVAL * 3)
    meter.count(A, "resolutions")
    meter.flush_if_due()
    assert counters.total("node", "resolutions") == 2


def test_a_zero_interval_flushes_at_every_opportunity(
    counters: InMemoryCounters, scopes: ScopeMap, wall: WallClock, ticks: ManualClock
) -> None:
    meter = BufferedMeter(counters, scopes, 0.0, clock=wall, monotonic=ticks)
    meter.count(A, "registrations")
    meter.flush_if_due()
    assert counters.total("node", "registrations") == 1


def test_counts_keep_the_day_they_were_counted_on_across_midnight(
    meter: BufferedMeter, counters: InMemoryCounters, wall: WallClock
) -> None:
    wall.now = datetime(2026, 3, 14, 23, 59, 59, tzinfo=UTC)
    meter.count(A, "resolutions")
    wall.advance(2)
    meter.count(A, "resolutions", 4)
    meter.flush()
    assert counters.items[("node", "2026-03-14")] == {"resolutions": 1}
    assert counters.items[("node", "2026-03-15")] == {"resolutions": 4}


# Failures


def test_a_failed_scope_is_retried_alone_and_nothing_is_counted_twice(
    meter: BufferedMeter,
    counters: InMemoryCounters,
    ticks: ManualClock,
    errors: list[Exception],
) -> None:
    meter.count(A, "resolutions", 3)
    counters.failing = {"enterprise#ent-a"}
    meter.flush()
    assert [str(e) for e in errors] == ["enterprise#ent-a"]
    assert counters.total("node", "resolutions") == 3
    assert meter.size == 1
    counters.failing = set()
    counters.attempts.clear()
    meter.count(B, "resolutions")
    ticks.advance(INTERVAL)
    meter.flush_if_due()
    assert counters.total("node", "resolutions") == 4
    assert counters.total(f"prefix#{A}", "resolutions") == 3
    assert counters.total("enterprise#ent-a", "resolutions") == 3
    assert counters.attempts.count(f"prefix#{A}") == 0
    assert meter.size == 0


def test_a_failed_flush_is_retried_after_an_interval_not_at_once(
    meter: BufferedMeter, counters: InMemoryCounters, ticks: ManualClock
) -> None:
    meter.count(A, "resolutions")
    counters.failing = {"node"}
    meter.flush()
    counters.attempts.clear()
    meter.flush_if_due()
    assert counters.attempts == []
    ticks.advance(INTERVAL)
    meter.flush_if_due()
    assert counters.attempts == ["node"]


def test_a_prefix_whose_scopes_cannot_be_read_keeps_its_counts(
    meter: BufferedMeter,
    counters: InMemoryCounters,
    scopes: ScopeMap,
    errors: list[Exception],
) -> None:
    meter.count(A, "resolutions", 2)
    meter.count(B, "resolutions")
    scopes.failing = {A}
    meter.flush()
    assert len(errors) == 1
    assert counters.total("node", "resolutions") == 1
    scopes.failing = set()
    meter.flush()
    assert counters.total("node", "resolutions") == 3
    assert counters.total("enterprise#ent-a", "resolutions") == 2


def test_a_flush_gives_up_after_a_few_failures_and_keeps_the_rest(rig: Rig) -> None:
    meter, counters, errors = rig.meter(max_failures=2), rig.counters, rig.errors
    prefixes = [f"88.100.{n}" for n in range(5)]
    for prefix in prefixes:
        meter.count(prefix, "resolutions")
    counters.failing = {"node", f"prefix#{prefixes[0]}"}
    meter.flush()
    assert len(errors) == 2
    # The node's write failed first, then the first prefix's; nothing more was tried.
    assert counters.attempts == ["node", f"prefix#{prefixes[0]}"]
    counters.failing = {"node"}
    counters.attempts.clear()
    meter.flush()
    # Scopes never tried come first, those that failed before after them.
    assert counters.attempts == [
        *(f"prefix#{p}" for p in prefixes[1:]),
        "node",
        f"prefix#{prefixes[0]}",
    ]
    counters.failing = set()
    meter.flush()
    assert counters.total("node", "resolutions") == 5
    assert all(counters.total(f"prefix#{p}", "resolutions") == 1 for p in prefixes)


# The bound


def test_a_full_buffer_flushes_early(rig: Rig) -> None:
    meter, counters, dropped = rig.meter(max_keys=3), rig.counters, rig.dropped
    for metric in ("resolutions", "registrations", "deletions"):
        meter.count(A, metric)
    meter.count(A, "resolutions")  # an existing key: no room needed
    assert counters.attempts == []
    meter.count(B, "resolutions")
    assert counters.items[(f"prefix#{A}", DAY)] == {
        "resolutions": 2,
        "registrations": 1,
        "deletions": 1,
    }
    assert meter.size == 1
    assert dropped == []


def test_a_full_buffer_that_cannot_be_written_drops_new_keys_without_retrying_each_time(
    rig: Rig,
) -> None:
    meter, counters, ticks, dropped = rig.meter(max_keys=4), rig.counters, rig.ticks, rig.dropped
    counters.failing = {"node", f"prefix#{A}", "enterprise#ent-a"}
    meter.count(A, "resolutions", 5)
    meter.flush()
    assert meter.size == 3  # one metric unwritten in each of three scopes
    meter.count(A, "registrations")
    attempts = len(counters.attempts)
    meter.count(B, "resolutions", 2)  # full, and the store refused a moment ago
    meter.count(B, "registrations")
    assert dropped == [2, 1]
    assert len(counters.attempts) == attempts
    # Counts on keys already held still add up.
    meter.count(A, "registrations")
    counters.failing = set()
    ticks.advance(INTERVAL)
    meter.count(B, "resolutions")  # an interval later: flushes early again, with success
    assert dropped == [2, 1]
    meter.flush()
    assert counters.total("node", "resolutions") == 6
    assert counters.total("node", "registrations") == 2


def test_a_full_buffer_flushes_early_again_once_a_flush_has_succeeded(rig: Rig) -> None:
    meter, counters = rig.meter(max_keys=1), rig.counters
    meter.count(A, "resolutions")
    counters.failing = {"node"}
    meter.flush()  # refused
    counters.failing = set()
    meter.flush()  # written, moments later
    meter.count(A, "resolutions")
    meter.count(B, "resolutions")  # full: flushes at once, since the store took the last one
    assert rig.dropped == []
    assert counters.total("node", "resolutions") == 2


def test_limits_must_be_positive(counters: InMemoryCounters, scopes: ScopeMap) -> None:
    with pytest.raises(ValueError):
        BufferedMeter(counters, scopes, 1.0, max_keys=0)


# Whatever fails when, every count is written exactly once in the end.


@dataclass(frozen=True)
class Count:
    prefix: str
    metric: str
    n: int


@dataclass(frozen=True)
class Flush:
    failing: frozenset[str]  # scopes whose writes fail in this flush


@dataclass(frozen=True)
class Midnight:
    pass


_step = st.one_of(
    st.builds(
        Count,
        st.sampled_from([A, B, "88.100.9"]),
        st.sampled_from(["resolutions", "registrations", "identifiers"]),
        st.integers(min_value=-2, max_value=5),
    ),
    st.builds(
        Flush, st.frozensets(st.sampled_from(["node", f"prefix#{A}", "enterprise#ent-b", "x"]))
    ),
    st.builds(Midnight),
)


@settings(max_examples=150, deadline=None)
@given(steps=st.lists(_step, max_size=40), max_keys=st.integers(min_value=1, max_value=6))
def test_every_count_is_written_exactly_once_or_reported_dropped(
    steps: list[Count | Flush | Midnight], max_keys: int
) -> None:
    counters, wall, ticks = InMemoryCounters(), WallClock(), ManualClock()
    dropped: list[int] = []
    meter = BufferedMeter(
        counters,
        ScopeMap(enterprises={A: "ent-a", B: "ent-b"}),
        INTERVAL,
        clock=wall,
        monotonic=ticks,
        on_drop=dropped.append,
        max_keys=max_keys,
    )
    expected: dict[tuple[str, str], int] = {}
    for step in steps:
        if isinstance(step, Count):
            before = len(dropped)
            meter.count(step.prefix, step.metric, step.n)
            if len(dropped) == before:
                key = (step.metric, wall.now.date().isoformat())
                expected[key] = expected.get(key, 0) + step.n
        elif isinstance(step, Flush):
            counters.failing = set(step.failing)
            meter.flush()
            ticks.advance(INTERVAL)
        else:
            wall.advance(86_400)
    counters.failing = set()
    while meter.size:
        meter.flush()
    written: dict[tuple[str, str], int] = {}
    for (scope, day), counts in counters.items.items():
        if scope == "node":
            for metric, n in counts.items():
                written[(metric, day)] = written.get((metric, day), 0) + n
    assert {k: v for k, v in written.items() if v} == {k: v for k, v in expected.items() if v}
