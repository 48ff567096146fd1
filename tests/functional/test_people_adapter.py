"""The user-pool adapter on moto's Cognito: accounts, groups as roles, the enterprise attribute,
second-factor enrolment, and Cognito's refusals as domain errors."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws

from idnode.adapters.people import UserPool
from idnode.domain.access import Role
from idnode.domain.errors import InvalidStateError, InvalidValueError, NotFoundError
from tests.support.identity import REGION
from tests.support.user_pool import MotoUserPool, create_test_pool

ENT = "ent-1234"


@pytest.fixture
def moto_pool() -> Iterator[MotoUserPool]:
    with mock_aws():
        yield create_test_pool()


@pytest.fixture
def pool(moto_pool: MotoUserPool) -> UserPool:
    return UserPool(moto_pool.pool_id, REGION)


def test_the_client_is_built_on_first_use_only() -> None:
    built: list[int] = []

    def factory() -> object:
        built.append(1)
        return object()

    adapter = UserPool("us-east-1_X", REGION, client_factory=factory)  # type: ignore[arg-type]
    assert built == []
    assert adapter.client is adapter.client
    assert built == [1]


def test_creating_a_person_sends_an_invitation_and_binds_nothing_else(pool: UserPool) -> None:
    created = pool.create("ann", "ann@example.com", "Ann Lee", ENT)
    assert (created.username, created.email, created.name, created.enterprise) == (
        "ann",
        "ann@example.com",
        "Ann Lee",
        ENT,
    )
    assert created.status == "FORCE_CHANGE_PASSWORD"
    assert created.enabled
    assert created.roles == frozenset()
    found = pool.get("ann")
    assert found.enterprise == ENT
    assert found.mfa_enrolled is False
    assert found.created is not None


def test_a_taken_username_is_an_invalid_state(pool: UserPool) -> None:
    pool.create("ann", "ann@example.com")
    with pytest.raises(InvalidStateError, match="'ann' is taken"):
        pool.create("ann", "other@example.com")


def test_unknown_people_are_not_found(pool: UserPool) -> None:
    for call in (
        lambda: pool.get("nobody"),
        lambda: pool.set_roles("nobody", frozenset()),
        lambda: pool.set_enterprise("nobody", ENT),
        lambda: pool.disable("nobody"),
        lambda: pool.enable("nobody"),
        lambda: pool.sign_out("nobody"),
    ):
        with pytest.raises(NotFoundError, match="no person 'nobody'"):
            call()
    assert pool.mfa_enrolled("nobody") is False
    assert pool.get_many(["nobody"]) == [None]


def test_roles_are_set_to_exactly_what_is_asked(pool: UserPool, moto_pool: MotoUserPool) -> None:
    pool.create("ann", "ann@example.com")
    # A group that is not a role of the node is left alone.
    moto_pool.client.create_group(GroupName="beta-testers", UserPoolId=moto_pool.pool_id)
    moto_pool.client.admin_add_user_to_group(
        UserPoolId=moto_pool.pool_id, Username="ann", GroupName="beta-testers"
    )
    assert pool.set_roles("ann", frozenset({Role.ENTERPRISE_ADMIN, Role.AUDITOR})) == frozenset()
    assert pool.roles_of("ann") == {Role.ENTERPRISE_ADMIN, Role.AUDITOR}
    before = pool.set_roles("ann", frozenset({Role.ENTERPRISE_USER}))
    assert before == {Role.ENTERPRISE_ADMIN, Role.AUDITOR}
    assert pool.get("ann").roles == {Role.ENTERPRISE_USER}
    groups = moto_pool.client.admin_list_groups_for_user(
        UserPoolId=moto_pool.pool_id, Username="ann"
    )["Groups"]
    assert sorted(g["GroupName"] for g in groups) == ["beta-testers", "enterprise-user"]


def test_the_enterprise_attribute_is_set_and_cleared(pool: UserPool) -> None:
    pool.create("ann", "ann@example.com")
    pool.set_enterprise("ann", ENT)
    assert pool.get("ann").enterprise == ENT
    pool.set_enterprise("ann", None)
    assert pool.get("ann").enterprise is None


def test_binding_sets_the_enterprise_and_adds_the_role(pool: UserPool) -> None:
    pool.create("ann", "ann@example.com")
    pool.set_roles("ann", frozenset({Role.ENTERPRISE_USER}))
    pool.bind("ann", ENT, Role.ENTERPRISE_ADMIN)
    found = pool.get("ann")
    assert found.enterprise == ENT
    assert found.roles == {Role.ENTERPRISE_ADMIN, Role.ENTERPRISE_USER}


def test_disabling_and_enabling(pool: UserPool) -> None:
    pool.create("ann", "ann@example.com")
    pool.disable("ann")
    assert pool.get("ann").enabled is False
    pool.sign_out("ann")
    pool.enable("ann")
    assert pool.get("ann").enabled is True


def test_enrolment_is_read_from_the_mfa_settings(pool: UserPool, moto_pool: MotoUserPool) -> None:
    moto_pool.add_person("pat", (Role.PLATFORM_ADMIN,))
    assert pool.mfa_enrolled("pat") is False
    moto_pool.enrol_totp("pat")
    assert pool.mfa_enrolled("pat") is True
    assert pool.get("pat").mfa_enrolled is True


def test_the_pool_is_listed_in_pages_with_roles(pool: UserPool, moto_pool: MotoUserPool) -> None:
    for n in range(7):
        moto_pool.add_person(f"p{n}", (Role.ENTERPRISE_USER,) if n % 2 else (), ENT)
    seen: dict[str, frozenset[Role]] = {}
    token = None
    while True:
        page = pool.list(3, token)
        assert len(page.people) <= 3
        seen.update({p.username: p.roles for p in page.people})
        token = page.next_token
        if token is None:
            break
    assert sorted(seen) == [f"p{n}" for n in range(7)]
    assert all(
        roles == ({Role.ENTERPRISE_USER} if int(u[1]) % 2 else set()) for u, roles in seen.items()
    )
    assert pool.get_many(["p1", "nobody", "p2"])[1] is None
    assert [p.username for p in pool.get_many(["p1", "p2"]) if p] == ["p1", "p2"]


@pytest.mark.parametrize("limit", [0, 61])
def test_listing_limits_are_the_pools(pool: UserPool, limit: int) -> None:
    with pytest.raises(InvalidValueError, match="between 1 and 60"):
        pool.list(limit)


def test_a_node_without_a_user_pool_manages_nobody() -> None:
    adapter = UserPool("", REGION, client_factory=lambda: pytest.fail("no client is built"))
    with pytest.raises(InvalidStateError, match="no user pool"):
        adapter.get("ann")
    assert adapter.mfa_enrolled("ann") is False


@pytest.mark.parametrize(
    ("code", "error", "message"),
    [
        ("AliasExistsException", InvalidStateError, "already uses this email"),
        ("CodeDeliveryFailureException", InvalidStateError, "could not be delivered"),
        ("InvalidParameterException", InvalidValueError, "refused the request: bad email"),
    ],
)
def test_cognito_refusals_become_domain_errors(
    code: str, error: type[Exception], message: str
) -> None:
    client = boto3.client("cognito-idp", region_name=REGION)
    with Stubber(client) as stub:
        stub.add_client_error(
            "admin_create_user", service_error_code=code, service_message="bad email"
        )
        adapter = UserPool("us-east-1_X", REGION, client_factory=lambda: client)
        with pytest.raises(error, match=message):
            adapter.create("ann", "ann@example.com")


def test_unexpected_cognito_errors_propagate() -> None:
    client = boto3.client("cognito-idp", region_name=REGION)
    with Stubber(client) as stub:
        stub.add_client_error("admin_get_user", service_error_code="TooManyRequestsException")
        adapter = UserPool("us-east-1_X", REGION, client_factory=lambda: client)
        with pytest.raises(ClientError):
            adapter.get("ann")
