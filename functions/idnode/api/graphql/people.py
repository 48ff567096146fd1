"""GraphQL: people (user-pool accounts and their roles) and admin identities (Handle REST
credentials) of the node and of each enterprise."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from idnode.api.graphql.context import Info
from idnode.api.graphql.errors import (
    AuthenticationError,
    InvalidInputError,
    InvalidStateError,
    NotAuthorisedError,
    NotFoundError,
    typed_errors,
)
from idnode.api.graphql.types import Connection, connection
from idnode.domain.credentials import AdminCredential, parse_identity
from idnode.domain.people import Person, role_names
from idnode.services.people import IssuedSecret, PeopleService

DEFAULT_PAGE = 50


@strawberry.type(description="A person with an account in the node's user pool.")
class User:
    username: str
    email: str | None
    name: str | None
    enterprise: str | None = strawberry.field(description="The enterprise the person acts for.")
    roles: list[str] = strawberry.field(
        description="platform-admin, auditor, enterprise-admin, enterprise-user."
    )
    enabled: bool
    status: str = strawberry.field(
        description="The account's state in the user pool, e.g. FORCE_CHANGE_PASSWORD "
        "(invited, not signed in yet) or CONFIRMED."
    )
    created: datetime | None
    mfa_enrolled: bool | None = strawberry.field(
        description="Whether TOTP is enrolled; null where a listing does not tell."
    )

    @classmethod
    def of(cls, person: Person) -> User:
        return cls(
            username=person.username,
            email=person.email,
            name=person.name,
            enterprise=person.enterprise,
            roles=role_names(person.roles),
            enabled=person.enabled,
            status=person.status,
            created=person.created,
            mfa_enrolled=person.mfa_enrolled,
        )


@strawberry.type(
    description="An admin identity (`index:handle`) with which an enterprise system writes "
    "through the Handle REST API, within its prefixes and the records' HS_ADMIN values."
)
class AdminIdentity:
    identity: str
    handle: str
    index: int
    prefixes: list[str]
    enabled: bool

    @classmethod
    def of(cls, credential: AdminCredential) -> AdminIdentity:
        index, handle = parse_identity(credential.identity)
        return cls(
            identity=credential.identity,
            handle=handle,
            index=index,
            prefixes=sorted(credential.prefixes),
            enabled=credential.enabled,
        )


@strawberry.type(
    description="An admin identity's new secret. It is shown this once: the node keeps only "
    "a hash. The previous secret stops working (within five minutes everywhere)."
)
class IssuedAdminSecret:
    admin_identity: AdminIdentity
    secret: str = strawberry.field(description="Use as the HTTP Basic password.")

    @classmethod
    def of(cls, issued: IssuedSecret) -> IssuedAdminSecret:
        return cls(admin_identity=AdminIdentity.of(issued.credential), secret=issued.secret)


@strawberry.input(description="A new account; the user pool emails the invitation.")
class CreateUserInput:
    username: str = strawberry.field(
        description="Letters, digits and . _ @ + -; stored lower-case."
    )
    email: str
    name: str | None = None
    roles: list[str] = strawberry.field(
        default_factory=list,
        description="Enterprise admins grant enterprise-admin and enterprise-user only.",
    )
    enterprise: str | None = strawberry.field(
        default=None,
        description="The enterprise the person acts for; enterprise admins' people are always "
        "of their own enterprise.",
    )


UsersResult = Annotated[
    Connection[User] | InvalidInputError | AuthenticationError | NotAuthorisedError,
    strawberry.union("UsersResult"),
]
UserResult = Annotated[
    User | InvalidInputError | NotFoundError | AuthenticationError | NotAuthorisedError,
    strawberry.union("UserResult"),
]
UserChangeResult = Annotated[
    User
    | InvalidInputError
    | NotFoundError
    | InvalidStateError
    | AuthenticationError
    | NotAuthorisedError,
    strawberry.union("UserChangeResult"),
]
AdminIdentitiesResult = Annotated[
    Connection[AdminIdentity] | InvalidInputError | AuthenticationError | NotAuthorisedError,
    strawberry.union("AdminIdentitiesResult"),
]
AdminIdentityResult = Annotated[
    AdminIdentity | InvalidInputError | NotFoundError | AuthenticationError | NotAuthorisedError,
    strawberry.union("AdminIdentityResult"),
]
IssueAdminSecretResult = Annotated[
    IssuedAdminSecret
    | InvalidInputError
    | NotFoundError
    | InvalidStateError
    | AuthenticationError
    | NotAuthorisedError,
    strawberry.union("IssueAdminSecretResult"),
]


def _people(info: Info) -> PeopleService:
    service: PeopleService = info.context.node.people
    return service


@strawberry.type
class PeopleQuery:
    @strawberry.field(
        description="People of an enterprise; without one, platform admins get the whole user "
        "pool and enterprise admins their own enterprise."
    )
    @typed_errors
    async def users(
        self,
        info: Info,
        enterprise: str | None = None,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
    ) -> UsersResult:
        page = _people(info).users(info.context.principal, enterprise, first, after)
        return connection(page, User.of)

    @strawberry.field(description="One person, with their second-factor enrolment.")
    @typed_errors
    async def user(self, info: Info, username: str) -> UserResult:
        return User.of(_people(info).user(info.context.principal, username))

    @strawberry.field(
        description="Admin identities of an enterprise; without one, platform admins and "
        "auditors get every identity and enterprise admins their own enterprise's."
    )
    @typed_errors
    async def admin_identities(
        self,
        info: Info,
        enterprise: str | None = None,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
    ) -> AdminIdentitiesResult:
        page = _people(info).admin_identities(info.context.principal, enterprise, first, after)
        return connection(page, AdminIdentity.of)


@strawberry.type
class PeopleMutation:
    @strawberry.mutation(description="Create an account; the user pool emails the invitation.")
    @typed_errors
    async def create_user(self, info: Info, input: CreateUserInput) -> UserChangeResult:
        person = _people(info).create_user(
            info.context.principal,
            input.username,
            input.email,
            name=input.name,
            roles=input.roles,
            enterprise=input.enterprise,
        )
        return User.of(person)

    @strawberry.mutation(
        description="Make a person's roles exactly these. Withdrawn roles end the person's "
        "sessions; tokens already issued keep their roles until they expire (an hour at most)."
    )
    @typed_errors
    async def set_user_roles(self, info: Info, username: str, roles: list[str]) -> UserChangeResult:
        return User.of(_people(info).set_roles(info.context.principal, username, roles))

    @strawberry.mutation(
        description="Bind a person to an enterprise, or unbind them with null (platform admins)."
    )
    @typed_errors
    async def set_user_enterprise(
        self, info: Info, username: str, enterprise: str | None = None
    ) -> UserChangeResult:
        person = _people(info).set_enterprise(info.context.principal, username, enterprise)
        return User.of(person)

    @strawberry.mutation(description="Stop a person from signing in; ends their sessions.")
    @typed_errors
    async def disable_user(self, info: Info, username: str) -> UserChangeResult:
        return User.of(_people(info).disable_user(info.context.principal, username))

    @strawberry.mutation(description="Let a disabled person sign in again.")
    @typed_errors
    async def enable_user(self, info: Info, username: str) -> UserChangeResult:
        return User.of(_people(info).enable_user(info.context.principal, username))

    @strawberry.mutation(
        description="Create an admin identity `index:prefix/suffix` under an active prefix of the "
        "enterprise, with its first secret (shown once). Register the handle itself too (with "
        "an HS_ADMIN value), as Handle clients check that their admin handle resolves."
    )
    @typed_errors
    async def create_admin_identity(self, info: Info, identity: str) -> IssueAdminSecretResult:
        issued = _people(info).create_admin_identity(info.context.principal, identity)
        return IssuedAdminSecret.of(issued)

    @strawberry.mutation(
        description="Replace an admin identity's secret; the new one is shown once."
    )
    @typed_errors
    async def issue_admin_secret(self, info: Info, identity: str) -> IssueAdminSecretResult:
        issued = _people(info).issue_admin_secret(info.context.principal, identity)
        return IssuedAdminSecret.of(issued)

    @strawberry.mutation(
        description="Refuse an admin identity from now on (within five minutes everywhere)."
    )
    @typed_errors
    async def disable_admin_identity(self, info: Info, identity: str) -> AdminIdentityResult:
        credential = _people(info).disable_admin_identity(info.context.principal, identity)
        return AdminIdentity.of(credential)

    @strawberry.mutation(description="Accept a disabled admin identity again.")
    @typed_errors
    async def enable_admin_identity(self, info: Info, identity: str) -> AdminIdentityResult:
        credential = _people(info).enable_admin_identity(info.context.principal, identity)
        return AdminIdentity.of(credential)
