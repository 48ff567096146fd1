"""GraphQL queries and mutations of GS1 Digital Link links: what the resolver redirects a
registered GS1 key to (SN-7). Managed by the enterprise that holds the key's identifier."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import strawberry

from idnode.api.graphql.context import Info
from idnode.api.graphql.errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    NotAuthorisedError,
    NotFoundError,
    typed_errors,
)
from idnode.domain import links as domain

if TYPE_CHECKING:
    # The service imports the GS1 rules (biip); the schema needs none of it to build.
    from idnode.services.digital_links import DigitalLinkService, KeyLinks


def _links(info: Info) -> DigitalLinkService:
    """The node's Digital Link service (`Node.digital_links`)."""
    return info.context.node.digital_links


@strawberry.type(description="A link of a GS1 key: where the resolver may send a client.")
class DigitalLink:
    link_type: str = strawberry.field(
        description="The link type's full URI, e.g. https://gs1.org/voc/pip."
    )
    compact_link_type: str = strawberry.field(
        description="The link type in compact form (gs1:pip); extension types in full."
    )
    href: str = strawberry.field(description="The target, an absolute http(s) URI.")
    title: str
    hreflang: list[str] = strawberry.field(description="The target's languages (BCP 47).")
    type: str | None = strawberry.field(description="The target's media type, e.g. text/html.")
    default: bool = strawberry.field(
        description="The default link: where a request without linkType goes."
    )

    @classmethod
    def of(cls, link: domain.Link) -> DigitalLink:
        return cls(
            link_type=link.link_type,
            compact_link_type=link.compact_type,
            href=link.href,
            title=link.title,
            hreflang=list(link.hreflang),
            type=link.type,
            default=link.default,
        )


@strawberry.type(description="A registered GS1 key, the identifier it maps to and its links.")
class DigitalLinks:
    key: str = strawberry.field(
        description="The key in canonical form, e.g. gs1:01/09506000134352."
    )
    path: str = strawberry.field(description="Its Digital Link path on this node's resolver.")
    identifier: str = strawberry.field(description="The node identifier registered for the key.")
    version: int = strawberry.field(
        description="Increases with every change; pass it as expectedVersion to change safely."
    )
    links: list[DigitalLink]

    @classmethod
    def of(cls, found: KeyLinks) -> DigitalLinks:
        return cls(
            key=str(found.key),
            path=found.path,
            identifier=found.identifier,
            version=found.version,
            links=[DigitalLink.of(link) for link in found.links],
        )


@strawberry.input(description="A link to set on a GS1 key.")
class DigitalLinkInput:
    link_type: str = strawberry.field(
        description="A GS1 web vocabulary link type, compact (gs1:pip) or full "
        "(https://gs1.org/voc/pip), or any absolute URI as an extension type."
    )
    href: str = strawberry.field(description="An absolute http(s) URI.")
    title: str = strawberry.field(description="200 characters at most.")
    hreflang: list[str] = strawberry.field(
        default_factory=list, description="BCP 47 language tags of the target, e.g. en, zh-CN."
    )
    type: str | None = strawberry.field(default=None, description="Media type, e.g. text/html.")
    default: bool = strawberry.field(
        default=False,
        description="Exactly one link is the default (a single link is the default anyway).",
    )


@strawberry.input(description="The new set of links of a registered GS1 key.")
class SetDigitalLinksInput:
    key: str = strawberry.field(
        description="The key in any written form: Digital Link URI, path (01/09506000134352) "
        "or element strings ((01)09506000134352(21)ABC)."
    )
    links: list[DigitalLinkInput] = strawberry.field(
        description=f"Replaces every link of the key; at most {domain.MAX_LINKS}, [] clears them."
    )
    expected_version: int | None = strawberry.field(
        default=None,
        description="Change only if the links are still at this version (else ConflictError).",
    )


DigitalLinksResult = Annotated[
    DigitalLinks
    | InvalidInputError
    | NotFoundError
    | ConflictError
    | AuthenticationError
    | NotAuthorisedError,
    strawberry.union("DigitalLinksResult"),
]


@strawberry.type
class LinksQuery:
    @strawberry.field(
        description="A registered GS1 key's Digital Link links (for those who manage them; "
        "the public reads them from the resolver's linkset)."
    )
    @typed_errors
    async def digital_links(self, info: Info, key: str) -> DigitalLinksResult:
        return DigitalLinks.of(_links(info).links(info.context.principal, key))


@strawberry.type
class LinksMutation:
    @strawberry.mutation(
        description="Replace a registered GS1 key's Digital Link links (enterprise admins and "
        "users of the enterprise holding the key's identifier)."
    )
    @typed_errors
    async def set_digital_links(
        self, info: Info, input: SetDigitalLinksInput
    ) -> DigitalLinksResult:
        found = _links(info).set_links(
            info.context.principal,
            input.key,
            [
                {
                    "linkType": link.link_type,
                    "href": link.href,
                    "title": link.title,
                    "hreflang": list(link.hreflang),
                    "type": link.type,
                    "default": link.default,
                }
                for link in input.links
            ],
            expected_version=input.expected_version,
        )
        return DigitalLinks.of(found)
