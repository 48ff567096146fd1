"""Monthly statements: the price list in force, the free quota, rounding, and who may see them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from idnode.domain.access import ANONYMOUS, user
from idnode.domain.billing import (
    money,
    month_days,
    parse_month,
    price_list_for,
    statement,
)
from idnode.domain.errors import (
    AuthenticationRequiredError,
    InvalidValueError,
    NotAuthorisedError,
    NotFoundError,
)
from idnode.domain.parameters import Parameters, PriceList
from idnode.services.billing import BillingService
from tests.unit.fakes_figures import InMemoryCounters

ENTERPRISE = "91350100M000100Y43"
OTHER = "91110000600037341L"
# Prices change in July: cheaper registrations, a smaller free quota, another currency unit.
PRICES = (
    PriceList("2026-07", registration=Decimal("0.005"), resolution=Decimal("0.0002"),
              free_resolutions=1_000),
    PriceList("2025-01", registration=Decimal("0.01"), resolution=Decimal("0.0001"),
              free_resolutions=100_000),
)  # fmt: skip


def test_the_price_list_in_force_is_the_latest_started_by_then() -> None:
    assert price_list_for(PRICES, "2026-06").effective_from == "2025-01"
    assert price_list_for(PRICES, "2026-07").effective_from == "2026-07"
    assert price_list_for(PRICES, "2027-01").effective_from == "2026-07"
    with pytest.raises(NotFoundError, match="2024-12"):
        price_list_for(PRICES, "2024-12")


def test_prices_changing_mid_year_bill_each_month_at_its_own_prices() -> None:
    june = statement(ENTERPRISE, "2026-06", 1_000, 150_000, PRICES, final=True)
    july = statement(ENTERPRISE, "2026-07", 1_000, 150_000, PRICES, final=True)
    assert june.prices.effective_from == "2025-01"
    assert [(line.item, line.quantity, line.amount) for line in june.lines] == [
        ("registrations", 1_000, Decimal("10.00")),
        ("resolutions", 50_000, Decimal("5.00")),
    ]
    assert june.total == Decimal("15.00")
    assert [(line.quantity, line.amount) for line in july.lines] == [
        (1_000, Decimal("5.00")),
        (149_000, Decimal("29.80")),
    ]
    assert july.total == Decimal("34.80")


def test_resolutions_within_the_free_quota_cost_nothing() -> None:
    within = statement(ENTERPRISE, "2026-01", 0, 100_000, PRICES, final=False)
    assert within.billable_resolutions == 0
    assert within.total == Decimal("0.00")
    assert str(within.total) == "0.00"
    just_over = statement(ENTERPRISE, "2026-01", 0, 100_001, PRICES, final=False)
    assert just_over.billable_resolutions == 1
    assert just_over.lines[1].amount == Decimal("0.00")  # 0.0001 rounds to nothing


def test_amounts_round_half_up_per_line_and_the_total_adds_the_lines() -> None:
    assert money(Decimal("0.005")) == Decimal("0.01")
    assert money(Decimal("0.0049")) == Decimal("0.00")
    assert money(Decimal("2.675")) == Decimal("2.68")  # a float would give 2.67
    # 1 registration at 0.005 -> 0.005 -> 0.01; 25 billable resolutions at 0.0002 -> 0.005.
    bill = statement(ENTERPRISE, "2026-08", 1, 1_025, PRICES, final=True)
    assert [line.amount for line in bill.lines] == [Decimal("0.01"), Decimal("0.01")]
    assert bill.total == Decimal("0.02")
    assert bill.currency == "CNY"


def test_negative_counts_are_not_billed() -> None:
    bill = statement(ENTERPRISE, "2026-08", -3, -1, PRICES, final=True)
    assert (bill.registrations, bill.resolutions, bill.total) == (0, 0, Decimal("0.00"))


@pytest.mark.parametrize("month", ["2026-13", "2026-00", "2026-1", "26-01", "2026/01", ""])
def test_months_are_yyyy_mm(month: str) -> None:
    with pytest.raises(InvalidValueError):
        parse_month(month)


def test_month_days() -> None:
    assert month_days("2024-02") == (date(2024, 2, 1), date(2024, 2, 29))
    assert month_days("2026-12") == (date(2026, 12, 1), date(2026, 12, 31))


# The service


@pytest.fixture
def counters() -> InMemoryCounters:
    store = InMemoryCounters()
    scope = f"enterprise#{ENTERPRISE}"
    store.add(scope, "2026-06-30", {"registrations": 999, "resolutions": 999_999})
    store.add(scope, "2026-07-01", {"registrations": 600, "resolutions": 100_000})
    store.add(scope, "2026-07-31", {"registrations": 400, "resolutions": 50_000})
    store.add(scope, "2026-08-01", {"registrations": 999, "resolutions": 999_999})
    return store


@pytest.fixture
def billing(counters: InMemoryCounters) -> BillingService:
    return BillingService(
        counters,
        lambda: Parameters(prices=PRICES),
        clock=lambda: datetime(2026, 8, 15, tzinfo=UTC),
    )


def test_a_statement_counts_the_days_of_its_month_only(
    billing: BillingService, counters: InMemoryCounters
) -> None:
    admin = user("ena", ["enterprise-admin"], ENTERPRISE, [])
    bill = billing.statement(admin, ENTERPRISE, "2026-07")
    assert (bill.registrations, bill.resolutions) == (1_000, 150_000)
    assert bill.total == Decimal("34.80")
    assert bill.final
    assert counters.reads == [(f"enterprise#{ENTERPRISE}", "2026-07-31", "2026-07-01")]
    assert not billing.statement(admin, ENTERPRISE, "2026-08").final


def test_staff_see_any_enterprise_and_an_empty_month_costs_nothing(
    billing: BillingService,
) -> None:
    for staff in (user("aud", ["auditor"], None, []), user("pat", ["platform-admin"], None, [])):
        bill = billing.statement(staff, OTHER, "2026-07")
        assert (bill.registrations, bill.resolutions, bill.total) == (0, 0, Decimal("0.00"))


def test_nobody_else_sees_a_statement(billing: BillingService, counters: InMemoryCounters) -> None:
    for principal in (
        user("ena", ["enterprise-admin"], OTHER, []),
        user("enu", ["enterprise-user"], ENTERPRISE, []),
    ):
        with pytest.raises(NotAuthorisedError):
            billing.statement(principal, ENTERPRISE, "2026-07")
    with pytest.raises(AuthenticationRequiredError):
        billing.statement(ANONYMOUS, ENTERPRISE, "2026-07")
    assert counters.reads == []


def test_a_month_before_any_price_list_is_not_found(billing: BillingService) -> None:
    staff = user("aud", ["auditor"], None, [])
    with pytest.raises(NotFoundError):
        billing.statement(staff, ENTERPRISE, "2024-06")
    with pytest.raises(InvalidValueError):
        billing.statement(staff, ENTERPRISE, "July")
    with pytest.raises(InvalidValueError):
        billing.statement(staff, " ", "2026-07")
