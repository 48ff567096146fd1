"""GraphQL queries of search over identifiers and the enterprise directory (SN-6)."""

from __future__ import annotations

from typing import Annotated

import strawberry

from idnode.api.graphql.context import Info
from idnode.api.graphql.errors import (
    AuthenticationError,
    InvalidInputError,
    NotAuthorisedError,
    typed_errors,
)
from idnode.api.graphql.onboarding import Enterprise
from idnode.api.graphql.types import Identifier, PageInfo
from idnode.domain import enterprises as domain
from idnode.domain.access import may_see_restricted
from idnode.domain.enterprises import Hosting
from idnode.domain.search import IdentifierMatch, NameMatch, sees_details
from idnode.services.search import DEFAULT_PAGE, SearchService

strawberry.enum(
    IdentifierMatch,
    name="IdentifierMatch",
    description="How a query matches identifiers, ignoring the case of ASCII letters: EXACT "
    "a whole name; STARTS_WITH and CONTAINS the suffix (what follows the prefix's slash).",
)
strawberry.enum(
    NameMatch,
    name="NameMatch",
    description="How a query matches enterprise names, ignoring case.",
)


def _search(info: Info) -> SearchService:
    """The node's search service (`Node.search`)."""
    return info.context.node.search


@strawberry.type
class IdentifierSearchEdge:
    cursor: str = strawberry.field(description="Pass as `after` to continue after this node.")
    node: Identifier


@strawberry.type(
    description="A page of identifiers found. Each page reads a bounded number of stored "
    "identifiers, so a page may hold fewer than asked for, even none, and still have a next "
    "one: follow `pageInfo.endCursor` until `scannedAll`."
)
class IdentifierSearchConnection:
    edges: list[IdentifierSearchEdge]
    page_info: PageInfo
    scanned_all: bool = strawberry.field(
        description="Every candidate has been read: there is nothing more to find."
    )
    items_read: int = strawberry.field(description="Stored identifiers this page read.")


@strawberry.type(
    description="An enterprise node in the public directory. `details` is for platform "
    "admins, auditors and the enterprise's own people; null for everyone else."
)
class DirectoryEntry:
    name: str
    prefix: str
    industry: str = strawberry.field(description="The GB/T 4754 division it is counted under.")
    hosting: Hosting
    details: Enterprise | None

    @classmethod
    def of(cls, enterprise: domain.Enterprise, visible: bool) -> DirectoryEntry:
        return cls(
            name=enterprise.name,
            prefix=enterprise.prefix,
            industry=enterprise.industry,
            hosting=enterprise.profile.hosting,
            details=Enterprise.of(enterprise) if visible else None,
        )


@strawberry.type
class DirectoryEdge:
    cursor: str = strawberry.field(description="Pass as `after` to continue after this node.")
    node: DirectoryEntry


@strawberry.type(
    description="A page of enterprises found, in name order (active ones first). Like "
    "identifier search, a page reads a bounded number of entries."
)
class DirectoryConnection:
    edges: list[DirectoryEdge]
    page_info: PageInfo
    scanned_all: bool
    items_read: int


IdentifierSearchResult = Annotated[
    IdentifierSearchConnection | InvalidInputError | AuthenticationError | NotAuthorisedError,
    strawberry.union("IdentifierSearchResult"),
]
DirectoryResult = Annotated[
    DirectoryConnection | InvalidInputError | AuthenticationError | NotAuthorisedError,
    strawberry.union("DirectoryResult"),
]


@strawberry.type
class SearchQuery:
    @strawberry.field(
        description="Find identifiers by name or suffix. Platform admins and auditors search "
        "the whole registry (slowly without `prefix`); enterprise people the prefixes they "
        "administer."
    )
    @typed_errors
    async def search_identifiers(
        self,
        info: Info,
        query: str,
        prefix: str | None = None,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
        *,
        match: IdentifierMatch = IdentifierMatch.CONTAINS,
    ) -> IdentifierSearchResult:
        principal = info.context.principal
        page = _search(info).identifiers(
            principal, query, match=match, prefix=prefix, first=first, after=after
        )
        edges = []
        for record, cursor in zip(page.items, page.cursors, strict=True):
            visible = record.select(
                (), (), see_restricted=may_see_restricted(principal, record.handle)
            )
            edges.append(IdentifierSearchEdge(cursor=cursor, node=Identifier.of(record, visible)))
        return IdentifierSearchConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.next_cursor is not None, end_cursor=page.next_cursor
            ),
            scanned_all=page.scanned_all,
            items_read=page.items_read,
        )

    @strawberry.field(
        description="Find enterprises by unified social credit code or allocated prefix "
        "(exactly), else by name. Everyone finds active enterprises; platform admins and "
        "auditors suspended ones too."
    )
    @typed_errors
    async def search_enterprises(
        self,
        info: Info,
        query: str,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
        match: NameMatch = NameMatch.CONTAINS,
    ) -> DirectoryResult:
        principal = info.context.principal
        page = _search(info).enterprises(principal, query, match=match, first=first, after=after)
        return DirectoryConnection(
            edges=[
                DirectoryEdge(
                    cursor=cursor, node=DirectoryEntry.of(found, sees_details(principal, found))
                )
                for found, cursor in zip(page.items, page.cursors, strict=True)
            ],
            page_info=PageInfo(
                has_next_page=page.next_cursor is not None, end_cursor=page.next_cursor
            ),
            scanned_all=page.scanned_all,
            items_read=page.items_read,
        )
