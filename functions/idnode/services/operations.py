"""Recording every operation in the append-only operation log (IOT-1).

Services wrap each operation in `log.recording(...)`; the entry is written whether the
operation succeeds or fails, with the error's kind as its result. The log never stops the
operation it records: if the entry cannot be written, it goes to the function's log (and
a metric counts it) so that it can be recovered from CloudWatch Logs.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from idnode.domain.access import Principal
from idnode.domain.errors import IdnodeError
from idnode.domain.operations import OK, OperationEntry


class OperationStore(Protocol):
    def append(self, entry: OperationEntry) -> None: ...


class FallbackSink(Protocol):
    def __call__(self, entry: OperationEntry, error: Exception) -> None: ...


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
    ) -> None:
        self._store = store
        self._fallback = fallback
        self._clock = clock

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
        except Exception as exc:  # noqa: BLE001 - the log must never fail the operation
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


def without_source(entry: OperationEntry) -> OperationEntry:
    """The entry as shown to callers who may not see addresses."""
    return replace(entry, source=None)
