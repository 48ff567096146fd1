"""Onboarding on moto: the whole flow through the GraphQL documents in graphql/operations/, what
approval writes (prefix, enterprise, admin identity and handle, statistics, log), suspension as
the registry sees it, listings with cursors, and bad input of every kind changing nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from idnode.domain.access import HS_ADMIN, Role, user
from idnode.domain.credentials import verify_secret
from idnode.domain.enterprises import ApplicationStatus, Decision, Enterprise, EnterpriseStatus
from idnode.domain.errors import (
    ConcurrentUpdateError,
    IdnodeError,
    InvalidStateError,
    InvalidValueError,
    PrefixNotServedError,
)
from idnode.domain.parameters import Parameters
from idnode.domain.prefixes import Prefix
from idnode.domain.values import DataFormat, Value, ValueData
from idnode.node import Node
from idnode.services.onboarding import OnboardingService
from idnode.store.applications import ApplicationRepository
from idnode.store.enterprises import EnterpriseRepository
from tests.support.identity import TokenIssuer
from tests.support.onboarding import OnboardingGraphQL, RecordingDirectory, onboarding_service
from tests.support.operations import operation
from tests.unit.fakes_onboarding import profile_input

USCC = "91110000600037341L"
OTHER_USCC = "91350100M000100Y43"
THIRD_USCC = "91440300MA5G8LXX1X"
PREFIX = "88.100.1000"

APPLICANT = user("alice", [], None, [])
AUDITOR = user("audrey", ["auditor"], None, [])
PLATFORM_ADMIN = user("pat", ["platform-admin"], None, [])


@pytest.fixture
def directory() -> RecordingDirectory:
    return RecordingDirectory()


@pytest.fixture
def onboarding(node: Node, directory: RecordingDirectory) -> OnboardingService:
    return onboarding_service(node, directory)


@pytest.fixture
def api(node: Node, onboarding: OnboardingService) -> OnboardingGraphQL:
    return OnboardingGraphQL(node, onboarding)


def graphql_input(**overrides: Any) -> dict[str, Any]:
    raw = profile_input(**overrides)
    for node in raw.get("serviceNodes") or ():
        node["hdlType"] = node.get("hdlType", "HS_SITE")
    raw["hosting"] = raw["hosting"].upper().replace("-", "_")
    return raw


def ok(data: dict[str, Any], field: str, typename: str) -> dict[str, Any]:
    result: dict[str, Any] = data[field]
    assert result["__typename"] == typename, result
    return result


def test_the_whole_flow(
    api: OnboardingGraphQL, node: Node, issuer: TokenIssuer, directory: RecordingDirectory
) -> None:
    onboard(api, node, issuer, directory)
    change_profile(api, issuer)
    suspend_and_reinstate(api, node, issuer)
    reject_and_withdraw(api, issuer)
    check_log(node)


def onboard(
    api: OnboardingGraphQL, node: Node, issuer: TokenIssuer, directory: RecordingDirectory
) -> None:
    applicant = issuer.id_token("alice")
    auditor = issuer.id_token("audrey", ["auditor"])

    # A person applies.
    applied = ok(
        api.run(operation("ApplyForEnterprise"), {"input": graphql_input()}, applicant),
        "applyForEnterprise",
        "Application",
    )
    assert (applied["status"], applied["kind"], applied["enterprise"]) == (
        "PENDING",
        "ONBOARDING",
        USCC,
    )
    assert applied["profile"]["industryDivision"] == "C34"
    application_id = applied["id"]

    # The auditor sees it in the queue and reads it.
    queue = ok(
        api.run(operation("ListApplications"), {}, auditor), "applications", "ApplicationConnection"
    )
    assert [e["node"]["id"] for e in queue["edges"]] == [application_id]
    seen = ok(
        api.run(operation("Application"), {"id": application_id}, auditor),
        "application",
        "Application",
    )
    assert seen["profile"]["contact"]["email"] == "li.lei@acme.com.cn"

    # Approval allocates the first enterprise prefix.
    approved = ok(
        api.run(
            operation("ApproveApplication"),
            {"id": application_id, "reason": "licence seen"},
            auditor,
        ),
        "approveApplication",
        "Application",
    )
    assert (approved["status"], approved["prefix"], approved["decidedBy"]) == (
        "APPROVED",
        PREFIX,
        "audrey",
    )
    assert directory.bound == [("alice", USCC, Role.ENTERPRISE_ADMIN)]

    # The admin identity exists with a secret nobody knows, and its handle resolves.
    credential = node.credentials.get(f"300:{PREFIX}/ADMIN")
    assert credential is not None
    assert credential.prefixes == (PREFIX,)
    assert not verify_secret("", credential.secret_hash)
    resolved = node.registry.resolve(f"{PREFIX}/ADMIN", user("anyone", [], None, []))
    (admin,) = resolved.values
    assert admin.type == HS_ADMIN
    assert admin.data.value["handle"] == f"{PREFIX}/ADMIN"
    prefix = node.prefixes.get(PREFIX)
    assert prefix == Prefix(PREFIX, USCC)

    # Statistics counted for the node and the industry.
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    for scope in ("node", "industry#C34"):
        counters = node.tables.statistics.get(scope, day)
        assert (counters.enterprises, counters.prefixes) == (1, 1)

    # The new enterprise admin sees the enterprise and its history.
    admin_token = issuer.id_token("alice", ["enterprise-admin"], enterprise=USCC)
    enterprise = ok(
        api.run(operation("Enterprise"), {"id": USCC}, admin_token), "enterprise", "Enterprise"
    )
    assert (enterprise["status"], enterprise["prefix"], enterprise["industry"]) == (
        "ACTIVE",
        PREFIX,
        "C34",
    )
    history = enterprise["applications"]["edges"]
    assert [(e["node"]["kind"], e["node"]["status"]) for e in history] == [
        ("ONBOARDING", "APPROVED")
    ]


def change_profile(api: OnboardingGraphQL, issuer: TokenIssuer) -> None:
    """A change of profile goes through the same review."""
    auditor = issuer.id_token("audrey", ["auditor"])
    admin_token = issuer.id_token("alice", ["enterprise-admin"], enterprise=USCC)
    change = ok(
        api.run(
            operation("RequestEnterpriseChange"),
            {
                "input": graphql_input(
                    legalName="Acme Industrial Pumps Co., Ltd.",
                    hosting="self-hosted",
                    serviceNodes=[{"ip": "192.0.2.80", "ipType": 4, "httpPort": 8443}],
                )
            },
            admin_token,
        ),
        "requestEnterpriseChange",
        "Application",
    )
    assert change["kind"] == "CHANGE"
    ok(
        api.run(operation("ApproveApplication"), {"id": change["id"]}, auditor),
        "approveApplication",
        "Application",
    )
    changed = ok(
        api.run(operation("Enterprise"), {"id": USCC}, auditor), "enterprise", "Enterprise"
    )
    assert changed["name"] == "Acme Industrial Pumps Co., Ltd."
    assert changed["profile"]["hosting"] == "SELF_HOSTED"
    assert changed["profile"]["serviceNodes"] == [
        {
            "entPrefix": None,
            "hdlType": "HS_SITE",
            "ip": "192.0.2.80",
            "ipType": 4,
            "tcpPort": None,
            "udpPort": None,
            "httpPort": 8443,
        }
    ]
    assert changed["version"] == 2


def suspend_and_reinstate(api: OnboardingGraphQL, node: Node, issuer: TokenIssuer) -> None:
    """Suspension stops writes (and, here, resolution) under the enterprise's prefix."""
    operator = issuer.id_token("pat", ["platform-admin"])
    writer = user("alice", ["enterprise-admin"], USCC, [PREFIX])
    reading = Value(1, "URL", ValueData(DataFormat.STRING, "https://acme.com.cn/p/1"))
    node.registry.create(f"{PREFIX}/PUMP-1", [reading], writer)
    suspended = ok(
        api.run(
            operation("SuspendEnterprise"),
            {"input": {"enterprise": USCC, "reason": "unpaid fees", "stopResolution": True}},
            operator,
        ),
        "suspendEnterprise",
        "Enterprise",
    )
    assert suspended["status"] == "SUSPENDED"
    held = node.prefixes.get(PREFIX)
    assert held is not None
    assert (held.active, held.resolvable) == (False, False)
    with pytest.raises(PrefixNotServedError):
        node.registry.create(f"{PREFIX}/PUMP-2", [reading], writer)
    reinstated = ok(
        api.run(operation("ReinstateEnterprise"), {"id": USCC, "reason": "paid"}, operator),
        "reinstateEnterprise",
        "Enterprise",
    )
    assert reinstated["status"] == "ACTIVE"
    node.registry.create(f"{PREFIX}/PUMP-2", [reading], writer)


def reject_and_withdraw(api: OnboardingGraphQL, issuer: TokenIssuer) -> None:
    """Other applications are rejected or withdrawn; every decision is kept."""
    auditor = issuer.id_token("audrey", ["auditor"])
    second = ok(
        api.run(
            operation("ApplyForEnterprise"),
            {"input": graphql_input(uscc=OTHER_USCC)},
            issuer.id_token("bob"),
        ),
        "applyForEnterprise",
        "Application",
    )
    rejected = ok(
        api.run(
            operation("RejectApplication"),
            {"id": second["id"], "reason": "licence expired"},
            auditor,
        ),
        "rejectApplication",
        "Application",
    )
    assert (rejected["status"], rejected["reason"]) == ("REJECTED", "licence expired")
    third = ok(
        api.run(
            operation("ApplyForEnterprise"),
            {"input": graphql_input(uscc=THIRD_USCC)},
            issuer.id_token("bob"),
        ),
        "applyForEnterprise",
        "Application",
    )
    withdrawn = ok(
        api.run(operation("WithdrawApplication"), {"id": third["id"]}, issuer.id_token("bob")),
        "withdrawApplication",
        "Application",
    )
    assert (withdrawn["status"], withdrawn["decidedBy"]) == ("WITHDRAWN", "bob")
    mine = ok(
        api.run(operation("ListApplications"), {}, issuer.id_token("bob")),
        "applications",
        "ApplicationConnection",
    )
    assert [e["node"]["status"] for e in mine["edges"]] == ["WITHDRAWN", "REJECTED"]


def check_log(node: Node) -> None:
    """Every operation is in the operation log, with who did it and from where."""
    logged = [
        (e.action, e.actor, e.result, e.source)
        for e in node.tables.operations.scan()
        if e.action.endswith(("application", "enterprise", "applications", "change"))
    ]
    actions = {a for a, *_ in logged}
    assert {
        "apply-for-enterprise",
        "approve-application",
        "reject-application",
        "withdraw-application",
        "request-enterprise-change",
        "suspend-enterprise",
        "reinstate-enterprise",
        "view-application",
        "view-enterprise",
        "list-applications",
        "list-enterprise-applications",
    } <= actions
    assert all(result == "ok" and source == "198.51.100.7" for _, _, result, source in logged)


def test_graphql_errors_are_typed(api: OnboardingGraphQL, issuer: TokenIssuer) -> None:
    applicant = issuer.id_token("alice")
    bad = api.run(
        operation("ApplyForEnterprise"),
        {"input": graphql_input(uscc="91110000600037341M")},
        applicant,
    )["applyForEnterprise"]
    assert bad["__typename"] == "InvalidInputError"
    assert "uscc: the check character" in bad["message"]
    anonymous = api.run(operation("ApplyForEnterprise"), {"input": graphql_input()})
    assert anonymous["applyForEnterprise"]["__typename"] == "AuthenticationError"
    refused = api.run(
        operation("ApproveApplication"), {"id": "none"}, issuer.id_token("pat", ["platform-admin"])
    )
    assert refused["approveApplication"]["__typename"] == "NotAuthorisedError"
    missing = api.run(
        operation("Application"), {"id": "none"}, issuer.id_token("audrey", ["auditor"])
    )
    assert missing["application"]["__typename"] == "NotFoundError"
    applied = ok(
        api.run(operation("ApplyForEnterprise"), {"input": graphql_input()}, applicant),
        "applyForEnterprise",
        "Application",
    )
    again = api.run(operation("ApplyForEnterprise"), {"input": graphql_input()}, applicant)
    assert again["applyForEnterprise"]["__typename"] == "InvalidStateError"
    auditor = issuer.id_token("audrey", ["auditor"])
    unreasoned = api.run(
        operation("RejectApplication"), {"id": applied["id"], "reason": " "}, auditor
    )
    assert unreasoned["rejectApplication"]["__typename"] == "InvalidInputError"
    bad_cursor = api.run(operation("ListApplications"), {"after": "bm90LWEtY3Vyc29y"}, auditor)
    assert bad_cursor["applications"]["__typename"] == "InvalidInputError"


def snapshot(node: Node) -> dict[str, list[Any]]:
    """Every item of every table but the operation log."""
    return {
        model.Meta.table_name: sorted(
            repr(sorted(item.serialize().items())) for item in model.scan()
        )
        for model in (*node.tables.all(), node.tables.sequences)
        # The log grows with every attempt; parameters share their table with the sequences.
        if model not in (node.tables.operations, node.tables.parameters)
    }


def test_bad_input_of_every_kind_changes_nothing(
    node: Node, onboarding: OnboardingService, directory: RecordingDirectory
) -> None:
    applied = onboarding.apply(APPLICANT, profile_input())
    onboarded = onboarding.apply(user("bob", [], None, []), profile_input(uscc=OTHER_USCC))
    onboarding.approve(AUDITOR, onboarded.id)
    before = snapshot(node)
    entries_before = sum(1 for _ in node.tables.operations.scan())
    stranger = user("carol", [], None, [])
    other_admin = user("dan", ["enterprise-admin"], THIRD_USCC, [])

    attempts: list[Callable[[], object]] = [
        lambda: onboarding.apply(stranger, profile_input(uscc=THIRD_USCC, legalName="X")),
        lambda: onboarding.apply(stranger, profile_input(uscc="91440300MA5G8LXX1T")),
        lambda: onboarding.apply(stranger, profile_input(uscc=THIRD_USCC, industry="Q99")),
        lambda: onboarding.apply(
            stranger,
            profile_input(uscc=THIRD_USCC, contact={"name": "C", "email": "c", "phone": "1"}),
        ),
        lambda: onboarding.apply(stranger, profile_input(uscc=THIRD_USCC, addresses=["127.0.0.1"])),
        lambda: onboarding.apply(stranger, profile_input(uscc=THIRD_USCC, domains=["-x.cn"])),
        lambda: onboarding.apply(
            stranger, profile_input(uscc=THIRD_USCC, addresses=[], domains=[])
        ),
        lambda: onboarding.apply(stranger, profile_input(uscc=THIRD_USCC, hosting="self-hosted")),
        lambda: onboarding.apply(
            stranger,
            profile_input(
                uscc=THIRD_USCC,
                hosting="self-hosted",
                serviceNodes=[{"ip": "192.0.2.1", "ipType": 6, "tcpPort": 2641}],
            ),
        ),
        lambda: onboarding.apply(stranger, profile_input()),  # pending already
        lambda: onboarding.apply(stranger, profile_input(uscc=OTHER_USCC)),  # onboarded already
        lambda: onboarding.apply(AUDITOR, profile_input(uscc=THIRD_USCC)),
        lambda: onboarding.apply(other_admin, profile_input(uscc=THIRD_USCC)),
        lambda: onboarding.approve(PLATFORM_ADMIN, applied.id),
        lambda: onboarding.approve(AUDITOR, "no-such-application"),
        lambda: onboarding.approve(AUDITOR, onboarded.id),  # decided already
        lambda: onboarding.approve(AUDITOR, applied.id, "x" * 501),
        lambda: onboarding.reject(AUDITOR, applied.id, ""),
        lambda: onboarding.reject(stranger, applied.id, "no"),
        lambda: onboarding.withdraw(stranger, applied.id),
        lambda: onboarding.withdraw(AUDITOR, applied.id),
        lambda: onboarding.get(stranger, applied.id),
        lambda: onboarding.list(AUDITOR, first=0),
        lambda: onboarding.list(AUDITOR, after="not-a-cursor"),
        lambda: onboarding.list(
            AUDITOR,
            ApplicationStatus.APPROVED,
            after=onboarding.list(AUDITOR, first=1).cursors[0],  # the pending queue's
        ),
        lambda: onboarding.request_change(other_admin, profile_input(uscc=THIRD_USCC)),
        lambda: onboarding.request_change(
            user("bob", ["enterprise-admin"], OTHER_USCC, []), profile_input(uscc=OTHER_USCC)
        ),  # no change at all
        lambda: onboarding.request_change(
            user("bob", ["enterprise-admin"], OTHER_USCC, []), profile_input(uscc=USCC)
        ),
        lambda: onboarding.suspend(AUDITOR, OTHER_USCC, "audit"),
        lambda: onboarding.suspend(PLATFORM_ADMIN, OTHER_USCC, ""),
        lambda: onboarding.suspend(PLATFORM_ADMIN, THIRD_USCC, "unknown"),
        lambda: onboarding.reinstate(PLATFORM_ADMIN, OTHER_USCC),  # active already
        lambda: onboarding.enterprise(stranger, OTHER_USCC),
        lambda: onboarding.history(stranger, OTHER_USCC),
    ]
    for attempt in attempts:
        with pytest.raises(IdnodeError):
            attempt()

    assert snapshot(node) == before
    entries = list(node.tables.operations.scan())
    assert len(entries) - entries_before >= len(attempts)
    refusals = [e for e in entries if e.result != "ok"]
    assert len(refusals) == len(attempts)
    assert directory.bound == [("bob", OTHER_USCC, Role.ENTERPRISE_ADMIN)]


def test_listings_page_with_cursors_bound_to_their_listing(
    node: Node, onboarding: OnboardingService
) -> None:
    names = {USCC: "Zeta Valves Ltd", OTHER_USCC: "alpha Pumps Ltd", THIRD_USCC: "Beta Motors Ltd"}
    for number, (uscc, name) in enumerate(names.items()):
        person = user(f"person-{number}", [], None, [])
        applied = onboarding.apply(person, profile_input(uscc=uscc, legalName=name))
        onboarding.approve(AUDITOR, applied.id)
    enterprises = EnterpriseRepository(node.tables.enterprises, node.tables.prefixes)
    first = enterprises.by_status(EnterpriseStatus.ACTIVE, 2, None)
    assert [e.name for e in first.items] == ["alpha Pumps Ltd", "Beta Motors Ltd"]
    assert first.next_cursor is not None
    rest = enterprises.by_status(EnterpriseStatus.ACTIVE, 2, first.next_cursor)
    assert [e.name for e in rest.items] == ["Zeta Valves Ltd"]
    assert rest.next_cursor is None
    with pytest.raises(InvalidValueError, match="does not belong"):
        enterprises.by_status(EnterpriseStatus.SUSPENDED, 2, first.next_cursor)
    assert [e.prefix for e in first.items + rest.items] == [
        "88.100.1001",
        "88.100.1002",
        "88.100.1000",
    ]

    applications = ApplicationRepository(node.tables.applications)
    oldest = applications.by_status(ApplicationStatus.APPROVED, 2, None, newest_first=False)
    newest = applications.by_status(ApplicationStatus.APPROVED, 3, None, newest_first=True)
    assert [a.enterprise for a in oldest.items] == [USCC, OTHER_USCC]
    assert [a.enterprise for a in newest.items] == [THIRD_USCC, OTHER_USCC, USCC]
    after = applications.by_status(
        ApplicationStatus.APPROVED, 2, oldest.next_cursor, newest_first=False
    )
    assert [a.enterprise for a in after.items] == [THIRD_USCC]
    with pytest.raises(InvalidValueError, match="does not belong"):
        applications.by_status(ApplicationStatus.APPROVED, 2, oldest.next_cursor, newest_first=True)
    with pytest.raises(InvalidValueError, match="does not belong"):
        applications.by_applicant("person-0", 2, oldest.next_cursor)
    mine = applications.by_applicant("person-0", 5, None, status=ApplicationStatus.APPROVED)
    assert [a.enterprise for a in mine.items] == [USCC]
    assert applications.by_enterprise(USCC, 5, None, status=ApplicationStatus.PENDING).items == []


def test_allocation_skips_taken_prefixes_and_starts_at_the_first_number(
    node: Node, directory: RecordingDirectory
) -> None:
    parameters = Parameters(first_enterprise_number=5000)
    onboarding = onboarding_service(node, directory, lambda: parameters)
    node.prefixes.put(Prefix("88.100.5000", "hand-made"))
    node.prefixes.put(Prefix("88.100.5001", "hand-made"))
    applied = onboarding.apply(APPLICANT, profile_input())
    assert onboarding.approve(AUDITOR, applied.id).prefix == "88.100.5002"
    assert node.prefixes.get("88.100.5000") == Prefix("88.100.5000", "hand-made")


def test_repositories_refuse_duplicates_and_stale_writes(
    node: Node, onboarding: OnboardingService
) -> None:
    applications = ApplicationRepository(node.tables.applications)
    enterprises = EnterpriseRepository(node.tables.enterprises, node.tables.prefixes)
    applied = onboarding.apply(APPLICANT, profile_input())
    with pytest.raises(InvalidStateError, match="exists already"):
        applications.create(replace(applied, version=0))
    decided = applications.save(applied.withdrawn(Decision("alice", applied.submitted)))
    assert decided.version == applied.version + 1
    with pytest.raises(ConcurrentUpdateError, match="changed meanwhile"):
        applications.save(applied.withdrawn(Decision("alice", applied.submitted)))

    enterprise = Enterprise(USCC, applied.profile, PREFIX, applied.submitted, applied.submitted)
    created = enterprises.create(enterprise)
    assert (created.version, enterprises.get(USCC)) == (1, created)
    with pytest.raises(InvalidStateError, match="onboarded already"):
        enterprises.create(enterprise)
    renamed = replace(applied.profile, legal_name="Acme Renamed Ltd")
    saved = enterprises.save(created.with_profile(renamed, applied.submitted))
    assert (saved.version, saved.name) == (2, "Acme Renamed Ltd")
    with pytest.raises(ConcurrentUpdateError):
        enterprises.save(created.with_profile(renamed, applied.submitted))
    assert enterprises.get(OTHER_USCC) is None
    assert applications.get("no-such-application") is None
