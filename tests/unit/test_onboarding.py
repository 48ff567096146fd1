"""Onboarding use cases on in-memory stores: apply, review, allocate, change, suspend; who may
do what; what is logged and counted; races with a decision taken meanwhile."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import pytest

from idnode.domain.access import ANONYMOUS, HS_ADMIN, Principal, Role, user
from idnode.domain.enterprises import (
    Application,
    ApplicationKind,
    ApplicationStatus,
    EnterpriseStatus,
    Hosting,
    parse_profile,
)
from idnode.domain.errors import (
    AuthenticationRequiredError,
    ConcurrentUpdateError,
    InvalidStateError,
    InvalidValueError,
    NotAuthorisedError,
    NotFoundError,
    QuotaExceededError,
)
from idnode.domain.parameters import NodeType, Parameters
from idnode.domain.prefixes import PrefixStatus
from idnode.services.onboarding import OnboardingService
from idnode.services.operations import OperationLog
from tests.unit.fakes import InMemoryIdentifiers, InMemoryOperations, SteppingClock
from tests.unit.fakes_onboarding import (
    FakeDirectory,
    InMemoryAllocation,
    InMemoryApplications,
    InMemoryEnterprises,
    RecordingCounters,
    profile_input,
)

USCC = "91110000600037341L"
OTHER_USCC = "91350100M000100Y43"
APPLICANT = user("alice", [], None, [])
STRANGER = user("bob", [], None, [])
AUDITOR = user("audrey", ["auditor"], None, [])
PLATFORM_ADMIN = user("pat", ["platform-admin"], None, [])


def enterprise_admin(enterprise: str = USCC, name: str = "alice") -> Principal:
    return user(name, ["enterprise-admin"], enterprise, [])


@dataclass
class World:
    applications: InMemoryApplications = field(default_factory=InMemoryApplications)
    prefixes: dict[str, Any] = field(default_factory=dict)
    identifiers: InMemoryIdentifiers = field(default_factory=InMemoryIdentifiers)
    directory: FakeDirectory = field(default_factory=FakeDirectory)
    counters: RecordingCounters = field(default_factory=RecordingCounters)
    operations: InMemoryOperations = field(default_factory=InMemoryOperations)
    clock: SteppingClock = field(default_factory=SteppingClock)
    parameters: Parameters = field(default_factory=Parameters)
    incomplete: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.enterprises = InMemoryEnterprises(self.prefixes)
        self.allocation = InMemoryAllocation(self.applications, self.enterprises)
        self.service = OnboardingService(
            enterprises=self.enterprises,
            applications=self.applications,
            allocation=self.allocation,
            admin_handles=self.identifiers,
            directory=self.directory,
            counters=self.counters,
            log=OperationLog(self.operations, fallback=lambda _entry, _error: None),
            parameters=lambda: self.parameters,
            clock=self.clock,
            on_incomplete=lambda step, _error: self.incomplete.append(step),
        )

    def last_entry(self) -> Any:
        return self.operations.entries[-1]

    def onboard(self, applicant: Principal = APPLICANT, **overrides: Any) -> Application:
        submitted = self.service.apply(applicant, profile_input(**overrides))
        return self.service.approve(AUDITOR, submitted.id)


@pytest.fixture
def world() -> World:
    return World()


# Applying


def test_a_person_applies(world: World) -> None:
    application = world.service.apply(APPLICANT, profile_input())
    assert application.kind is ApplicationKind.ONBOARDING
    assert application.status is ApplicationStatus.PENDING
    assert application.enterprise == USCC
    assert application.applicant == "alice"
    assert application.version == 1
    entry = world.last_entry()
    assert (entry.action, entry.target, entry.enterprise, entry.result) == (
        "apply-for-enterprise",
        application.id,
        USCC,
        "ok",
    )


@pytest.mark.parametrize(
    ("principal", "error"),
    [
        (ANONYMOUS, AuthenticationRequiredError),
        (AUDITOR, NotAuthorisedError),
        (PLATFORM_ADMIN, NotAuthorisedError),
        (enterprise_admin(OTHER_USCC), NotAuthorisedError),
    ],
)
def test_only_people_without_a_role_apply(
    world: World, principal: Principal, error: type[Exception]
) -> None:
    with pytest.raises(error):
        world.service.apply(principal, profile_input())
    assert world.applications.items == {}
    assert world.last_entry().action == "apply-for-enterprise"
    assert world.last_entry().result != "ok"


def test_a_bad_profile_changes_nothing_and_is_logged(world: World) -> None:
    with pytest.raises(InvalidValueError, match="uscc: the check character"):
        world.service.apply(APPLICANT, profile_input(uscc="91110000600037341M"))
    assert world.applications.items == {}
    assert world.last_entry().result == "invalid-value"


def test_one_pending_application_per_enterprise_and_a_few_per_applicant(world: World) -> None:
    world.service.apply(APPLICANT, profile_input())
    with pytest.raises(InvalidStateError, match="pending already"):
        world.service.apply(STRANGER, profile_input())
    world.parameters = replace(world.parameters, max_pending_applications=1)
    with pytest.raises(QuotaExceededError, match="1 pending applications"):
        world.service.apply(APPLICANT, profile_input(uscc=OTHER_USCC))
    assert len(world.applications.items) == 1
    assert world.last_entry().result == "quota-exceeded"


def test_an_onboarded_enterprise_cannot_apply_again(world: World) -> None:
    world.onboard()
    with pytest.raises(InvalidStateError, match="onboarded already"):
        world.service.apply(STRANGER, profile_input())


def test_an_industry_node_takes_its_industries_only(world: World) -> None:
    world.parameters = replace(
        world.parameters, node_type=NodeType.INDUSTRY, industries=("C34", "C35")
    )
    world.service.apply(APPLICANT, profile_input(industry="C3411"))
    for code in ("D4411", "C", "C36"):
        with pytest.raises(InvalidValueError, match=r"^industry: this industry node serves C34"):
            world.service.apply(STRANGER, profile_input(uscc=OTHER_USCC, industry=code))
    # A comprehensive node keeps its list for display only.
    world.parameters = replace(world.parameters, node_type=NodeType.COMPREHENSIVE)
    world.service.apply(STRANGER, profile_input(uscc=OTHER_USCC, industry="D4411"))


# Approving an onboarding


def test_approval_allocates_the_prefix_and_creates_the_enterprise(world: World) -> None:
    submitted = world.service.apply(APPLICANT, profile_input())
    approved = world.service.approve(AUDITOR, submitted.id, "documents verified")

    assert approved.status is ApplicationStatus.APPROVED
    assert approved.prefix == "88.100.1000"
    assert approved.decision is not None
    assert (approved.decision.by, approved.decision.reason) == ("audrey", "documents verified")
    assert approved.version == 2

    enterprise = world.enterprises.get(USCC)
    assert enterprise is not None
    assert (enterprise.prefix, enterprise.status, enterprise.industry) == (
        "88.100.1000",
        EnterpriseStatus.ACTIVE,
        "C34",
    )
    assert enterprise.profile == submitted.profile
    prefix = world.prefixes["88.100.1000"]
    assert (prefix.enterprise, prefix.status) == (USCC, PrefixStatus.ACTIVE)

    credential = world.allocation.credentials["300:88.100.1000/admin"]
    assert credential.identity == "300:88.100.1000/ADMIN"
    assert credential.prefixes == ("88.100.1000",)
    assert credential.secret_hash.startswith("scrypt$")

    record = world.identifiers.stored("88.100.1000/ADMIN")
    assert record is not None
    (admin,) = record.values
    assert admin.type == HS_ADMIN
    assert admin.data.value == {
        "handle": "88.100.1000/ADMIN",
        "index": 300,
        "permissions": "011111110011",
    }

    assert world.directory.bound == [("alice", USCC, Role.ENTERPRISE_ADMIN)]
    for scope in ("node", "industry#C34"):
        assert world.counters.of(scope, "enterprises") == 1
        assert world.counters.of(scope, "prefixes") == 1
    assert world.counters.of(f"enterprise#{USCC}", "prefixes") == 1

    entry = world.last_entry()
    assert (entry.action, entry.target, entry.enterprise, entry.result) == (
        "approve-application",
        submitted.id,
        USCC,
        "ok",
    )
    assert entry.details == {"kind": "onboarding", "prefix": "88.100.1000"}


def test_prefixes_are_allocated_in_order_skipping_hand_made_ones(world: World) -> None:
    world.allocation.add_prefix("88.100.1001", "hand-made")
    first = world.onboard()
    second = world.onboard(STRANGER, uscc=OTHER_USCC)
    assert (first.prefix, second.prefix) == ("88.100.1000", "88.100.1002")


def test_decisions_belong_to_auditors_who_did_not_apply(world: World) -> None:
    submitted = world.service.apply(APPLICANT, profile_input())
    for principal in (PLATFORM_ADMIN, APPLICANT, enterprise_admin(OTHER_USCC)):
        with pytest.raises(NotAuthorisedError):
            world.service.approve(principal, submitted.id)
        with pytest.raises(NotAuthorisedError):
            world.service.reject(principal, submitted.id, "no")
    own = replace(submitted, id="own", applicant="audrey")
    world.applications.items["own"] = own
    with pytest.raises(NotAuthorisedError, match="their own application"):
        world.service.approve(AUDITOR, "own")
    assert world.enterprises.items == {}
    assert world.allocation.commits == 0


def test_a_decision_taken_meanwhile_cancels_the_approval(world: World) -> None:
    submitted = world.service.apply(APPLICANT, profile_input())
    world.allocation.rivals.append(lambda: world.service.withdraw(APPLICANT, submitted.id))
    with pytest.raises(InvalidStateError, match="was withdrawn meanwhile"):
        world.service.approve(AUDITOR, submitted.id)
    assert world.enterprises.items == {}
    assert world.prefixes == {}
    assert world.directory.bound == []
    assert world.counters.totals == {}
    assert world.applications.items[submitted.id].status is ApplicationStatus.WITHDRAWN


def test_decided_applications_stay_decided(world: World) -> None:
    submitted = world.service.apply(APPLICANT, profile_input())
    world.service.reject(AUDITOR, submitted.id, "the licence has expired")
    with pytest.raises(InvalidStateError, match="rejected already"):
        world.service.approve(AUDITOR, submitted.id)
    with pytest.raises(InvalidStateError, match="rejected already"):
        world.service.withdraw(APPLICANT, submitted.id)
    with pytest.raises(NotFoundError):
        world.service.approve(AUDITOR, "no-such-application")


def test_an_approval_stands_when_a_follow_up_fails(world: World) -> None:
    world.directory.fail_with = RuntimeError("user pool unavailable")
    approved = world.onboard()
    assert approved.status is ApplicationStatus.APPROVED
    assert world.enterprises.get(USCC) is not None
    assert world.incomplete == ["bind-applicant"]
    entry = world.last_entry()
    assert entry.result == "ok"
    assert entry.details["incomplete"] == ["bind-applicant"]


# Rejecting and withdrawing


def test_rejection_needs_a_reason_and_is_kept(world: World) -> None:
    submitted = world.service.apply(APPLICANT, profile_input())
    for reason in ("", "   ", "x" * 501):
        with pytest.raises(InvalidValueError, match=r"^reason: "):
            world.service.reject(AUDITOR, submitted.id, reason)
    assert world.applications.items[submitted.id].pending
    rejected = world.service.reject(AUDITOR, submitted.id, " the licence has expired ")
    assert rejected.status is ApplicationStatus.REJECTED
    assert rejected.decision is not None
    assert (rejected.decision.by, rejected.decision.reason) == ("audrey", "the licence has expired")
    assert world.service.get(APPLICANT, submitted.id) == rejected
    assert world.enterprises.items == {}
    # The enterprise may apply again once rejected.
    world.service.apply(APPLICANT, profile_input())


def test_only_the_applicant_withdraws(world: World) -> None:
    submitted = world.service.apply(APPLICANT, profile_input())
    for principal in (STRANGER, AUDITOR, PLATFORM_ADMIN):
        with pytest.raises(NotAuthorisedError):
            world.service.withdraw(principal, submitted.id)
    withdrawn = world.service.withdraw(APPLICANT, submitted.id)
    assert withdrawn.status is ApplicationStatus.WITHDRAWN
    assert withdrawn.decision is not None
    assert withdrawn.decision.by == "alice"
    assert submitted.id in world.applications.items


# Reading


def test_who_sees_an_application(world: World) -> None:
    submitted = world.service.apply(APPLICANT, profile_input())
    for principal in (APPLICANT, AUDITOR, PLATFORM_ADMIN, enterprise_admin(USCC, "carol")):
        assert world.service.get(principal, submitted.id).id == submitted.id
    for principal in (STRANGER, enterprise_admin(OTHER_USCC, "dan")):
        with pytest.raises(NotAuthorisedError):
            world.service.get(principal, submitted.id)
    with pytest.raises(AuthenticationRequiredError):
        world.service.get(ANONYMOUS, submitted.id)
    assert world.last_entry().action == "view-application"


def test_listings_are_narrowed_to_what_the_caller_may_see(world: World) -> None:
    first = world.service.apply(APPLICANT, profile_input())
    second = world.service.apply(STRANGER, profile_input(uscc=OTHER_USCC))
    world.service.reject(AUDITOR, second.id, "incomplete documents")
    third = world.service.apply(STRANGER, profile_input(uscc="91440300MA5G8LXX1X"))

    queue = world.service.list(AUDITOR)  # the pending queue, oldest first
    assert [a.id for a in queue.items] == [first.id, third.id]
    rejected = world.service.list(AUDITOR, ApplicationStatus.REJECTED)
    assert [a.id for a in rejected.items] == [second.id]
    own = world.service.list(STRANGER)  # newest first
    assert [a.id for a in own.items] == [third.id, second.id]
    assert [a.id for a in world.service.list(STRANGER, ApplicationStatus.PENDING).items] == [
        third.id
    ]
    mine = world.service.list(enterprise_admin(OTHER_USCC, "dan"))
    assert [a.id for a in mine.items] == [second.id]

    page = world.service.list(STRANGER, first=1)
    assert [a.id for a in page.items] == [third.id]
    rest = world.service.list(STRANGER, first=1, after=page.next_cursor)
    assert [a.id for a in rest.items] == [second.id]
    for size in (0, 1001):
        with pytest.raises(InvalidValueError, match=r"^first: "):
            world.service.list(AUDITOR, first=size)
    with pytest.raises(AuthenticationRequiredError):
        world.service.list(ANONYMOUS)
    with pytest.raises(NotAuthorisedError, match="not bound to an enterprise"):
        world.service.list(user("eve", ["enterprise-admin"], None, []))


def test_enterprise_and_its_history(world: World) -> None:
    world.onboard()
    with pytest.raises(NotFoundError):
        world.service.enterprise(AUDITOR, OTHER_USCC)
    for principal in (
        AUDITOR,
        PLATFORM_ADMIN,
        enterprise_admin(),
        user("u", ["enterprise-user"], USCC, []),
    ):
        assert world.service.enterprise(principal, f" {USCC.lower()} ").id == USCC
    for principal in (STRANGER, enterprise_admin(OTHER_USCC, "dan"), ANONYMOUS):
        with pytest.raises((NotAuthorisedError, AuthenticationRequiredError)):
            world.service.enterprise(principal, USCC)
    history = world.service.history(enterprise_admin(), USCC)
    assert [(a.kind, a.status) for a in history.items] == [
        (ApplicationKind.ONBOARDING, ApplicationStatus.APPROVED)
    ]
    with pytest.raises(NotAuthorisedError):
        world.service.history(APPLICANT, USCC)


# Changes


def test_a_change_goes_through_review_and_replaces_the_profile(world: World) -> None:
    world.onboard()
    admin = enterprise_admin()
    changed = profile_input(
        legalName="Acme Industrial Pumps Co., Ltd.",
        industry="C3521",
        hosting="self-hosted",
        serviceNodes=[{"hdlType": "HS_SITE", "ip": "114.114.114.7", "ipType": 4, "tcpPort": 2641}],
    )
    request = world.service.request_change(admin, changed)
    assert (request.kind, request.enterprise) == (ApplicationKind.CHANGE, USCC)
    assert world.enterprises.items[USCC].name == "Acme Pumps Co., Ltd."  # not yet

    with pytest.raises(InvalidStateError, match="pending already"):
        world.service.request_change(admin, changed)
    approved = world.service.approve(AUDITOR, request.id, "new licence seen")
    assert approved.status is ApplicationStatus.APPROVED
    assert approved.prefix is None

    enterprise = world.enterprises.items[USCC]
    assert enterprise.name == "Acme Industrial Pumps Co., Ltd."
    assert enterprise.profile.hosting is Hosting.SELF_HOSTED
    assert (enterprise.prefix, enterprise.version, enterprise.industry) == ("88.100.1000", 2, "C35")
    assert world.counters.of("industry#C34", "enterprises") == 0
    assert world.counters.of("industry#C35", "enterprises") == 1
    assert world.counters.of("node", "enterprises") == 1
    assert world.allocation.counter == 1000  # no new prefix

    history = world.service.history(AUDITOR, USCC)
    assert [a.kind for a in history.items] == [ApplicationKind.CHANGE, ApplicationKind.ONBOARDING]


def test_change_requests_are_refused_when_they_cannot_apply(world: World) -> None:
    world.onboard()
    admin = enterprise_admin()
    with pytest.raises(InvalidValueError, match=r"^uscc: .* cannot change"):
        world.service.request_change(admin, profile_input(uscc=OTHER_USCC))
    with pytest.raises(InvalidValueError, match="current one"):
        world.service.request_change(admin, profile_input())
    with pytest.raises(NotAuthorisedError):
        world.service.request_change(APPLICANT, profile_input(legalName="Another Name Ltd"))
    with pytest.raises(NotAuthorisedError, match="not bound"):
        world.service.request_change(
            user("eve", ["enterprise-admin"], None, []), profile_input(legalName="Another Ltd")
        )
    with pytest.raises(NotFoundError):
        world.service.request_change(enterprise_admin(OTHER_USCC), profile_input(uscc=OTHER_USCC))
    assert [a.kind for a in world.applications.items.values()] == [ApplicationKind.ONBOARDING]


def test_a_change_is_applied_to_the_enterprise_as_it_is_now(world: World) -> None:
    world.onboard()
    request = world.service.request_change(
        enterprise_admin(), profile_input(legalName="Acme Renamed Ltd")
    )
    world.allocation.rivals.append(lambda: world.service.suspend(PLATFORM_ADMIN, USCC, "audit"))
    world.service.approve(AUDITOR, request.id)
    enterprise = world.enterprises.items[USCC]
    assert enterprise.name == "Acme Renamed Ltd"
    assert enterprise.status is EnterpriseStatus.SUSPENDED


def test_a_change_whose_enterprise_keeps_changing_gives_up(world: World) -> None:
    world.onboard()
    request = world.service.request_change(
        enterprise_admin(), profile_input(legalName="Acme Renamed Ltd")
    )

    def touch() -> None:
        current = world.enterprises.items[USCC]
        world.enterprises.items[USCC] = replace(current, version=current.version + 1)

    world.allocation.rivals.extend([touch] * 10)
    with pytest.raises(ConcurrentUpdateError, match="kept changing"):
        world.service.approve(AUDITOR, request.id)
    assert world.applications.items[request.id].pending


# Suspension


def test_suspension_and_reinstatement(world: World) -> None:
    world.onboard()
    with pytest.raises(NotAuthorisedError):
        world.service.suspend(AUDITOR, USCC, "audit")
    with pytest.raises(InvalidValueError, match=r"^reason: "):
        world.service.suspend(PLATFORM_ADMIN, USCC, " ")

    suspended = world.service.suspend(PLATFORM_ADMIN, USCC, "unpaid fees")
    assert suspended.status is EnterpriseStatus.SUSPENDED
    prefix = world.prefixes["88.100.1000"]
    assert (prefix.status, prefix.resolvable) == (PrefixStatus.SUSPENDED, True)
    assert world.counters.of("node", "enterprises") == 0
    assert world.last_entry().details == {"reason": "unpaid fees", "stopResolution": False}
    with pytest.raises(InvalidStateError, match="suspended already"):
        world.service.suspend(PLATFORM_ADMIN, USCC, "again")

    reinstated = world.service.reinstate(PLATFORM_ADMIN, USCC)
    assert reinstated.status is EnterpriseStatus.ACTIVE
    prefix = world.prefixes["88.100.1000"]
    assert (prefix.status, prefix.resolvable) == (PrefixStatus.ACTIVE, True)
    assert world.counters.of("node", "enterprises") == 1
    with pytest.raises(InvalidStateError, match="active already"):
        world.service.reinstate(PLATFORM_ADMIN, USCC)

    world.service.suspend(PLATFORM_ADMIN, USCC, "fraud", stop_resolution=True)
    assert world.prefixes["88.100.1000"].resolvable is False
    world.service.reinstate(PLATFORM_ADMIN, USCC, "cleared")
    world.parameters = replace(world.parameters, suspension_stops_resolution=True)
    world.service.suspend(PLATFORM_ADMIN, USCC, "by default")
    assert world.prefixes["88.100.1000"].resolvable is False
    with pytest.raises(NotFoundError):
        world.service.suspend(PLATFORM_ADMIN, OTHER_USCC, "unknown")


def test_every_operation_is_logged_with_its_outcome(world: World) -> None:
    submitted = world.service.apply(APPLICANT, profile_input())
    world.service.get(APPLICANT, submitted.id)
    world.service.list(AUDITOR)
    with pytest.raises(NotAuthorisedError):
        world.service.approve(PLATFORM_ADMIN, submitted.id)
    world.service.approve(AUDITOR, submitted.id)
    world.service.enterprise(AUDITOR, USCC)
    world.service.history(AUDITOR, USCC)
    world.service.suspend(PLATFORM_ADMIN, USCC, "audit")
    world.service.reinstate(PLATFORM_ADMIN, USCC)
    actions = [(e.action, e.actor, e.result) for e in world.operations.entries]
    assert actions == [
        ("apply-for-enterprise", "alice", "ok"),
        ("view-application", "alice", "ok"),
        ("list-applications", "audrey", "ok"),
        ("approve-application", "pat", "not-authorised"),
        ("approve-application", "audrey", "ok"),
        ("view-enterprise", "audrey", "ok"),
        ("list-enterprise-applications", "audrey", "ok"),
        ("suspend-enterprise", "pat", "ok"),
        ("reinstate-enterprise", "pat", "ok"),
    ]
    # Refusals happen before anything is read, so they name no enterprise.
    concerned = [e for e in world.operations.entries if e.action != "list-applications"]
    assert [e.enterprise for e in concerned] == [USCC, USCC, None, USCC, USCC, USCC, USCC, USCC]


def test_statistics_are_counted_on_the_decision_day(world: World) -> None:
    world.clock.now += timedelta(days=3)
    world.onboard()
    assert world.counters.days == {world.clock.now.strftime("%Y-%m-%d")}


def test_profile_of_the_application_is_the_one_checked(world: World) -> None:
    submitted = world.service.apply(APPLICANT, profile_input(uscc=f" {USCC.lower()} "))
    assert submitted.profile == parse_profile(profile_input())
