"""Statistics and billing on DynamoDB (moto): counts from the registry through the meter into
the statistics table, series with running totals, statements, and the GraphQL queries."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
import strawberry
from moto import mock_aws
from strawberry.tools import merge_types

from idnode.api.graphql.figures import FiguresQuery
from idnode.domain.access import ANONYMOUS, Principal, user
from idnode.domain.parameters import Parameters, PriceList
from idnode.domain.records import MAX_VALUES
from idnode.domain.statistics import ScopeKind
from idnode.domain.values import parse_values
from idnode.node import Node
from idnode.services.billing import BillingService
from idnode.services.statistics import StatisticsService
from idnode.store.models import CounterModel, bind
from idnode.store.statistics import CounterRepository
from tests.functional.conftest import GraphQLApi
from tests.support.identity import REGION, TokenIssuer
from tests.support.node import ENTERPRISE, PREFIX
from tests.support.operations import operation

USCC = "91350100M000100Y43"
OTHER = "91110000600037341L"
AUDITOR = user("aud", ["auditor"], None, [])
ADMIN = user("ena", ["enterprise-admin"], USCC, ["88.100.2001"])
OUTSIDER = user("feu", ["enterprise-admin"], OTHER, ["88.100.2002"])
PRICES = (
    PriceList("2025-01", registration=Decimal("0.01"), resolution=Decimal("0.0001")),
    PriceList(
        "2025-07", registration=Decimal("0.005"), resolution=Decimal("0.0002"), free_resolutions=10
    ),
)
SCOPE = f"enterprise#{USCC}"


@pytest.fixture(scope="module")
def counters() -> Iterator[CounterRepository]:
    """A statistics table of its own (not the node fixture's), seeded once: only read here."""
    with mock_aws():
        model = bind(CounterModel, "figures-statistics", REGION, None)
        model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
        repository = CounterRepository(model)
        for day, counts in [
            ("2024-11-30", {"identifiers": 100, "registrations": 100, "prefixes": 1}),
            (
                "2025-06-30",
                {"identifiers": 4, "registrations": 5, "deletions": 1, "resolutions": 9},
            ),
            ("2025-07-01", {"identifiers": 6, "registrations": 6, "resolutions": 30}),
            ("2025-07-01", {"identifiers": -1, "deletions": 1, "resolutions": 5}),  # added up
            ("2025-07-31", {"registrations": 2, "identifiers": 2, "resolutions": 5}),
            ("2025-08-01", {"registrations": 50, "identifiers": 50, "resolutions": 1000}),
        ]:
            repository.add(SCOPE, day, counts)
        repository.add("node", "2025-07-01", {"enterprises": 3, "prefixes": 3})
        repository.add("industry#C34", "2025-07-02", {"enterprises": 1, "resolutions": 2})
        yield repository


@pytest.fixture(scope="module")
def statistics(counters: CounterRepository) -> StatisticsService:
    return StatisticsService(counters)


@pytest.fixture(scope="module")
def billing(counters: CounterRepository) -> BillingService:
    return BillingService(
        counters,
        lambda: Parameters(prices=PRICES),
        clock=lambda: datetime(2025, 8, 2, tzinfo=UTC),
    )


def test_the_range_query_reads_whole_days_at_both_ends(counters: CounterRepository) -> None:
    july = counters.days(SCOPE, "2025-07-31", "2025-07-01")
    assert sorted(july) == ["2025-07-01", "2025-07-31"]
    assert july["2025-07-01"]["identifiers"] == 5  # two additions, one of them negative
    assert july["2025-07-01"]["deletions"] == 1
    assert sorted(counters.days(SCOPE, "2025-06-30")) == ["2024-11-30", "2025-06-30"]
    assert counters.days("enterprise#nobody", "2025-12-31") == {}


def test_a_series_runs_its_totals_on_from_the_scope_s_first_day(
    statistics: StatisticsService,
) -> None:
    series = statistics.series(
        ADMIN, ScopeKind.ENTERPRISE, None, date(2025, 6, 29), date(2025, 7, 2)
    )
    assert [d.identifiers for d in series.days] == [100, 104, 109, 109]
    assert [d.prefixes for d in series.days] == [1, 1, 1, 1]
    assert [d.resolutions for d in series.days] == [0, 9, 35, 0]
    assert series.total("registrations") == 11


def test_a_statement_bills_the_month_at_its_prices(billing: BillingService) -> None:
    july = billing.statement(ADMIN, USCC, "2025-07")
    assert (july.registrations, july.resolutions) == (8, 40)
    assert [line.amount for line in july.lines] == [Decimal("0.04"), Decimal("0.01")]
    assert july.total == Decimal("0.05")
    assert july.final
    june = billing.statement(AUDITOR, USCC, "2025-06")
    assert june.prices.effective_from == "2025-01"
    assert june.total == Decimal("0.05")  # 5 x 0.01; 9 resolutions are within the free quota


# From the registry, through the meter, into series


def test_registrations_resolutions_and_deletions_reach_the_enterprise_s_series(
    node: Node,
) -> None:
    member = user("enu", ["enterprise-user"], ENTERPRISE, [PREFIX])
    values = parse_values(
        [{"index": 1, "type": "URL", "data": "https://example.com"}], max_values=MAX_VALUES
    )
    for suffix in ("A", "B", "C"):
        node.registry.create(f"{PREFIX}/{suffix}", values, member)
    node.registry.delete(f"{PREFIX}/C", member)
    for _ in range(4):
        node.registry.resolve(f"{PREFIX}/a", ANONYMOUS)
    node.meter.flush()
    today = datetime.now(UTC).date()
    service = StatisticsService(CounterRepository(node.tables.statistics))
    staff = user("pat", ["platform-admin"], None, [])
    for kind, key in [(ScopeKind.ENTERPRISE, ENTERPRISE), (ScopeKind.NODE, None)]:
        series = service.series(staff, kind, key, today - timedelta(days=1), today)
        yesterday, day = series.days
        assert yesterday.identifiers == yesterday.registrations == 0
        assert (day.registrations, day.deletions, day.resolutions) == (3, 1, 4)
        assert day.identifiers == 2


# GraphQL


@dataclass
class Caller:
    node: Any
    principal: Principal


def run(
    services: SimpleNamespace, document: str, variables: dict[str, Any], principal: Principal
) -> dict[str, Any]:
    schema = strawberry.Schema(query=merge_types("Query", (FiguresQuery,)))
    result = asyncio.run(
        schema.execute(document, variables, context_value=Caller(services, principal))
    )
    assert result.errors is None, result.errors
    assert result.data is not None
    return result.data


@pytest.fixture(scope="module")
def services(statistics: StatisticsService, billing: BillingService) -> SimpleNamespace:
    return SimpleNamespace(statistics=statistics, billing=billing)


def test_statistics_operation(services: SimpleNamespace) -> None:
    variables = {"scope": "INDUSTRY", "key": "c34", "from": "2025-07-01", "to": "2025-07-03"}
    figures = run(services, operation("Statistics"), variables, AUDITOR)["statistics"]
    assert figures["__typename"] == "Statistics"
    assert (figures["key"], figures["from"], figures["to"]) == ("C34", "2025-07-01", "2025-07-03")
    assert [d["enterprises"] for d in figures["days"]] == [0, 1, 1]
    assert figures["totals"] == {"registrations": 0, "resolutions": 2, "deletions": 0}


@pytest.mark.parametrize(
    ("principal", "variables", "typename"),
    [
        (ADMIN, {"scope": "ENTERPRISE"}, "Statistics"),
        (ADMIN, {"scope": "NODE"}, "NotAuthorisedError"),
        (OUTSIDER, {"scope": "ENTERPRISE", "key": USCC}, "NotAuthorisedError"),
        (ANONYMOUS, {"scope": "NODE"}, "AuthenticationError"),
        (AUDITOR, {"scope": "NODE", "to": "2026-07-02"}, "InvalidInputError"),
    ],
)
def test_statistics_operation_per_role(
    services: SimpleNamespace, principal: Principal, variables: dict[str, Any], typename: str
) -> None:
    asked = {"from": "2025-07-01", "to": "2025-07-02", **variables}
    figures = run(services, operation("Statistics"), asked, principal)["statistics"]
    assert figures["__typename"] == typename, figures


def test_billing_statement_operation(services: SimpleNamespace) -> None:
    bill = run(
        services, operation("BillingStatement"), {"enterprise": USCC, "month": "2025-07"}, ADMIN
    )
    statement = bill["billingStatement"]
    assert statement["__typename"] == "BillingStatement"
    assert statement["priceListFrom"] == "2025-07"
    assert statement["lines"] == [
        {"item": "registrations", "quantity": 8, "unitPrice": "0.005", "amount": "0.04"},
        {"item": "resolutions", "quantity": 30, "unitPrice": "0.0002", "amount": "0.01"},
    ]
    assert (statement["total"], statement["currency"], statement["final"]) == ("0.05", "CNY", True)
    for principal, month, typename in [
        (OUTSIDER, "2025-07", "NotAuthorisedError"),
        (AUDITOR, "2024-12", "NotFoundError"),
        (AUDITOR, "2025-7", "InvalidInputError"),
    ]:
        answer = run(
            services, operation("BillingStatement"), {"enterprise": USCC, "month": month}, principal
        )
        assert answer["billingStatement"]["__typename"] == typename


def test_statistics_through_the_graphql_function(
    node: Node, graphql_api: GraphQLApi, issuer: TokenIssuer
) -> None:
    """The node as built for Lambda answers the published operation."""
    node.tables.statistics(f"enterprise#{ENTERPRISE}", "2025-07-01", identifiers=7).save()
    variables = {"scope": "ENTERPRISE", "from": "2025-07-01", "to": "2025-07-02"}
    admin = issuer.id_token("ena", groups=["enterprise-admin"], enterprise=ENTERPRISE)
    answer = graphql_api.run(operation("Statistics"), variables, admin)
    assert answer.get("errors") is None, answer
    assert [d["identifiers"] for d in answer["data"]["statistics"]["days"]] == [7, 7]
    user_token = issuer.id_token("enu", groups=["enterprise-user"], enterprise=ENTERPRISE)
    refused = graphql_api.run(operation("Statistics"), variables, user_token)
    assert refused["data"]["statistics"]["__typename"] == "NotAuthorisedError"
