"""People and admin identities (SN-8, SN-14, IOT-1): who may act for the node and for each
enterprise, and with what.

Every operation is authorised with the matrix (`domain.access.MATRIX`) and recorded in the
operation log. Platform admins manage everyone; enterprise admins manage only the people and
admin identities of their own enterprise, and grant only the enterprise roles.

Changes reach a person's access when their ID token is renewed: tokens are verified without
asking the user pool, so a token issued before a change keeps its groups and enterprise until
it expires (at most an hour). Withdrawing access therefore also revokes the person's refresh
tokens, so that the old access is not renewed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from idnode.domain.access import Operation, Principal, Role, Scope, authorise
from idnode.domain.credentials import AdminCredential, hash_secret, new_secret, parse_identity
from idnode.domain.errors import (
    InvalidStateError,
    InvalidValueError,
    NotAuthorisedError,
    NotFoundError,
)
from idnode.domain.handles import Handle, fold_case
from idnode.domain.people import (
    ENTERPRISE_ROLES,
    Member,
    Person,
    PoolPage,
    check_roles_need_enterprise,
    parse_roles,
    role_names,
    validate_email,
    validate_enterprise,
    validate_name,
    validate_username,
)
from idnode.domain.prefixes import Prefix
from idnode.services.operations import OperationLog, Pending
from idnode.store.pages import Page, decode_cursor, encode_cursor

MAX_PAGE_SIZE = 60  # the user pool lists at most 60 people per call
MAX_ADMIN_INDEX = 2**31 - 1
# Calls to the user pool that one page of the pool-wide listing may take (pages can be short).
_MAX_POOL_CALLS = 4
_POOL_SCOPE = "users"


class UserDirectory(Protocol):
    """The user pool (adapters.people.UserPool)."""

    def get(self, username: str) -> Person: ...
    def get_many(self, usernames: Sequence[str]) -> list[Person | None]: ...
    def list(self, limit: int, token: str | None = None) -> PoolPage: ...
    def create(
        self, username: str, email: str, name: str | None = None, enterprise: str | None = None
    ) -> Person: ...
    def set_roles(self, username: str, roles: frozenset[Role]) -> frozenset[Role]: ...
    def set_enterprise(self, username: str, enterprise: str | None) -> None: ...
    def enable(self, username: str) -> None: ...
    def disable(self, username: str) -> None: ...
    def sign_out(self, username: str) -> None: ...
    def bind(self, username: str, enterprise: str, role: Role) -> None: ...


class Members(Protocol):
    def put(self, member: Member) -> None: ...
    def remove(self, enterprise: str, username: str) -> None: ...
    def list(self, enterprise: str, limit: int, cursor: str | None) -> Page[Member]: ...


class AdminCredentials(Protocol):
    def get(self, identity: str) -> AdminCredential | None: ...
    def create(self, credential: AdminCredential) -> None: ...
    def set_secret(self, identity: str, secret_hash: str) -> None: ...
    def set_enabled(self, identity: str, enabled: bool) -> None: ...
    def list(
        self, prefixes: Sequence[str] | None, limit: int, cursor: str | None, scope: str
    ) -> Page[AdminCredential]: ...


class EnterprisePrefixes(Protocol):
    def get(self, prefix: str) -> Prefix | None: ...
    def prefixes_of(self, enterprise: str) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class IssuedSecret:
    """An admin identity and its new secret, shown to the caller once and never stored."""

    credential: AdminCredential
    secret: str = field(repr=False)


class PeopleService:
    def __init__(
        self,
        directory: UserDirectory,
        members: Members,
        credentials: AdminCredentials,
        prefixes: EnterprisePrefixes,
        *,
        log: OperationLog,
        known_enterprise: Callable[[str], bool] | None = None,
        prefixes_of: Callable[[str], list[str]] | None = None,
    ) -> None:
        self._directory = directory
        self._members = members
        self._credentials = credentials
        self._prefixes = prefixes
        self._log = log
        # Without it, any well-formed enterprise id is accepted when binding a person.
        self._known_enterprise = known_enterprise
        # Every prefix an enterprise holds, whatever its status, so that a suspended
        # enterprise's identities are still listed; without it, its active prefixes.
        self._prefixes_of = prefixes_of or prefixes.prefixes_of

    # People: reads

    def users(
        self, principal: Principal, enterprise: str | None, first: int, after: str | None
    ) -> Page[Person]:
        """People of one enterprise, or (platform admins, no enterprise) of the whole pool."""
        with self._log.recording(
            principal, "list-users", enterprise or "user pool", enterprise=enterprise
        ) as op:
            scope = authorise(principal, Operation.VIEW_USERS)
            _check_page_size(first)
            if enterprise is None and scope is Scope.ANY:
                return self._pool_page(first, after)
            if enterprise is None:
                enterprise = _own_enterprise(principal)
                op.enterprise = op.target = enterprise
            enterprise = validate_enterprise(enterprise)
            authorise(principal, Operation.VIEW_USERS, enterprise=enterprise)
            return self._members_page(enterprise, first, after)

    def user(self, principal: Principal, username: str) -> Person:
        with self._log.recording(principal, "view-user", username) as op:
            authorise(principal, Operation.VIEW_USERS)
            person = self._person(username, op)
            self._authorise_on(principal, Operation.VIEW_USERS, person.enterprise)
            return person

    def _members_page(self, enterprise: str, first: int, after: str | None) -> Page[Person]:
        members = self._members.list(enterprise, first, after)
        found = self._directory.get_many([m.username for m in members.items])
        people, cursors = [], []
        # A member the pool no longer knows is left out; the next cursor still marks the place.
        for person, cursor in zip(found, members.cursors, strict=True):
            if person is not None:
                people.append(person)
                cursors.append(cursor)
        return Page(items=people, cursors=cursors, next_cursor=members.next_cursor)

    def _pool_page(self, first: int, after: str | None) -> Page[Person]:
        # The pool's pagination token marks a page, not a person: a cursor is a token plus
        # how many people of that page come before the place to resume.
        token, skip = _pool_position(decode_cursor(_POOL_SCOPE, after))
        people: list[Person] = []
        cursors: list[str] = []
        for _ in range(_MAX_POOL_CALLS):
            wanted = first - len(people)
            page = self._directory.list(min(MAX_PAGE_SIZE, skip + wanted), token)
            taken = page.people[skip : skip + wanted]
            for offset, person in enumerate(taken, start=skip + 1):
                people.append(person)
                cursors.append(_pool_cursor(token, offset))
            consumed = skip + len(taken)
            if consumed < len(page.people):
                return Page(people, cursors, _pool_cursor(token, consumed))
            if page.next_token is None:
                return Page(people, cursors, None)
            token, skip = page.next_token, 0
            if len(people) >= first:
                break
        return Page(people, cursors, _pool_cursor(token, skip))

    # People: changes

    def create_user(
        self,
        principal: Principal,
        username: str,
        email: str,
        *,
        name: str | None = None,
        roles: Sequence[str] = (),
        enterprise: str | None = None,
    ) -> Person:
        """Create an account (the pool emails an invitation). Enterprise admins create people
        of their own enterprise only, with enterprise roles."""
        with self._log.recording(principal, "create-user", username, enterprise=enterprise) as op:
            scope = authorise(principal, Operation.MANAGE_USERS)
            username = validate_username(username)
            op.target = username
            email, name = validate_email(email), validate_name(name)
            wanted = parse_roles(roles)
            if enterprise is None and scope is not Scope.ANY:
                enterprise = _own_enterprise(principal)  # their people are of their enterprise
            if enterprise is not None:
                enterprise = validate_enterprise(enterprise)
            op.enterprise = enterprise
            scope = self._authorise_on(principal, Operation.MANAGE_USERS, enterprise)
            if scope is not Scope.ANY and not wanted:
                raise InvalidValueError(
                    "give the new person a role: enterprise-admin or enterprise-user"
                )
            _check_grantable(principal, scope, frozenset(), wanted)
            check_roles_need_enterprise(wanted, enterprise)
            if enterprise is not None:
                self._check_known(enterprise)
            op.details.update(roles=role_names(wanted))
            created = self._directory.create(username, email, name, enterprise)
            self._directory.set_roles(username, wanted)
            if enterprise is not None:
                self._members.put(Member(enterprise, username, wanted))
            return replace(created, roles=wanted)

    def set_roles(self, principal: Principal, username: str, roles: Sequence[str]) -> Person:
        """Make the person's roles exactly `roles`."""
        with self._log.recording(principal, "set-user-roles", username) as op:
            authorise(principal, Operation.MANAGE_USERS)
            wanted = parse_roles(roles)
            person = self._person(username, op)
            scope = self._authorise_on(principal, Operation.MANAGE_USERS, person.enterprise)
            _refuse_self(principal, person, "change their own roles")
            _check_grantable(principal, scope, person.roles, wanted)
            check_roles_need_enterprise(wanted, person.enterprise)
            op.details.update(before=role_names(person.roles), after=role_names(wanted))
            before = self._directory.set_roles(person.username, wanted)
            if person.enterprise is not None:
                self._members.put(Member(person.enterprise, person.username, wanted))
            if before - wanted:
                self._directory.sign_out(person.username)
            return replace(person, roles=wanted)

    def set_enterprise(self, principal: Principal, username: str, enterprise: str | None) -> Person:
        """Bind a person to an enterprise, or unbind them (platform admins only)."""
        with self._log.recording(principal, "set-user-enterprise", username) as op:
            self._authorise_on(principal, Operation.MANAGE_USERS, None)
            if enterprise is not None:
                enterprise = validate_enterprise(enterprise)
                self._check_known(enterprise)
            person = self._person(username, op)
            op.enterprise = enterprise or person.enterprise
            op.details.update(before=person.enterprise, after=enterprise)
            if enterprise is None and person.roles & ENTERPRISE_ROLES:
                raise InvalidStateError(
                    f"{person.username} holds enterprise roles: withdraw them first"
                )
            if enterprise != person.enterprise:
                self._directory.set_enterprise(person.username, enterprise)
                self._rebind(person, enterprise, person.roles)
            return replace(person, enterprise=enterprise)

    def disable_user(self, principal: Principal, username: str) -> Person:
        """The person can no longer sign in; tokens already issued expire within the hour."""
        return self._set_enabled(principal, username, enabled=False)

    def enable_user(self, principal: Principal, username: str) -> Person:
        return self._set_enabled(principal, username, enabled=True)

    def _set_enabled(self, principal: Principal, username: str, *, enabled: bool) -> Person:
        action = "enable-user" if enabled else "disable-user"
        with self._log.recording(principal, action, username) as op:
            authorise(principal, Operation.MANAGE_USERS)
            person = self._person(username, op)
            scope = self._authorise_on(principal, Operation.MANAGE_USERS, person.enterprise)
            _refuse_self(principal, person, "enable or disable themselves")
            _check_grantable(principal, scope, person.roles, person.roles)
            if enabled:
                self._directory.enable(person.username)
            else:
                self._directory.disable(person.username)
                self._directory.sign_out(person.username)
            return replace(person, enabled=enabled)

    def bind(self, username: str, enterprise: str, role: Role) -> None:
        """Make a person act for `enterprise` in `role`: the onboarding Directory port, called
        inside the approval that the onboarding service records."""
        person = self._directory.get(validate_username(username))
        enterprise = validate_enterprise(enterprise)
        self._directory.bind(person.username, enterprise, role)
        self._rebind(person, enterprise, person.roles | {role})

    def _rebind(self, person: Person, enterprise: str | None, roles: frozenset[Role]) -> None:
        """Mirror a person's (new) enterprise in the members table."""
        if enterprise is not None:
            self._members.put(Member(enterprise, person.username, roles))
        if person.enterprise is not None and person.enterprise != enterprise:
            self._members.remove(person.enterprise, person.username)
            # Their tokens still name the old enterprise: do not let them be renewed.
            self._directory.sign_out(person.username)

    def _person(self, username: str, op: Pending) -> Person:
        username = validate_username(username)
        op.target = username
        person = self._directory.get(username)
        op.enterprise = person.enterprise
        return person

    def _check_known(self, enterprise: str) -> None:
        if self._known_enterprise is not None and not self._known_enterprise(enterprise):
            raise NotFoundError(f"there is no enterprise {enterprise}")

    @staticmethod
    def _authorise_on(principal: Principal, operation: Operation, enterprise: str | None) -> Scope:
        """Authorise on a target belonging to `enterprise`; a target of no enterprise is for
        the node-wide scope only."""
        if enterprise is not None:
            return authorise(principal, operation, enterprise=enterprise)
        if authorise(principal, operation) is not Scope.ANY:
            raise NotAuthorisedError(
                f"{principal.name} may not {operation.value.replace('-', ' ')} outside "
                "their enterprise"
            )
        return Scope.ANY

    # Admin identities

    def admin_identities(
        self, principal: Principal, enterprise: str | None, first: int, after: str | None
    ) -> Page[AdminCredential]:
        """Admin identities of one enterprise, or (staff, no enterprise) of the whole node."""
        with self._log.recording(
            principal, "list-admin-identities", enterprise or "node", enterprise=enterprise
        ) as op:
            scope = authorise(principal, Operation.VIEW_ADMIN_IDENTITIES)
            _check_page_size(first)
            if enterprise is None and scope is Scope.ANY:
                return self._credentials.list(None, first, after, "credentials")
            if enterprise is None:
                enterprise = _own_enterprise(principal)
                op.enterprise = op.target = enterprise
            enterprise = validate_enterprise(enterprise)
            authorise(principal, Operation.VIEW_ADMIN_IDENTITIES, enterprise=enterprise)
            prefixes = self._prefixes_of(enterprise)
            return self._credentials.list(prefixes, first, after, f"credentials#{enterprise}")

    def create_admin_identity(self, principal: Principal, identity: str) -> IssuedSecret:
        """Create `index:prefix/suffix` under an active prefix of the enterprise, with a new
        secret returned once."""
        with self._log.recording(principal, "create-admin-identity", identity) as op:
            authorise(principal, Operation.MANAGE_ADMIN_IDENTITIES)
            index, name = parse_identity(identity.strip())
            handle = Handle.parse(name)
            if not 1 <= index <= MAX_ADMIN_INDEX:
                raise InvalidValueError(f"the index must be between 1 and {MAX_ADMIN_INDEX}")
            identity = f"{index}:{handle.name}"
            op.target = identity
            prefix = self._prefixes.get(handle.prefix)
            if prefix is None:
                raise NotFoundError(f"the prefix {handle.prefix} is not allocated by this node")
            op.enterprise = prefix.enterprise
            authorise(principal, Operation.MANAGE_ADMIN_IDENTITIES, enterprise=prefix.enterprise)
            if not prefix.active:
                raise InvalidStateError(f"the prefix {prefix.name} is suspended")
            secret = new_secret()
            credential = AdminCredential(identity, hash_secret(secret), (fold_case(prefix.name),))
            self._credentials.create(credential)
            return IssuedSecret(credential, secret)

    def issue_admin_secret(self, principal: Principal, identity: str) -> IssuedSecret:
        """Replace the identity's secret with a new one, returned once. The old secret stops
        working at once in new processes and within five minutes in warm ones (their
        verification cache)."""
        with self._log.recording(principal, "issue-admin-secret", identity) as op:
            credential = self._admin_credential(principal, identity, op)
            secret = new_secret()
            secret_hash = hash_secret(secret)
            self._credentials.set_secret(credential.identity, secret_hash)
            return IssuedSecret(replace(credential, secret_hash=secret_hash), secret)

    def disable_admin_identity(self, principal: Principal, identity: str) -> AdminCredential:
        """Refused from now on (within five minutes in warm functions)."""
        return self._set_identity_enabled(principal, identity, enabled=False)

    def enable_admin_identity(self, principal: Principal, identity: str) -> AdminCredential:
        return self._set_identity_enabled(principal, identity, enabled=True)

    def _set_identity_enabled(
        self, principal: Principal, identity: str, *, enabled: bool
    ) -> AdminCredential:
        action = "enable-admin-identity" if enabled else "disable-admin-identity"
        with self._log.recording(principal, action, identity) as op:
            credential = self._admin_credential(principal, identity, op)
            self._credentials.set_enabled(credential.identity, enabled)
            return replace(credential, enabled=enabled)

    def _admin_credential(
        self, principal: Principal, identity: str, op: Pending
    ) -> AdminCredential:
        """The identity, once the caller is authorised to manage it."""
        authorise(principal, Operation.MANAGE_ADMIN_IDENTITIES)
        credential = self._credentials.get(identity.strip())
        if credential is None:
            raise NotFoundError(f"there is no admin identity {identity}")
        op.target = credential.identity
        owners = {self._owner_of(p) for p in credential.prefixes} or {None}
        op.enterprise = next(iter(owners)) if len(owners) == 1 else None
        for owner in owners:
            self._authorise_on(principal, Operation.MANAGE_ADMIN_IDENTITIES, owner)
        return credential

    def _owner_of(self, prefix: str) -> str | None:
        found = self._prefixes.get(prefix)
        return found.enterprise if found is not None else None


def _check_page_size(first: int) -> None:
    if not 1 <= first <= MAX_PAGE_SIZE:
        raise InvalidValueError(f"page size must be between 1 and {MAX_PAGE_SIZE}")


def _own_enterprise(principal: Principal) -> str:
    if principal.enterprise is None:
        raise NotAuthorisedError(f"{principal.name} acts for no enterprise")
    return principal.enterprise


def _refuse_self(principal: Principal, person: Person, what: str) -> None:
    if fold_case(principal.name) == fold_case(person.username):
        raise NotAuthorisedError(f"nobody may {what}: ask another administrator")


def _check_grantable(
    principal: Principal, scope: Scope, before: frozenset[Role], after: frozenset[Role]
) -> None:
    """Over their own enterprise only, administrators touch only enterprise roles: they never
    grant, withdraw or override a platform admin's or an auditor's."""
    if scope is Scope.ANY:
        return
    if not (before | after) <= ENTERPRISE_ROLES:
        raise NotAuthorisedError(
            f"{principal.name} may manage only people with the roles enterprise-admin and "
            "enterprise-user"
        )


def _pool_cursor(token: str | None, skip: int) -> str:
    return encode_cursor(_POOL_SCOPE, {"t": token or "", "o": skip})


def _pool_position(key: dict[str, object] | None) -> tuple[str | None, int]:
    if key is None:
        return None, 0
    token, skip = key.get("t"), key.get("o")
    if (
        set(key) != {"t", "o"}
        or not isinstance(token, str)
        or not isinstance(skip, int)
        or isinstance(skip, bool)
        or not 0 <= skip <= MAX_PAGE_SIZE
    ):
        raise InvalidValueError("the cursor does not belong to this listing")
    return token or None, skip
