"""Concurrent writers on one identifier, on moto: optimistic locking loses no update and
conditional creation lets exactly one creator win."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from moto.dynamodb.models import DynamoDBBackend

from idnode.domain.access import admin_identity, user
from idnode.domain.errors import ConcurrentUpdateError, HandleAlreadyExistsError
from idnode.domain.values import DataFormat, Value, ValueData
from idnode.node import Node
from tests.support.node import ADMIN_HANDLE, ENTERPRISE, PREFIX

NAME = f"{PREFIX}/LINE-7"
WRITERS = 8
UPSERTS_PER_WRITER = 5
CREATORS = 6
TIMEOUT = 60.0

MEMBER = user("operator", ["enterprise-user"], ENTERPRISE, [PREFIX])
IDENTITY = admin_identity(300, ADMIN_HANDLE, [PREFIX])


@pytest.fixture(autouse=True)
def atomic_conditional_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make moto's conditional writes atomic, as DynamoDB's are.

    moto reads the current item, evaluates the condition and stores the new item in separate
    steps without a lock, so two threads holding the same version can both pass the check and
    one update is lost inside the emulator (seen about once in a dozen runs of these tests).
    """
    lock = threading.RLock()
    for operation in ("put_item", "update_item", "delete_item", "transact_write_items"):
        original = getattr(DynamoDBBackend, operation)
        monkeypatch.setattr(DynamoDBBackend, operation, _serialised(original, lock))


def _serialised(operation: Callable[..., object], lock: threading.RLock) -> Callable[..., object]:
    def locked(*args: object, **kwargs: object) -> object:
        with lock:
            return operation(*args, **kwargs)

    return locked


def value(index: int, data: str) -> Value:
    return Value(index, "READING", ValueData(DataFormat.STRING, data))


def run_together(workers: int, work: Callable[[int], list[str]]) -> Counter[str]:
    """Start `workers` threads at one barrier and count the outcomes they report."""
    start = threading.Barrier(workers)

    def worker(number: int) -> list[str]:
        start.wait(TIMEOUT)
        return work(number)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        reports = list(pool.map(worker, range(workers), timeout=TIMEOUT))
    return Counter(outcome for report in reports for outcome in report)


def report(capsys: pytest.CaptureFixture[str], line: str) -> None:
    """Show the outcome counts in the test output, also when output is captured."""
    with capsys.disabled():
        print(f"\n{line}")


def test_concurrent_upserts_on_one_identifier_lose_nothing(
    node: Node, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = node.registry
    registry.create(NAME, [value(1, "base")], MEMBER)
    written: set[int] = set()
    lock = threading.Lock()

    def upserts(writer: int) -> list[str]:
        outcomes = []
        principal = IDENTITY if writer % 2 else MEMBER
        for round_ in range(UPSERTS_PER_WRITER):
            index = 100 * (writer + 1) + round_
            try:
                registry.upsert_values(NAME, [value(index, f"w{writer}r{round_}")], principal)
            except ConcurrentUpdateError:
                outcomes.append("gave up")
            else:
                outcomes.append("written")
                with lock:
                    written.add(index)
        return outcomes

    outcomes = run_together(WRITERS, upserts)
    final = registry.resolve(NAME, MEMBER).record
    report(capsys, f"upserts: {dict(outcomes)}; final version {final.version}")

    assert outcomes["written"] + outcomes["gave up"] == WRITERS * UPSERTS_PER_WRITER
    assert outcomes["written"] > 0
    assert {v.index for v in final.values} == {1} | written
    assert final.version == 1 + outcomes["written"]
    for v in final.values[1:]:
        writer, round_ = divmod(v.index, 100)
        assert v.data.value == f"w{writer - 1}r{round_}"


@pytest.mark.parametrize("attempt", range(2))
def test_racing_creators_of_one_identifier_have_one_winner(
    node: Node, attempt: int, capsys: pytest.CaptureFixture[str]
) -> None:
    name = f"{NAME}-{attempt}"

    def create(creator: int) -> list[str]:
        try:
            node.registry.create(name, [value(1, f"creator {creator}")], MEMBER)
        except HandleAlreadyExistsError:
            return ["refused"]
        return [f"won by {creator}"]

    outcomes = run_together(CREATORS, create)
    report(capsys, f"creators: {dict(outcomes)}")

    winners = [o for o in outcomes if o.startswith("won")]
    assert len(winners) == 1
    assert outcomes["refused"] == CREATORS - 1
    stored = node.registry.resolve(name, MEMBER).record
    assert stored.version == 1
    assert stored.values[0].data.value == f"creator {winners[0].removeprefix('won by ')}"
