"""Search over identifiers and the enterprise directory (SN-6), on DynamoDB alone.

A search reads one or more sources in turn (a query of one index partition, or a scan of the
table), each page reading at most a fixed number of items: DynamoDB's `Limit` counts the
items it evaluates, before any filter. A page therefore ends when it holds the results asked
for, when it has read its limit (it may then hold fewer, even none: the caller continues
from its cursor), or when every source is read to the end. How this scales, and what
replaces it for a large registry, is in docs/search.md.

Identifier keys are case-folded (ASCII letters, as Handle matching), so matching folds the
query the same way; enterprise name keys are `str.casefold`ed names followed by `#id`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pynamodb.exceptions import DoesNotExist
from pynamodb.expressions.condition import Condition
from pynamodb.models import Model

from idnode.domain.enterprises import Enterprise, EnterpriseStatus
from idnode.domain.errors import InvalidValueError
from idnode.domain.handles import Handle, fold_case
from idnode.domain.records import Record
from idnode.domain.search import IdentifierMatch, NameMatch
from idnode.store.enterprises import EnterpriseRepository
from idnode.store.identifiers import IdentifierRepository
from idnode.store.models import EnterpriseModel, IdentifierModel, PrefixModel
from idnode.store.pages import decode_cursor, encode_cursor

T = TypeVar("T")
M = TypeVar("M", bound=Model)
Key = dict[str, Any]  # a DynamoDB key in the wire format: {"handle": {"S": "..."}}


@dataclass(frozen=True, slots=True)
class SearchPage(Generic[T]):
    """Results with a cursor after each; `next_cursor` continues the search. `scanned_all`
    says every candidate has been read; a page with fewer results than asked for and
    `scanned_all` false stopped at its read limit. `items_read`: items DynamoDB evaluated."""

    items: list[T]
    cursors: list[str]
    next_cursor: str | None
    scanned_all: bool
    items_read: int


@dataclass(frozen=True, slots=True)
class Batch(Generic[T]):
    """One request's worth of a source: the items returned (after any filter), where to
    continue (None: the source is read to the end) and how many items were evaluated."""

    items: list[T]
    last_key: Key | None
    read: int


@dataclass(frozen=True, slots=True)
class Source(Generic[T]):
    """One place a search reads, in key order: `read(start, limit)` reads at most `limit`
    items after `start`."""

    name: str
    read: Callable[[Key | None, int], Batch[T]]
    key_of: Callable[[T], Key]
    owns: Callable[[Key], bool]  # whether a key from a cursor lies in this source


def listing_scope(*parts: str) -> str:
    """The scope a search's cursors are bound to: what is searched, how and where."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]
    return f"search/{digest}"


def collect(
    sources: Sequence[Source[T]],
    matches: Callable[[T], bool],
    *,
    scope: str,
    first: int,
    read_limit: int,
    cursor: str | None,
) -> SearchPage[T]:
    """Up to `first` items that `matches`, reading the sources in turn from the cursor on,
    and at most `read_limit` items in all."""
    position, start = _resume(sources, scope, cursor)
    found: list[T] = []
    cursors: list[str] = []
    read = 0
    for index in range(position, len(sources)):
        source = sources[index]
        while True:
            if read >= read_limit:
                return SearchPage(found, cursors, _cursor(scope, source, start), False, read)
            batch = source.read(start, read_limit - read)
            read += batch.read
            for offset, item in enumerate(batch.items):
                if not matches(item):
                    continue
                found.append(item)
                cursors.append(_cursor(scope, source, source.key_of(item)))
                if len(found) < first:
                    continue
                if offset < len(batch.items) - 1:
                    return SearchPage(found, cursors, cursors[-1], False, read)
                # The batch ends here: continue from where DynamoDB stopped, which may lie
                # past items it evaluated and filtered out.
                if batch.last_key is not None:
                    next_cursor = _cursor(scope, source, batch.last_key)
                elif index + 1 < len(sources):
                    next_cursor = _cursor(scope, sources[index + 1], None)
                else:
                    return SearchPage(found, cursors, None, True, read)
                return SearchPage(found, cursors, next_cursor, False, read)
            start = batch.last_key
            if start is None:
                break
        start = None
    return SearchPage(found, cursors, None, True, read)


def single(item: T | None, scope: str, cursor: str | None) -> SearchPage[T]:
    """The page of an exact lookup: the item (if any) on the first page, nothing after it."""
    if cursor is not None:
        decode_cursor(scope, cursor)
        return SearchPage([], [], None, True, 0)
    if item is None:
        return SearchPage([], [], None, True, 1)
    return SearchPage(
        [item], [encode_cursor(scope, {"source": "exact", "key": None})], None, True, 1
    )


def _cursor(scope: str, source: Source[Any], key: Key | None) -> str:
    return encode_cursor(scope, {"source": source.name, "key": key})


def _resume(sources: Sequence[Source[T]], scope: str, cursor: str | None) -> tuple[int, Key | None]:
    position = decode_cursor(scope, cursor)
    if position is None:
        return 0, None
    name, key = position.get("source"), position.get("key")
    for index, source in enumerate(sources):
        if source.name == name:
            if key is None:
                return index, None
            if isinstance(key, dict) and source.owns(key):
                return index, key
            break
    raise InvalidValueError("the cursor does not belong to this search")


def _string_key(key: Key, names: set[str]) -> dict[str, str] | None:
    """The key's string values by attribute, if it has exactly these string attributes."""
    if set(key) != names:
        return None
    values: dict[str, str] = {}
    for name, value in key.items():
        if not (isinstance(value, dict) and set(value) == {"S"} and isinstance(value["S"], str)):
            return None
        values[name] = value["S"]
    return values


def _batch(model: type[M], results: Any) -> Batch[M]:
    """One DynamoDB request of a pynamodb query or scan, as a batch."""
    page: dict[str, Any] = next(results.page_iter)
    return Batch(
        items=[model.from_raw_data(raw) for raw in page.get("Items", [])],
        last_key=page.get("LastEvaluatedKey"),
        read=int(page.get("ScannedCount", 0)),
    )


# Identifiers


def suffix_matches(match: IdentifierMatch, text: str) -> Callable[[IdentifierModel], bool]:
    """Whether an item's (case-folded) suffix matches the folded query."""
    if match is IdentifierMatch.STARTS_WITH:
        return lambda item: item.handle.partition("/")[2].startswith(text)
    return lambda item: text in item.handle.partition("/")[2]


class IdentifierSearch:
    def __init__(self, model: type[IdentifierModel]) -> None:
        self._model = model

    def get(self, handle: Handle) -> Record | None:
        try:
            item = self._model.get(handle.key)
        except DoesNotExist:
            return None
        return IdentifierRepository._to_record(item)

    def search(
        self,
        text: str,
        match: IdentifierMatch,
        prefixes: Sequence[str] | None,
        *,
        first: int,
        read_limit: int,
        cursor: str | None,
    ) -> SearchPage[Record]:
        """Identifiers whose suffix starts with or contains `text` (case-folded), under the
        given case-folded prefixes in turn (None: the whole table, in no useful order)."""
        where = "*" if prefixes is None else ",".join(prefixes)
        scope = listing_scope("identifiers", match.value, text, where)
        if prefixes is None:
            sources = [self._scan(text, match)]
        else:
            sources = [self._in_prefix(prefix, text, match) for prefix in prefixes]
        page = collect(
            sources,
            suffix_matches(match, text),
            scope=scope,
            first=first,
            read_limit=read_limit,
            cursor=cursor,
        )
        return SearchPage(
            [IdentifierRepository._to_record(item) for item in page.items],
            page.cursors,
            page.next_cursor,
            page.scanned_all,
            page.items_read,
        )

    def _in_prefix(self, prefix: str, text: str, match: IdentifierMatch) -> Source[IdentifierModel]:
        model = self._model
        start_of_names = f"{prefix}/"
        narrowed: Condition | None = None
        filtered: Condition | None = None
        if match is IdentifierMatch.STARTS_WITH:
            # The index's sort key is the folded name: the match is a key range, read alone.
            narrowed = model.handle.startswith(start_of_names + text)
        else:
            filtered = model.handle.contains(text)

        def read(start: Key | None, limit: int) -> Batch[IdentifierModel]:
            results = model.query(
                prefix,
                range_key_condition=narrowed,
                filter_condition=filtered,
                index_name="byPrefix",
                last_evaluated_key=start,
                page_size=limit,
            )
            return _batch(model, results)

        def owns(key: Key) -> bool:
            values = _string_key(key, {"handle", "prefix"})
            return (
                values is not None
                and values["prefix"] == prefix
                and values["handle"].startswith(start_of_names)
            )

        return Source(
            f"prefix:{prefix}",
            read,
            lambda item: {"handle": {"S": item.handle}, "prefix": {"S": item.prefix}},
            owns,
        )

    def _scan(self, text: str, match: IdentifierMatch) -> Source[IdentifierModel]:
        model = self._model
        # Cuts what is sent back; what is read (and paid for) is the same either way.
        needle = f"/{text}" if match is IdentifierMatch.STARTS_WITH else text
        filtered = model.handle.contains(needle)

        def read(start: Key | None, limit: int) -> Batch[IdentifierModel]:
            results = model.scan(filtered, last_evaluated_key=start, page_size=limit)
            return _batch(model, results)

        return Source(
            "table",
            read,
            lambda item: {"handle": {"S": item.handle}},
            lambda key: _string_key(key, {"handle"}) is not None,
        )


# Enterprises


def name_matches(match: NameMatch, text: str) -> Callable[[EnterpriseModel], bool]:
    """Whether an item's case-folded name (its name key without `#id`) matches the query."""
    if match is NameMatch.STARTS_WITH:
        return lambda item: item.name_key.rpartition("#")[0].startswith(text)
    return lambda item: text in item.name_key.rpartition("#")[0]


class EnterpriseDirectory:
    def __init__(self, model: type[EnterpriseModel], prefixes: type[PrefixModel]) -> None:
        self._model = model
        self._prefixes = prefixes

    def get(self, enterprise_id: str) -> Enterprise | None:
        try:
            item = self._model.get(enterprise_id)
        except DoesNotExist:
            return None
        return EnterpriseRepository.to_enterprise(item)

    def holder_of(self, prefix: str) -> Enterprise | None:
        """The enterprise an allocated prefix belongs to."""
        try:
            allocated = self._prefixes.get(fold_case(prefix))
        except DoesNotExist:
            return None
        return self.get(allocated.enterprise)

    def search(
        self,
        text: str,
        match: NameMatch,
        statuses: Sequence[EnterpriseStatus],
        *,
        first: int,
        read_limit: int,
        cursor: str | None,
    ) -> SearchPage[Enterprise]:
        """Enterprises of the given statuses (in turn, each in name order) whose case-folded
        name starts with or contains `text` (case-folded)."""
        scope = listing_scope("enterprises", match.value, text, ",".join(s.value for s in statuses))
        page = collect(
            [self._with_status(status, text, match) for status in statuses],
            name_matches(match, text),
            scope=scope,
            first=first,
            read_limit=read_limit,
            cursor=cursor,
        )
        return SearchPage(
            [EnterpriseRepository.to_enterprise(item) for item in page.items],
            page.cursors,
            page.next_cursor,
            page.scanned_all,
            page.items_read,
        )

    def _with_status(
        self, status: EnterpriseStatus, text: str, match: NameMatch
    ) -> Source[EnterpriseModel]:
        model = self._model
        narrowed: Condition | None = None
        filtered: Condition | None = None
        if match is NameMatch.STARTS_WITH:
            narrowed = model.name_key.startswith(text)
        else:
            filtered = model.name_key.contains(text)

        def read(start: Key | None, limit: int) -> Batch[EnterpriseModel]:
            results = model.query(
                status.value,
                range_key_condition=narrowed,
                filter_condition=filtered,
                index_name="byStatus",
                last_evaluated_key=start,
                page_size=limit,
            )
            return _batch(model, results)

        def owns(key: Key) -> bool:
            values = _string_key(key, {"id", "status", "name_key"})
            return values is not None and values["status"] == status.value

        return Source(
            f"status:{status.value}",
            read,
            lambda item: {
                "id": {"S": item.id},
                "status": {"S": item.status},
                "name_key": {"S": item.name_key},
            },
            owns,
        )
