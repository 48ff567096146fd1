"""The operation log's entries (IOT-1): who did what to which target, when, from where, and
with what result. Entries are written once and never changed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

OK = "ok"


@dataclass(frozen=True, slots=True)
class OperationEntry:
    id: str
    at: datetime
    actor: str  # username, `index:handle`, or "anonymous"
    actor_kind: str  # PrincipalKind value
    action: str  # e.g. "register-identifier", "approve-application", "sign-in-refused"
    target: str  # what it was done to: an identifier, an application id, a username...
    result: str  # OK, or the kind of error that stopped it
    enterprise: str | None = None  # whose data it concerns, when it concerns one enterprise
    message: str | None = None  # the error's message, for failures
    source: str | None = None  # the caller's address
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return self.result == OK
