"""Concurrent approvals on moto: approvals of different applications get distinct prefixes, and
of one application, exactly one wins and one prefix is allocated.

The racing threads share moto's in-process backend, made atomic per request as DynamoDB is
(moto checks a condition and stores the item in separate steps without a lock; see
tests/functional/test_concurrency.py). A moto server would serialise requests the same way,
but needs flask, which the project does not install.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from moto.dynamodb.models import DynamoDBBackend
from stdnum.cn import uscc

from idnode.domain.access import user
from idnode.domain.enterprises import ApplicationStatus
from idnode.domain.errors import ConcurrentUpdateError, InvalidStateError
from idnode.node import Node
from idnode.services.onboarding import OnboardingService
from idnode.store.allocation import SEQUENCE_ID
from tests.support.node import ADMIN_IDENTITY, OTHER_ADMIN_IDENTITY
from tests.support.onboarding import RecordingDirectory, onboarding_service
from tests.unit.fakes_onboarding import profile_input

AUDITORS = [user(f"auditor-{n}", ["auditor"], None, []) for n in range(8)]
TIMEOUT = 60.0
# USCC bodies (8 digits, 9 code characters); `valid` gives each its check character.
USCCS = [
    "91110000600037341L",
    "91350100M000100Y43",
    "91440300MA5G8LXX1X",
    "91310000MA1FL4TQ2P",
    "91330100MA27XY5K3N",
    "91320500MA1MUK7E4D",
    "91510100MA61RQ8B5U",
    "91420100MA4KL2P06R",
]


@pytest.fixture(autouse=True)
def atomic_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make each of moto's writes atomic, as DynamoDB's are."""
    lock = threading.RLock()
    for name in ("put_item", "update_item", "delete_item", "transact_write_items"):
        original = getattr(DynamoDBBackend, name)
        monkeypatch.setattr(DynamoDBBackend, name, _serialised(original, lock))


def _serialised(operation: Callable[..., object], lock: threading.RLock) -> Callable[..., object]:
    def locked(*args: object, **kwargs: object) -> object:
        with lock:
            return operation(*args, **kwargs)

    return locked


@pytest.fixture
def onboarding(node: Node) -> OnboardingService:
    return onboarding_service(node, RecordingDirectory())


def valid(body: str) -> str:
    return body[:17] + uscc.calc_check_digit(body[:17])


def run_together(workers: int, work: Callable[[int], str]) -> list[str]:
    """Start `workers` threads at one barrier; each reports its outcome."""
    start = threading.Barrier(workers)

    def worker(number: int) -> str:
        start.wait(TIMEOUT)
        return work(number)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(worker, range(workers), timeout=TIMEOUT))


def report(capsys: pytest.CaptureFixture[str], line: str) -> None:
    with capsys.disabled():
        print(f"\n{line}")


def allocated(node: Node) -> dict[str, str]:
    """Allocated enterprise prefixes -> their enterprise (the test node's own two excluded)."""
    return {
        item.name: item.enterprise
        for item in node.tables.prefixes.scan()
        if not item.enterprise.startswith("ent-")
    }


def test_approvals_of_different_applications_get_distinct_prefixes(
    node: Node, onboarding: OnboardingService, capsys: pytest.CaptureFixture[str]
) -> None:
    usccs = [valid(body) for body in USCCS]
    applications = [
        onboarding.apply(user(f"applicant-{n}", [], None, []), profile_input(uscc=code))
        for n, code in enumerate(usccs)
    ]

    def approve(n: int) -> str:
        approved = onboarding.approve(AUDITORS[n], applications[n].id)
        assert approved.prefix is not None
        return approved.prefix

    prefixes = run_together(len(applications), approve)
    report(capsys, f"8 approvals at once got prefixes {sorted(prefixes)}")

    assert len(set(prefixes)) == len(applications)
    held = allocated(node)
    assert sorted(held) == sorted(prefixes)
    assert sorted(held.values()) == sorted(usccs)
    for application, prefix in zip(applications, prefixes, strict=True):
        stored = onboarding.get(AUDITORS[0], application.id)
        assert (stored.status, stored.prefix) == (ApplicationStatus.APPROVED, prefix)
        enterprise = onboarding.enterprise(AUDITORS[0], application.enterprise)
        assert enterprise.prefix == prefix
        assert node.credentials.get(f"300:{prefix}/ADMIN") is not None
    # No number was handed out twice, and none was wasted without a race to lose.
    counter = node.tables.sequences.get(SEQUENCE_ID)
    assert sorted(prefixes) == [f"88.100.{n}" for n in range(1000, int(counter.next) + 1)]


@pytest.mark.parametrize("attempt", range(2))
def test_one_application_approved_at_once_by_many_has_one_winner(
    node: Node, onboarding: OnboardingService, attempt: int, capsys: pytest.CaptureFixture[str]
) -> None:
    application = onboarding.apply(user("applicant", [], None, []), profile_input())

    def approve(n: int) -> str:
        try:
            approved = onboarding.approve(AUDITORS[n], application.id)
        except (InvalidStateError, ConcurrentUpdateError) as error:
            return type(error).__name__
        return f"won {approved.prefix}"

    outcomes = Counter(run_together(6, approve))
    counter = node.tables.sequences.get(SEQUENCE_ID)
    report(
        capsys,
        f"6 approvals of one application (run {attempt}): {dict(outcomes)}; "
        f"numbers drawn up to {int(counter.next)}",
    )

    winners = [o for o in outcomes if o.startswith("won")]
    assert len(winners) == 1
    assert outcomes[winners[0]] == 1
    assert outcomes["InvalidStateError"] == 5
    prefix = winners[0].removeprefix("won ")
    assert allocated(node) == {prefix: application.enterprise}
    stored = onboarding.get(AUDITORS[0], application.id)
    assert (stored.status, stored.prefix, stored.version) == (ApplicationStatus.APPROVED, prefix, 2)
    seeded = {ADMIN_IDENTITY, OTHER_ADMIN_IDENTITY}
    credentials = [c.name for c in node.tables.credentials.scan() if c.name not in seeded]
    assert credentials == [f"300:{prefix}/ADMIN"]
