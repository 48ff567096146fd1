"""GraphQL queries and mutations of private codes (SN-7): mapping an enterprise's own codes to
public identifiers in bulk, resolving them, and granting other enterprises access."""

from __future__ import annotations

from datetime import datetime
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
from idnode.api.graphql.types import Connection, Identifier, connection, time_of
from idnode.domain import codes as domain
from idnode.domain.codes import CodeStatus
from idnode.services.codes import BulkResult, CodeService

DEFAULT_PAGE = 100

strawberry.enum(
    CodeStatus,
    name="PrivateCodeStatus",
    description="What a bulk request did with one code: MAPPED (written), UNCHANGED (the same "
    "mapping existed: a retry or a repeat), UNMAPPED (removed), NOT_MAPPED (nothing to "
    "remove), FAILED (nothing written; `reason` says why).",
)


def _codes(info: Info) -> CodeService:
    """The node's private-code service (`Node.codes`)."""
    return info.context.node.codes


@strawberry.type(description="A private code of an enterprise and the identifier it stands for.")
class PrivateCode:
    enterprise: str = strawberry.field(description="The owning enterprise's USCC.")
    code: str = strawberry.field(description="As the owner wrote it; matched exactly.")
    identifier: str = strawberry.field(description="The public identifier (prefix/suffix).")
    created_at: datetime
    created_by: str

    @classmethod
    def of(cls, mapping: domain.CodeMapping) -> PrivateCode:
        return cls(
            enterprise=mapping.enterprise,
            code=mapping.code,
            identifier=mapping.identifier,
            created_at=time_of(mapping.created_at),
            created_by=mapping.created_by,
        )


@strawberry.type(description="One code of a bulk request and what became of it.")
class PrivateCodeOutcome:
    code: str
    identifier: str | None = strawberry.field(
        description="The identifier asked for (mapping) or removed (unmapping)."
    )
    status: CodeStatus
    reason: str | None = strawberry.field(description="Why it FAILED; null otherwise.")

    @classmethod
    def of(cls, outcome: domain.CodeOutcome) -> PrivateCodeOutcome:
        return cls(
            code=outcome.code,
            identifier=outcome.identifier,
            status=outcome.status,
            reason=outcome.reason,
        )


@strawberry.type(
    description="The outcome of each code of a bulk request, in request order, and counts."
)
class PrivateCodeOutcomes:
    enterprise: str
    outcomes: list[PrivateCodeOutcome]
    changed: int = strawberry.field(description="Codes MAPPED or UNMAPPED.")
    unchanged: int = strawberry.field(description="Codes UNCHANGED or NOT_MAPPED.")
    failed: int

    @classmethod
    def of(cls, result: BulkResult) -> PrivateCodeOutcomes:
        return cls(
            enterprise=result.enterprise,
            outcomes=[PrivateCodeOutcome.of(o) for o in result.outcomes],
            changed=result.count(CodeStatus.MAPPED, CodeStatus.UNMAPPED),
            unchanged=result.count(CodeStatus.UNCHANGED, CodeStatus.NOT_MAPPED),
            failed=result.count(CodeStatus.FAILED),
        )


@strawberry.type(description="A private code and the identifier it resolves to.")
class ResolvedPrivateCode:
    enterprise: str
    code: str
    identifier: Identifier = strawberry.field(
        description="The identifier with the values this caller may see (restricted values "
        "only for its administrators and auditors)."
    )


@strawberry.type(description="The private codes that map to one identifier.")
class PrivateCodeList:
    identifier: str
    codes: list[PrivateCode]


@strawberry.type(description="An enterprise whose people may resolve the owner's private codes.")
class CodeGrant:
    enterprise: str = strawberry.field(description="The owner of the codes.")
    grantee: str = strawberry.field(description="The enterprise given access.")
    granted_at: datetime
    granted_by: str

    @classmethod
    def of(cls, grant: domain.CodeGrant) -> CodeGrant:
        return cls(
            enterprise=grant.enterprise,
            grantee=grant.grantee,
            granted_at=time_of(grant.created_at),
            granted_by=grant.created_by,
        )


@strawberry.type(description="The enterprises an owner has let resolve its private codes.")
class CodeGrantList:
    enterprise: str
    grants: list[CodeGrant]


@strawberry.input(description="Map `code` to `identifier`.")
class PrivateCodeMappingInput:
    code: str = strawberry.field(
        description="1 to 128 printable characters, no leading or trailing white space."
    )
    identifier: str = strawberry.field(
        description="A registered identifier under one of the enterprise's prefixes."
    )


_Refusals = AuthenticationError | NotAuthorisedError | InvalidInputError

PrivateCodeOutcomesResult = Annotated[
    PrivateCodeOutcomes | _Refusals, strawberry.union("PrivateCodeOutcomesResult")
]
ResolvedPrivateCodeResult = Annotated[
    ResolvedPrivateCode | NotFoundError | _Refusals,
    strawberry.union("ResolvedPrivateCodeResult"),
]
PrivateCodesResult = Annotated[
    Connection[PrivateCode] | _Refusals, strawberry.union("PrivateCodesResult")
]
PrivateCodeListResult = Annotated[
    PrivateCodeList | NotFoundError | _Refusals, strawberry.union("PrivateCodeListResult")
]
CodeGrantResult = Annotated[
    CodeGrant | NotFoundError | _Refusals, strawberry.union("CodeGrantResult")
]
CodeGrantsResult = Annotated[CodeGrantList | _Refusals, strawberry.union("CodeGrantsResult")]


@strawberry.type
class CodesQuery:
    @strawberry.field(
        description="The identifier an enterprise's private code stands for, resolved. For "
        "the owner's people, staff, and people of enterprises the owner granted access; "
        "anyone else is refused without learning whether the code exists."
    )
    @typed_errors
    async def resolve_private_code(
        self, info: Info, enterprise: str, code: str
    ) -> ResolvedPrivateCodeResult:
        resolved = _codes(info).resolve(info.context.principal, enterprise, code)
        resolution = resolved.resolution
        return ResolvedPrivateCode(
            enterprise=resolved.mapping.enterprise,
            code=resolved.mapping.code,
            identifier=Identifier.of(resolution.record, resolution.values),
        )

    @strawberry.field(
        description="An enterprise's private codes in code order, for its people and staff."
    )
    @typed_errors
    async def private_codes(
        self, info: Info, enterprise: str, first: int = DEFAULT_PAGE, after: str | None = None
    ) -> PrivateCodesResult:
        page = _codes(info).code_book(info.context.principal, enterprise, first, after)
        return connection(page, PrivateCode.of)

    @strawberry.field(
        description="The private codes that map to an identifier, for those who may resolve "
        "the codes of the enterprise holding its prefix."
    )
    @typed_errors
    async def private_codes_of(self, info: Info, identifier: str) -> PrivateCodeListResult:
        mappings = _codes(info).codes_of(info.context.principal, identifier)
        return PrivateCodeList(identifier=identifier, codes=[PrivateCode.of(m) for m in mappings])

    @strawberry.field(description="The enterprises allowed to resolve an enterprise's codes.")
    @typed_errors
    async def code_grants(self, info: Info, enterprise: str) -> CodeGrantsResult:
        grants = _codes(info).grants(info.context.principal, enterprise)
        return CodeGrantList(enterprise=enterprise, grants=[CodeGrant.of(g) for g in grants])


@strawberry.type
class CodesMutation:
    @strawberry.mutation(
        description="Map up to 1,000 private codes of an enterprise to its identifiers. Each "
        "code gets its own outcome; retrying the same request is safe (UNCHANGED)."
    )
    @typed_errors
    async def map_private_codes(
        self, info: Info, enterprise: str, mappings: list[PrivateCodeMappingInput]
    ) -> PrivateCodeOutcomesResult:
        result = _codes(info).map(
            info.context.principal, enterprise, [(m.code, m.identifier) for m in mappings]
        )
        return PrivateCodeOutcomes.of(result)

    @strawberry.mutation(description="Remove up to 1,000 private codes' mappings.")
    @typed_errors
    async def unmap_private_codes(
        self, info: Info, enterprise: str, codes: list[str]
    ) -> PrivateCodeOutcomesResult:
        result = _codes(info).unmap(info.context.principal, enterprise, codes)
        return PrivateCodeOutcomes.of(result)

    @strawberry.mutation(
        description="Let the people of `grantee` resolve `enterprise`'s private codes."
    )
    @typed_errors
    async def grant_code_access(self, info: Info, enterprise: str, grantee: str) -> CodeGrantResult:
        grant = _codes(info).grant(info.context.principal, enterprise, grantee)
        return CodeGrant.of(grant)

    @strawberry.mutation(description="Withdraw a grant; its people are refused from then on.")
    @typed_errors
    async def revoke_code_access(
        self, info: Info, enterprise: str, grantee: str
    ) -> CodeGrantResult:
        grant = _codes(info).revoke(info.context.principal, enterprise, grantee)
        return CodeGrant.of(grant)
