"""In-memory stand-ins for the repositories the services depend on.

`InMemoryIdentifiers` keeps the store's optimistic-lock contract (create refuses an existing
record; save and delete refuse a record whose version changed since it was read), and lets a
test slip a rival writer in just before the service's next write, so that the service's
re-read and re-apply logic runs for real.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from idnode.adapters.tokens import Claims, InvalidTokenError
from idnode.domain.credentials import AdminCredential
from idnode.domain.errors import HandleAlreadyExistsError
from idnode.domain.handles import Handle, fold_case
from idnode.domain.operations import OperationEntry
from idnode.domain.prefixes import Prefix, PrefixStatus
from idnode.domain.records import Record
from idnode.store.pages import Page, decode_cursor, encode_cursor


class StaleRecordError(Exception):
    """The record changed or vanished since it was read (the store's stale error)."""


Rival = Callable[["InMemoryIdentifiers"], None]


class InMemoryIdentifiers:
    """Identifier records by case-folded name, versioned like the DynamoDB store."""

    def __init__(self) -> None:
        self._records: dict[str, Record] = {}
        self._rivals: list[Rival] = []
        self._rivalling = False
        self.calls: Counter[str] = Counter()

    # Test controls

    def rival(self, write: Rival, times: int = 1) -> None:
        """Run `write` (another writer) just before each of the next `times` writes."""
        self._rivals.extend([write] * times)

    def seed(self, record: Record) -> Record:
        """Store a record as if created earlier."""
        stored = replace(record, version=max(record.version, 1))
        self._records[record.handle.key] = stored
        return stored

    def stored(self, name: str) -> Record | None:
        return self._records.get(fold_case(name))

    def _before_write(self) -> None:
        if self._rivalling or not self._rivals:
            return
        write = self._rivals.pop(0)
        self._rivalling = True
        try:
            write(self)
        finally:
            self._rivalling = False

    # The Identifiers protocol

    def get(self, handle: Handle) -> Record | None:
        self.calls["get"] += 1
        return self._records.get(handle.key)

    def get_many(self, handles: Sequence[Handle]) -> list[Record]:
        self.calls["get_many"] += 1
        keys = dict.fromkeys(h.key for h in handles)
        return [self._records[k] for k in keys if k in self._records]

    def create(self, record: Record) -> Record:
        self.calls["create"] += 1
        self._before_write()
        if record.handle.key in self._records:
            raise HandleAlreadyExistsError(
                f"{record.handle.name} is already registered", handle=record.handle.name
            )
        stored = replace(record, version=1)
        self._records[record.handle.key] = stored
        return stored

    def save(self, record: Record) -> Record:
        self.calls["save"] += 1
        self._before_write()
        current = self._records.get(record.handle.key)
        if current is None or current.version != record.version:
            raise StaleRecordError(record.handle.key)
        stored = replace(record, version=record.version + 1)
        self._records[record.handle.key] = stored
        return stored

    def delete(self, record: Record) -> None:
        self.calls["delete"] += 1
        self._before_write()
        current = self._records.get(record.handle.key)
        if current is None or current.version != record.version:
            raise StaleRecordError(record.handle.key)
        del self._records[record.handle.key]

    def list_by_prefix(self, prefix: str, limit: int, cursor: str | None) -> Page[Record]:
        self.calls["list_by_prefix"] += 1
        start = decode_cursor(prefix, cursor)
        after = start["handle"]["S"] if start else ""
        keys = sorted(
            k for k, r in self._records.items() if r.handle.prefix_key == prefix and k > after
        )
        page = keys[:limit]
        cursors = [
            encode_cursor(prefix, {"handle": {"S": k}, "prefix": {"S": prefix}}) for k in page
        ]
        more = len(keys) > limit
        return Page(
            items=[self._records[k] for k in page],
            cursors=cursors,
            next_cursor=cursors[-1] if more else None,
        )


class InMemoryPrefixes:
    """Allocated prefixes by case-folded name."""

    def __init__(self, *prefixes: Prefix) -> None:
        self._prefixes = {fold_case(p.name): p for p in prefixes}
        self.calls: Counter[str] = Counter()

    def add(self, prefix: Prefix) -> None:
        self._prefixes[fold_case(prefix.name)] = prefix

    def get(self, prefix: str) -> Prefix | None:
        self.calls["get"] += 1
        return self._prefixes.get(fold_case(prefix))

    def prefixes_of(self, enterprise: str) -> list[str]:
        self.calls["prefixes_of"] += 1
        return sorted(
            p.name
            for p in self._prefixes.values()
            if p.enterprise == enterprise and p.status is PrefixStatus.ACTIVE
        )


class InMemoryCredentials:
    """Admin credentials by case-folded identity."""

    def __init__(self, *credentials: AdminCredential) -> None:
        self._credentials = {fold_case(c.identity): c for c in credentials}
        self.lookups = 0

    def put(self, credential: AdminCredential) -> None:
        self._credentials[fold_case(credential.identity)] = credential

    def get(self, identity: str) -> AdminCredential | None:
        self.lookups += 1
        return self._credentials.get(fold_case(identity))


class FakeTokens:
    """Tokens known by their literal text; anything else is refused with a fixed reason."""

    REFUSAL = "the token signature is not valid"

    def __init__(self, **tokens: Claims) -> None:
        self._tokens = tokens
        self.verified = 0

    def verify(self, token: str) -> Claims:
        self.verified += 1
        claims = self._tokens.get(token)
        if claims is None:
            raise InvalidTokenError(self.REFUSAL)
        return claims


def claims(username: str, groups: Sequence[str] = (), enterprise: str | None = None) -> Claims:
    return Claims(
        subject=f"sub-{username}",
        username=username,
        groups=tuple(groups),
        enterprise=enterprise,
        expires_at=datetime(2100, 1, 1, tzinfo=UTC),
    )


@dataclass
class ManualClock:
    """A monotonic clock that moves only when told to."""

    now: float = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class SteppingClock:
    """A wall clock that moves one second on every reading, so each change has its own time."""

    now: datetime = datetime(2025, 1, 1, tzinfo=UTC)
    readings: int = 0

    def __call__(self) -> datetime:
        self.readings += 1
        self.now += timedelta(seconds=1)
        return self.now


class InMemoryOperations:
    """The operation log's store: entries in the order appended."""

    def __init__(self) -> None:
        self.entries: list[OperationEntry] = []
        self.fail_with: Exception | None = None

    def append(self, entry: OperationEntry) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.entries.append(entry)


class RecordingMeter:
    """Counts as the registry reports them, unbuffered."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()

    def count(self, prefix: str, metric: str, n: int = 1) -> None:
        self.counts[(prefix.lower(), metric)] += n

    def flush_if_due(self) -> None:
        pass
