"""Registration and resolution use cases on in-memory repositories, including lost-update races."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from idnode.domain.access import ANONYMOUS, HS_ADMIN, Principal, admin_identity, user
from idnode.domain.errors import (
    AuthenticationRequiredError,
    ConcurrentUpdateError,
    HandleAlreadyExistsError,
    HandleNotFoundError,
    InvalidHandleError,
    InvalidValueError,
    NotAuthorisedError,
    PrefixNotServedError,
    ValuesNotFoundError,
)
from idnode.domain.handles import Handle
from idnode.domain.prefixes import Prefix, PrefixStatus
from idnode.domain.records import Record, new_record
from idnode.domain.values import DataFormat, Permissions, Value, ValueData
from idnode.services.operations import OperationLog
from idnode.services.registry import MAX_PAGE_SIZE, RegistryService
from idnode.store.pages import decode_cursor, encode_cursor
from tests.unit.fakes import (
    InMemoryIdentifiers,
    InMemoryOperations,
    InMemoryPrefixes,
    RecordingMeter,
    Rival,
    StaleRecordError,
    SteppingClock,
)

NODE_PREFIX = "88.100"
PREFIX = "88.100.1234"
OTHER_PREFIX = "88.100.5678"
NAME = f"{PREFIX}/PUMP-0001"
EARLIER = SteppingClock().now

MEMBER = user("enu", ["enterprise-user"], "ent-1234", [PREFIX])
OUTSIDER = user("feu", ["enterprise-user"], "ent-5678", [OTHER_PREFIX])
AUDITOR = user("aud", ["auditor"], None, [])
PLATFORM_ADMIN = user("pat", ["platform-admin"], None, [])
IDENTITY = admin_identity(300, f"{PREFIX}/ADMIN", [PREFIX])


def text(index: int, data: str = "x", vtype: str = "URL", *, restricted: bool = False) -> Value:
    return Value(
        index,
        vtype,
        ValueData(DataFormat.STRING, data),
        permissions=Permissions(public_read=not restricted),
    )


VALUES = [
    text(2, "ops@example.com", "EMAIL"),
    text(1, "https://example.com/p1"),
    text(3, "SN-42", "SERIAL", restricted=True),
]


@pytest.fixture
def identifiers() -> InMemoryIdentifiers:
    return InMemoryIdentifiers()


@pytest.fixture
def prefixes() -> InMemoryPrefixes:
    return InMemoryPrefixes(
        Prefix(NODE_PREFIX, "operator"),
        Prefix(PREFIX, "ent-1234"),
        Prefix(OTHER_PREFIX, "ent-5678"),
        Prefix("88.100.9999", "ent-9999", PrefixStatus.SUSPENDED),
        Prefix("88.1000", "ent-lookalike"),
        Prefix("89.1", "ent-elsewhere"),
    )


@pytest.fixture
def clock() -> SteppingClock:
    return SteppingClock()


@pytest.fixture
def operations() -> InMemoryOperations:
    return InMemoryOperations()


@pytest.fixture
def meter() -> RecordingMeter:
    return RecordingMeter()


@pytest.fixture
def registry(
    identifiers: InMemoryIdentifiers,
    prefixes: InMemoryPrefixes,
    clock: SteppingClock,
    operations: InMemoryOperations,
    meter: RecordingMeter,
) -> RegistryService:
    return RegistryService(
        identifiers,
        prefixes,
        NODE_PREFIX,
        log=OperationLog(operations, fallback=lambda entry, error: None),
        meter=meter,
        stale_error=StaleRecordError,
        clock=clock,
        max_attempts=4,
    )


@pytest.fixture
def existing(registry: RegistryService) -> Record:
    return registry.create(NAME, VALUES, MEMBER)


def indexes_of(record: Record | None) -> list[int]:
    assert record is not None
    return [v.index for v in record.values]


# Creating


def test_create_stores_a_first_version_stamped_and_sorted(
    registry: RegistryService, identifiers: InMemoryIdentifiers, clock: SteppingClock
) -> None:
    created = registry.create(NAME, VALUES, MEMBER)
    assert created.version == 1
    assert indexes_of(created) == [1, 2, 3]
    assert {v.timestamp for v in created.values} == {created.created} == {clock.now}
    assert identifiers.stored(NAME) == created


def test_create_twice_is_refused(registry: RegistryService, existing: Record) -> None:
    with pytest.raises(HandleAlreadyExistsError):
        registry.create(NAME.lower(), VALUES, MEMBER)


@pytest.mark.parametrize(
    "name",
    [
        "88.100.4321/PUMP",  # not allocated
        "88.100.9999/PUMP",  # suspended
        "88.1000/PUMP",  # allocated, but beside the node prefix rather than under it
        "89.1/PUMP",  # allocated, under another node
        "88/PUMP",  # the node's parent
    ],
)
def test_only_active_prefixes_under_the_node_prefix_take_registrations(
    registry: RegistryService, identifiers: InMemoryIdentifiers, name: str
) -> None:
    with pytest.raises(PrefixNotServedError) as refused:
        registry.create(name, VALUES, PLATFORM_ADMIN)
    assert refused.value.response_code == 301
    assert refused.value.handle == name
    assert name.split("/", maxsplit=1)[0] in refused.value.message
    assert identifiers.calls["create"] == 0


def test_the_node_prefix_itself_and_letter_case_variants_are_served(
    registry: RegistryService,
) -> None:
    registry.create(f"{NODE_PREFIX}/SERVICE", VALUES, PLATFORM_ADMIN)
    registry.create("88.100.1234/lower-and-UPPER", VALUES, MEMBER)


@pytest.mark.parametrize(
    ("principal", "error"),
    [
        (ANONYMOUS, AuthenticationRequiredError),
        (OUTSIDER, NotAuthorisedError),
        (AUDITOR, NotAuthorisedError),
    ],
)
def test_a_refused_create_stores_nothing(
    registry: RegistryService,
    identifiers: InMemoryIdentifiers,
    principal: Principal,
    error: type[Exception],
) -> None:
    with pytest.raises(error):
        registry.create(NAME, VALUES, principal)
    assert identifiers.stored(NAME) is None


def test_a_malformed_name_is_refused_before_any_lookup(
    registry: RegistryService, prefixes: InMemoryPrefixes
) -> None:
    with pytest.raises(InvalidHandleError):
        registry.create("88.100.1234", VALUES, MEMBER)
    assert prefixes.calls["get"] == 0


def test_mint_chooses_a_fresh_suffix(registry: RegistryService) -> None:
    first = registry.mint(PREFIX, VALUES, MEMBER)
    second = registry.mint(PREFIX, VALUES, MEMBER)
    assert first.handle.prefix == PREFIX
    assert re.fullmatch(r"[0-9A-F]{32}", first.handle.suffix)
    assert first.handle != second.handle
    with pytest.raises(InvalidHandleError):
        registry.mint("88..1", VALUES, MEMBER)


# Resolving


def test_resolution_is_case_insensitive_and_keeps_the_registered_name(
    registry: RegistryService, existing: Record
) -> None:
    found = registry.resolve(NAME.lower(), ANONYMOUS)
    assert found.record.handle.name == NAME


@pytest.mark.parametrize(
    ("principal", "public_only", "seen"),
    [
        (ANONYMOUS, False, [1, 2]),
        (OUTSIDER, False, [1, 2]),
        (MEMBER, False, [1, 2, 3]),
        (IDENTITY, False, [1, 2, 3]),
        (AUDITOR, False, [1, 2, 3]),
        (MEMBER, True, [1, 2]),
    ],
)
def test_restricted_values_are_for_administrators_and_auditors(
    registry: RegistryService,
    existing: Record,
    principal: Principal,
    public_only: bool,
    seen: list[int],
) -> None:
    found = registry.resolve(NAME, principal, public_only=public_only)
    assert [v.index for v in found.values] == seen
    assert found.includes_restricted is (3 in seen)
    assert not found.filtered


def test_filters(registry: RegistryService, existing: Record) -> None:
    found = registry.resolve(NAME, MEMBER, types=["EMAIL"], indexes=[3])
    assert ([v.index for v in found.values], found.filtered) == ([2, 3], True)
    assert registry.resolve(NAME, ANONYMOUS, indexes=[3]).values == ()


def test_an_unregistered_name_is_not_found(registry: RegistryService) -> None:
    with pytest.raises(HandleNotFoundError) as refused:
        registry.resolve(f"{PREFIX}/missing", ANONYMOUS)
    assert refused.value.handle == f"{PREFIX}/missing"


def test_find_many_answers_in_order(registry: RegistryService, existing: Record) -> None:
    found = registry.find_many([f"{PREFIX}/missing", NAME.lower(), NAME])
    assert found == [None, existing, existing]


# Changing


def test_put_creates_then_replaces(registry: RegistryService) -> None:
    created, was_created = registry.put(NAME, VALUES, MEMBER)
    assert (was_created, created.version) == (True, 1)
    replaced, was_created = registry.put(NAME, [text(9)], MEMBER)
    assert (was_created, replaced.version, indexes_of(replaced)) == (False, 2, [9])


def test_put_into_an_unserved_prefix_is_refused(registry: RegistryService) -> None:
    with pytest.raises(PrefixNotServedError):
        registry.put("88.100.4321/PUMP", VALUES, PLATFORM_ADMIN)


def test_update_applies_replace_then_upsert_then_remove_as_one_version(
    registry: RegistryService, existing: Record
) -> None:
    updated = registry.update(
        NAME, MEMBER, replace=[text(5), text(6)], upsert=[text(6, "new"), text(7)], remove=[5]
    )
    assert indexes_of(updated) == [6, 7]
    assert updated.value_at(6) == text(6, "new").stamped(updated.updated)
    assert updated.version == existing.version + 1


def test_an_empty_update_is_refused(registry: RegistryService, existing: Record) -> None:
    with pytest.raises(InvalidValueError, match="changes nothing"):
        registry.update(NAME, MEMBER)


def test_upsert_add_and_remove(registry: RegistryService, existing: Record) -> None:
    assert indexes_of(registry.upsert_values(NAME, [text(1, "v2"), text(4)], MEMBER)) == [
        1,
        2,
        3,
        4,
    ]
    assert indexes_of(registry.upsert_values(NAME, [text(5)], MEMBER)) == [1, 2, 3, 4, 5]
    with pytest.raises(ValuesNotFoundError, match="index 8"):
        registry.remove_values(NAME, [1, 8], MEMBER)
    with pytest.raises(InvalidValueError, match="at least one index"):
        registry.remove_values(NAME, [], MEMBER)
    final = registry.remove_values(NAME, [1, 5], MEMBER)
    assert (indexes_of(final), final.version) == ([2, 3, 4], 4)


def test_changing_an_unregistered_name_is_not_found(registry: RegistryService) -> None:
    with pytest.raises(HandleNotFoundError):
        registry.upsert_values(NAME, [text(1)], MEMBER)


def test_untouched_values_keep_their_timestamp(registry: RegistryService, existing: Record) -> None:
    after = registry.upsert_values(NAME, [text(1, "v2")], MEMBER)
    assert after.value_at(2) == existing.value_at(2)
    assert after.value_at(1) == text(1, "v2").stamped(after.updated)
    assert existing.updated < after.updated
    assert after.created == existing.created


def test_a_refused_change_stores_nothing(
    registry: RegistryService, identifiers: InMemoryIdentifiers, existing: Record
) -> None:
    with pytest.raises(NotAuthorisedError):
        registry.upsert_values(NAME, [text(9)], OUTSIDER)
    with pytest.raises(NotAuthorisedError):
        registry.delete(NAME, OUTSIDER)
    assert identifiers.stored(NAME) == existing
    assert identifiers.calls["save"] == identifiers.calls["delete"] == 0


def test_delete(
    registry: RegistryService, identifiers: InMemoryIdentifiers, existing: Record
) -> None:
    assert registry.delete(NAME.lower(), MEMBER) == existing
    assert identifiers.stored(NAME) is None
    with pytest.raises(HandleNotFoundError):
        registry.delete(NAME, MEMBER)


# Listing


def test_listing_pages_through_one_prefix_in_key_order(
    registry: RegistryService, identifiers: InMemoryIdentifiers
) -> None:
    names = [f"{PREFIX}/P-{i:02d}" for i in range(7)]
    for name in reversed(names):
        registry.create(name, VALUES, MEMBER)
    registry.create(f"{OTHER_PREFIX}/P-00", VALUES, PLATFORM_ADMIN)
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = registry.list(PREFIX.upper(), MEMBER, 3, cursor)
        pages += 1
        assert len(page.cursors) == len(page.items) <= 3
        seen += [r.handle.name for r in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert (seen, pages) == (names, 3)


def test_a_cursor_resumes_after_its_item(registry: RegistryService) -> None:
    names = [f"{PREFIX}/P-{i}" for i in range(4)]
    for name in names:
        registry.create(name, VALUES, MEMBER)
    page = registry.list(PREFIX, MEMBER, 4, None)
    resumed = registry.list(PREFIX, MEMBER, 4, page.cursors[1])
    assert [r.handle.name for r in resumed.items] == names[2:]


@pytest.mark.parametrize("limit", [1, MAX_PAGE_SIZE])
def test_page_size_bounds_are_inclusive(registry: RegistryService, limit: int) -> None:
    registry.list(PREFIX, MEMBER, limit, None)


@pytest.mark.parametrize("limit", [0, -1, MAX_PAGE_SIZE + 1])
def test_page_sizes_out_of_bounds_are_refused(registry: RegistryService, limit: int) -> None:
    with pytest.raises(InvalidValueError, match=f"between 1 and {MAX_PAGE_SIZE}"):
        registry.list(PREFIX, MEMBER, limit, None)


@pytest.mark.parametrize(
    ("principal", "error"),
    [(ANONYMOUS, AuthenticationRequiredError), (OUTSIDER, NotAuthorisedError)],
)
def test_listing_is_for_administrators(
    registry: RegistryService, principal: Principal, error: type[Exception]
) -> None:
    with pytest.raises(error):
        registry.list(PREFIX, principal, 10, None)
    registry.list(PREFIX, AUDITOR, 10, None)
    registry.list(PREFIX, IDENTITY, 10, None)


def test_listing_a_malformed_prefix_is_refused(registry: RegistryService) -> None:
    with pytest.raises(InvalidHandleError):
        registry.list("88..1", PLATFORM_ADMIN, 10, None)


def test_cursors_belong_to_their_listing() -> None:
    cursor = encode_cursor(PREFIX, {"handle": {"S": NAME.lower()}})
    assert decode_cursor(PREFIX, cursor) == {"handle": {"S": NAME.lower()}}
    assert decode_cursor(PREFIX, None) is None
    with pytest.raises(InvalidValueError, match="does not belong"):
        decode_cursor(OTHER_PREFIX, cursor)
    for broken in ["!!!", "bm90IGpzb24", encode_cursor(PREFIX, {"k": 1})[:-3]]:
        with pytest.raises(InvalidValueError):
            decode_cursor(PREFIX, broken)


# Races: another writer lands between our read and our write


def upsert_by_rival(index: int, data: str = "rival") -> Rival:
    def write(store: InMemoryIdentifiers) -> None:
        current = store.stored(NAME)
        assert current is not None
        store.save(current.upserted([text(index, data)], EARLIER))

    return write


def test_a_stale_save_is_retried_on_the_fresh_record(
    registry: RegistryService, identifiers: InMemoryIdentifiers, existing: Record
) -> None:
    identifiers.rival(upsert_by_rival(8))
    after = registry.upsert_values(NAME, [text(9)], MEMBER)
    assert indexes_of(after) == [1, 2, 3, 8, 9]  # neither write is lost
    assert after.version == existing.version + 2
    assert identifiers.calls["save"] == 3  # rival, our stale attempt, our retry


def test_a_retried_change_is_checked_again_on_the_fresh_record(
    registry: RegistryService, identifiers: InMemoryIdentifiers, existing: Record
) -> None:
    def remove_3_by_rival(store: InMemoryIdentifiers) -> None:
        current = store.stored(NAME)
        assert current is not None
        store.save(current.removed([3], EARLIER))

    identifiers.rival(remove_3_by_rival)
    # Valid on the record we first read; the retry re-applies it to the fresh one and fails.
    with pytest.raises(ValuesNotFoundError, match="index 3"):
        registry.remove_values(NAME, [3], MEMBER)
    assert indexes_of(identifiers.stored(NAME)) == [1, 2]


def test_a_retried_change_is_authorised_again_on_the_fresh_record(
    registry: RegistryService, identifiers: InMemoryIdentifiers, existing: Record
) -> None:
    def lock_out(store: InMemoryIdentifiers) -> None:
        current = store.stored(NAME)
        assert current is not None
        owner = Value(
            100,
            HS_ADMIN,
            ValueData(
                DataFormat.ADMIN,
                {"handle": f"{PREFIX}/OWNER", "index": 300, "permissions": "1" * 12},
            ),
        )
        store.save(current.upserted([owner], EARLIER))

    identifiers.rival(lock_out)
    with pytest.raises(NotAuthorisedError, match="HS_ADMIN"):
        registry.upsert_values(NAME, [text(9)], IDENTITY)
    assert indexes_of(identifiers.stored(NAME)) == [1, 2, 3, 100]


def test_a_record_that_keeps_changing_gives_up_after_max_attempts(
    registry: RegistryService, identifiers: InMemoryIdentifiers, existing: Record
) -> None:
    identifiers.rival(upsert_by_rival(8), times=4)
    with pytest.raises(ConcurrentUpdateError) as refused:
        registry.upsert_values(NAME, [text(9)], MEMBER)
    assert refused.value.handle == NAME
    assert (identifiers.calls["get"], identifiers.calls["save"]) == (4, 4 + 4)
    stored = identifiers.stored(NAME)
    assert stored is not None and stored.value_at(9) is None


def test_one_attempt_to_spare_is_enough(
    registry: RegistryService, identifiers: InMemoryIdentifiers, existing: Record
) -> None:
    identifiers.rival(upsert_by_rival(8), times=3)
    assert indexes_of(registry.upsert_values(NAME, [text(9)], MEMBER)) == [1, 2, 3, 8, 9]


def test_a_record_deleted_under_a_change_is_not_found(
    registry: RegistryService, identifiers: InMemoryIdentifiers, existing: Record
) -> None:
    def delete(store: InMemoryIdentifiers) -> None:
        current = store.stored(NAME)
        assert current is not None
        store.delete(current)

    identifiers.rival(delete)
    with pytest.raises(HandleNotFoundError):
        registry.upsert_values(NAME, [text(9)], MEMBER)


def test_delete_retries_and_returns_what_it_deleted(
    registry: RegistryService, identifiers: InMemoryIdentifiers, existing: Record
) -> None:
    identifiers.rival(upsert_by_rival(8))
    deleted = registry.delete(NAME, MEMBER)
    assert indexes_of(deleted) == [1, 2, 3, 8]
    assert identifiers.stored(NAME) is None


def test_delete_gives_up_after_max_attempts(
    registry: RegistryService, identifiers: InMemoryIdentifiers, existing: Record
) -> None:
    identifiers.rival(upsert_by_rival(8), times=4)
    with pytest.raises(ConcurrentUpdateError):
        registry.delete(NAME, MEMBER)
    assert identifiers.stored(NAME) is not None


def test_put_replaces_a_record_created_by_someone_else_meanwhile(
    registry: RegistryService, identifiers: InMemoryIdentifiers
) -> None:
    def create(store: InMemoryIdentifiers) -> None:
        store.create(new_record(Handle.parse(NAME), [text(8, "theirs")], EARLIER))

    identifiers.rival(create)
    record, created = registry.put(NAME, VALUES, MEMBER)
    assert (created, indexes_of(record), record.version) == (False, [1, 2, 3], 2)


def test_put_gives_up_when_the_record_keeps_appearing_and_vanishing(
    registry: RegistryService, identifiers: InMemoryIdentifiers
) -> None:
    def flicker(store: InMemoryIdentifiers) -> None:
        current = store.stored(NAME)
        if current is None:
            store.create(new_record(Handle.parse(NAME), [text(8)], EARLIER))
        else:
            store.delete(current)

    identifiers.rival(flicker, times=8)
    with pytest.raises(ConcurrentUpdateError):
        registry.put(NAME, VALUES, MEMBER)


def test_the_fake_store_keeps_the_versioning_contract(identifiers: InMemoryIdentifiers) -> None:
    record = new_record(Handle.parse(NAME), [text(1)], EARLIER)
    with pytest.raises(StaleRecordError):
        identifiers.save(record)  # never created
    created = identifiers.create(record)
    with pytest.raises(HandleAlreadyExistsError):
        identifiers.create(record)
    saved = identifiers.save(created)
    assert saved.version == 2
    with pytest.raises(StaleRecordError):
        identifiers.save(created)
    with pytest.raises(StaleRecordError):
        identifiers.delete(replace(saved, version=1))
    identifiers.delete(saved)
    assert identifiers.get(record.handle) is None
