"""GraphQL query and mutation of the system parameters (IOT-1). Decimals travel as strings,
so that no client rounds a price through a float."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry

from idnode.api.graphql.context import Info
from idnode.api.graphql.errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    NotAuthorisedError,
    typed_errors,
)
from idnode.domain.parameters import NodeType, PriceList
from idnode.services.parameters import ParametersView

NodeKind = strawberry.enum(
    NodeType,
    name="NodeType",
    description="An industry node serves one GB/T 4754 division; a comprehensive node any "
    "industry, or the two or more divisions it lists.",
)


@strawberry.type(name="PriceList", description="Unit prices from a month on.")
class PriceListView:
    effective_from: str = strawberry.field(description="YYYY-MM; in force until a later list.")
    currency: str = strawberry.field(description="Three-letter code, e.g. CNY.")
    registration: str = strawberry.field(description="Price of one registration (a decimal).")
    resolution: str = strawberry.field(description="Price of one resolution (a decimal).")
    free_resolutions: int = strawberry.field(description="Free per enterprise and month.")

    @classmethod
    def of(cls, prices: PriceList) -> PriceListView:
        return cls(
            effective_from=prices.effective_from,
            currency=prices.currency,
            registration=format(prices.registration, "f"),
            resolution=format(prices.resolution, "f"),
            free_resolutions=prices.free_resolutions,
        )


@strawberry.type(description="What platform admins tune without redeploying the node.")
class SystemParameters:
    node_prefix: str = strawberry.field(
        description="The node's own prefix: fixed at deployment, shown here read-only."
    )
    version: int = strawberry.field(
        description="Send back as expectedVersion with a change (0: never changed)."
    )
    updated: datetime | None
    updated_by: str | None
    node_name: str
    node_type: NodeType
    industries: list[str] = strawberry.field(
        description="GB/T 4754 divisions (e.g. C34) the node serves; empty: any."
    )
    first_enterprise_number: int = strawberry.field(
        description="The first number allocated to an enterprise under the node prefix."
    )
    prices: list[PriceListView] = strawberry.field(description="Oldest first.")
    operation_log_retention_days: int = strawberry.field(
        description="How long new operation log entries are kept (at least 180 days)."
    )
    telemetry_retention_days: int
    max_page_size: int = strawberry.field(description="The largest page a listing returns.")
    max_pending_applications: int = strawberry.field(
        description="Applications one applicant may have pending at once."
    )
    identifier_quota: int = strawberry.field(
        description="Identifiers one enterprise may register; 0: unlimited."
    )
    suspension_stops_resolution: bool = strawberry.field(
        description="Whether suspending an enterprise stops resolution of its identifiers too "
        "(by default)."
    )

    @classmethod
    def of(cls, view: ParametersView) -> SystemParameters:
        p = view.parameters
        return cls(
            node_prefix=view.node_prefix,
            version=view.version,
            updated=view.updated,
            updated_by=view.updated_by,
            node_name=p.node_name,
            node_type=p.node_type,
            industries=list(p.industries),
            first_enterprise_number=p.first_enterprise_number,
            prices=[PriceListView.of(prices) for prices in p.prices],
            operation_log_retention_days=p.operation_log_retention_days,
            telemetry_retention_days=p.telemetry_retention_days,
            max_page_size=p.max_page_size,
            max_pending_applications=p.max_pending_applications,
            identifier_quota=p.identifier_quota,
            suspension_stops_resolution=p.suspension_stops_resolution,
        )


@strawberry.input
class PriceListInput:
    effective_from: str = strawberry.field(description="YYYY-MM.")
    registration: str = strawberry.field(description='A decimal, e.g. "0.01".')
    resolution: str = strawberry.field(description='A decimal, e.g. "0.0001".')
    currency: str = "CNY"
    free_resolutions: int = 100_000

    def to_json(self) -> dict[str, Any]:
        return {
            "effective_from": self.effective_from,
            "currency": self.currency,
            "registration": self.registration,
            "resolution": self.resolution,
            "free_resolutions": self.free_resolutions,
        }


@strawberry.input(description="Only the fields given change; the others keep their values.")
class UpdateParametersInput:
    expected_version: int = strawberry.field(
        description="The version read; the change applies only if it is still current."
    )
    node_name: str | None = None
    node_type: NodeType | None = None
    industries: list[str] | None = None
    first_enterprise_number: int | None = None
    prices: list[PriceListInput] | None = strawberry.field(
        default=None, description="The whole list, replaced: months unique and increasing."
    )
    operation_log_retention_days: int | None = None
    telemetry_retention_days: int | None = None
    max_page_size: int | None = None
    max_pending_applications: int | None = None
    identifier_quota: int | None = None
    suspension_stops_resolution: bool | None = None

    def changes(self) -> dict[str, Any]:
        """The fields given, in the parameters' JSON form (validated by the domain)."""
        given: dict[str, Any] = {
            "node_name": self.node_name,
            "node_type": self.node_type.value if self.node_type is not None else None,
            "industries": self.industries,
            "first_enterprise_number": self.first_enterprise_number,
            "prices": None if self.prices is None else [p.to_json() for p in self.prices],
            "operation_log_retention_days": self.operation_log_retention_days,
            "telemetry_retention_days": self.telemetry_retention_days,
            "max_page_size": self.max_page_size,
            "max_pending_applications": self.max_pending_applications,
            "identifier_quota": self.identifier_quota,
            "suspension_stops_resolution": self.suspension_stops_resolution,
        }
        return {name: value for name, value in given.items() if value is not None}


ParametersResult = Annotated[
    SystemParameters | AuthenticationError | NotAuthorisedError,
    strawberry.union("ParametersResult"),
]
UpdateParametersResult = Annotated[
    SystemParameters | InvalidInputError | AuthenticationError | NotAuthorisedError | ConflictError,
    strawberry.union("UpdateParametersResult"),
]


@strawberry.type
class ParametersQuery:
    @strawberry.field(description="The system parameters (platform admins and auditors).")
    @typed_errors
    async def parameters(self, info: Info) -> ParametersResult:
        return SystemParameters.of(info.context.node.parameters.view(info.context.principal))


@strawberry.type
class ParametersMutation:
    @strawberry.mutation(
        description="Change system parameters (platform admins). Recorded in the operation "
        "log with each changed field's old and new value."
    )
    @typed_errors
    async def update_parameters(
        self, info: Info, input: UpdateParametersInput
    ) -> UpdateParametersResult:
        view = info.context.node.parameters.update(
            info.context.principal, input.changes(), input.expected_version
        )
        return SystemParameters.of(view)
