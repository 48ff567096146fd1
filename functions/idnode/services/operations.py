"""Recording every operation in the append-only operation log (IOT-1), and reading it.

Services wrap each operation in `log.recording(...)`; the entry is written whether the
operation succeeds or fails, with the error's kind as its result. The log never stops the
operation it records: if the entry cannot be written, it goes to the function's log (and
a metric counts it) so that it can be recovered from CloudWatch Logs.

Platform admins and auditors read the whole log; enterprise admins only their enterprise's
entries, without the callers' addresses.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from idnode.domain.access import Operation, Principal, Scope, authorise
from idnode.domain.errors import IdnodeError, InvalidValueError, NotAuthorisedError
from idnode.domain.operations import OK, OperationEntry
from idnode.domain.parameters import MAX_PAGE_SIZE
from idnode.store.operations import FAILED, OperationQuery
from idnode.store.pages import Page

DEFAULT_RANGE = timedelta(days=30)
# About thirteen months: a year compared with the same month of the year before, and at
# most fourteen monthly partitions to walk.
MAX_RANGE = timedelta(days=400)
MAX_FILTER_TEXT = 512
_RESULT_KIND = re.compile(r"[a-z]+(-[a-z]+)*")


class OperationStore(Protocol):
    def append(self, entry: OperationEntry) -> None: ...

    def query(
        self, query: OperationQuery, limit: int, cursor: str | None, scope: str
    ) -> Page[OperationEntry]: ...


class FallbackSink(Protocol):
    def __call__(self, entry: OperationEntry, error: Exception) -> None: ...


@dataclass(frozen=True, slots=True)
class OperationFilter:
    """What a reader of the log asks for. Times: `start <= at < end`; without them, the last
    30 days. `result`: "ok", "failed", or one kind of failure (e.g. "not-authorised")."""

    start: datetime | None = None
    end: datetime | None = None
    actor: str | None = None
    enterprise: str | None = None
    action: str | None = None
    target: str | None = None
    result: str | None = None


@dataclass
class Pending:
    """What a running operation has learned about itself, recorded when it ends."""

    target: str
    enterprise: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def error_kind(error: BaseException) -> str:
    """`HandleNotFoundError` -> `handle-not-found`."""
    name = type(error).__name__.removesuffix("Error")
    return "".join(f"-{c.lower()}" if c.isupper() else c for c in name).lstrip("-")


class OperationLog:
    def __init__(
        self,
        store: OperationStore,
        fallback: FallbackSink,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        *,
        max_page_size: Callable[[], int] = lambda: MAX_PAGE_SIZE,
    ) -> None:
        self._store = store
        self._fallback = fallback
        self._clock = clock
        self._max_page_size = max_page_size

    def record(
        self,
        principal: Principal,
        action: str,
        target: str,
        *,
        result: str = OK,
        enterprise: str | None = None,
        message: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> OperationEntry:
        entry = OperationEntry(
            id=uuid.uuid4().hex,
            at=self._clock(),
            actor=principal.name,
            actor_kind=principal.kind.value,
            action=action,
            target=target,
            result=result,
            enterprise=enterprise,
            message=message,
            source=principal.source,
            details=details or {},
        )
        try:
            self._store.append(entry)
        except Exception as exc:  # the log must never fail the operation
            self._fallback(entry, exc)
        return entry

    @contextmanager
    def recording(
        self,
        principal: Principal,
        action: str,
        target: str,
        *,
        enterprise: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> Iterator[Pending]:
        """Record `action` on `target` when the block ends, with its outcome. The block may
        fill in the enterprise, details or a better target name as it learns them."""
        pending = Pending(target=target, enterprise=enterprise, details=dict(details or {}))
        try:
            yield pending
        except IdnodeError as error:
            self._end(principal, action, pending, error_kind(error), error.message)
            raise
        except Exception:
            self._end(principal, action, pending, "internal", "internal error")
            raise
        self._end(principal, action, pending, OK, None)

    def _end(
        self, principal: Principal, action: str, pending: Pending, result: str, message: str | None
    ) -> None:
        self.record(
            principal,
            action,
            pending.target,
            result=result,
            enterprise=pending.enterprise,
            message=message,
            details=pending.details,
        )

    def query(
        self, principal: Principal, filter: OperationFilter, first: int, after: str | None
    ) -> Page[OperationEntry]:
        """Entries matching `filter`, newest first. Enterprise admins see only their own
        enterprise's entries, whatever enterprise the filter names."""
        scope = authorise(principal, Operation.VIEW_OPERATION_LOG)
        if scope is not Scope.ANY:
            if principal.enterprise is None:
                raise NotAuthorisedError(f"{principal.name} belongs to no enterprise")
            filter = replace(filter, enterprise=principal.enterprise)
        largest = self._max_page_size()
        if not 1 <= first <= largest:
            raise InvalidValueError(f"first must be between 1 and {largest}")
        filter = _checked(filter)
        page = self._store.query(self._range(filter), first, after, _listing(filter))
        if scope is Scope.ANY:
            return page
        return replace(page, items=[without_source(e) for e in page.items])

    def _range(self, filter: OperationFilter) -> OperationQuery:
        end = filter.end or self._clock()
        start = filter.start or end - DEFAULT_RANGE
        if start >= end:
            raise InvalidValueError("the time range is empty: from must be before to")
        if end - start > MAX_RANGE:
            raise InvalidValueError(
                f"the time range spans more than {MAX_RANGE.days} days (about 13 months)"
            )
        return OperationQuery(
            start=start.astimezone(UTC),
            end=end.astimezone(UTC),
            actor=filter.actor,
            enterprise=filter.enterprise,
            action=filter.action,
            target=filter.target,
            result=filter.result,
        )


def _checked(filter: OperationFilter) -> OperationFilter:
    """The filter with its times in UTC (a time without a zone is taken as UTC) and its
    texts checked."""
    for name in ("actor", "enterprise", "action", "target"):
        text = getattr(filter, name)
        if text is not None and not 1 <= len(text) <= MAX_FILTER_TEXT:
            raise InvalidValueError(f"{name} must be 1 to {MAX_FILTER_TEXT} characters")
    if filter.result is not None and not _RESULT_KIND.fullmatch(filter.result):
        raise InvalidValueError(
            f'result must be "{OK}", "{FAILED}" or a kind of failure such as "not-authorised"'
        )
    return replace(filter, start=_utc(filter.start), end=_utc(filter.end))


def _utc(at: datetime | None) -> datetime | None:
    if at is None:
        return None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _listing(filter: OperationFilter) -> str:
    """The cursor scope of a listing: its filter as asked (a default range is not part of
    it, as it moves with the clock from one page to the next)."""
    asked = {
        "start": filter.start.isoformat() if filter.start else None,
        "end": filter.end.isoformat() if filter.end else None,
        "actor": filter.actor,
        "enterprise": filter.enterprise,
        "action": filter.action,
        "target": filter.target,
        "result": filter.result,
    }
    digest = hashlib.sha256(json.dumps(asked, sort_keys=True).encode()).hexdigest()
    return f"operations:{digest[:32]}"


def without_source(entry: OperationEntry) -> OperationEntry:
    """The entry as shown to callers who may not see addresses."""
    return replace(entry, source=None)
