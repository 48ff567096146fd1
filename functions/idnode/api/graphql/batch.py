"""GraphQL batch registration: many identifiers in one call, one result per item."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import strawberry

from idnode.api.graphql.context import Info
from idnode.api.graphql.errors import AuthenticationError, InvalidInputError, typed_errors
from idnode.api.graphql.types import RegisterIdentifierInput
from idnode.domain.errors import IdnodeError
from idnode.domain.records import MAX_VALUES
from idnode.domain.values import parse_values
from idnode.services.registry import MAX_BATCH, BatchItem, BatchResult, BatchStatus


@strawberry.input(description=f"Up to {MAX_BATCH} identifiers to register.")
class RegisterIdentifiersInput:
    items: list[RegisterIdentifierInput]


@strawberry.enum(description="What became of one item of a batch.")
class BatchItemStatus(Enum):
    CREATED = "created"
    EXISTED = strawberry.enum_value(
        "existed",
        description="Registered already with the same values (e.g. by an earlier attempt "
        "of this batch): nothing was changed.",
    )
    FAILED = "failed"


@strawberry.type(description="Why an item failed; nothing of it was written.")
class BatchItemError:
    code: str = strawberry.field(
        description="The kind of failure, as in the operation log: handle-already-exists, "
        "invalid-value, invalid-handle, duplicate-in-batch, prefix-not-served, not-authorised, "
        "payload-too-large, concurrent-update..."
    )
    message: str


@strawberry.type
class BatchItemResult:
    index: int = strawberry.field(description="The item's position in the request, from 0.")
    handle: str = strawberry.field(description="The name as requested.")
    status: BatchItemStatus
    error: BatchItemError | None = None


@strawberry.type(description="The outcome of a batch, item by item in request order.")
class BatchRegistration:
    created: int
    existed: int
    failed: int
    items: list[BatchItemResult]

    @classmethod
    def of(cls, result: BatchResult) -> BatchRegistration:
        return cls(
            created=result.count(BatchStatus.CREATED),
            existed=result.count(BatchStatus.EXISTED),
            failed=result.count(BatchStatus.FAILED),
            items=[
                BatchItemResult(
                    index=item.position,
                    handle=item.handle,
                    status=BatchItemStatus(item.status.value),
                    error=(
                        BatchItemError(code=item.code or "", message=item.error.message)
                        if item.error is not None
                        else None
                    ),
                )
                for item in result.items
            ],
        )


RegisterIdentifiersResult = Annotated[
    BatchRegistration | InvalidInputError | AuthenticationError,
    strawberry.union("RegisterIdentifiersResult"),
]


def _item(item: RegisterIdentifierInput) -> BatchItem:
    """A bad value fails its own item only, not the batch."""
    try:
        values = parse_values([v.to_raw() for v in item.values], max_values=MAX_VALUES)
    except IdnodeError as error:
        error.handle = error.handle or item.handle
        return BatchItem(item.handle, error=error)
    return BatchItem(item.handle, values)


@strawberry.type
class BatchMutation:
    @strawberry.mutation(
        description=f"Register up to {MAX_BATCH} identifiers. Each item is validated and "
        "written on its own (an identifier with its scheme key, whole or not at all); an item "
        "registered already with the same values reports EXISTED, so a batch that timed out "
        "can be sent again as it was."
    )
    @typed_errors
    async def register_identifiers(
        self, info: Info, input: RegisterIdentifiersInput
    ) -> RegisterIdentifiersResult:
        items = [_item(item) for item in input.items]
        result = info.context.node.registry.register_many(items, info.context.principal)
        return BatchRegistration.of(result)
