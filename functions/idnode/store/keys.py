"""Scheme keys: which node identifier a GS1 key, OID, Ecode or VAA identifier maps to.

A key item is written and deleted in the same transaction as its identifier (see
`IdentifierRepository`), so a key exists exactly while its identifier does. A GS1 key's item
also carries its Digital Link links, read by the resolver in one batch with the keys it
walks up to.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pynamodb.exceptions import DoesNotExist, UpdateError

from idnode.domain.errors import (
    ConcurrentUpdateError,
    HandleNotFoundError,
    PayloadTooLargeError,
)
from idnode.domain.handles import Handle
from idnode.domain.schemes import SchemeKey
from idnode.store.metadata_models import KeyModel

MAX_LINKS_BYTES = 300_000  # a key's links, as JSON: well under DynamoDB's 400 KB item limit


@dataclass(frozen=True, slots=True)
class KeyEntry:
    """A registered scheme key: the identifier it maps to and, for GS1 keys, its links
    (as stored: a list of JSON objects the Digital Link domain reads)."""

    key: str
    handle: str
    prefix: str
    links: tuple[dict[str, Any], ...]
    links_version: int


class KeyRepository:
    def __init__(self, model: type[KeyModel]) -> None:
        self._model = model

    def item(self, key: SchemeKey, handle: Handle) -> KeyModel:
        """The item to write with a new identifier (see IdentifierRepository.create)."""
        return self._model(str(key), handle=handle.name, prefix=handle.prefix_key)

    def get(self, key: SchemeKey | str) -> KeyEntry | None:
        try:
            item = self._model.get(str(key), consistent_read=True)
        except DoesNotExist:
            return None
        return _entry(item)

    def get_many(self, keys: Sequence[SchemeKey | str]) -> list[KeyEntry]:
        """Entries for the keys that are registered (in no particular order)."""
        wanted = list(dict.fromkeys(str(k) for k in keys))
        return [_entry(item) for item in self._model.batch_get(wanted, consistent_read=True)]

    def set_links(
        self, key: SchemeKey | str, links: Sequence[dict[str, Any]], *, at: int, expected: int
    ) -> KeyEntry:
        """Replace a registered key's links, if they are still at version `expected`."""
        document = list(links)
        size = len(json.dumps(document, separators=(",", ":")).encode())
        if size > MAX_LINKS_BYTES:
            raise PayloadTooLargeError(
                f"the links of {key} would take {size} bytes (at most {MAX_LINKS_BYTES})"
            )
        model = self._model
        item = model(str(key))
        try:
            item.update(
                actions=[
                    model.links.set(document),
                    model.links_version.set(expected + 1),
                    model.updated_at.set(at),
                ],
                condition=model.key.exists() & (model.links_version == expected),
            )
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise
            current = self.get(key)
            if current is None:
                raise HandleNotFoundError(f"{key} is not registered") from None
            raise ConcurrentUpdateError(
                f"the links of {key} are at version {current.links_version}, not {expected}"
            ) from None
        return _entry(item)


def _entry(item: KeyModel) -> KeyEntry:
    links = item.links if isinstance(item.links, list) else []
    return KeyEntry(
        key=item.key,
        handle=item.handle,
        prefix=item.prefix,
        links=tuple(links),
        links_version=int(item.links_version or 0),
    )
