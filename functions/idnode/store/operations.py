"""The operation log table: entries are only ever appended (the functions' IAM policies
allow PutItem and reads on it, nothing else), and expire after the retention period.

Reading: the table is partitioned by month, and indexed by enterprise and by actor, each
sorted by `at_key` (time, then id). A query reads the narrowest partition its filter allows,
newest first (month by month on the table itself), with the time range as its key condition
and the rest of the filter as filter expressions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pynamodb.expressions.condition import Condition

from idnode.domain.errors import InvalidValueError
from idnode.domain.operations import OK, OperationEntry
from idnode.store.models import OperationModel
from idnode.store.pages import Page, decode_cursor, encode_cursor

FAILED = "failed"  # a result filter: every result but OK
BY_ENTERPRISE = "byEnterprise"
BY_ACTOR = "byActor"

# Bounds on the work behind one page: a selective filter over a long range must not turn one
# request into an unbounded read. A page cut short still carries a cursor to go on from.
MAX_QUERIES_PER_PAGE = 16
MAX_EVALUATED_PER_QUERY = 1000  # DynamoDB also stops each query at 1 MB

MAX_KEY_LENGTH = 100  # an at_key is 60 characters; DynamoDB refuses keys over 1 KB
_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
_FOREIGN_CURSOR = "the cursor does not belong to this listing"


def time_key(at: datetime) -> str:
    """The sortable time part of `at_key` (UTC, microseconds)."""
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def at_key(entry: OperationEntry) -> str:
    return f"{time_key(entry.at)}#{entry.id}"


def month_of(at: datetime) -> str:
    return at.strftime("%Y-%m")


@dataclass(frozen=True, slots=True)
class OperationQuery:
    """Which entries to read: `start <= at < end` (both UTC), and exact matches on the rest.
    `result` is OK, FAILED, or one error kind."""

    start: datetime
    end: datetime
    actor: str | None = None
    enterprise: str | None = None
    action: str | None = None
    target: str | None = None
    result: str | None = None


@dataclass(frozen=True, slots=True)
class _Position:
    """Where a listing resumes: after the entry `key` of `month`, or (no key) at the newest
    entry of `month`."""

    month: str
    key: str | None

    def cursor(self, scope: str) -> str:
        return encode_cursor(scope, {"m": self.month, "k": self.key})


class OperationRepository:
    def __init__(self, model: type[OperationModel], retention_days: Callable[[], int]) -> None:
        self._model = model
        self._retention_days = retention_days

    def append(self, entry: OperationEntry) -> None:
        item = self._model(
            month_of(entry.at),
            at_key(entry),
            at=entry.at,
            actor=entry.actor,
            actor_kind=entry.actor_kind,
            action=entry.action,
            target=entry.target,
            enterprise=entry.enterprise,
            result=entry.result,
            message=entry.message,
            source=entry.source,
            details=entry.details or None,
            expires=entry.at + timedelta(days=self._retention_days()),
        )
        # Never overwrite: an entry's key is unique, and the log is append-only.
        item.save(condition=self._model.at_key.does_not_exist())

    def query(
        self, query: OperationQuery, limit: int, cursor: str | None, scope: str
    ) -> Page[OperationEntry]:
        """Up to `limit` entries matching `query`, newest first. `scope` names the listing
        (its filter), so that a cursor is accepted only by the listing that issued it. A page
        may hold fewer entries than asked for and still have a next one, when the bounded
        work behind it ran out before the range did."""
        low = time_key(query.start)
        position = _position(decode_cursor(scope, cursor), query)
        if position is not None and position.key is not None and position.key < low:
            # A default range moves with the clock between pages: nothing is left of it.
            return Page(items=[], cursors=[], next_cursor=None)
        wanted = limit + 1  # one more than asked for tells whether another page exists
        found: list[OperationModel] = []
        resume: _Position | None = None
        for queries, (page, then) in enumerate(self._pages(query, position, wanted), 1):
            found.extend(self._model.from_raw_data(raw) for raw in page.get("Items", []))
            if len(found) >= wanted or then is None:
                break
            if queries >= MAX_QUERIES_PER_PAGE:
                resume = then
                break
        items = found[:limit]
        cursors = [_Position(i.month, i.at_key).cursor(scope) for i in items]
        if len(found) > limit:
            next_cursor: str | None = cursors[-1]
        else:
            next_cursor = resume.cursor(scope) if resume is not None else None
        return Page(items=[_entry(i) for i in items], cursors=cursors, next_cursor=next_cursor)

    def _pages(
        self, query: OperationQuery, position: _Position | None, wanted: int
    ) -> Iterator[tuple[dict[str, Any], _Position | None]]:
        """Raw result pages (one DynamoDB request each), newest first, each with the position
        after it (None: the range is read to its end)."""
        low, high = time_key(query.start), time_key(query.end)
        index, fixed = _index_for(query)
        filters = _filters(self._model, query, index)
        # Without a filter every item read is a match: read no more than the page needs.
        page_size = (
            MAX_EVALUATED_PER_QUERY if filters is not None else min(wanted, MAX_EVALUATED_PER_QUERY)
        )
        partitions = [(fixed, position)] if index is not None else list(_months(query, position))
        for number, (hash_key, start) in enumerate(partitions):
            results = self._model.query(
                hash_key,
                self._model.at_key.between(low, high),
                filter_condition=filters,
                index_name=index,
                scan_index_forward=False,
                last_evaluated_key=_start_key(index, hash_key, start),
                page_size=page_size,
            )
            for page in results.page_iter:
                last = page.get("LastEvaluatedKey")
                if last is not None:
                    then: _Position | None = _Position(last["month"]["S"], last["at_key"]["S"])
                elif number + 1 < len(partitions):
                    then = _Position(partitions[number + 1][0], None)
                else:
                    then = None
                yield page, then


def _index_for(query: OperationQuery) -> tuple[str | None, str]:
    """The index to read and its partition key value (None: the table, by month). The
    enterprise's index comes first: for enterprise admins, whose listings are always bound
    to their enterprise, the key itself then keeps other enterprises' entries out of reach."""
    if query.enterprise is not None:
        return BY_ENTERPRISE, query.enterprise
    if query.actor is not None:
        return BY_ACTOR, query.actor
    return None, ""


def _months(
    query: OperationQuery, position: _Position | None
) -> Iterator[tuple[str, _Position | None]]:
    """The table's month partitions in the range, newest first, from the cursor's month."""
    newest = month_of(query.end - timedelta(microseconds=1))
    oldest = month_of(query.start)
    month = newest if position is None else min(position.month, newest)
    start = position if position is not None and position.month == month else None
    while month >= oldest:
        yield month, start
        month, start = _previous_month(month), None


def _position(key: dict[str, Any] | None, query: OperationQuery) -> _Position | None:
    """The cursor's position, checked against the range (a cursor is bound to its listing's
    filter, but its position is still the caller's to send: DynamoDB refuses a start key
    outside the key condition)."""
    if key is None:
        return None
    month, last = key.get("m"), key.get("k")
    if not isinstance(month, str) or not _is_month(month):
        raise InvalidValueError(_FOREIGN_CURSOR)
    if last is not None and (
        not isinstance(last, str) or last[:7] != month or len(last) > MAX_KEY_LENGTH
    ):
        raise InvalidValueError(_FOREIGN_CURSOR)
    if last is not None and last >= time_key(query.end):
        raise InvalidValueError(_FOREIGN_CURSOR)
    return _Position(month, last)


def _start_key(
    index: str | None, hash_key: str, start: _Position | None
) -> dict[str, dict[str, Any]] | None:
    if start is None or start.key is None:
        return None
    key = {"month": {"S": start.month}, "at_key": {"S": start.key}}
    if index == BY_ENTERPRISE:
        key["enterprise"] = {"S": hash_key}
    elif index == BY_ACTOR:
        key["actor"] = {"S": hash_key}
    return key


def _filters(
    model: type[OperationModel], query: OperationQuery, index: str | None
) -> Condition | None:
    conditions: list[Condition] = []
    if query.actor is not None and index != BY_ACTOR:
        conditions.append(model.actor == query.actor)
    if query.action is not None:
        conditions.append(model.action == query.action)
    if query.target is not None:
        conditions.append(model.target == query.target)
    if query.result == FAILED:
        conditions.append(model.result != OK)
    elif query.result is not None:
        conditions.append(model.result == query.result)
    if not conditions:
        return None
    combined = conditions[0]
    for condition in conditions[1:]:
        combined &= condition
    return combined


def _entry(item: OperationModel) -> OperationEntry:
    return OperationEntry(
        id=item.at_key.partition("#")[2],
        at=item.at,
        actor=item.actor,
        actor_kind=item.actor_kind,
        action=item.action,
        target=item.target,
        result=item.result,
        enterprise=item.enterprise,
        message=item.message,
        source=item.source,
        details=dict(item.details or {}),
    )


def _is_month(text: str) -> bool:
    return _MONTH.fullmatch(text) is not None


def _previous_month(month: str) -> str:
    year, number = int(month[:4]), int(month[5:])
    return f"{year - 1}-12" if number == 1 else f"{year}-{number - 1:02d}"
