"""Listings read from DynamoDB a request at a time, filters applied as they read.

A filter expression is applied after DynamoDB has read the items, so a selective filter can
leave pages empty: a listing keeps reading until it has a page's worth of matches, the end,
or a bound on the items read, and then stops with a cursor to go on from. Cursors are those
of `store/pages.py`, bound to the listing (its partition and filters) that issued them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from pynamodb.expressions.condition import Condition

from idnode.domain.errors import InvalidValueError
from idnode.store.pages import Page, decode_cursor, encode_cursor

T = TypeVar("T")

# Key attribute -> its DynamoDB type ("S" or "N"): what a start key of a listing holds.
KeyShape = Mapping[str, str]
# (start key, at most this many items to read) -> one raw Query or Scan response.
Request = Callable[[dict[str, Any] | None, int], Mapping[str, Any]]

READS_PER_ITEM = 10  # a filtered page reads at most this many items per item asked for
MAX_ITEMS_PER_REQUEST = 1000  # DynamoDB also stops each request at 1 MB

_FOREIGN_CURSOR = "the cursor does not belong to this listing"
_NUMBER = re.compile(r"-?\d{1,38}(\.\d{1,38})?")


def querying(
    model: Any,
    partition: str,
    *,
    index: str | None = None,
    filters: Condition | None = None,
    newest_first: bool = False,
) -> Request:
    """Requests of a Query of one partition (of the table, or of `index`)."""

    def request(key: dict[str, Any] | None, limit: int) -> Mapping[str, Any]:
        results = model.query(
            partition,
            index_name=index,
            filter_condition=filters,
            scan_index_forward=not newest_first,
            last_evaluated_key=key,
            page_size=limit,
        )
        page: Mapping[str, Any] = next(results.page_iter)
        return page

    return request


def scanning(model: Any, *, filters: Condition | None = None) -> Request:
    """Requests of a Scan of the whole table."""

    def request(key: dict[str, Any] | None, limit: int) -> Mapping[str, Any]:
        results = model.scan(filter_condition=filters, last_evaluated_key=key, page_size=limit)
        page: Mapping[str, Any] = next(results.page_iter)
        return page

    return request


def start_key(
    scope: str,
    cursor: str | None,
    shape: KeyShape,
    fixed: Mapping[str, str] | None = None,
) -> dict[str, Any] | None:
    """The start key a cursor carries, checked against the listing's key shape and its fixed
    partition (DynamoDB refuses a start key outside the query with an opaque error)."""
    key = decode_cursor(scope, cursor)
    if key is None:
        return None
    if set(key) != set(shape):
        raise InvalidValueError(_FOREIGN_CURSOR)
    for name, kind in shape.items():
        value = key[name]
        if not (isinstance(value, dict) and set(value) == {kind} and isinstance(value[kind], str)):
            raise InvalidValueError(_FOREIGN_CURSOR)
        if kind == "N" and not _NUMBER.fullmatch(value[kind]):
            raise InvalidValueError(_FOREIGN_CURSOR)
    for name, expected in (fixed or {}).items():
        if key[name] != {"S": expected}:
            raise InvalidValueError(_FOREIGN_CURSOR)
    return key


def read_page(
    request: Request,
    convert: Callable[[dict[str, Any]], T],
    *,
    scope: str,
    first: int,
    start: dict[str, Any] | None,
    shape: KeyShape,
    filtered: bool,
) -> Page[T]:
    """Up to `first` items, each with a cursor, and a cursor for the next page (None when
    the listing is read to its end). A page may hold fewer than `first` items and still have
    a next one, when the bound on items read ran out first."""
    if first < 1:
        raise InvalidValueError(f"first: {first} must be at least 1")
    # Unfiltered, every item read is returned: one more than asked for tells whether
    # another page exists.
    budget = first * READS_PER_ITEM if filtered else first + 1
    taken: list[dict[str, Any]] = []
    key = start
    while True:
        page = request(key, max(1, min(budget, MAX_ITEMS_PER_REQUEST)))
        items: list[dict[str, Any]] = list(page.get("Items", []))
        budget -= int(page.get("ScannedCount", len(items)))
        last: dict[str, Any] | None = page.get("LastEvaluatedKey")
        room = first - len(taken)
        taken.extend(items[:room])
        if len(items) > room:
            # Matches are left in this page: resume after the last one returned.
            next_key: dict[str, Any] | None = _key(taken[-1], shape)
            break
        if last is None or len(taken) == first or budget <= 0:
            next_key = last
            break
        key = last
    return Page(
        items=[convert(raw) for raw in taken],
        cursors=[encode_cursor(scope, _key(raw, shape)) for raw in taken],
        next_cursor=encode_cursor(scope, next_key) if next_key is not None else None,
    )


def all_of(conditions: Sequence[Condition]) -> Condition | None:
    """The conjunction of filter conditions (None: no filter)."""
    if not conditions:
        return None
    combined = conditions[0]
    for condition in conditions[1:]:
        combined &= condition
    return combined


def _key(raw: Mapping[str, Any], shape: KeyShape) -> dict[str, Any]:
    return {name: raw[name] for name in shape}
