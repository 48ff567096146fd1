"""GraphQL queries and mutations of the identifier registry."""

from __future__ import annotations

from typing import Annotated

import strawberry

from idnode.api.graphql.context import Info
from idnode.api.graphql.errors import (
    AlreadyExistsError,
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    NotAuthorisedError,
    NotFoundError,
    PrefixNotServedError,
    UpstreamFailureError,
    typed_errors,
)
from idnode.api.graphql.types import (
    AnswerSource,
    Connection,
    DeletedIdentifier,
    Identifier,
    Provenance,
    RegisterIdentifierInput,
    ResolvedIdentifier,
    UpdateIdentifierInput,
    ValueInput,
    Viewer,
    connection,
)
from idnode.domain.handles import Handle
from idnode.domain.records import MAX_VALUES
from idnode.domain.values import Value, parse_values

DEFAULT_PAGE = 50

ResolveResult = Annotated[
    Identifier
    | ResolvedIdentifier
    | NotFoundError
    | InvalidInputError
    | AuthenticationError
    | PrefixNotServedError
    | UpstreamFailureError,
    strawberry.union("ResolveResult"),
]
IdentifiersResult = Annotated[
    Connection[Identifier] | InvalidInputError | AuthenticationError | NotAuthorisedError,
    strawberry.union("IdentifiersResult"),
]
WriteResult = Annotated[
    Identifier
    | InvalidInputError
    | NotFoundError
    | AlreadyExistsError
    | PrefixNotServedError
    | AuthenticationError
    | NotAuthorisedError
    | ConflictError,
    strawberry.union("IdentifierWriteResult"),
]
DeleteResult = Annotated[
    DeletedIdentifier
    | InvalidInputError
    | NotFoundError
    | PrefixNotServedError
    | AuthenticationError
    | NotAuthorisedError
    | ConflictError,
    strawberry.union("DeleteIdentifierResult"),
]


def values_of(items: list[ValueInput] | None) -> list[Value]:
    return parse_values([i.to_raw() for i in items or []], max_values=MAX_VALUES)


async def resolve_name(
    info: Info, handle: str, types: list[str] | None, indexes: list[int] | None
) -> Identifier | ResolvedIdentifier:
    """Resolve one name through the request's batched record loader; a prefix handle, or a
    name under a self-hosted prefix, where it is answered."""
    node = info.context.node
    elsewhere = _not_stored(info, handle, types or [], indexes or [])
    if elsewhere is not None:
        return elsewhere
    registry = node.registry
    # A malformed name must fail alone, not its whole batch.
    registry.check_resolvable(Handle.parse(handle))
    record = await info.context.records.load(handle)
    resolution = registry.resolve_read(
        handle, record, info.context.principal, types=types or (), indexes=indexes or ()
    )
    registry.count_resolution(resolution)
    return Identifier.of(resolution.record, resolution.values)


def _not_stored(
    info: Info, handle: str, types: list[str], indexes: list[int]
) -> ResolvedIdentifier | None:
    """A name answered without a stored record (see SiteService.locate), else None."""
    located = info.context.node.sites.locate(handle, types, indexes)
    if located is None:
        return None
    if located.referral is None:
        return ResolvedIdentifier(
            handle=handle,
            provenance=Provenance(source=AnswerSource.GENERATED),
            _values=located.values,
        )
    answer = info.context.node.resolver.resolve(
        handle,
        located.referral.sites,
        types,
        indexes,
        use_cache=not info.context.principal.authenticated,
    )
    return ResolvedIdentifier(
        handle=handle,
        provenance=Provenance(
            source=AnswerSource.REFERRED,
            site=answer.site,
            from_cache=answer.from_cache,
            age_seconds=int(answer.age),
            stale=answer.stale,
        ),
        _values=answer.values,
    )


@strawberry.type
class RegistryQuery:
    @strawberry.field(description="Who the caller is. Anonymous callers get authenticated=false.")
    @typed_errors
    async def viewer(
        self, info: Info
    ) -> Annotated[Viewer | AuthenticationError, strawberry.union("ViewerResult")]:
        who = info.context.principal
        return Viewer(
            authenticated=who.authenticated,
            username=who.name if who.authenticated else None,
            roles=sorted(r.value for r in who.roles),
            withheld_roles=sorted(r.value for r in who.withheld),
            enterprise=who.enterprise,
            prefixes=sorted(who.prefixes),
        )

    @strawberry.field(
        description="Resolve an identifier. Anonymous callers see public values only; "
        "filters select by type (or parent type) or index, as in the Handle System."
    )
    @typed_errors
    async def resolve(
        self,
        info: Info,
        handle: str,
        types: list[str] | None = None,
        indexes: list[int] | None = None,
    ) -> ResolveResult:
        return await resolve_name(info, handle, types, indexes)

    @strawberry.field(description="Identifiers under a prefix you administer, in key order.")
    @typed_errors
    async def identifiers(
        self, info: Info, prefix: str, first: int = DEFAULT_PAGE, after: str | None = None
    ) -> IdentifiersResult:
        page = info.context.node.registry.list(prefix, info.context.principal, first, after)
        return connection(page, Identifier.of)


@strawberry.type
class RegistryMutation:
    @strawberry.mutation(description="Register a new identifier under a prefix you administer.")
    @typed_errors
    async def register_identifier(self, info: Info, input: RegisterIdentifierInput) -> WriteResult:
        record = info.context.node.registry.create(
            input.handle, values_of(input.values), info.context.principal
        )
        return Identifier.of(record)

    @strawberry.mutation(description="Change an identifier's values as one atomic change.")
    @typed_errors
    async def update_identifier(self, info: Info, input: UpdateIdentifierInput) -> WriteResult:
        record = info.context.node.registry.update(
            input.handle,
            info.context.principal,
            replace=None if input.replace_values is None else values_of(input.replace_values),
            upsert=values_of(input.upsert_values),
            remove=input.remove_indexes or (),
            expected_version=input.expected_version,
        )
        return Identifier.of(record)

    @strawberry.mutation(description="Delete an identifier and all its values.")
    @typed_errors
    async def delete_identifier(self, info: Info, handle: str) -> DeleteResult:
        record = info.context.node.registry.delete(handle, info.context.principal)
        return DeletedIdentifier(handle=record.handle.name)
