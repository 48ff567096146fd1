"""Statistics series: daily events, running totals, scopes and who may see which."""

from __future__ import annotations

from datetime import date

import pytest

from idnode.domain.access import ANONYMOUS, Principal, admin_identity, user
from idnode.domain.errors import (
    AuthenticationRequiredError,
    InvalidValueError,
    NotAuthorisedError,
)
from idnode.domain.statistics import MAX_DAYS, ScopeKind, scope_key, series
from idnode.services.statistics import StatisticsService
from tests.unit.fakes_figures import InMemoryCounters

ENTERPRISE = "91350100M000100Y43"
OTHER = "91110000600037341L"
STAFF = user("aud", ["auditor"], None, [])
PLATFORM_ADMIN = user("pat", ["platform-admin"], None, [])
ADMIN = user("ena", ["enterprise-admin"], ENTERPRISE, ["88.100.1234"])
MEMBER = user("enu", ["enterprise-user"], ENTERPRISE, ["88.100.1234"])
MARCH_1, MARCH_3 = date(2026, 3, 1), date(2026, 3, 3)


@pytest.fixture
def counters() -> InMemoryCounters:
    store = InMemoryCounters()
    scope = f"enterprise#{ENTERPRISE}"
    store.add(scope, "2025-12-30", {"identifiers": 10, "registrations": 10, "prefixes": 1})
    store.add(scope, "2026-02-27", {"identifiers": 5, "registrations": 6, "deletions": 1})
    store.add(scope, "2026-03-02", {"identifiers": -2, "deletions": 2, "resolutions": 40})
    store.add(scope, "2026-03-03", {"identifiers": 3, "registrations": 3, "resolutions": 7})
    store.add(scope, "2026-03-04", {"identifiers": 100, "registrations": 100})
    store.add(f"enterprise#{OTHER}", "2026-03-02", {"identifiers": 50})
    store.add("node", "2026-03-01", {"enterprises": 2, "prefixes": 2, "identifiers": 7})
    store.add("industry#C34", "2026-03-02", {"enterprises": 1, "resolutions": 9})
    return store


@pytest.fixture
def statistics(counters: InMemoryCounters) -> StatisticsService:
    return StatisticsService(counters)


def test_levels_run_on_from_every_earlier_day_and_events_are_per_day(
    statistics: StatisticsService, counters: InMemoryCounters
) -> None:
    figures = statistics.series(STAFF, ScopeKind.ENTERPRISE, ENTERPRISE, MARCH_1, MARCH_3)
    assert [d.day for d in figures.days] == [MARCH_1, date(2026, 3, 2), MARCH_3]
    assert [d.identifiers for d in figures.days] == [15, 13, 16]
    assert [d.prefixes for d in figures.days] == [1, 1, 1]
    assert [d.registrations for d in figures.days] == [0, 0, 3]
    assert [d.deletions for d in figures.days] == [0, 2, 0]
    assert [d.resolutions for d in figures.days] == [0, 40, 7]
    assert figures.total("resolutions") == 47
    # Read from the scope's first day (for the levels), up to the last day asked for.
    assert counters.reads == [(f"enterprise#{ENTERPRISE}", "2026-03-03", None)]


def test_a_series_of_one_day_and_of_days_before_anything_was_counted(
    statistics: StatisticsService,
) -> None:
    one = statistics.series(STAFF, ScopeKind.NODE, None, MARCH_1, MARCH_1)
    assert [(d.enterprises, d.prefixes, d.identifiers) for d in one.days] == [(2, 2, 7)]
    empty = statistics.series(STAFF, ScopeKind.NODE, None, date(2020, 1, 1), date(2020, 1, 2))
    assert all(d.identifiers == 0 and d.resolutions == 0 for d in empty.days)


def test_an_industry_is_counted_by_its_division(statistics: StatisticsService) -> None:
    figures = statistics.series(PLATFORM_ADMIN, ScopeKind.INDUSTRY, "c3411", MARCH_1, MARCH_3)
    assert figures.key == "C34"
    assert [d.enterprises for d in figures.days] == [0, 1, 1]
    assert figures.total("resolutions") == 9


def test_the_range_is_at_most_a_year_and_in_order(statistics: StatisticsService) -> None:
    start = date(2025, 1, 1)
    statistics.series(STAFF, ScopeKind.NODE, None, start, date(2026, 1, 1))  # 366 days
    with pytest.raises(InvalidValueError, match=f"at most {MAX_DAYS} days"):
        statistics.series(STAFF, ScopeKind.NODE, None, start, date(2026, 1, 2))
    with pytest.raises(InvalidValueError, match="before"):
        statistics.series(STAFF, ScopeKind.NODE, None, MARCH_3, MARCH_1)


@pytest.mark.parametrize(
    ("kind", "key", "error"),
    [
        (ScopeKind.NODE, "x", InvalidValueError),
        (ScopeKind.INDUSTRY, None, InvalidValueError),
        (ScopeKind.INDUSTRY, "Z99", InvalidValueError),
        (ScopeKind.INDUSTRY, "C05", InvalidValueError),
        (ScopeKind.ENTERPRISE, "  ", InvalidValueError),
        (ScopeKind.ENTERPRISE, "x" * 129, InvalidValueError),
    ],
)
def test_scope_keys_are_checked(kind: ScopeKind, key: str | None, error: type[Exception]) -> None:
    with pytest.raises(error):
        scope_key(kind, key)


def test_scope_keys_of_the_statistics_table() -> None:
    assert scope_key(ScopeKind.NODE, None) == ("node", None)
    assert scope_key(ScopeKind.ENTERPRISE, f" {ENTERPRISE} ") == (
        f"enterprise#{ENTERPRISE}",
        ENTERPRISE,
    )
    assert scope_key(ScopeKind.INDUSTRY, "C") == ("industry#C", "C")


def test_series_reads_unordered_counters() -> None:
    counters = {"2026-03-02": {"identifiers": 1}, "2026-02-01": {"identifiers": 4}}
    figures = series(ScopeKind.NODE, None, MARCH_1, MARCH_3, counters)
    assert [d.identifiers for d in figures.days] == [4, 5, 5]
    with pytest.raises(ValueError):
        figures.total("identifiers")


# Who may see what


def test_an_enterprise_admin_sees_its_own_enterprise_only(statistics: StatisticsService) -> None:
    own = statistics.series(ADMIN, ScopeKind.ENTERPRISE, ENTERPRISE, MARCH_1, MARCH_3)
    assert own.days[-1].identifiers == 16
    # Without a key: its own enterprise.
    assert statistics.series(ADMIN, ScopeKind.ENTERPRISE, None, MARCH_1, MARCH_3) == own
    for kind, key in [
        (ScopeKind.ENTERPRISE, OTHER),
        (ScopeKind.NODE, None),
        (ScopeKind.INDUSTRY, "C34"),
    ]:
        with pytest.raises(NotAuthorisedError):
            statistics.series(ADMIN, kind, key, MARCH_1, MARCH_3)


@pytest.mark.parametrize(
    "principal",
    [MEMBER, user("applicant", [], None, []), admin_identity(300, "88.100.1234/ADMIN", [])],
)
def test_others_see_no_statistics(
    statistics: StatisticsService, counters: InMemoryCounters, principal: Principal
) -> None:
    with pytest.raises(NotAuthorisedError):
        statistics.series(principal, ScopeKind.ENTERPRISE, ENTERPRISE, MARCH_1, MARCH_3)
    assert counters.reads == []


def test_anonymous_callers_are_asked_to_authenticate(statistics: StatisticsService) -> None:
    with pytest.raises(AuthenticationRequiredError):
        statistics.series(ANONYMOUS, ScopeKind.NODE, None, MARCH_1, MARCH_3)


def test_authorisation_comes_before_checking_the_input(statistics: StatisticsService) -> None:
    with pytest.raises(NotAuthorisedError):
        statistics.series(ADMIN, ScopeKind.INDUSTRY, "not an industry", MARCH_3, MARCH_1)
