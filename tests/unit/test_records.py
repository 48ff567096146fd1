"""Records and their changes: indexes stay unique and sorted, untouched values keep their time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from idnode.domain.errors import InvalidValueError, ValuesNotFoundError
from idnode.domain.handles import Handle
from idnode.domain.records import MAX_VALUES, Record, new_record
from idnode.domain.values import DataFormat, Permissions, Value, ValueData

HANDLE = Handle.parse("88.100.1234/PUMP-0001")
CREATED = datetime(2025, 1, 1, tzinfo=UTC)
LATER = CREATED + timedelta(hours=1)

indexes = st.integers(min_value=1, max_value=40)


def value(index: int, text: str = "x", *, restricted: bool = False, vtype: str = "URL") -> Value:
    return Value(
        index,
        vtype,
        ValueData(DataFormat.STRING, text),
        permissions=Permissions(public_read=not restricted),
    )


def value_sets(min_size: int = 0) -> st.SearchStrategy[list[Value]]:
    return st.dictionaries(indexes, st.text(max_size=3), min_size=min_size, max_size=12).map(
        lambda texts: [value(i, t) for i, t in texts.items()]
    )


def record_of(values: list[Value]) -> Record:
    return new_record(HANDLE, values, CREATED)


def index_list(record: Record) -> list[int]:
    return [v.index for v in record.values]


def assert_well_formed(record: Record) -> None:
    found = index_list(record)
    assert found == sorted(set(found))


@settings(max_examples=150)
@given(before=value_sets(), incoming=value_sets())
def test_upserted_adds_and_replaces_and_keeps_the_rest(
    before: list[Value], incoming: list[Value]
) -> None:
    record = record_of(before)
    after = record.upserted(incoming, LATER)
    assert_well_formed(after)
    new = {v.index: v for v in incoming}
    assert set(index_list(after)) == {v.index for v in before} | set(new)
    for v in after.values:
        if v.index in new:
            assert v == new[v.index].stamped(LATER)
        else:
            assert v == record.value_at(v.index)
            assert v.timestamp == CREATED
    assert (after.created, after.updated, after.version) == (CREATED, LATER, record.version)


@settings(max_examples=150)
@given(before=value_sets(), data=st.data())
def test_removed_takes_out_exactly_the_named_indexes(
    before: list[Value], data: st.DataObject
) -> None:
    record = record_of(before)
    present = index_list(record)
    gone = data.draw(st.lists(st.sampled_from(present), unique=True) if present else st.just([]))
    after = record.removed(gone, LATER)
    assert_well_formed(after)
    assert index_list(after) == [i for i in present if i not in gone]
    assert all(after.value_at(i) == record.value_at(i) for i in index_list(after))


@settings(max_examples=150)
@given(before=value_sets(min_size=1), absent=indexes)
def test_removing_a_missing_index_changes_nothing_and_names_it(
    before: list[Value], absent: int
) -> None:
    record = record_of(before)
    assume(record.value_at(absent) is None)
    with pytest.raises(ValuesNotFoundError, match=f"no value at index {absent}"):
        record.removed([record.values[0].index, absent], LATER)


@settings(max_examples=150)
@given(before=value_sets(), incoming=value_sets())
def test_replaced_holds_exactly_the_new_values(before: list[Value], incoming: list[Value]) -> None:
    after = record_of(before).replaced(incoming, LATER)
    assert_well_formed(after)
    assert after.values == tuple(
        sorted((v.stamped(LATER) for v in incoming), key=lambda v: v.index)
    )


def test_new_record_is_unversioned_stamped_and_sorted() -> None:
    record = new_record(HANDLE, [value(3), value(1), value(2)], CREATED)
    assert index_list(record) == [1, 2, 3]
    assert {v.timestamp for v in record.values} == {CREATED}
    assert (record.created, record.updated, record.version) == (CREATED, CREATED, 0)


def test_a_record_never_holds_two_values_at_one_index() -> None:
    # Every edge validates unique indexes today; the record itself should not depend on it.
    with pytest.raises(InvalidValueError, match="index 1"):
        new_record(HANDLE, [value(1, "a"), value(1, "b")], CREATED)


def test_at_most_max_values() -> None:
    full = new_record(HANDLE, [value(i) for i in range(1, MAX_VALUES + 1)], CREATED)
    assert len(full.values) == MAX_VALUES
    with pytest.raises(InvalidValueError, match=f"at most {MAX_VALUES}"):
        full.upserted([value(MAX_VALUES + 1)], LATER)
    with pytest.raises(InvalidValueError, match=f"at most {MAX_VALUES}"):
        new_record(HANDLE, [value(i) for i in range(1, MAX_VALUES + 2)], CREATED)
    assert len(full.upserted([value(1, "new")], LATER).values) == MAX_VALUES


def test_select_hides_restricted_values_unless_allowed() -> None:
    record = record_of(
        [value(1), value(2, restricted=True), value(3, vtype="EMAIL"), value(4, vtype="URL.x")]
    )
    assert [v.index for v in record.select(see_restricted=False)] == [1, 3, 4]
    assert [v.index for v in record.select(see_restricted=True)] == [1, 2, 3, 4]
    assert [v.index for v in record.select(["URL"], see_restricted=True)] == [1, 2, 4]
    assert [v.index for v in record.select(["URL"], [3], see_restricted=False)] == [1, 3, 4]
    assert record.select(indexes=[2], see_restricted=False) == ()
    assert record.select(["NOPE"], see_restricted=True) == ()


def test_value_at() -> None:
    record = record_of([value(1, "a"), value(5, "b")])
    assert record.value_at(5) == value(5, "b").stamped(CREATED)
    assert record.value_at(2) is None
