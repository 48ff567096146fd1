"""Batch registration on in-memory repositories: per-item outcomes, idempotent retries,
writers racing the batch, and the invariants that hold for any mix of items."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idnode.domain.access import Principal, user
from idnode.domain.errors import IdnodeError, InvalidValueError
from idnode.domain.handles import Handle
from idnode.domain.prefixes import Prefix
from idnode.domain.records import Record, new_record
from idnode.domain.values import DataFormat, Value, ValueData
from idnode.services.operations import OperationLog
from idnode.services.registry import (
    MAX_BATCH,
    BatchItem,
    BatchStatus,
    RegistryService,
)
from tests.unit.fakes import (
    InMemoryIdentifiers,
    InMemoryOperations,
    InMemoryPrefixes,
    RecordingMeter,
    StaleRecordError,
    SteppingClock,
)

PREFIX = "88.100.1234"
OTHER_PREFIX = "88.100.5678"
MEMBER = user("enu", ["enterprise-user"], "ent-1234", [PREFIX])


class BatchIdentifiers(InMemoryIdentifiers):
    """Adds the batch create, with a hook for writers that win a race against it."""

    def __init__(self) -> None:
        super().__init__()
        self.before_batch: list[Record] = []

    def create_many(self, records: Sequence[Record]) -> list[IdnodeError | None]:
        for rival in self.before_batch:
            self.seed(rival)
        outcomes: list[IdnodeError | None] = []
        for record in records:
            try:
                self.create(record)
                outcomes.append(None)
            except IdnodeError as error:
                outcomes.append(error)
        return outcomes


def url(index: int, data: str) -> Value:
    return Value(index, "URL", ValueData(DataFormat.STRING, data))


def build(
    identifiers: BatchIdentifiers, check: Callable[[Record], None] = lambda _record: None
) -> tuple[RegistryService, RecordingMeter, InMemoryOperations]:
    meter, operations = RecordingMeter(), InMemoryOperations()
    registry = RegistryService(
        identifiers,
        InMemoryPrefixes(Prefix(PREFIX, "ent-1234"), Prefix(OTHER_PREFIX, "ent-5678")),
        "88.100",
        log=OperationLog(operations, lambda _e, _x: None),
        meter=meter,
        stale_error=StaleRecordError,
        clock=SteppingClock(),
        check=check,
    )
    return registry, meter, operations


def stored_values(identifiers: InMemoryIdentifiers, name: str) -> list[tuple[int, str]]:
    record = identifiers.stored(name)
    assert record is not None
    return [(v.index, str(v.data.value)) for v in record.values]


def test_a_racing_writer_with_the_same_values_makes_the_item_existed() -> None:
    identifiers = BatchIdentifiers()
    registry, meter, _ = build(identifiers)
    at = SteppingClock()()
    identifiers.before_batch = [
        new_record(Handle.parse(f"{PREFIX}/SAME"), [url(1, "a")], at),
        new_record(Handle.parse(f"{PREFIX}/OTHER"), [url(1, "b")], at),
    ]
    items = [
        BatchItem(f"{PREFIX}/SAME", [url(1, "a")]),
        BatchItem(f"{PREFIX}/OTHER", [url(1, "a")]),
        BatchItem(f"{PREFIX}/NEW", [url(1, "a")]),
    ]
    result = registry.register_many(items, MEMBER)
    assert [i.status for i in result.items] == [
        BatchStatus.EXISTED,
        BatchStatus.FAILED,
        BatchStatus.CREATED,
    ]
    assert result.items[1].code == "handle-already-exists"
    assert meter.counts[(PREFIX, "registrations")] == 1
    assert meter.counts[(PREFIX, "identifiers")] == 1


def test_the_values_error_of_an_item_fails_that_item_only() -> None:
    identifiers = BatchIdentifiers()
    registry, _, _ = build(identifiers)
    bad = InvalidValueError("value 1: data must be a string")
    result = registry.register_many(
        [BatchItem(f"{PREFIX}/A", error=bad), BatchItem(f"{PREFIX}/B", [url(1, "b")])], MEMBER
    )
    assert [i.status for i in result.items] == [BatchStatus.FAILED, BatchStatus.CREATED]
    assert result.items[0].error is bad
    assert identifiers.stored(f"{PREFIX}/A") is None


def test_a_check_refusing_a_record_fails_its_item() -> None:
    def check(record: Record) -> None:
        if record.handle.suffix.startswith("T"):
            raise InvalidValueError("master data: field 'model' is missing")

    registry, _, _ = build(BatchIdentifiers(), check)
    result = registry.register_many(
        [BatchItem(f"{PREFIX}/T1", [url(1, "t")]), BatchItem(f"{PREFIX}/U1", [url(1, "u")])],
        MEMBER,
    )
    assert [i.code for i in result.items] == ["invalid-value", None]


@pytest.mark.parametrize("size", [0, MAX_BATCH + 1])
def test_batch_size_is_limited(size: int) -> None:
    registry, _, operations = build(BatchIdentifiers())
    items = [BatchItem(f"{PREFIX}/S-{i}") for i in range(size)]
    with pytest.raises(InvalidValueError, match="1 to 2000"):
        registry.register_many(items, MEMBER)
    assert [e.result for e in operations.entries] == ["invalid-value"]


NAMES = [f"{PREFIX}/N-{i}" for i in range(6)] + [f"{PREFIX}/n-0", f"{OTHER_PREFIX}/X", "bad name"]
item_strategy = st.builds(
    lambda name, data: BatchItem(name, [url(1, data)]),
    st.sampled_from(NAMES),
    st.sampled_from(["a", "b"]),
)


@settings(max_examples=60, deadline=None)
@given(
    seeded=st.lists(st.tuples(st.integers(0, 5), st.sampled_from(["a", "b"])), max_size=4),
    items=st.lists(item_strategy, min_size=1, max_size=12),
)
def test_any_batch_then_its_retry(seeded: list[tuple[int, str]], items: list[BatchItem]) -> None:
    identifiers = BatchIdentifiers()
    at = SteppingClock()()
    for n, data in seeded:
        identifiers.seed(new_record(Handle.parse(NAMES[n]), [url(1, data)], at))
    before = {name: identifiers.stored(name) for name in NAMES[:6]}
    registry, meter, operations = build(identifiers)
    principal: Principal = MEMBER

    result = registry.register_many(items, principal)

    assert [i.position for i in result.items] == list(range(len(items)))
    assert [i.handle for i in result.items] == [i.name for i in items]
    seen: set[str] = set()
    for item, outcome in zip(items, result.items, strict=True):
        folded = item.name.lower()
        if item.name == "bad name":
            assert outcome.code == "invalid-handle"
        elif folded in seen:
            assert outcome.code == "duplicate-in-batch"
        elif item.name.startswith(OTHER_PREFIX):
            assert outcome.code == "not-authorised"
        else:
            prior = before.get(NAMES[[n.lower() for n in NAMES].index(folded)])
            if prior is None:
                assert outcome.status is BatchStatus.CREATED
            elif prior.values[0].data == item.values[0].data:
                assert outcome.status is BatchStatus.EXISTED
            else:
                assert outcome.code == "handle-already-exists"
            assert stored_values(identifiers, item.name)[0][1] == str(
                (prior or new_record(Handle.parse(item.name), item.values, at)).values[0].data.value
            )
        seen.add(folded)
    created = result.count(BatchStatus.CREATED)
    assert meter.counts[(PREFIX, "registrations")] == created
    assert len(operations.entries) == 1

    # The retry changes nothing and reports every earlier success as EXISTED.
    snapshot = {name: identifiers.stored(name) for name in NAMES[:6]}
    retry = registry.register_many(items, principal)
    assert retry.count(BatchStatus.CREATED) == 0
    for first, second in zip(result.items, retry.items, strict=True):
        if first.status is not BatchStatus.FAILED:
            assert second.status is BatchStatus.EXISTED
        else:
            assert second.status is BatchStatus.FAILED
    assert {name: identifiers.stored(name) for name in NAMES[:6]} == snapshot
