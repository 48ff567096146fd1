"""GraphQL queries and mutations of enterprise onboarding and audit (SN-1, SN-2)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry

from idnode.api.graphql.context import Info
from idnode.api.graphql.errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    InvalidStateError,
    NotAuthorisedError,
    NotFoundError,
    QuotaExceededError,
    typed_errors,
)
from idnode.api.graphql.types import Connection, connection
from idnode.domain import enterprises as domain
from idnode.domain import routing
from idnode.domain.enterprises import (
    ApplicationKind,
    ApplicationStatus,
    EnterpriseStatus,
    Hosting,
)
from idnode.services.onboarding import OnboardingService

DEFAULT_PAGE = 50

strawberry.enum(ApplicationStatus, name="ApplicationStatus")
strawberry.enum(ApplicationKind, name="ApplicationKind")
strawberry.enum(EnterpriseStatus, name="EnterpriseStatus")
strawberry.enum(
    Hosting,
    name="HostingMode",
    description="Who holds the enterprise's identifier records: this node (HOSTED), or the "
    "enterprise's own node at its service addresses (SELF_HOSTED).",
)


def _onboarding(info: Info) -> OnboardingService:
    """The node's onboarding service (`Node.onboarding`)."""
    return info.context.node.onboarding


@strawberry.type(description="Who to contact at the enterprise.")
class EnterpriseContact:
    name: str
    email: str
    phone: str


strawberry.enum(
    routing.HdlType,
    name="HdlType",
    description="How a prefix handle refers to an enterprise node: with its site "
    "(HS_SITE.PREFIX) or through a service handle of this node (HS_SERV.PREFIX).",
)


@strawberry.type(
    description="A self-hosted enterprise node's service address, with the fields the national "
    "system uses (entPrefixConfig)."
)
class EnterpriseNode:
    ent_prefix: str | None = strawberry.field(
        description="The enterprise prefix it serves; null: every prefix of the enterprise."
    )
    hdl_type: routing.HdlType
    ip: str
    ip_type: int = strawberry.field(description="4 or 6.")
    tcp_port: int | None
    udp_port: int | None
    http_port: int | None
    public_key: str | None = strawberry.field(
        description="Its RSA public key in Handle's encoding, base64: its answers are checked "
        "against it."
    )

    @classmethod
    def of(cls, node: routing.NodeAddress) -> EnterpriseNode:
        return cls(
            ent_prefix=node.ent_prefix,
            hdl_type=node.hdl_type,
            ip=node.ip,
            ip_type=node.ip_type,
            tcp_port=node.tcp_port,
            udp_port=node.udp_port,
            http_port=node.http_port,
            public_key=node.public_key,
        )


@strawberry.input(
    description="A self-hosted enterprise node's service address (at least one port)."
)
class EnterpriseNodeInput:
    ent_prefix: str | None = strawberry.field(
        default=None,
        description="One of the enterprise's prefixes; leave out for all of them (applicants "
        "have none yet).",
    )
    hdl_type: routing.HdlType = routing.HdlType.HS_SITE
    ip: str = strawberry.field(description="The node's IPv4 or IPv6 address.")
    ip_type: int = strawberry.field(description="4 or 6, matching ip.")
    tcp_port: int | None = None
    udp_port: int | None = None
    http_port: int | None = None
    public_key: str | None = strawberry.field(
        default=None,
        description="Optional: the node's RSA public key in Handle's encoding (its pubkey.bin), "
        "base64; its answers must then be signed with it.",
    )

    def to_raw(self) -> dict[str, Any]:
        return {
            "entPrefix": self.ent_prefix,
            "hdlType": self.hdl_type.value,
            "ip": self.ip,
            "ipType": self.ip_type,
            "tcpPort": self.tcp_port,
            "udpPort": self.udp_port,
            "httpPort": self.http_port,
            "publicKey": self.public_key,
        }


@strawberry.type(description="An enterprise's data as submitted for review.")
class EnterpriseProfile:
    legal_name: str
    uscc: str = strawberry.field(description="Unified social credit code (GB 32100).")
    industry: str = strawberry.field(description="GB/T 4754-2017 code, e.g. C3411.")
    industry_division: str = strawberry.field(
        description="The division (e.g. C34) statistics are counted under; the section letter "
        "when only a section was given."
    )
    contact: EnterpriseContact
    addresses: list[str] = strawberry.field(description="Public IPv4/IPv6 addresses or networks.")
    domains: list[str] = strawberry.field(description="Domain names, in their ASCII form.")
    hosting: Hosting
    service_nodes: list[EnterpriseNode] = strawberry.field(
        description="A self-hosted enterprise's node(s), where its identifiers are resolved."
    )

    @classmethod
    def of(cls, profile: domain.Profile) -> EnterpriseProfile:
        return cls(
            legal_name=profile.legal_name,
            uscc=profile.uscc,
            industry=profile.industry.code,
            industry_division=profile.division,
            contact=EnterpriseContact(
                name=profile.contact.name, email=profile.contact.email, phone=profile.contact.phone
            ),
            addresses=list(profile.addresses),
            domains=list(profile.domains),
            hosting=profile.hosting,
            service_nodes=[EnterpriseNode.of(n) for n in profile.service_nodes],
        )


@strawberry.type(
    description="An application to onboard an enterprise or to change an onboarded one's "
    "profile, and the decision on it. Applications are never deleted."
)
class Application:
    id: strawberry.ID
    kind: ApplicationKind
    status: ApplicationStatus
    enterprise: str = strawberry.field(description="The enterprise's USCC (its id).")
    applicant: str = strawberry.field(description="Username of the person who applied.")
    profile: EnterpriseProfile
    submitted_at: datetime
    decided_by: str | None = strawberry.field(
        description="The auditor who decided, or the applicant who withdrew."
    )
    decided_at: datetime | None
    reason: str | None
    prefix: str | None = strawberry.field(description="Allocated on approval of an onboarding.")
    version: int

    @classmethod
    def of(cls, application: domain.Application) -> Application:
        decision = application.decision
        return cls(
            id=strawberry.ID(application.id),
            kind=application.kind,
            status=application.status,
            enterprise=application.enterprise,
            applicant=application.applicant,
            profile=EnterpriseProfile.of(application.profile),
            submitted_at=application.submitted,
            decided_by=decision.by if decision else None,
            decided_at=decision.at if decision else None,
            reason=decision.reason if decision else None,
            prefix=application.prefix,
            version=application.version,
        )


@strawberry.type
class ApplicationEdge:
    cursor: str = strawberry.field(description="Pass as `after` to continue after this node.")
    node: Application


ApplicationResult = Annotated[
    Application
    | InvalidInputError
    | NotFoundError
    | InvalidStateError
    | QuotaExceededError
    | AuthenticationError
    | NotAuthorisedError
    | ConflictError,
    strawberry.union("ApplicationResult"),
]
ApplicationsResult = Annotated[
    Connection[Application]
    | InvalidInputError
    | NotFoundError
    | AuthenticationError
    | NotAuthorisedError,
    strawberry.union("ApplicationsResult"),
]


@strawberry.type(description="An onboarded enterprise (an enterprise node of this node).")
class Enterprise:
    id: strawberry.ID = strawberry.field(description="Its unified social credit code.")
    name: str
    status: EnterpriseStatus
    prefix: str
    industry: str = strawberry.field(description="The GB/T 4754 division it is counted under.")
    profile: EnterpriseProfile
    created: datetime
    updated: datetime
    version: int

    @strawberry.field(description="Its applications and the decisions on them, newest first.")
    @typed_errors
    async def applications(
        self, info: Info, first: int = DEFAULT_PAGE, after: str | None = None
    ) -> ApplicationsResult:
        page = _onboarding(info).history(info.context.principal, str(self.id), first, after)
        return connection(page, Application.of)

    @classmethod
    def of(cls, enterprise: domain.Enterprise) -> Enterprise:
        return cls(
            id=strawberry.ID(enterprise.id),
            name=enterprise.name,
            status=enterprise.status,
            prefix=enterprise.prefix,
            industry=enterprise.industry,
            profile=EnterpriseProfile.of(enterprise.profile),
            created=enterprise.created,
            updated=enterprise.updated,
            version=enterprise.version,
        )


EnterpriseResult = Annotated[
    Enterprise
    | InvalidInputError
    | NotFoundError
    | InvalidStateError
    | AuthenticationError
    | NotAuthorisedError
    | ConflictError,
    strawberry.union("EnterpriseResult"),
]


@strawberry.input
class EnterpriseContactInput:
    name: str
    email: str
    phone: str = strawberry.field(description="Digits, an optional leading +, hyphens, spaces.")


@strawberry.input(description="An enterprise's data for review; every field is checked.")
class EnterpriseProfileInput:
    legal_name: str
    uscc: str = strawberry.field(description="Unified social credit code, 18 characters.")
    industry: str = strawberry.field(description="GB/T 4754-2017 code: C, C34, C341 or C3411.")
    contact: EnterpriseContactInput
    addresses: list[str] = strawberry.field(
        default_factory=list, description="Public IP addresses or networks."
    )
    domains: list[str] = strawberry.field(default_factory=list)
    hosting: Hosting = Hosting.HOSTED
    service_nodes: list[EnterpriseNodeInput] = strawberry.field(
        default_factory=list,
        description="Required when SELF_HOSTED: the enterprise node's service address(es).",
    )

    def to_raw(self) -> dict[str, Any]:
        """The profile as the domain reads it, checked there like any other client input."""
        return {
            "legalName": self.legal_name,
            "uscc": self.uscc,
            "industry": self.industry,
            "contact": {
                "name": self.contact.name,
                "email": self.contact.email,
                "phone": self.contact.phone,
            },
            "addresses": list(self.addresses),
            "domains": list(self.domains),
            "hosting": self.hosting.value,
            "serviceNodes": [node.to_raw() for node in self.service_nodes],
        }


@strawberry.input
class SuspendEnterpriseInput:
    enterprise: strawberry.ID = strawberry.field(description="The enterprise's USCC.")
    reason: str
    stop_resolution: bool | None = strawberry.field(
        default=None,
        description="Also withdraw its identifiers from resolution (default: the node's "
        "system parameter).",
    )


@strawberry.type
class OnboardingQuery:
    @strawberry.field(description="One application, if you may see it.")
    @typed_errors
    async def application(self, info: Info, id: strawberry.ID) -> ApplicationResult:
        return Application.of(_onboarding(info).get(info.context.principal, str(id)))

    @strawberry.field(
        description="Applications you may see: auditors and platform admins every applicant's "
        "by status (without one, the pending queue, oldest first); enterprise admins their "
        "enterprise's; anyone else their own (newest first)."
    )
    @typed_errors
    async def applications(
        self,
        info: Info,
        status: ApplicationStatus | None = None,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
    ) -> ApplicationsResult:
        page = _onboarding(info).list(info.context.principal, status, first, after)
        return connection(page, Application.of)

    @strawberry.field(description="An onboarded enterprise, by its USCC.")
    @typed_errors
    async def enterprise(self, info: Info, id: strawberry.ID) -> EnterpriseResult:
        return Enterprise.of(_onboarding(info).enterprise(info.context.principal, str(id)))


@strawberry.type
class OnboardingMutation:
    @strawberry.mutation(description="Apply to onboard your enterprise (signed-in, no role yet).")
    @typed_errors
    async def apply_for_enterprise(
        self, info: Info, input: EnterpriseProfileInput
    ) -> ApplicationResult:
        application = _onboarding(info).apply(info.context.principal, input.to_raw())
        return Application.of(application)

    @strawberry.mutation(description="Ask for your enterprise's profile to be replaced (reviewed).")
    @typed_errors
    async def request_enterprise_change(
        self, info: Info, input: EnterpriseProfileInput
    ) -> ApplicationResult:
        application = _onboarding(info).request_change(info.context.principal, input.to_raw())
        return Application.of(application)

    @strawberry.mutation(description="Withdraw your pending application.")
    @typed_errors
    async def withdraw_application(self, info: Info, id: strawberry.ID) -> ApplicationResult:
        return Application.of(_onboarding(info).withdraw(info.context.principal, str(id)))

    @strawberry.mutation(
        description="Approve a pending application (auditors). An onboarding gets its prefix, "
        "its enterprise and its admin identity 300:<prefix>/ADMIN."
    )
    @typed_errors
    async def approve_application(
        self, info: Info, id: strawberry.ID, reason: str | None = None
    ) -> ApplicationResult:
        application = _onboarding(info).approve(info.context.principal, str(id), reason)
        return Application.of(application)

    @strawberry.mutation(description="Reject a pending application with a reason (auditors).")
    @typed_errors
    async def reject_application(
        self, info: Info, id: strawberry.ID, reason: str
    ) -> ApplicationResult:
        application = _onboarding(info).reject(info.context.principal, str(id), reason)
        return Application.of(application)

    @strawberry.mutation(
        description="Suspend an enterprise (platform admins): its prefixes take no writes, "
        "and resolve no more if asked."
    )
    @typed_errors
    async def suspend_enterprise(
        self, info: Info, input: SuspendEnterpriseInput
    ) -> EnterpriseResult:
        enterprise = _onboarding(info).suspend(
            info.context.principal, str(input.enterprise), input.reason, input.stop_resolution
        )
        return Enterprise.of(enterprise)

    @strawberry.mutation(description="Reinstate a suspended enterprise (platform admins).")
    @typed_errors
    async def reinstate_enterprise(
        self, info: Info, id: strawberry.ID, reason: str | None = None
    ) -> EnterpriseResult:
        enterprise = _onboarding(info).reinstate(info.context.principal, str(id), reason)
        return Enterprise.of(enterprise)
