"""Identifier records in DynamoDB. Creation is a conditional write; changes carry the
record's version so that a concurrent change fails instead of being overwritten."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pynamodb.exceptions import DeleteError, DoesNotExist, PutError

from idnode.domain.errors import (
    HandleAlreadyExistsError,
    InvalidValueError,
    PayloadTooLargeError,
)
from idnode.domain.handles import Handle
from idnode.domain.records import Record
from idnode.domain.values import value_from_storage, value_to_storage
from idnode.store.models import IdentifierModel
from idnode.store.pages import Page, decode_cursor, encode_cursor

MAX_RECORD_BYTES = 350_000  # leaves room under DynamoDB's 400 KB for keys and attributes


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
    def __init__(self, model: type[IdentifierModel]) -> None:
        self._model = model

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
        try:
            item.save()  # VersionAttribute adds `attribute_not_exists(version)`
        except PutError as exc:
            if _conditional_failure(exc):
                raise HandleAlreadyExistsError(
                    f"{record.handle.name} is already registered", handle=record.handle.name
                ) from None
            raise
        return self._to_record(item)

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
        try:
            item.delete()
        except DeleteError as exc:
            if _conditional_failure(exc):
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
        # DynamoDB refuses items over 400 KB; refuse larger records first, with a clear error.
        size = len(json.dumps(values, separators=(",", ":")).encode())
        if size > MAX_RECORD_BYTES:
            raise PayloadTooLargeError(
                f"the record's values would take {size} bytes (at most {MAX_RECORD_BYTES})",
                handle=record.handle.name,
            )
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
