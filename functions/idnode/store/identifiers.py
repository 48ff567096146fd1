"""Identifier records in DynamoDB. Creation is a conditional write; changes carry the
record's version so that a concurrent change fails instead of being overwritten.

An identifier in a scheme's namespace (`<prefix>/01/<gtin>`, `<prefix>/oid/<arcs>`) is created
and deleted in one transaction with its scheme key (store/keys.py), so that the key is unique
across the node and exists exactly while its identifier does."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, TransactWriteError
from pynamodb.transactions import TransactWrite

from idnode.domain.errors import (
    ConcurrentUpdateError,
    HandleAlreadyExistsError,
    IdnodeError,
    InvalidValueError,
    PayloadTooLargeError,
    SchemeKeyTakenError,
)
from idnode.domain.handles import Handle
from idnode.domain.records import Record
from idnode.domain.schemes import SchemeKey, key_of
from idnode.domain.values import value_from_storage, value_to_storage
from idnode.store.keys import KeyRepository
from idnode.store.models import IdentifierModel, connection_for
from idnode.store.pages import Page, decode_cursor, encode_cursor

MAX_RECORD_BYTES = 350_000  # leaves room under DynamoDB's 400 KB for keys and attributes
# DynamoDB's limits on one TransactWriteItems call: 100 actions and 4 MB in all; the size is
# kept well under, since it is estimated from the values alone.
MAX_TRANSACTION_ACTIONS = 100
MAX_TRANSACTION_BYTES = 3_000_000
_CONDITION_FAILED = "ConditionalCheckFailed"
# Cancellations that say nothing about the records themselves: the chunk is written again.
_RETRIED = {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}


def _is_prefix_key(key: dict[str, Any], prefix: str) -> bool:
    """A byPrefix start key for this prefix: exactly its two string key attributes."""
    if set(key) != {"handle", "prefix"}:
        return False
    handle, key_prefix = key["handle"], key["prefix"]
    if not (isinstance(handle, dict) and isinstance(key_prefix, dict)):
        return False
    return (
        key_prefix == {"S": prefix}
        and set(handle) == {"S"}
        and isinstance(handle["S"], str)
        and handle["S"].startswith(prefix + "/")
    )


class StaleRecordError(Exception):
    """The stored record changed (or vanished) since it was read."""


def _conditional_failure(exc: PutError | DeleteError) -> bool:
    return exc.cause_response_code == "ConditionalCheckFailedException"


class IdentifierRepository:
    def __init__(self, model: type[IdentifierModel], keys: KeyRepository) -> None:
        self._model = model
        self._keys = keys

    def get(self, handle: Handle) -> Record | None:
        """Strongly consistent: a registration is resolvable as soon as its write returns."""
        try:
            item = self._model.get(handle.key, consistent_read=True)
        except DoesNotExist:
            return None
        return self._to_record(item)

    def get_many(self, handles: Sequence[Handle]) -> list[Record]:
        """Strongly consistent batch read; missing records are simply absent."""
        keys = list(dict.fromkeys(h.key for h in handles))
        return [self._to_record(item) for item in self._model.batch_get(keys, consistent_read=True)]

    def create(self, record: Record) -> Record:
        item = self._to_item(record, version=None)
        key = key_of(record.handle)
        if key is not None:
            self._create_with_key(item, record.handle, key)
            return self._to_record(item)
        try:
            item.save()  # VersionAttribute adds `attribute_not_exists(version)`
        except PutError as exc:
            if _conditional_failure(exc):
                raise _already_registered(record.handle) from None
            raise
        return self._to_record(item)

    def _create_with_key(self, item: IdentifierModel, handle: Handle, key: SchemeKey) -> None:
        try:
            with TransactWrite(connection=connection_for(self._model)) as transaction:
                self._add_creation(transaction, item, handle, key)
        except TransactWriteError as exc:
            reasons = [r.code if r else None for r in exc.cancellation_reasons]
            if reasons[:1] == ["ConditionalCheckFailed"]:
                raise _already_registered(handle) from None
            if reasons[1:2] == ["ConditionalCheckFailed"]:
                raise self._key_taken(key, handle) from None
            raise

    def _add_creation(
        self,
        transaction: TransactWrite,
        item: IdentifierModel,
        handle: Handle,
        key: SchemeKey | None,
    ) -> int:
        """Add a new identifier, and its scheme key if it has one, to a transaction, each on
        condition that it does not exist yet; return how many actions that took."""
        transaction.save(item)  # VersionAttribute adds `attribute_not_exists(version)`
        if key is None:
            return 1
        key_item = self._keys.item(key, handle)
        transaction.save(key_item, condition=type(key_item).key.does_not_exist())
        return 2

    def create_many(self, records: Sequence[Record], attempts: int = 4) -> list[IdnodeError | None]:
        """Create new records, each with its scheme key, in few TransactWriteItems calls.

        Returns one outcome per record, in order: None when it was created, else why not
        (HandleAlreadyExistsError when the name or the scheme key is taken). Every record is
        written whole or not at all; the names and keys must be distinct. A chunk cancelled by a
        failed condition names the actions that failed: those records are classified, the rest
        of the chunk is written again. Chunks cancelled by conflicting transactions are retried
        `attempts` times, then reported as ConcurrentUpdateError."""
        outcomes: list[IdnodeError | None] = [None] * len(records)
        # Read once: parsing a GS1 key costs tens of microseconds, and a chunk may be retried.
        keys = [key_of(record.handle) for record in records]
        pending: list[tuple[int, int]] = []  # (position, estimated bytes)
        for position, record in enumerate(records):
            try:
                pending.append((position, self._estimate(record)))
            except IdnodeError as error:
                outcomes[position] = error
        for chunk in _chunks(pending, lambda p: 1 if keys[p] is None else 2):
            self._create_chunk([(records[p], keys[p]) for p in chunk], chunk, outcomes, attempts)
        return outcomes

    def _create_chunk(
        self,
        chunk: list[tuple[Record, SchemeKey | None]],
        positions: list[int],
        outcomes: list[IdnodeError | None],
        attempts: int,
    ) -> None:
        todo = list(range(len(chunk)))
        attempt = 0
        while todo:
            owners: list[int] = []  # the chunk entry behind each action, in action order
            try:
                with TransactWrite(connection=connection_for(self._model)) as transaction:
                    for entry in todo:
                        record, key = chunk[entry]
                        item = self._to_item(record, version=None)
                        actions = self._add_creation(transaction, item, record.handle, key)
                        owners += [entry] * actions
                return
            except TransactWriteError as exc:
                codes = [r.code if r else None for r in exc.cancellation_reasons]
                if not codes or not set(codes) <= _RETRIED | {None, _CONDITION_FAILED}:
                    raise
                failed = {owners[i] for i, c in enumerate(codes) if c == _CONDITION_FAILED}
                for entry in sorted(failed):
                    outcomes[positions[entry]] = self._taken(*chunk[entry])
                if not failed:
                    attempt += 1
                    if attempt >= attempts:
                        for entry in todo:
                            name = chunk[entry][0].handle.name
                            outcomes[positions[entry]] = ConcurrentUpdateError(
                                f"{name} could not be written under concurrent writes; try again",
                                handle=name,
                            )
                        return
                    # Spread out from the writers this chunk collided with.
                    time.sleep(random.uniform(0, 0.02 * 2**attempt))  # noqa: S311 - jitter
                todo = [entry for entry in todo if entry not in failed]

    def _taken(self, record: Record, key: SchemeKey | None) -> HandleAlreadyExistsError:
        """Why a record's creation failed its condition: its name, or else its key, is taken."""
        if key is None or self.get(record.handle) is not None:
            return _already_registered(record.handle)
        return self._key_taken(key, record.handle)

    def _key_taken(self, key: SchemeKey, handle: Handle) -> SchemeKeyTakenError:
        owner = self._keys.get(key)
        return SchemeKeyTakenError(
            f"{key} is already registered" + (f" as {owner.handle}" if owner else ""),
            handle=handle.name,
        )

    @staticmethod
    def _estimate(record: Record) -> int:
        """About the bytes the record and its key item take in a transaction."""
        values = [value_to_storage(v) for v in record.values]
        return _checked_size(record, values) + 3 * len(record.handle.key) + 200

    def save(self, record: Record) -> Record:
        """Store a changed record; raise StaleRecordError if it changed since it was read."""
        item = self._to_item(record, version=record.version)
        try:
            item.save()
        except PutError as exc:
            if _conditional_failure(exc):
                raise StaleRecordError(record.handle.key) from None
            raise
        return self._to_record(item)

    def delete(self, record: Record) -> None:
        item = self._to_item(record, version=record.version)
        key = key_of(record.handle)
        try:
            if key is None:
                item.delete()
                return
            with TransactWrite(connection=connection_for(self._model)) as transaction:
                transaction.delete(item)
                transaction.delete(self._keys.item(key, record.handle))
        except DeleteError as exc:
            if _conditional_failure(exc):
                raise StaleRecordError(record.handle.key) from None
            raise
        except TransactWriteError as exc:
            if any(
                r is not None and r.code == "ConditionalCheckFailed"
                for r in exc.cancellation_reasons
            ):
                raise StaleRecordError(record.handle.key) from None
            raise

    def list_by_prefix(self, prefix: str, limit: int, cursor: str | None) -> Page[Record]:
        """Records under one prefix, in key order."""
        start = decode_cursor(prefix, cursor)
        if start is not None and not _is_prefix_key(start, prefix):
            raise InvalidValueError("the cursor does not belong to this listing")
        results = self._model.query(
            prefix, index_name="byPrefix", limit=limit, last_evaluated_key=start, page_size=limit
        )
        items = list(results)
        last = results.last_evaluated_key
        return Page(
            items=[self._to_record(item) for item in items],
            cursors=[
                encode_cursor(prefix, {"handle": {"S": i.handle}, "prefix": {"S": i.prefix}})
                for i in items
            ],
            next_cursor=encode_cursor(prefix, last) if last else None,
        )

    def _to_item(self, record: Record, version: int | None) -> IdentifierModel:
        values = [value_to_storage(v) for v in record.values]
        _checked_size(record, values)
        item = self._model(
            record.handle.key,
            name=record.handle.name,
            prefix=record.handle.prefix_key,
            values=values,
            created=record.created,
            updated=record.updated,
        )
        if version is not None:
            item.version = version
        return item

    @staticmethod
    def _to_record(item: IdentifierModel) -> Record:
        # Stored names were validated when written; skip re-validation on the read path.
        prefix, _, suffix = item.name.partition("/")
        return Record(
            handle=Handle(item.name, prefix, suffix),
            values=tuple(value_from_storage(v) for v in item.values),
            created=item.created,
            updated=item.updated,
            version=item.version or 0,
        )


def _checked_size(record: Record, values: list[dict[str, Any]]) -> int:
    # DynamoDB refuses items over 400 KB; refuse larger records first, with a clear error.
    size = len(json.dumps(values, separators=(",", ":")).encode())
    if size > MAX_RECORD_BYTES:
        raise PayloadTooLargeError(
            f"the record's values would take {size} bytes (at most {MAX_RECORD_BYTES})",
            handle=record.handle.name,
        )
    return size


def _chunks(
    pending: list[tuple[int, int]], actions_of: Callable[[int], int]
) -> Iterator[list[int]]:
    """Positions grouped so that each group fits one transaction's action and size limits."""
    chunk: list[int] = []
    actions = size = 0
    for position, estimate in pending:
        needed = actions_of(position)
        if chunk and (
            actions + needed > MAX_TRANSACTION_ACTIONS or size + estimate > MAX_TRANSACTION_BYTES
        ):
            yield chunk
            chunk, actions, size = [], 0, 0
        chunk.append(position)
        actions += needed
        size += estimate
    if chunk:
        yield chunk


def _already_registered(handle: Handle) -> HandleAlreadyExistsError:
    return HandleAlreadyExistsError(f"{handle.name} is already registered", handle=handle.name)
