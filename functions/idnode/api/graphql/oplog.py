"""GraphQL query of the operation log (IOT-1)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, cast

import strawberry
from strawberry.scalars import JSON

from idnode.api.graphql.context import Info
from idnode.api.graphql.errors import (
    AuthenticationError,
    InvalidInputError,
    NotAuthorisedError,
    typed_errors,
)
from idnode.api.graphql.types import PageInfo
from idnode.domain.operations import OperationEntry
from idnode.services.operations import OperationFilter

DEFAULT_PAGE = 50


@strawberry.type(
    description="One operation: who did what to which target, when, from where, and with what "
    "result. Entries are written once and never changed."
)
class OperationLogEntry:
    id: str
    at: datetime
    actor: str = strawberry.field(
        description='A username, an admin identity (`index:handle`) or "anonymous".'
    )
    actor_kind: str = strawberry.field(description="anonymous, user or admin-identity.")
    action: str = strawberry.field(description="What was done, e.g. register-identifier.")
    target: str = strawberry.field(description="What it was done to.")
    result: str = strawberry.field(
        description="ok, or the kind of error that stopped it (e.g. not-authorised)."
    )
    succeeded: bool
    enterprise: str | None = strawberry.field(
        description="The enterprise whose data it concerns, if one."
    )
    message: str | None = strawberry.field(description="The error's message, for failures.")
    source: str | None = strawberry.field(
        description="The caller's address; shown to platform admins and auditors only."
    )
    details: JSON = strawberry.field(description="What the operation recorded about itself.")

    @classmethod
    def of(cls, entry: OperationEntry) -> OperationLogEntry:
        return cls(
            id=entry.id,
            at=entry.at,
            actor=entry.actor,
            actor_kind=entry.actor_kind,
            action=entry.action,
            target=entry.target,
            result=entry.result,
            succeeded=entry.succeeded,
            enterprise=entry.enterprise,
            message=entry.message,
            source=entry.source,
            details=cast(JSON, entry.details),
        )


@strawberry.type
class OperationLogEdge:
    cursor: str = strawberry.field(description="Pass as `after` to continue after this entry.")
    node: OperationLogEntry


@strawberry.type(
    description="A page of the operation log, newest first. A page may hold fewer entries "
    "than asked for and still have a next one (the work behind one page is bounded)."
)
class OperationLogConnection:
    edges: list[OperationLogEdge]
    page_info: PageInfo


@strawberry.input(description="Which entries to list; every field given must match.")
class OperationLogFilter:
    from_: datetime | None = strawberry.field(
        name="from",
        default=None,
        description="Entries at or after this time (default: 30 days before `to`); a time "
        "without a zone is UTC. At most about 13 months (400 days) before `to`.",
    )
    to: datetime | None = strawberry.field(
        default=None, description="Entries before this time (default: now)."
    )
    actor: str | None = None
    enterprise: str | None = strawberry.field(
        default=None,
        description="The enterprise whose data an entry concerns (enterprise admins always "
        "see their own enterprise only).",
    )
    action: str | None = None
    target: str | None = strawberry.field(default=None, description="Matched exactly.")
    result: str | None = strawberry.field(
        default=None, description="ok, failed, or one kind of failure (e.g. not-authorised)."
    )

    def to_filter(self) -> OperationFilter:
        return OperationFilter(
            start=self.from_,
            end=self.to,
            actor=self.actor,
            enterprise=self.enterprise,
            action=self.action,
            target=self.target,
            result=self.result,
        )


OperationLogResult = Annotated[
    OperationLogConnection | InvalidInputError | AuthenticationError | NotAuthorisedError,
    strawberry.union("OperationLogResult"),
]


@strawberry.type
class OperationLogQuery:
    @strawberry.field(
        description="The operation log, newest first: platform admins and auditors see every "
        "entry; enterprise admins their enterprise's entries."
    )
    @typed_errors
    async def operation_log(
        self,
        info: Info,
        filter: OperationLogFilter | None = None,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
    ) -> OperationLogResult:
        asked = filter.to_filter() if filter is not None else OperationFilter()
        page = info.context.node.log.query(info.context.principal, asked, first, after)
        return OperationLogConnection(
            edges=[
                OperationLogEdge(cursor=cursor, node=OperationLogEntry.of(entry))
                for entry, cursor in zip(page.items, page.cursors, strict=True)
            ],
            page_info=PageInfo(
                has_next_page=page.next_cursor is not None, end_cursor=page.next_cursor
            ),
        )
