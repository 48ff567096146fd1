"""GraphQL for identifier schemes: read a GS1 key, OID, Ecode or VAA identifier in any written
form, register it under a prefix, and resolve it by its key (docs/schemes.md)."""

from __future__ import annotations

from typing import Annotated

import strawberry

from idnode.api.graphql.context import Info
from idnode.api.graphql.errors import InvalidInputError, typed_errors
from idnode.api.graphql.registry import ResolveResult, WriteResult, resolve_name, values_of
from idnode.api.graphql.types import Identifier, ValueInput
from idnode.domain.schemes import Scheme, SchemeKey
from idnode.domain.schemes import parse as parse_key

strawberry.enum(
    Scheme, name="IdentifierScheme", description="An identifier scheme the node validates."
)


@strawberry.type(description="A key in its scheme's canonical form and its node identifier.")
class SchemeKeyInfo:
    scheme: Scheme
    key: str = strawberry.field(description="`<scheme>:<canonical value>`, e.g. gs1:01/…")
    value: str = strawberry.field(description="The canonical value within its scheme.")
    suffix: str = strawberry.field(
        description="The node identifier suffix under an enterprise prefix."
    )
    digital_link_path: str | None = strawberry.field(
        description="For GS1 keys: the canonical Digital Link path, e.g. /01/09506000134352."
    )

    @classmethod
    def of(cls, key: SchemeKey) -> SchemeKeyInfo:
        return cls(
            scheme=key.scheme,
            key=str(key),
            value=key.value,
            suffix=key.suffix(),
            digital_link_path=f"/{key.value}" if key.scheme is Scheme.GS1 else None,
        )


@strawberry.input
class RegisterSchemeIdentifierInput:
    prefix: str = strawberry.field(description="The enterprise prefix to register under.")
    scheme: Scheme
    key: str = strawberry.field(
        description="The key in any written form its scheme accepts (GS1: element strings, "
        "a Digital Link URI or its path; OID: dotted arcs or urn:oid:; VAA: did:vaa:…)."
    )
    values: list[ValueInput] | None = None


SchemeKeyResult = Annotated[SchemeKeyInfo | InvalidInputError, strawberry.union("SchemeKeyResult")]


@strawberry.type
class SchemesQuery:
    @strawberry.field(
        description="Validate a key by its scheme's rules: its canonical form and node suffix."
    )
    @typed_errors
    async def scheme_key(self, scheme: Scheme, key: str) -> SchemeKeyResult:
        return SchemeKeyInfo.of(parse_key(scheme, key))

    @strawberry.field(
        description="Resolve the identifier a scheme key maps to (a GTIN is found as a GTIN, "
        "as a Digital Link URI or as its node identifier)."
    )
    @typed_errors
    async def resolve_key(
        self,
        info: Info,
        scheme: Scheme,
        key: str,
        types: list[str] | None = None,
        indexes: list[int] | None = None,
    ) -> ResolveResult:
        name = info.context.node.registry.identifier_of(scheme, key)
        return await resolve_name(info, name, types, indexes)


@strawberry.type
class SchemesMutation:
    @strawberry.mutation(
        description="Register the identifier of a scheme key under a prefix you administer: "
        "`<prefix>/<the key's suffix>`, written together with the key (unique on the node)."
    )
    @typed_errors
    async def register_scheme_identifier(
        self, info: Info, input: RegisterSchemeIdentifierInput
    ) -> WriteResult:
        key = parse_key(input.scheme, input.key)
        record = info.context.node.registry.create(
            f"{input.prefix}/{key.suffix()}", values_of(input.values), info.context.principal
        )
        return Identifier.of(record)
