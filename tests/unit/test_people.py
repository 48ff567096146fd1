"""People and admin identities: who may see and manage whom, and what every change leaves
in the operation log (service with in-memory fakes)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from idnode.domain.access import ANONYMOUS, Principal, Role, admin_identity, user
from idnode.domain.credentials import AdminCredential, hash_secret, verify_secret
from idnode.domain.errors import (
    AuthenticationRequiredError,
    IdnodeError,
    InvalidStateError,
    InvalidValueError,
    NotAuthorisedError,
    NotFoundError,
)
from idnode.domain.operations import OperationEntry
from idnode.domain.people import Member
from idnode.domain.prefixes import Prefix, PrefixStatus
from idnode.services.operations import OperationLog
from idnode.services.people import PeopleService
from tests.unit.fakes import InMemoryOperations, InMemoryPrefixes
from tests.unit.fakes_people import (
    InMemoryAdminCredentials,
    InMemoryMembers,
    InMemoryUserPool,
    person,
)

ENT, OTHER = "ent-1234", "ent-5678"
PREFIX, OTHER_PREFIX, SUSPENDED_PREFIX = "88.100.1234", "88.100.5678", "88.100.1239"
IDENTITY, OTHER_IDENTITY = f"300:{PREFIX}/ADMIN", f"300:{OTHER_PREFIX}/ADMIN"

PLATFORM_ADMIN = user("pat", ["platform-admin"], None, [])
AUDITOR = user("aud", ["auditor"], None, [])
ENTERPRISE_ADMIN = user("ena", ["enterprise-admin"], ENT, [PREFIX])
OTHER_ADMIN = user("oth", ["enterprise-admin"], OTHER, [OTHER_PREFIX])
ENTERPRISE_USER = user("emu", ["enterprise-user"], ENT, [PREFIX])
APPLICANT = user("app", [], None, [])
HANDLE_CLIENT = admin_identity(300, f"{PREFIX}/ADMIN", [PREFIX])

E_ADMIN, E_USER = Role.ENTERPRISE_ADMIN, Role.ENTERPRISE_USER


@pytest.fixture(scope="module")
def stored_hash() -> str:
    return hash_secret("the-first-secret-value")


@pytest.fixture
def pool() -> InMemoryUserPool:
    return InMemoryUserPool(
        person("pat", [Role.PLATFORM_ADMIN], mfa=True),
        person("aud", [Role.AUDITOR], mfa=True),
        person("ena", [E_ADMIN], ENT),
        person("emu", [E_USER], ENT),
        person("emu2", [E_USER], ENT),
        person("staffer", [Role.AUDITOR, E_USER], ENT),
        person("oth", [E_ADMIN], OTHER),
        person("ou", [E_USER], OTHER),
        person("app"),
    )


@pytest.fixture
def members() -> InMemoryMembers:
    return InMemoryMembers(
        Member(ENT, "ena", frozenset({E_ADMIN})),
        Member(ENT, "emu", frozenset({E_USER})),
        Member(ENT, "emu2", frozenset({E_USER})),
        Member(ENT, "staffer", frozenset({Role.AUDITOR, E_USER})),
        Member(OTHER, "oth", frozenset({E_ADMIN})),
        Member(OTHER, "ou", frozenset({E_USER})),
    )


@pytest.fixture
def credentials(stored_hash: str) -> InMemoryAdminCredentials:
    return InMemoryAdminCredentials(
        AdminCredential(IDENTITY, stored_hash, (PREFIX,)),
        AdminCredential(f"301:{PREFIX}/ROBOT", stored_hash, (PREFIX,)),
        AdminCredential(OTHER_IDENTITY, stored_hash, (OTHER_PREFIX,)),
    )


@pytest.fixture
def prefixes() -> InMemoryPrefixes:
    return InMemoryPrefixes(
        Prefix(PREFIX, ENT),
        Prefix(SUSPENDED_PREFIX, ENT, PrefixStatus.SUSPENDED),
        Prefix(OTHER_PREFIX, OTHER),
    )


@pytest.fixture
def operations() -> InMemoryOperations:
    return InMemoryOperations()


Build = Callable[..., PeopleService]


@pytest.fixture
def build(
    pool: InMemoryUserPool,
    members: InMemoryMembers,
    credentials: InMemoryAdminCredentials,
    prefixes: InMemoryPrefixes,
    operations: InMemoryOperations,
) -> Build:
    def make(known: Callable[[str], bool] | None = None) -> PeopleService:
        return PeopleService(
            pool,
            members,
            credentials,
            prefixes,
            log=OperationLog(operations, fallback=lambda entry, error: None),
            known_enterprise=known,
        )

    return make


@pytest.fixture
def people(build: Build) -> PeopleService:
    return build()


def last(operations: InMemoryOperations) -> OperationEntry:
    return operations.entries[-1]


# Listing people


def test_platform_admins_page_through_the_whole_pool(
    people: PeopleService, pool: InMemoryUserPool
) -> None:
    pool.page_limit = 2  # the pool's pages are shorter than asked for
    seen: list[str] = []
    after = None
    while True:
        page = people.users(PLATFORM_ADMIN, None, 4, after)
        assert len(page.items) == 4 or page.next_cursor is None
        seen += [p.username for p in page.items]
        after = page.next_cursor
        if after is None:
            break
    assert seen == sorted(pool.people)


def test_pool_cursors_resume_exactly_after_their_person(
    people: PeopleService, pool: InMemoryUserPool
) -> None:
    everyone = sorted(pool.people)
    page = people.users(PLATFORM_ADMIN, None, 5, None)
    for i, cursor in enumerate(page.cursors):
        resumed = people.users(PLATFORM_ADMIN, None, 3, cursor)
        assert [p.username for p in resumed.items] == everyone[i + 1 : i + 4]


def test_an_enterprise_admin_lists_their_own_enterprise_whatever_they_name(
    people: PeopleService,
) -> None:
    page = people.users(ENTERPRISE_ADMIN, None, 10, None)
    assert [p.username for p in page.items] == ["emu", "emu2", "ena", "staffer"]
    assert people.users(ENTERPRISE_ADMIN, ENT, 10, None).items == page.items
    with pytest.raises(NotAuthorisedError, match="may not view users here"):
        people.users(ENTERPRISE_ADMIN, OTHER, 10, None)


def test_platform_admins_list_any_enterprise_in_pages(people: PeopleService) -> None:
    first = people.users(PLATFORM_ADMIN, ENT, 3, None)
    assert [p.username for p in first.items] == ["emu", "emu2", "ena"]
    rest = people.users(PLATFORM_ADMIN, ENT, 3, first.next_cursor)
    assert [p.username for p in rest.items] == ["staffer"]
    assert rest.next_cursor is None
    with pytest.raises(InvalidValueError, match="does not belong"):
        people.users(PLATFORM_ADMIN, OTHER, 3, first.next_cursor)


def test_a_member_the_pool_no_longer_knows_is_left_out(
    people: PeopleService, pool: InMemoryUserPool
) -> None:
    del pool.people["emu2"]
    assert [p.username for p in people.users(PLATFORM_ADMIN, ENT, 10, None).items] == [
        "emu",
        "ena",
        "staffer",
    ]


@pytest.mark.parametrize(
    ("principal", "error"),
    [
        (ANONYMOUS, AuthenticationRequiredError),
        (APPLICANT, NotAuthorisedError),
        (ENTERPRISE_USER, NotAuthorisedError),
        (AUDITOR, NotAuthorisedError),
        (HANDLE_CLIENT, NotAuthorisedError),
    ],
    ids=["anonymous", "applicant", "enterprise user", "auditor", "admin identity"],
)
def test_only_admins_list_people(
    people: PeopleService, principal: Principal, error: type[IdnodeError]
) -> None:
    with pytest.raises(error):
        people.users(principal, None, 10, None)
    with pytest.raises(error):
        people.users(principal, ENT, 10, None)


def test_an_enterprise_admin_without_enterprise_lists_nobody(people: PeopleService) -> None:
    with pytest.raises(NotAuthorisedError, match="acts for no enterprise"):
        people.users(replace(ENTERPRISE_ADMIN, enterprise=None), None, 10, None)


@pytest.mark.parametrize("first", [0, 61, -1])
def test_page_sizes_are_bounded(people: PeopleService, first: int) -> None:
    with pytest.raises(InvalidValueError, match="between 1 and 60"):
        people.users(PLATFORM_ADMIN, None, first, None)


@pytest.mark.parametrize("cursor", ["garbage!", "eyJzIjoidXNlcnMiLCJrIjp7InQiOjF9fQ"])
def test_foreign_or_broken_pool_cursors_are_refused(people: PeopleService, cursor: str) -> None:
    with pytest.raises(InvalidValueError, match="cursor"):
        people.users(PLATFORM_ADMIN, None, 5, cursor)


def test_one_person_is_shown_within_the_callers_scope(people: PeopleService) -> None:
    assert people.user(ENTERPRISE_ADMIN, "EMU").username == "emu"
    assert people.user(PLATFORM_ADMIN, "aud").roles == {Role.AUDITOR}
    with pytest.raises(NotAuthorisedError):
        people.user(ENTERPRISE_ADMIN, "ou")
    with pytest.raises(NotAuthorisedError, match="outside their enterprise"):
        people.user(ENTERPRISE_ADMIN, "pat")
    with pytest.raises(NotFoundError):
        people.user(PLATFORM_ADMIN, "nobody")


def test_listings_are_recorded(people: PeopleService, operations: InMemoryOperations) -> None:
    people.users(ENTERPRISE_ADMIN, None, 10, None)
    entry = last(operations)
    assert (entry.action, entry.target, entry.enterprise, entry.actor, entry.result) == (
        "list-users",
        ENT,
        ENT,
        "ena",
        "ok",
    )
    with pytest.raises(NotAuthorisedError):
        people.users(ENTERPRISE_ADMIN, OTHER, 10, None)
    assert (last(operations).result, last(operations).enterprise) == ("not-authorised", OTHER)


# Creating people


def test_platform_admins_create_people_with_any_role(
    people: PeopleService, pool: InMemoryUserPool, members: InMemoryMembers
) -> None:
    created = people.create_user(
        PLATFORM_ADMIN, "New.Auditor", "na@example.com", name=" Ann ", roles=["auditor"]
    )
    assert created.username == "new.auditor"
    assert created.roles == {Role.AUDITOR}
    assert created.status == "FORCE_CHANGE_PASSWORD"
    assert pool.people["new.auditor"].roles == {Role.AUDITOR}
    assert pool.people["new.auditor"].name == "Ann"
    assert all("new.auditor" not in m for m in (members.of(ENT), members.of(OTHER)))


def test_people_created_for_an_enterprise_are_listed_with_it(
    people: PeopleService, pool: InMemoryUserPool, members: InMemoryMembers
) -> None:
    people.create_user(
        PLATFORM_ADMIN, "boss", "b@example.com", roles=["enterprise-admin"], enterprise=OTHER
    )
    assert pool.people["boss"].enterprise == OTHER
    assert members.of(OTHER)["boss"] == {E_ADMIN}


def test_enterprise_admins_create_people_of_their_own_enterprise(
    people: PeopleService, pool: InMemoryUserPool, members: InMemoryMembers
) -> None:
    created = people.create_user(
        ENTERPRISE_ADMIN, "worker", "w@example.com", roles=["enterprise-user"]
    )
    assert created.enterprise == ENT
    assert pool.people["worker"].roles == {E_USER}
    assert members.of(ENT)["worker"] == {E_USER}


@pytest.mark.parametrize(
    "case",
    [
        (["platform-admin"], None, NotAuthorisedError, "may manage only"),
        (["auditor", "enterprise-user"], None, NotAuthorisedError, "may manage only"),
        (["enterprise-user"], OTHER, NotAuthorisedError, "here"),
        ([], None, InvalidValueError, "give the new person a role"),
        (["owner"], None, InvalidValueError, "unknown role 'owner'"),
    ],
    ids=["platform admin", "auditor", "other enterprise", "no role", "unknown role"],
)
def test_what_enterprise_admins_may_not_create(
    people: PeopleService,
    pool: InMemoryUserPool,
    case: tuple[list[str], str | None, type[IdnodeError], str],
) -> None:
    roles, enterprise, error, message = case
    with pytest.raises(error, match=message):
        people.create_user(
            ENTERPRISE_ADMIN, "x", "x@example.com", roles=roles, enterprise=enterprise
        )
    assert "x" not in pool.people


@pytest.mark.parametrize(
    ("username", "email", "message"),
    [
        ("", "a@example.com", "username is empty"),
        ("has space", "a@example.com", "invalid username"),
        ("-dash", "a@example.com", "invalid username"),
        ("x" * 129, "a@example.com", "longer than 128"),
        ("fine", "not-an-email", "invalid email"),
    ],
)
def test_bad_accounts_are_refused_by_name(
    people: PeopleService, username: str, email: str, message: str
) -> None:
    with pytest.raises(InvalidValueError, match=message):
        people.create_user(PLATFORM_ADMIN, username, email)


def test_enterprise_roles_need_an_enterprise(people: PeopleService) -> None:
    with pytest.raises(InvalidValueError, match="need an enterprise"):
        people.create_user(PLATFORM_ADMIN, "lost", "l@example.com", roles=["enterprise-user"])


def test_an_unknown_enterprise_is_refused_when_enterprises_are_known(
    build: Build, pool: InMemoryUserPool
) -> None:
    people = build(known=lambda enterprise: enterprise == ENT)
    with pytest.raises(NotFoundError, match="no enterprise ent-9999"):
        people.create_user(
            PLATFORM_ADMIN, "z", "z@example.com", roles=["enterprise-user"], enterprise="ent-9999"
        )
    assert "z" not in pool.people
    people.create_user(
        PLATFORM_ADMIN, "z", "z@example.com", roles=["enterprise-user"], enterprise=ENT
    )


def test_a_taken_username_is_an_invalid_state(
    people: PeopleService, operations: InMemoryOperations
) -> None:
    with pytest.raises(InvalidStateError, match="taken"):
        people.create_user(PLATFORM_ADMIN, "emu", "e@example.com")
    assert (last(operations).action, last(operations).result) == ("create-user", "invalid-state")


def test_creation_is_recorded_without_personal_data(
    people: PeopleService, operations: InMemoryOperations
) -> None:
    people.create_user(
        ENTERPRISE_ADMIN, "worker", "secret-mail@example.com", roles=["enterprise-user"]
    )
    entry = last(operations)
    assert (entry.action, entry.target, entry.enterprise, entry.result) == (
        "create-user",
        "worker",
        ENT,
        "ok",
    )
    assert entry.details == {"roles": ["enterprise-user"]}
    assert "secret-mail" not in repr(entry)


def test_anonymous_callers_are_asked_to_authenticate_before_anything_is_read(
    people: PeopleService, pool: InMemoryUserPool
) -> None:
    with pytest.raises(AuthenticationRequiredError):
        people.create_user(ANONYMOUS, "bad name!", "x")
    for change in (
        lambda: people.set_roles(ANONYMOUS, "emu", []),
        lambda: people.disable_user(ANONYMOUS, "emu"),
        lambda: people.set_enterprise(ANONYMOUS, "emu", OTHER),
    ):
        with pytest.raises(AuthenticationRequiredError):
            change()
    assert pool.calls["get"] == 0


# Roles


def test_enterprise_admins_change_roles_of_their_own_people(
    people: PeopleService, pool: InMemoryUserPool, members: InMemoryMembers
) -> None:
    changed = people.set_roles(ENTERPRISE_ADMIN, "emu", ["enterprise-admin", "enterprise-user"])
    assert changed.roles == {E_ADMIN, E_USER}
    assert members.of(ENT)["emu"] == {E_ADMIN, E_USER}
    assert pool.signed_out == []  # nothing withdrawn: the person keeps their sessions
    people.set_roles(ENTERPRISE_ADMIN, "emu", ["enterprise-user"])
    assert pool.people["emu"].roles == {E_USER}
    assert pool.signed_out == ["emu"]


@pytest.mark.parametrize(
    ("username", "roles", "message"),
    [
        ("ou", ["enterprise-user"], "here"),  # another enterprise's person
        ("emu", ["platform-admin"], "may manage only"),
        ("emu", ["auditor"], "may manage only"),
        ("staffer", ["enterprise-user"], "may manage only"),  # holds auditor
        ("pat", ["enterprise-user"], "outside their enterprise"),
        ("ena", [], "change their own roles"),
    ],
)
def test_what_enterprise_admins_may_not_change(
    people: PeopleService, pool: InMemoryUserPool, username: str, roles: list[str], message: str
) -> None:
    before = dict(pool.people)
    with pytest.raises(NotAuthorisedError, match=message):
        people.set_roles(ENTERPRISE_ADMIN, username, roles)
    assert pool.people == before


def test_platform_admins_grant_any_role_but_not_to_themselves(
    people: PeopleService, pool: InMemoryUserPool
) -> None:
    people.set_roles(PLATFORM_ADMIN, "emu", ["platform-admin", "enterprise-user"])
    assert pool.people["emu"].roles == {Role.PLATFORM_ADMIN, E_USER}
    with pytest.raises(NotAuthorisedError, match="own roles"):
        people.set_roles(PLATFORM_ADMIN, "PAT", [])
    with pytest.raises(InvalidValueError, match="need an enterprise"):
        people.set_roles(PLATFORM_ADMIN, "app", ["enterprise-admin"])


def test_role_changes_are_recorded_with_before_and_after(
    people: PeopleService, operations: InMemoryOperations
) -> None:
    people.set_roles(ENTERPRISE_ADMIN, "emu", ["enterprise-admin"])
    entry = last(operations)
    assert (entry.action, entry.target, entry.enterprise) == ("set-user-roles", "emu", ENT)
    assert entry.details == {"before": ["enterprise-user"], "after": ["enterprise-admin"]}
    with pytest.raises(NotFoundError):
        people.set_roles(PLATFORM_ADMIN, "nobody", [])
    assert (last(operations).target, last(operations).result) == ("nobody", "not-found")


# Enterprise binding


def test_platform_admins_move_people_between_enterprises(
    people: PeopleService,
    pool: InMemoryUserPool,
    members: InMemoryMembers,
    operations: InMemoryOperations,
) -> None:
    moved = people.set_enterprise(PLATFORM_ADMIN, "emu", OTHER)
    assert moved.enterprise == OTHER
    assert pool.people["emu"].enterprise == OTHER
    assert "emu" not in members.of(ENT)
    assert members.of(OTHER)["emu"] == {E_USER}
    assert pool.signed_out == ["emu"]
    entry = last(operations)
    assert (entry.action, entry.enterprise, entry.details) == (
        "set-user-enterprise",
        OTHER,
        {"before": ENT, "after": OTHER},
    )


def test_binding_someone_unbound_and_unbinding_them(
    people: PeopleService, pool: InMemoryUserPool, members: InMemoryMembers
) -> None:
    people.set_enterprise(PLATFORM_ADMIN, "app", ENT)
    assert members.of(ENT)["app"] == frozenset()
    assert pool.signed_out == []
    people.set_enterprise(PLATFORM_ADMIN, "app", None)
    assert pool.people["app"].enterprise is None
    assert "app" not in members.of(ENT)
    assert pool.signed_out == ["app"]


def test_people_with_enterprise_roles_stay_bound(people: PeopleService) -> None:
    with pytest.raises(InvalidStateError, match="withdraw them first"):
        people.set_enterprise(PLATFORM_ADMIN, "emu", None)


@pytest.mark.parametrize("principal", [ENTERPRISE_ADMIN, AUDITOR, ENTERPRISE_USER])
def test_only_platform_admins_bind_people(
    people: PeopleService, pool: InMemoryUserPool, principal: Principal
) -> None:
    with pytest.raises(NotAuthorisedError):
        people.set_enterprise(principal, "app", ENT)
    assert pool.people["app"].enterprise is None


def test_the_onboarding_binding_makes_an_applicant_an_enterprise_admin(
    people: PeopleService, pool: InMemoryUserPool, members: InMemoryMembers
) -> None:
    people.bind("APP", OTHER, E_ADMIN)
    assert pool.people["app"].enterprise == OTHER
    assert pool.people["app"].roles == {E_ADMIN}
    assert members.of(OTHER)["app"] == {E_ADMIN}
    # A person of another enterprise is moved, and their old membership forgotten.
    people.bind("emu", OTHER, E_ADMIN)
    assert "emu" not in members.of(ENT)
    assert members.of(OTHER)["emu"] == {E_ADMIN, E_USER}
    assert pool.signed_out == ["emu"]


# Enabling and disabling


def test_enterprise_admins_disable_and_enable_their_people(
    people: PeopleService, pool: InMemoryUserPool, operations: InMemoryOperations
) -> None:
    assert people.disable_user(ENTERPRISE_ADMIN, "emu").enabled is False
    assert pool.people["emu"].enabled is False
    assert pool.signed_out == ["emu"]
    assert (last(operations).action, last(operations).enterprise) == ("disable-user", ENT)
    assert people.enable_user(ENTERPRISE_ADMIN, "emu").enabled is True
    assert last(operations).action == "enable-user"


@pytest.mark.parametrize(
    ("principal", "username", "message"),
    [
        (ENTERPRISE_ADMIN, "ena", "disable themselves"),
        (PLATFORM_ADMIN, "pat", "disable themselves"),
        (ENTERPRISE_ADMIN, "staffer", "may manage only"),
        (ENTERPRISE_ADMIN, "ou", "here"),
        (OTHER_ADMIN, "emu", "here"),
    ],
)
def test_nobody_disables_themselves_nor_people_out_of_reach(
    people: PeopleService,
    pool: InMemoryUserPool,
    principal: Principal,
    username: str,
    message: str,
) -> None:
    with pytest.raises(NotAuthorisedError, match=message):
        people.disable_user(principal, username)
    assert pool.people[username].enabled is True


# Admin identities


def test_enterprise_admins_list_their_own_admin_identities(people: PeopleService) -> None:
    page = people.admin_identities(ENTERPRISE_ADMIN, None, 10, None)
    assert [c.identity for c in page.items] == [IDENTITY, f"301:{PREFIX}/ROBOT"]
    with pytest.raises(NotAuthorisedError):
        people.admin_identities(ENTERPRISE_ADMIN, OTHER, 10, None)


def test_staff_list_every_admin_identity_in_pages(people: PeopleService) -> None:
    first = people.admin_identities(AUDITOR, None, 2, None)
    rest = people.admin_identities(PLATFORM_ADMIN, None, 2, first.next_cursor)
    assert len(first.items) == 2
    assert len(rest.items) == 1
    assert rest.next_cursor is None
    assert [c.identity for c in people.admin_identities(AUDITOR, OTHER, 5, None).items] == [
        OTHER_IDENTITY
    ]


@pytest.mark.parametrize("principal", [ENTERPRISE_USER, APPLICANT, HANDLE_CLIENT])
def test_others_see_no_admin_identities(people: PeopleService, principal: Principal) -> None:
    with pytest.raises(NotAuthorisedError):
        people.admin_identities(principal, None, 10, None)


def test_creating_an_admin_identity_returns_its_secret_once(
    people: PeopleService, credentials: InMemoryAdminCredentials, operations: InMemoryOperations
) -> None:
    issued = people.create_admin_identity(ENTERPRISE_ADMIN, f" 302:{PREFIX}/Line-7 ")
    stored = credentials.get(f"302:{PREFIX}/line-7")
    assert stored is not None
    assert stored.identity == f"302:{PREFIX}/Line-7"
    assert stored.prefixes == (PREFIX,)
    assert stored.enabled
    assert verify_secret(issued.secret, stored.secret_hash)
    assert issued.secret not in repr(issued)
    entry = last(operations)
    assert (entry.action, entry.target, entry.enterprise, entry.result) == (
        "create-admin-identity",
        f"302:{PREFIX}/Line-7",
        ENT,
        "ok",
    )
    assert issued.secret not in repr(operations.entries)


@pytest.mark.parametrize(
    ("identity", "error", "message"),
    [
        (f"300:{OTHER_PREFIX}/NEW", NotAuthorisedError, "here"),
        (f"300:{SUSPENDED_PREFIX}/NEW", InvalidStateError, "suspended"),
        ("300:88.100.9999/NEW", NotFoundError, "not allocated"),
        (IDENTITY, InvalidStateError, "exists already"),
        (f"0:{PREFIX}/NEW", InvalidValueError, "between 1 and"),
        (f"{PREFIX}/NEW", InvalidValueError, "index:handle"),
        ("300:bad prefix/NEW", IdnodeError, "invalid prefix"),
    ],
)
def test_admin_identities_are_created_only_under_the_enterprises_active_prefixes(
    people: PeopleService,
    credentials: InMemoryAdminCredentials,
    identity: str,
    error: type[IdnodeError],
    message: str,
) -> None:
    before = dict(credentials.items)
    with pytest.raises(error, match=message):
        people.create_admin_identity(ENTERPRISE_ADMIN, identity)
    assert credentials.items == before


def test_issuing_a_secret_replaces_the_old_one(
    people: PeopleService,
    credentials: InMemoryAdminCredentials,
    operations: InMemoryOperations,
    stored_hash: str,
) -> None:
    issued = people.issue_admin_secret(ENTERPRISE_ADMIN, IDENTITY.lower())
    stored = credentials.get(IDENTITY)
    assert stored is not None
    assert stored.secret_hash != stored_hash
    assert verify_secret(issued.secret, stored.secret_hash)
    assert not verify_secret("the-first-secret-value", stored.secret_hash)
    assert issued.credential.identity == IDENTITY
    entry = last(operations)
    assert (entry.action, entry.target, entry.enterprise) == ("issue-admin-secret", IDENTITY, ENT)
    assert issued.secret not in repr(operations.entries)
    assert stored.secret_hash not in repr(operations.entries)


@pytest.mark.parametrize(
    ("principal", "identity", "error"),
    [
        (ENTERPRISE_ADMIN, OTHER_IDENTITY, NotAuthorisedError),
        (AUDITOR, IDENTITY, NotAuthorisedError),
        (HANDLE_CLIENT, IDENTITY, NotAuthorisedError),
        (ANONYMOUS, IDENTITY, AuthenticationRequiredError),
        (PLATFORM_ADMIN, "300:88.100.1234/NOBODY", NotFoundError),
    ],
)
def test_who_may_not_issue_a_secret(
    people: PeopleService,
    credentials: InMemoryAdminCredentials,
    principal: Principal,
    identity: str,
    error: type[IdnodeError],
) -> None:
    before = dict(credentials.items)
    with pytest.raises(error):
        people.issue_admin_secret(principal, identity)
    assert credentials.items == before


def test_an_identity_of_no_known_prefix_is_for_platform_admins_only(
    people: PeopleService, credentials: InMemoryAdminCredentials, stored_hash: str
) -> None:
    credentials.put(AdminCredential("300:77.1/ADMIN", stored_hash, ("77.1",)))
    with pytest.raises(NotAuthorisedError, match="outside their enterprise"):
        people.disable_admin_identity(ENTERPRISE_ADMIN, "300:77.1/ADMIN")
    assert people.disable_admin_identity(PLATFORM_ADMIN, "300:77.1/ADMIN").enabled is False


def test_disabling_and_enabling_an_admin_identity(
    people: PeopleService, credentials: InMemoryAdminCredentials, operations: InMemoryOperations
) -> None:
    assert people.disable_admin_identity(ENTERPRISE_ADMIN, IDENTITY).enabled is False
    assert credentials.items[IDENTITY.lower()].enabled is False
    assert (last(operations).action, last(operations).enterprise) == (
        "disable-admin-identity",
        ENT,
    )
    assert people.enable_admin_identity(PLATFORM_ADMIN, IDENTITY).enabled is True
    assert credentials.items[IDENTITY.lower()].enabled is True
    with pytest.raises(NotAuthorisedError):
        people.disable_admin_identity(OTHER_ADMIN, IDENTITY)


def test_a_suspended_enterprises_identities_are_listed_when_every_prefix_is_known(
    build: Build, credentials: InMemoryAdminCredentials, stored_hash: str
) -> None:
    credentials.put(
        AdminCredential(f"300:{SUSPENDED_PREFIX}/OLD", stored_hash, (SUSPENDED_PREFIX,))
    )
    active_only = build()
    assert f"300:{SUSPENDED_PREFIX}/OLD" not in [
        c.identity for c in active_only.admin_identities(PLATFORM_ADMIN, ENT, 10, None).items
    ]
    people = PeopleService(
        InMemoryUserPool(),
        InMemoryMembers(),
        credentials,
        InMemoryPrefixes(),
        log=OperationLog(InMemoryOperations(), fallback=lambda entry, error: None),
        prefixes_of=lambda enterprise: [PREFIX, SUSPENDED_PREFIX] if enterprise == ENT else [],
    )
    listed = [c.identity for c in people.admin_identities(PLATFORM_ADMIN, ENT, 10, None).items]
    assert f"300:{SUSPENDED_PREFIX}/OLD" in listed


@pytest.mark.parametrize("enterprise", ["", "ent 1", "x" * 129])
def test_malformed_enterprise_ids_are_refused_by_listings(
    people: PeopleService, enterprise: str
) -> None:
    with pytest.raises(InvalidValueError, match="enterprise id"):
        people.users(PLATFORM_ADMIN, enterprise, 10, None)
    with pytest.raises(InvalidValueError, match="enterprise id"):
        people.admin_identities(PLATFORM_ADMIN, enterprise, 10, None)
