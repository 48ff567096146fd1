"""GraphQL queries of statistics and billing (SN-8)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated

import strawberry

from idnode.api.graphql.context import Info
from idnode.api.graphql.errors import (
    AuthenticationError,
    InvalidInputError,
    NotAuthorisedError,
    NotFoundError,
    typed_errors,
)
from idnode.domain import billing as domain_billing
from idnode.domain import statistics as domain_statistics
from idnode.domain.statistics import ScopeKind
from idnode.services.billing import BillingService
from idnode.services.statistics import StatisticsService

strawberry.enum(
    ScopeKind,
    name="StatisticsScope",
    description="What a series counts: the whole node, one enterprise (key: its USCC) or one "
    "GB/T 4754 industry (key: its division, e.g. C34).",
)


def _statistics(info: Info) -> StatisticsService:
    """The node's statistics service (`Node.statistics`)."""
    return info.context.node.statistics


def _billing(info: Info) -> BillingService:
    """The node's billing service (`Node.billing`)."""
    return info.context.node.billing


@strawberry.type(
    description="One UTC day: that day's registrations, resolutions and deletions, and the "
    "numbers of identifiers, enterprises and prefixes at its end."
)
class StatisticsDay:
    day: date
    registrations: int
    resolutions: int
    deletions: int
    identifiers: int
    enterprises: int = strawberry.field(description="Active enterprises (node and industries).")
    prefixes: int = strawberry.field(description="Allocated prefixes.")


@strawberry.type(description="Sums of the daily counts over the whole series.")
class StatisticsTotals:
    registrations: int
    resolutions: int
    deletions: int


@strawberry.type(description="A daily series of one scope, one entry per day of the range.")
class Statistics:
    scope: ScopeKind
    key: str | None = strawberry.field(
        description="The enterprise's USCC, or the industry as counted (its division)."
    )
    from_: date = strawberry.field(name="from")
    to: date
    days: list[StatisticsDay]
    totals: StatisticsTotals

    @classmethod
    def of(cls, series: domain_statistics.Series) -> Statistics:
        return cls(
            scope=series.kind,
            key=series.key,
            from_=series.first,
            to=series.last,
            days=[
                StatisticsDay(
                    day=d.day,
                    registrations=d.registrations,
                    resolutions=d.resolutions,
                    deletions=d.deletions,
                    identifiers=d.identifiers,
                    enterprises=d.enterprises,
                    prefixes=d.prefixes,
                )
                for d in series.days
            ],
            totals=StatisticsTotals(
                registrations=series.total("registrations"),
                resolutions=series.total("resolutions"),
                deletions=series.total("deletions"),
            ),
        )


@strawberry.type(description="One line of a statement: billed quantity times unit price.")
class BillingLine:
    item: str = strawberry.field(description="registrations or resolutions.")
    quantity: int = strawberry.field(description="Units billed (resolutions beyond the quota).")
    unit_price: Decimal
    amount: Decimal = strawberry.field(description="Rounded half-up to 0.01.")


@strawberry.type(description="An enterprise's statement for one month.")
class BillingStatement:
    enterprise: str = strawberry.field(description="The enterprise's USCC.")
    month: str = strawberry.field(description="YYYY-MM (UTC days).")
    currency: str
    price_list_from: str = strawberry.field(
        description="The month from which the price list applied took effect."
    )
    registrations: int
    resolutions: int
    free_resolutions: int = strawberry.field(description="The month's free quota.")
    billable_resolutions: int
    lines: list[BillingLine]
    total: Decimal = strawberry.field(description="The sum of the lines' amounts.")
    final: bool = strawberry.field(
        description="Whether the month is over (else the figures are so far)."
    )

    @classmethod
    def of(cls, statement: domain_billing.Statement) -> BillingStatement:
        return cls(
            enterprise=statement.enterprise,
            month=statement.month,
            currency=statement.currency,
            price_list_from=statement.prices.effective_from,
            registrations=statement.registrations,
            resolutions=statement.resolutions,
            free_resolutions=statement.free_resolutions,
            billable_resolutions=statement.billable_resolutions,
            lines=[
                BillingLine(
                    item=line.item,
                    quantity=line.quantity,
                    unit_price=line.unit_price,
                    amount=line.amount,
                )
                for line in statement.lines
            ],
            total=statement.total,
            final=statement.final,
        )


StatisticsResult = Annotated[
    Statistics | InvalidInputError | AuthenticationError | NotAuthorisedError,
    strawberry.union("StatisticsResult"),
]
BillingStatementResult = Annotated[
    BillingStatement | InvalidInputError | NotFoundError | AuthenticationError | NotAuthorisedError,
    strawberry.union("BillingStatementResult"),
]


@strawberry.type
class FiguresQuery:
    @strawberry.field(
        description="A daily series (at most 366 days) of the node, an enterprise or an "
        "industry. Platform admins and auditors see any; enterprise admins their own "
        "enterprise (whose key they may leave out)."
    )
    @typed_errors
    async def statistics(
        self,
        info: Info,
        scope: ScopeKind,
        key: str | None = None,
        *,
        from_: Annotated[date, strawberry.argument(name="from")],
        to: date,
    ) -> StatisticsResult:
        series = _statistics(info).series(info.context.principal, scope, key, from_, to)
        return Statistics.of(series)

    @strawberry.field(
        description="An enterprise's statement for a month (YYYY-MM), at the prices in force "
        "then. Platform admins and auditors see any; enterprise admins their own."
    )
    @typed_errors
    async def billing_statement(
        self, info: Info, enterprise: str, month: str
    ) -> BillingStatementResult:
        statement = _billing(info).statement(info.context.principal, enterprise, month)
        return BillingStatement.of(statement)
