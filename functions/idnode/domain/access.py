"""Who may do what: principals, roles and HS_ADMIN rights.

The rule (docs/security.md):
1. Anonymous callers read public values only and never write.
2. Platform admins may do anything; auditors read everything and write nothing.
3. Every other write needs the identifier's prefix to be one the caller administers
   (enterprise users through their enterprise, admin identities through their credential).
4. Inside its prefix, an admin identity is further bound by the record's HS_ADMIN values:
   when a record has any, one must name the identity and grant each right the change needs.
   An HS_ADMIN naming `0.NA/<prefix>` (the prefix's admin group, the Handle convention that
   clients such as pyhandle use by default) names every admin identity of that prefix.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum, IntEnum, StrEnum

from idnode.domain.errors import AuthenticationRequiredError, NotAuthorisedError
from idnode.domain.handles import Handle, fold_case
from idnode.domain.records import Record
from idnode.domain.values import DataFormat, Value

HS_ADMIN = "HS_ADMIN"
PREFIX_ADMIN_GROUP = "0.na/"  # case-folded


class Role(StrEnum):
    """Cognito user-pool groups."""

    PLATFORM_ADMIN = "platform-admin"
    AUDITOR = "auditor"
    ENTERPRISE_ADMIN = "enterprise-admin"
    ENTERPRISE_USER = "enterprise-user"


class Right(IntEnum):
    """Bits of the Handle admin permission mask (Handle.Net's PERM_* constants: add handle is
    0x001, list handles 0x800). HS_ADMIN's 12-character string is this mask written most
    significant bit first, so add handle is its last character: pyhandle's and the admin
    tool's default `011111110011` (0x7F3) grants everything but the NA rights and listing."""

    ADD_HANDLE = 0
    DELETE_HANDLE = 1
    ADD_NA = 2
    DELETE_NA = 3
    MODIFY_VALUE = 4
    REMOVE_VALUE = 5
    ADD_VALUE = 6
    MODIFY_ADMIN = 7
    REMOVE_ADMIN = 8
    ADD_ADMIN = 9
    READ_VALUE = 10
    LIST_HANDLES = 11

    def granted_by(self, bits: str) -> bool:
        """Whether the 12-character permission string grants this right."""
        return bits[len(bits) - 1 - self.value] == "1"


class PrincipalKind(Enum):
    ANONYMOUS = "anonymous"
    USER = "user"  # a person, authenticated by a Cognito ID token
    ADMIN_IDENTITY = "admin-identity"  # `index:handle` with a secret, Handle REST
    SERVICE = "service"  # the node acting on its own (e.g. on a device's first connection)


@dataclass(frozen=True, slots=True)
class Principal:
    kind: PrincipalKind
    name: str = "anonymous"
    roles: frozenset[Role] = frozenset()
    prefixes: frozenset[str] = frozenset()  # case-folded prefixes the caller administers
    enterprise: str | None = None
    admin_handle: str | None = None
    admin_index: int = 0
    source: str | None = None  # the address the request came from (operation log)
    # Roles withheld because the person has no second factor enrolled (see docs/security.md).
    withheld: frozenset[Role] = frozenset()

    @property
    def authenticated(self) -> bool:
        return self.kind is not PrincipalKind.ANONYMOUS

    def has(self, role: Role) -> bool:
        return role in self.roles

    @property
    def may_manage_identifiers(self) -> bool:
        """People need an enterprise role; admin identities are for this by nature."""
        if self.kind is PrincipalKind.USER:
            return self.has(Role.ENTERPRISE_ADMIN) or self.has(Role.ENTERPRISE_USER)
        return self.kind is PrincipalKind.ADMIN_IDENTITY

    def administers(self, prefix: str) -> bool:
        """Platform admins administer every prefix; others the prefixes bound to them, and
        people only while they hold an enterprise role."""
        if self.has(Role.PLATFORM_ADMIN):
            return True
        return self.may_manage_identifiers and fold_case(prefix) in self.prefixes


ANONYMOUS = Principal(kind=PrincipalKind.ANONYMOUS)


def user(
    username: str, roles: Iterable[str], enterprise: str | None, prefixes: Iterable[str]
) -> Principal:
    """A person; unknown group names are ignored."""
    known = frozenset(Role(r) for r in roles if r in Role._value2member_map_)
    return Principal(
        kind=PrincipalKind.USER,
        name=username,
        roles=known,
        enterprise=enterprise,
        prefixes=frozenset(fold_case(p) for p in prefixes),
    )


def service_principal(name: str) -> Principal:
    """The node itself, acting on an event rather than a request (a device connecting, a
    message arriving). It holds the platform-admin role: the broker authenticated the device
    and the event's topic names it, so there is no caller to check."""
    return Principal(kind=PrincipalKind.SERVICE, name=name, roles=frozenset({Role.PLATFORM_ADMIN}))


def admin_identity(index: int, handle: str, prefixes: Iterable[str]) -> Principal:
    return Principal(
        kind=PrincipalKind.ADMIN_IDENTITY,
        name=f"{index}:{handle}",
        prefixes=frozenset(fold_case(p) for p in prefixes),
        admin_handle=handle,
        admin_index=index,
    )


def _grants(value: Value, principal: Principal, rights: Iterable[Right]) -> bool:
    if value.type != HS_ADMIN or value.data.format is not DataFormat.ADMIN:
        return False
    ref = value.data.value
    named = fold_case(ref["handle"])
    if named.startswith(PREFIX_ADMIN_GROUP):
        if named.removeprefix(PREFIX_ADMIN_GROUP) not in principal.prefixes:
            return False
    elif named != fold_case(principal.admin_handle or "") or ref["index"] not in (
        0,
        principal.admin_index,
    ):
        return False
    bits = ref["permissions"]
    return all(r.granted_by(bits) for r in rights)


def rights_for_change(before: Record | None, after: Record | None) -> set[Right]:
    """The HS_ADMIN rights a change from `before` to `after` needs."""
    if before is None:
        return {Right.ADD_HANDLE}
    if after is None:
        return {Right.DELETE_HANDLE}
    old = {v.index: v for v in before.values}
    new = {v.index: v for v in after.values}
    needed: set[Right] = set()
    for index in old.keys() - new.keys():
        is_admin = old[index].type == HS_ADMIN
        needed.add(Right.REMOVE_ADMIN if is_admin else Right.REMOVE_VALUE)
    for index, value in new.items():
        before_value = old.get(index)
        # A value that is or was an HS_ADMIN needs admin rights: retyping one must not
        # strip a record's administrators with a mere "modify value".
        is_admin = value.type == HS_ADMIN or (
            before_value is not None and before_value.type == HS_ADMIN
        )
        if before_value is None:
            needed.add(Right.ADD_ADMIN if is_admin else Right.ADD_VALUE)
        elif _content(before_value) != _content(value):
            needed.add(Right.MODIFY_ADMIN if is_admin else Right.MODIFY_VALUE)
    return needed


def _content(value: Value) -> tuple[object, ...]:
    return (value.type, value.data, value.ttl, value.permissions)


def require_authenticated(principal: Principal, handle: Handle) -> None:
    """Checked before anything else about a write, so anonymous callers learn nothing."""
    if not principal.authenticated:
        raise AuthenticationRequiredError(
            "changing identifiers needs authentication", handle=handle.name
        )


def authorise_write(
    principal: Principal, handle: Handle, before: Record | None, after: Record | None
) -> None:
    """Raise unless `principal` may change `handle` from `before` to `after`."""
    require_authenticated(principal, handle)
    if principal.has(Role.PLATFORM_ADMIN):
        return
    if not principal.may_manage_identifiers:
        raise NotAuthorisedError(
            f"{principal.name} has no role that may change identifiers", handle=handle.name
        )
    if not principal.administers(handle.prefix):
        raise NotAuthorisedError(
            f"{principal.name} may not change identifiers under prefix {handle.prefix}",
            handle=handle.name,
        )
    if principal.kind is PrincipalKind.ADMIN_IDENTITY and before is not None:
        admins = [v for v in before.values if v.type == HS_ADMIN]
        needed = rights_for_change(before, after)
        if admins and not any(_grants(v, principal, needed) for v in admins):
            names = ", ".join(sorted(r.name.lower().replace("_", " ") for r in needed))
            missing = f"grant {principal.name}: {names}" if needed else f"name {principal.name}"
            raise NotAuthorisedError(
                f"the HS_ADMIN values of {handle.name} do not {missing}", handle=handle.name
            )


def may_see_restricted(principal: Principal, handle: Handle) -> bool:
    """Restricted values are readable by auditors and by whoever administers the prefix."""
    return principal.has(Role.AUDITOR) or principal.administers(handle.prefix)


def authorise_list(principal: Principal, prefix: str) -> None:
    """Listing a prefix's identifiers is for its administrators, auditors and platform admins."""
    if not principal.authenticated:
        raise AuthenticationRequiredError("listing identifiers needs authentication")
    if principal.has(Role.AUDITOR) or principal.administers(prefix):
        return
    raise NotAuthorisedError(f"{principal.name} may not list identifiers under prefix {prefix}")


# The authorisation matrix: which actor may perform which operation, and over what.
# Denied unless listed here. docs/authorisation.md shows the same table; a test keeps both
# equal, and another drives every cell through the API.


class Actor(StrEnum):
    """What a principal acts as. A person with several roles acts as each of them."""

    PUBLIC = "public"  # anonymous
    PERSON = "person"  # signed in, with no role yet (e.g. an applicant)
    ENTERPRISE_USER = "enterprise-user"
    ENTERPRISE_ADMIN = "enterprise-admin"
    AUDITOR = "auditor"
    PLATFORM_ADMIN = "platform-admin"
    ADMIN_IDENTITY = "admin-identity"  # a Handle client with `index:handle` and a secret


class Scope(StrEnum):
    """Over what an allowed operation extends."""

    ANY = "any"  # the whole node
    ENTERPRISE = "enterprise"  # the actor's own enterprise (an admin identity: its prefixes)
    SELF = "self"  # what the actor itself submitted or owns


class Operation(StrEnum):
    # identifiers
    RESOLVE = "resolve"
    LIST_IDENTIFIERS = "list-identifiers"
    SEARCH_IDENTIFIERS = "search-identifiers"
    REGISTER_IDENTIFIER = "register-identifier"
    UPDATE_IDENTIFIER = "update-identifier"
    DELETE_IDENTIFIER = "delete-identifier"
    # enterprises and their applications
    SEARCH_ENTERPRISES = "search-enterprises"
    VIEW_ENTERPRISE = "view-enterprise"
    APPLY = "apply"
    REQUEST_CHANGE = "request-change"
    WITHDRAW_APPLICATION = "withdraw-application"
    VIEW_APPLICATIONS = "view-applications"
    DECIDE_APPLICATION = "decide-application"
    SUSPEND_ENTERPRISE = "suspend-enterprise"
    # people and admin identities
    VIEW_USERS = "view-users"
    MANAGE_USERS = "manage-users"
    VIEW_ADMIN_IDENTITIES = "view-admin-identities"
    MANAGE_ADMIN_IDENTITIES = "manage-admin-identities"
    # records and figures
    VIEW_OPERATION_LOG = "view-operation-log"
    VIEW_STATISTICS = "view-statistics"
    VIEW_NODE_HEALTH = "view-node-health"
    VIEW_BILLING = "view-billing"
    VIEW_PARAMETERS = "view-parameters"
    UPDATE_PARAMETERS = "update-parameters"
    # devices (the IoT management system)
    VIEW_DEVICES = "view-devices"
    MANAGE_DEVICES = "manage-devices"
    CONTROL_DEVICES = "control-devices"
    # metadata templates, private codes and GS1 Digital Link links
    VIEW_TEMPLATES = "view-templates"
    MANAGE_TEMPLATES = "manage-templates"
    EXTEND_TEMPLATES = "extend-templates"
    MANAGE_CODES = "manage-codes"
    RESOLVE_CODES = "resolve-codes"
    MANAGE_LINKS = "manage-links"


_A = Actor
_EVERYONE = {actor: Scope.ANY for actor in Actor}
_STAFF = {_A.PLATFORM_ADMIN: Scope.ANY, _A.AUDITOR: Scope.ANY}
_STAFF_AND_ENTERPRISE_ADMIN = {**_STAFF, _A.ENTERPRISE_ADMIN: Scope.ENTERPRISE}
_IDENTIFIER_WRITERS = {
    _A.PLATFORM_ADMIN: Scope.ANY,
    _A.ENTERPRISE_ADMIN: Scope.ENTERPRISE,
    _A.ENTERPRISE_USER: Scope.ENTERPRISE,
    _A.ADMIN_IDENTITY: Scope.ENTERPRISE,
}

MATRIX: dict[Operation, dict[Actor, Scope]] = {
    Operation.RESOLVE: _EVERYONE,
    Operation.LIST_IDENTIFIERS: {**_STAFF, **_IDENTIFIER_WRITERS},
    Operation.SEARCH_IDENTIFIERS: {
        **_STAFF,
        _A.ENTERPRISE_ADMIN: Scope.ENTERPRISE,
        _A.ENTERPRISE_USER: Scope.ENTERPRISE,
    },
    Operation.REGISTER_IDENTIFIER: _IDENTIFIER_WRITERS,
    Operation.UPDATE_IDENTIFIER: _IDENTIFIER_WRITERS,
    Operation.DELETE_IDENTIFIER: _IDENTIFIER_WRITERS,
    # The public directory of enterprise nodes; what each actor sees of an entry differs.
    Operation.SEARCH_ENTERPRISES: {a: s for a, s in _EVERYONE.items() if a != _A.ADMIN_IDENTITY},
    Operation.VIEW_ENTERPRISE: {
        **_STAFF,
        _A.ENTERPRISE_ADMIN: Scope.ENTERPRISE,
        _A.ENTERPRISE_USER: Scope.ENTERPRISE,
    },
    Operation.APPLY: {_A.PERSON: Scope.SELF},
    Operation.REQUEST_CHANGE: {_A.ENTERPRISE_ADMIN: Scope.ENTERPRISE},
    Operation.WITHDRAW_APPLICATION: {_A.PERSON: Scope.SELF, _A.ENTERPRISE_ADMIN: Scope.SELF},
    Operation.VIEW_APPLICATIONS: {
        **_STAFF,
        _A.ENTERPRISE_ADMIN: Scope.ENTERPRISE,
        _A.PERSON: Scope.SELF,
    },
    # Separation of duties: auditors decide; platform admins operate but do not approve.
    Operation.DECIDE_APPLICATION: {_A.AUDITOR: Scope.ANY},
    Operation.SUSPEND_ENTERPRISE: {_A.PLATFORM_ADMIN: Scope.ANY},
    Operation.VIEW_USERS: {_A.PLATFORM_ADMIN: Scope.ANY, _A.ENTERPRISE_ADMIN: Scope.ENTERPRISE},
    Operation.MANAGE_USERS: {_A.PLATFORM_ADMIN: Scope.ANY, _A.ENTERPRISE_ADMIN: Scope.ENTERPRISE},
    Operation.VIEW_ADMIN_IDENTITIES: _STAFF_AND_ENTERPRISE_ADMIN,
    Operation.MANAGE_ADMIN_IDENTITIES: {
        _A.PLATFORM_ADMIN: Scope.ANY,
        _A.ENTERPRISE_ADMIN: Scope.ENTERPRISE,
    },
    Operation.VIEW_OPERATION_LOG: _STAFF_AND_ENTERPRISE_ADMIN,
    Operation.VIEW_STATISTICS: _STAFF_AND_ENTERPRISE_ADMIN,
    Operation.VIEW_NODE_HEALTH: _STAFF_AND_ENTERPRISE_ADMIN,
    Operation.VIEW_BILLING: _STAFF_AND_ENTERPRISE_ADMIN,
    Operation.VIEW_PARAMETERS: _STAFF,
    Operation.UPDATE_PARAMETERS: {_A.PLATFORM_ADMIN: Scope.ANY},
    # Profiles, devices, telemetry, shadows, commands and alarms are the enterprise's own.
    Operation.VIEW_DEVICES: {
        **_STAFF,
        _A.ENTERPRISE_ADMIN: Scope.ENTERPRISE,
        _A.ENTERPRISE_USER: Scope.ENTERPRISE,
    },
    Operation.MANAGE_DEVICES: {_A.PLATFORM_ADMIN: Scope.ANY, _A.ENTERPRISE_ADMIN: Scope.ENTERPRISE},
    # Operating devices day to day is for every enterprise role; auditors only watch.
    Operation.CONTROL_DEVICES: {
        _A.PLATFORM_ADMIN: Scope.ANY,
        _A.ENTERPRISE_ADMIN: Scope.ENTERPRISE,
        _A.ENTERPRISE_USER: Scope.ENTERPRISE,
    },
    # Templates are the industry's shared vocabulary: anyone reads them; the node's
    # administrators import them; enterprise admins extend them for their enterprise.
    Operation.VIEW_TEMPLATES: _EVERYONE,
    Operation.MANAGE_TEMPLATES: {_A.PLATFORM_ADMIN: Scope.ANY},
    Operation.EXTEND_TEMPLATES: {
        _A.PLATFORM_ADMIN: Scope.ANY,
        _A.ENTERPRISE_ADMIN: Scope.ENTERPRISE,
    },
    # Private codes are the enterprise's own; resolving them is also open to the enterprises
    # the owner grants it to (checked against the owner's grants, see docs/private-codes.md).
    Operation.MANAGE_CODES: {
        _A.PLATFORM_ADMIN: Scope.ANY,
        _A.ENTERPRISE_ADMIN: Scope.ENTERPRISE,
        _A.ENTERPRISE_USER: Scope.ENTERPRISE,
    },
    Operation.RESOLVE_CODES: {
        **_STAFF,
        _A.ENTERPRISE_ADMIN: Scope.ENTERPRISE,
        _A.ENTERPRISE_USER: Scope.ENTERPRISE,
    },
    # Digital Link links belong with the identifier: the people who may change it link it.
    Operation.MANAGE_LINKS: {
        _A.PLATFORM_ADMIN: Scope.ANY,
        _A.ENTERPRISE_ADMIN: Scope.ENTERPRISE,
        _A.ENTERPRISE_USER: Scope.ENTERPRISE,
    },
}

_SCOPE_BREADTH = {Scope.ANY: 2, Scope.ENTERPRISE: 1, Scope.SELF: 0}


def actors_of(principal: Principal) -> frozenset[Actor]:
    if principal.kind is PrincipalKind.ANONYMOUS:
        return frozenset({Actor.PUBLIC})
    if principal.kind is PrincipalKind.ADMIN_IDENTITY:
        return frozenset({Actor.ADMIN_IDENTITY})
    if not principal.roles:
        return frozenset({Actor.PERSON})
    return frozenset(Actor(role.value) for role in principal.roles)


def scopes(principal: Principal, operation: Operation) -> frozenset[Scope]:
    """Every scope over which `principal` may perform `operation` (empty: not at all)."""
    allowed = MATRIX.get(operation, {})
    return frozenset(allowed[a] for a in actors_of(principal) if a in allowed)


def authorise(
    principal: Principal,
    operation: Operation,
    *,
    enterprise: str | None = None,
    owner: str | None = None,
) -> Scope:
    """Raise unless `principal` may perform `operation`; with a target (the enterprise it
    belongs to, or who owns it), on that target. Returns the broadest scope granted, so
    that a listing can narrow itself to it."""
    granted = scopes(principal, operation)
    if not granted:
        if not principal.authenticated:
            raise AuthenticationRequiredError(f"{operation.value} needs authentication")
        raise NotAuthorisedError(f"{principal.name} may not {operation.value.replace('-', ' ')}")
    if enterprise is not None or owner is not None:
        fits = [s for s in granted if _covers(principal, s, enterprise, owner)]
        if not fits:
            raise NotAuthorisedError(
                f"{principal.name} may not {operation.value.replace('-', ' ')} here"
            )
        granted = frozenset(fits)
    return max(granted, key=_SCOPE_BREADTH.__getitem__)


def _covers(principal: Principal, scope: Scope, enterprise: str | None, owner: str | None) -> bool:
    if scope is Scope.ANY:
        return True
    if scope is Scope.ENTERPRISE:
        return enterprise is not None and principal.enterprise == enterprise
    return owner is not None and principal.name == owner
