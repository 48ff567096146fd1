"""People and admin identities on moto: the service with the user-pool adapter, the members
and credentials tables and the operation log, driven through the example GraphQL operations;
second factors and refusals through the caller authenticator; issued secrets through Handle
REST."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
import strawberry

from idnode.adapters.people import UserPool
from idnode.api.graphql.people import PeopleMutation, PeopleQuery
from idnode.domain.access import Principal, Role, user
from idnode.domain.errors import AuthenticationRequiredError
from idnode.node import Node
from idnode.services.callers import CallerAuthenticator
from idnode.services.people import PeopleService
from idnode.store.members import MemberRepository
from tests.functional.conftest import HandleApi, basic
from tests.support.identity import REGION, TokenIssuer
from tests.support.node import (
    ADMIN_IDENTITY,
    ADMIN_SECRET,
    ENTERPRISE,
    OTHER_ENTERPRISE,
    OTHER_PREFIX,
    PREFIX,
)
from tests.support.operations import operation
from tests.support.user_pool import MotoUserPool, create_test_pool

PLATFORM_ADMIN = user("pat", ["platform-admin"], None, [])
AUDITOR = user("aud", ["auditor"], None, [])
ENTERPRISE_ADMIN = user("ena", ["enterprise-admin"], ENTERPRISE, [PREFIX])
OTHER_ADMIN = user("oth", ["enterprise-admin"], OTHER_ENTERPRISE, [OTHER_PREFIX])


@pytest.fixture
def moto_pool(node: Node) -> MotoUserPool:
    return create_test_pool()


@pytest.fixture
def members(node: Node) -> MemberRepository:
    return MemberRepository(node.tables.members)


@pytest.fixture
def people(node: Node, moto_pool: MotoUserPool, members: MemberRepository) -> PeopleService:
    return PeopleService(
        UserPool(moto_pool.pool_id, REGION),
        members,
        node.credentials,
        node.prefixes,
        log=node.log,
        known_enterprise=lambda e: bool(node.prefixes.prefixes_of(e)),
    )


class PeopleApi:
    """The people queries and mutations, run as a frontend sends them."""

    def __init__(self, service: PeopleService) -> None:
        self._schema = strawberry.Schema(query=PeopleQuery, mutation=PeopleMutation)
        self._service = service

    def run(self, document: str, principal: Principal, **variables: Any) -> dict[str, Any]:
        context = SimpleNamespace(node=SimpleNamespace(people=self._service), principal=principal)
        result = asyncio.run(
            self._schema.execute(document, variable_values=variables, context_value=context)
        )
        assert result.errors is None, result.errors
        assert result.data is not None
        [answer] = result.data.values()
        assert isinstance(answer, dict)
        return answer


@pytest.fixture
def api(people: PeopleService) -> PeopleApi:
    return PeopleApi(people)


def log_entries(node: Node, action: str) -> list[Any]:
    entries = [e for e in node.tables.operations.scan() if e.action == action]
    return sorted(entries, key=lambda e: e.at_key)


def ok(answer: dict[str, Any], typename: str) -> dict[str, Any]:
    assert answer["__typename"] == typename, answer
    return answer


# People


def test_an_enterprise_admin_creates_and_manages_their_people(
    api: PeopleApi, moto_pool: MotoUserPool, members: MemberRepository, node: Node
) -> None:
    created = ok(
        api.run(
            operation("CreateUser"),
            ENTERPRISE_ADMIN,
            input={
                "username": "Worker",
                "email": "worker@example.com",
                "roles": ["enterprise-user"],
            },
        ),
        "User",
    )
    assert (created["username"], created["enterprise"], created["roles"], created["status"]) == (
        "worker",
        ENTERPRISE,
        ["enterprise-user"],
        "FORCE_CHANGE_PASSWORD",
    )
    stored = moto_pool.client.admin_get_user(UserPoolId=moto_pool.pool_id, Username="worker")
    attributes = {a["Name"]: a["Value"] for a in stored["UserAttributes"]}
    assert attributes["custom:enterprise"] == ENTERPRISE
    assert attributes["email"] == "worker@example.com"
    assert [m.username for m in members.list(ENTERPRISE, 10, None).items] == ["worker"]

    promoted = api.run(
        operation("SetUserRoles"), ENTERPRISE_ADMIN, username="worker", roles=["enterprise-admin"]
    )
    assert ok(promoted, "User")["roles"] == ["enterprise-admin"]
    member = members.get(ENTERPRISE, "worker")
    assert member is not None
    assert member.roles == {Role.ENTERPRISE_ADMIN}

    assert (
        ok(api.run(operation("DisableUser"), ENTERPRISE_ADMIN, username="worker"), "User")[
            "enabled"
        ]
        is False
    )
    assert (
        moto_pool.client.admin_get_user(UserPoolId=moto_pool.pool_id, Username="worker")["Enabled"]
        is False
    )
    assert ok(api.run(operation("EnableUser"), ENTERPRISE_ADMIN, username="worker"), "User")[
        "enabled"
    ]

    listed = ok(api.run(operation("Users"), ENTERPRISE_ADMIN), "UserConnection")
    [edge] = listed["edges"]
    assert edge["node"]["username"] == "worker"
    assert edge["node"]["mfaEnrolled"] is False
    assert ok(api.run(operation("User"), ENTERPRISE_ADMIN, username="worker"), "User")["roles"] == [
        "enterprise-admin"
    ]

    actions = ["create-user", "set-user-roles", "disable-user", "enable-user", "list-users"]
    for action in actions:
        [entry] = log_entries(node, action)
        assert (entry.actor, entry.enterprise, entry.result) == ("ena", ENTERPRISE, "ok")
    [roles_entry] = log_entries(node, "set-user-roles")
    assert roles_entry.details == {"before": ["enterprise-user"], "after": ["enterprise-admin"]}


def test_enterprise_admins_are_refused_with_typed_errors(
    api: PeopleApi, moto_pool: MotoUserPool, node: Node
) -> None:
    moto_pool.add_person("ou", (Role.ENTERPRISE_USER,), OTHER_ENTERPRISE)
    refused = api.run(operation("SetUserRoles"), ENTERPRISE_ADMIN, username="ou", roles=[])
    assert ok(refused, "NotAuthorisedError")["message"] == "ena may not manage users here"
    grant = api.run(
        operation("CreateUser"),
        ENTERPRISE_ADMIN,
        input={"username": "boss", "email": "b@example.com", "roles": ["platform-admin"]},
    )
    assert ok(grant, "NotAuthorisedError")["message"].startswith("ena may manage only")
    assert ok(
        api.run(operation("Users"), ENTERPRISE_ADMIN, enterprise=OTHER_ENTERPRISE),
        "NotAuthorisedError",
    )
    assert ok(api.run(operation("Users"), AUDITOR), "NotAuthorisedError")
    missing = api.run(operation("DisableUser"), PLATFORM_ADMIN, username="nobody")
    assert ok(missing, "NotFoundError")["message"] == "there is no person 'nobody'"
    taken = api.run(
        operation("CreateUser"), PLATFORM_ADMIN, input={"username": "ou", "email": "x@example.com"}
    )
    assert ok(taken, "InvalidStateError")
    bad = api.run(
        operation("CreateUser"), PLATFORM_ADMIN, input={"username": "a b", "email": "x@example.com"}
    )
    assert ok(bad, "InvalidInputError")
    assert [e.result for e in log_entries(node, "set-user-roles")] == ["not-authorised"]


def test_platform_admins_page_through_the_pool_and_bind_people(
    api: PeopleApi, moto_pool: MotoUserPool, members: MemberRepository
) -> None:
    for n in range(5):
        moto_pool.add_person(f"p{n}")
    names: list[str] = []
    after = None
    while True:
        page = ok(
            api.run(operation("Users"), PLATFORM_ADMIN, first=2, after=after), "UserConnection"
        )
        names += [e["node"]["username"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert sorted(names) == [f"p{n}" for n in range(5)]

    bound = api.run(
        operation("SetUserEnterprise"), PLATFORM_ADMIN, username="p1", enterprise=OTHER_ENTERPRISE
    )
    assert ok(bound, "User")["enterprise"] == OTHER_ENTERPRISE
    api.run(operation("SetUserRoles"), PLATFORM_ADMIN, username="p1", roles=["enterprise-admin"])
    assert [m.username for m in members.list(OTHER_ENTERPRISE, 10, None).items] == ["p1"]
    moved = api.run(
        operation("SetUserEnterprise"), PLATFORM_ADMIN, username="p1", enterprise=ENTERPRISE
    )
    assert ok(moved, "User")["enterprise"] == ENTERPRISE
    assert members.list(OTHER_ENTERPRISE, 10, None).items == []
    assert [m.username for m in members.list(ENTERPRISE, 10, None).items] == ["p1"]
    unknown = api.run(
        operation("SetUserEnterprise"), PLATFORM_ADMIN, username="p2", enterprise="ent-0000"
    )
    assert ok(unknown, "NotFoundError")
    stay = api.run(operation("SetUserEnterprise"), PLATFORM_ADMIN, username="p1", enterprise=None)
    assert ok(stay, "InvalidStateError")


def test_the_onboarding_binding_on_the_pool(
    people: PeopleService, moto_pool: MotoUserPool, members: MemberRepository
) -> None:
    moto_pool.add_person("applicant")
    people.bind("applicant", ENTERPRISE, Role.ENTERPRISE_ADMIN)
    found = people.user(PLATFORM_ADMIN, "applicant")
    assert (found.enterprise, found.roles) == (ENTERPRISE, {Role.ENTERPRISE_ADMIN})
    member = members.get(ENTERPRISE, "applicant")
    assert member is not None
    assert member.roles == {Role.ENTERPRISE_ADMIN}


def test_members_pages_and_foreign_cursors(
    people: PeopleService, moto_pool: MotoUserPool, members: MemberRepository
) -> None:
    for n in range(5):
        moto_pool.add_person(f"m{n}", (Role.ENTERPRISE_USER,), ENTERPRISE)
        people.bind(f"m{n}", ENTERPRISE, Role.ENTERPRISE_USER)
    first = people.users(ENTERPRISE_ADMIN, None, 2, None)
    assert [p.username for p in first.items] == ["m0", "m1"]
    resumed = people.users(ENTERPRISE_ADMIN, None, 10, first.cursors[0])
    assert [p.username for p in resumed.items] == ["m1", "m2", "m3", "m4"]
    with pytest.raises(Exception, match="does not belong"):
        members.list(OTHER_ENTERPRISE, 2, first.next_cursor)
    # A role-less member is stored with an empty role list.
    moto_pool.add_person("idle", (), ENTERPRISE)
    people.set_roles(PLATFORM_ADMIN, "m0", [])
    member = members.get(ENTERPRISE, "m0")
    assert member is not None
    assert member.roles == frozenset()


# Admin identities


def test_an_admin_identity_is_created_rotated_and_disabled(
    api: PeopleApi, node: Node, handle_api: HandleApi
) -> None:
    identity = f"301:{PREFIX}/ROBOT"
    created = ok(
        api.run(operation("CreateAdminIdentity"), ENTERPRISE_ADMIN, identity=identity),
        "IssuedAdminSecret",
    )
    assert created["adminIdentity"] == {
        "identity": identity,
        "handle": f"{PREFIX}/ROBOT",
        "index": 301,
        "prefixes": [PREFIX],
        "enabled": True,
    }
    first_secret = created["secret"]
    # The secret opens the Handle REST API (404: authenticated, the handle just does not exist).
    status, _, _ = handle_api.call(
        "GET", f"/api/handles/{PREFIX}/NOPE", auth=basic(identity, first_secret)
    )
    assert status == 404
    status, body, _ = handle_api.call(
        "GET", f"/api/handles/{PREFIX}/NOPE", auth=basic(identity, "wrong-secret-x")
    )
    assert (status, body["responseCode"]) == (401, 402)

    rotated = ok(
        api.run(operation("IssueAdminSecret"), ENTERPRISE_ADMIN, identity=identity),
        "IssuedAdminSecret",
    )
    second_secret = rotated["secret"]
    assert second_secret != first_secret
    fresh = CallerAuthenticator(node.credentials, node.prefixes, None)
    assert fresh.authenticate(basic(identity, second_secret)).name == identity
    with pytest.raises(AuthenticationRequiredError):
        fresh.authenticate(basic(identity, first_secret))
    # A warm function that verified the old secret keeps accepting it for its cache period.
    assert node.callers.authenticate(basic(identity, first_secret)).name == identity

    listed = ok(api.run(operation("AdminIdentities"), ENTERPRISE_ADMIN), "AdminIdentityConnection")
    assert sorted(e["node"]["identity"] for e in listed["edges"]) == sorted(
        [ADMIN_IDENTITY, identity]
    )
    everything = ok(
        api.run(operation("AdminIdentities"), AUDITOR, first=1), "AdminIdentityConnection"
    )
    assert everything["pageInfo"]["hasNextPage"]

    disabled = api.run(operation("DisableAdminIdentity"), ENTERPRISE_ADMIN, identity=identity)
    assert ok(disabled, "AdminIdentity")["enabled"] is False
    with pytest.raises(AuthenticationRequiredError):
        CallerAuthenticator(node.credentials, node.prefixes, None).authenticate(
            basic(identity, second_secret)
        )
    enabled = api.run(operation("EnableAdminIdentity"), PLATFORM_ADMIN, identity=identity)
    assert ok(enabled, "AdminIdentity")["enabled"] is True

    entries = [e for e in node.tables.operations.scan() if "admin" in e.action]
    assert {e.action for e in entries} >= {
        "create-admin-identity",
        "issue-admin-secret",
        "disable-admin-identity",
        "enable-admin-identity",
        "list-admin-identities",
    }
    stored = repr([e.attribute_values for e in node.tables.operations.scan()])
    assert first_secret not in stored
    assert second_secret not in stored


def test_admin_identities_of_other_enterprises_are_out_of_reach(api: PeopleApi) -> None:
    refused = api.run(operation("IssueAdminSecret"), OTHER_ADMIN, identity=ADMIN_IDENTITY)
    assert ok(refused, "NotAuthorisedError")
    elsewhere = api.run(
        operation("CreateAdminIdentity"), OTHER_ADMIN, identity=f"300:{PREFIX}/MINE"
    )
    assert ok(elsewhere, "NotAuthorisedError")
    listed = ok(api.run(operation("AdminIdentities"), OTHER_ADMIN), "AdminIdentityConnection")
    assert [e["node"]["identity"] for e in listed["edges"]] == [f"300:{OTHER_PREFIX}/ADMIN"]
    exists = api.run(operation("CreateAdminIdentity"), ENTERPRISE_ADMIN, identity=ADMIN_IDENTITY)
    assert ok(exists, "InvalidStateError")
    assert ok(
        api.run(operation("DisableAdminIdentity"), PLATFORM_ADMIN, identity="1:88.100.1234/NO"),
        "NotFoundError",
    )


# Authentication: second factors and the record of refusals


@pytest.fixture
def authenticator(node: Node, moto_pool: MotoUserPool, issuer: TokenIssuer) -> CallerAuthenticator:
    assert node.callers._tokens is not None
    return CallerAuthenticator(
        node.credentials,
        node.prefixes,
        node.callers._tokens,
        log=node.log,
        second_factors=UserPool(moto_pool.pool_id, REGION),
        require_mfa=True,
    )


def test_a_platform_admin_acts_as_one_only_with_totp_enrolled(
    node: Node, moto_pool: MotoUserPool, issuer: TokenIssuer
) -> None:
    moto_pool.add_person("pat", (Role.PLATFORM_ADMIN,))
    token = "Bearer " + issuer.id_token("pat", ["platform-admin"])

    def fresh() -> CallerAuthenticator:
        assert node.callers._tokens is not None
        return CallerAuthenticator(
            node.credentials,
            node.prefixes,
            node.callers._tokens,
            second_factors=UserPool(moto_pool.pool_id, REGION),
            require_mfa=True,
        )

    before = fresh().authenticate(token)
    assert (before.roles, before.withheld) == (frozenset(), {Role.PLATFORM_ADMIN})
    moto_pool.enrol_totp("pat")
    after = fresh().authenticate(token)
    assert (after.roles, after.withheld) == ({Role.PLATFORM_ADMIN}, frozenset())


def test_refusals_and_verifications_are_in_the_operation_log(
    node: Node, authenticator: CallerAuthenticator
) -> None:
    with pytest.raises(AuthenticationRequiredError):
        authenticator.authenticate(basic(ADMIN_IDENTITY, "not-the-secret"), "198.51.100.4")
    with pytest.raises(AuthenticationRequiredError):
        authenticator.authenticate("Bearer not.a.token", "198.51.100.5")
    authenticator.authenticate(basic(ADMIN_IDENTITY, ADMIN_SECRET), "198.51.100.6")
    refused = log_entries(node, "authentication-refused")
    assert [(e.target, e.source, e.result, e.enterprise) for e in refused] == [
        (ADMIN_IDENTITY, "198.51.100.4", "authentication-required", ENTERPRISE),
        ("bearer token", "198.51.100.5", "authentication-required", None),
    ]
    [verified] = log_entries(node, "admin-identity-verified")
    assert (verified.actor, verified.source, verified.enterprise) == (
        ADMIN_IDENTITY,
        "198.51.100.6",
        ENTERPRISE,
    )
    stored = repr([e.attribute_values for e in node.tables.operations.scan()])
    assert "not-the-secret" not in stored
    assert ADMIN_SECRET not in stored
