"""GraphQL query of the health of self-hosted enterprise nodes (SN-11)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import strawberry

from idnode.api.graphql.context import Info
from idnode.api.graphql.errors import (
    AuthenticationError,
    InvalidInputError,
    NotAuthorisedError,
    typed_errors,
)
from idnode.api.graphql.types import Connection, connection
from idnode.domain import health as domain

DEFAULT_PAGE = 50
DEFAULT_EVENTS = 20

strawberry.enum(domain.NodeState, name="EnterpriseNodeState")
strawberry.enum(domain.EventKind, name="EnterpriseNodeEventKind")


def _time(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC)


@strawberry.type(description="An outage of an enterprise node, or its recovery.")
class EnterpriseNodeEvent:
    at: datetime
    kind: domain.EventKind
    reason: str | None = strawberry.field(description="Outage: why the probes failed.")
    duration_seconds: float | None = strawberry.field(
        description="Recovery: how long the outage lasted."
    )


@strawberry.type(
    description="A self-hosted enterprise node as the scheduled prober sees it: it is asked for "
    "its prefix handle over the Handle protocol every minute."
)
class EnterpriseNodeHealth:
    enterprise: str
    prefix: str
    address: str = strawberry.field(description="The node's address and first port.")
    state: domain.NodeState = strawberry.field(
        description="DOWN after two failed probes in a row, UP again at the first answer."
    )
    since: datetime = strawberry.field(description="When it entered this state.")
    checks: int
    availability: float | None = strawberry.field(description="The share of probes answered.")
    rtt_ms: float | None = strawberry.field(description="The last answer's round-trip time.")
    average_rtt_ms: float | None = strawberry.field(description="Smoothed round-trip time.")
    last_checked: datetime | None
    last_failure_at: datetime | None
    last_failure: str | None
    _health: strawberry.Private[domain.NodeHealth]

    @strawberry.field(description="Its latest outages and recoveries, newest first.")
    def events(self, info: Info, last: int = DEFAULT_EVENTS) -> list[EnterpriseNodeEvent]:
        found = info.context.node.health.events(info.context.principal, self._health, last)
        return [
            EnterpriseNodeEvent(
                at=datetime.fromtimestamp(e.at / 1000, UTC),
                kind=e.kind,
                reason=e.reason,
                duration_seconds=None if e.duration_ms is None else e.duration_ms / 1000,
            )
            for e in found
        ]

    @classmethod
    def of(cls, health: domain.NodeHealth) -> EnterpriseNodeHealth:
        return cls(
            enterprise=health.enterprise,
            prefix=health.prefix,
            address=health.address,
            state=health.state,
            since=datetime.fromtimestamp(health.since / 1000, UTC),
            checks=health.checks,
            availability=health.availability,
            rtt_ms=health.rtt_ms,
            average_rtt_ms=health.average_rtt_ms,
            last_checked=_time(health.last_checked),
            last_failure_at=_time(health.last_failure_at),
            last_failure=health.last_failure,
            _health=health,
        )


HealthResult = Annotated[
    Connection[EnterpriseNodeHealth] | InvalidInputError | AuthenticationError | NotAuthorisedError,
    strawberry.union("EnterpriseNodeHealthResult"),
]


@strawberry.type
class HealthQuery:
    @strawberry.field(
        description="The health of self-hosted enterprise nodes: every node for platform "
        "admins and auditors, their enterprise's for an enterprise admin."
    )
    @typed_errors
    async def enterprise_node_health(
        self, info: Info, first: int = DEFAULT_PAGE, after: str | None = None
    ) -> HealthResult:
        page = info.context.node.health.nodes(info.context.principal, first, after)
        return connection(page, EnterpriseNodeHealth.of)
