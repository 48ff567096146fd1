"""Identifier registration and resolution: the use cases behind GraphQL and Handle REST."""

from __future__ import annotations

import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol, TypeVar

from idnode.domain.access import (
    Principal,
    authorise_list,
    authorise_write,
    may_see_restricted,
    require_authenticated,
)
from idnode.domain.errors import (
    AuthenticationRequiredError,
    ConcurrentUpdateError,
    HandleAlreadyExistsError,
    HandleNotFoundError,
    IdnodeError,
    InvalidValueError,
    PrefixNotServedError,
    SchemeKeyTakenError,
)
from idnode.domain.handles import Handle, fold_case, is_under, validate_prefix
from idnode.domain.prefixes import Prefix
from idnode.domain.records import Record, new_record
from idnode.domain.schemes import Scheme, key_of
from idnode.domain.schemes import parse as parse_key
from idnode.domain.values import Value
from idnode.services.metering import Meter
from idnode.services.operations import OperationLog, Pending, error_kind
from idnode.store.keys import KeyEntry
from idnode.store.pages import Page

MAX_PAGE_SIZE = 1000
MAX_BATCH = 2000
# Failures named one by one in a batch's operation log entry; the counts cover the rest.
MAX_LOGGED_FAILURES = 20


class Identifiers(Protocol):
    def get(self, handle: Handle) -> Record | None: ...
    def get_many(self, handles: Sequence[Handle]) -> list[Record]: ...
    def create(self, record: Record) -> Record: ...
    def create_many(self, records: Sequence[Record]) -> list[IdnodeError | None]: ...
    def save(self, record: Record) -> Record: ...
    def delete(self, record: Record) -> None: ...
    def list_by_prefix(self, prefix: str, limit: int, cursor: str | None) -> Page[Record]: ...


class Prefixes(Protocol):
    def get(self, prefix: str) -> Prefix | None: ...


class Keys(Protocol):
    def get(self, key: str) -> KeyEntry | None: ...


@dataclass(frozen=True, slots=True)
class Resolution:
    """A resolved record and the values this reader asked for and may see."""

    record: Record
    values: tuple[Value, ...]
    filtered: bool
    includes_restricted: bool


class DuplicateInBatchError(InvalidValueError):
    """A batch names the same identifier (or scheme key) twice; the later item fails."""


class BatchStatus(StrEnum):
    CREATED = "created"
    EXISTED = "existed"  # registered already, with the same values: a retry's earlier success
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One identifier of a batch. `error`: the edge could not read the item's values."""

    name: str
    values: Sequence[Value] = ()
    error: IdnodeError | None = None


@dataclass(frozen=True, slots=True)
class ItemResult:
    position: int
    handle: str
    status: BatchStatus
    error: IdnodeError | None = None

    @property
    def code(self) -> str | None:
        """The failure's kind, as in the operation log (`handle-already-exists`...)."""
        return error_kind(self.error) if self.error is not None else None


@dataclass(frozen=True, slots=True)
class BatchResult:
    items: tuple[ItemResult, ...]

    def count(self, status: BatchStatus) -> int:
        return sum(1 for item in self.items if item.status is status)


def _same_values(a: Record, b: Record) -> bool:
    """Equal values, whenever they were stamped."""

    def content(r: Record) -> list[tuple[object, ...]]:
        return sorted(((v.index, v.type, v.data, v.ttl, v.permissions) for v in r.values), key=str)

    return content(a) == content(b)


Change = Callable[[Record, datetime], Record]
# Batch items still in the running, by position (module-level: the service has a `list`).
Candidates = list[tuple[int, Record]]
Raced = list[tuple[int, Record, IdnodeError]]
W = TypeVar("W")


class RegistryService:
    def __init__(
        self,
        identifiers: Identifiers,
        prefixes: Prefixes,
        node_prefix: str,
        *,
        log: OperationLog,
        meter: Meter,
        stale_error: type[Exception],
        keys: Keys | None = None,
        check: Callable[[Record], None] = lambda _record: None,
        resolvable: Callable[[str], bool] = lambda _prefix: True,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        max_attempts: int = 8,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._identifiers = identifiers
        self._prefixes = prefixes
        self._node_prefix = node_prefix
        self._log = log
        self._meter = meter
        self._resolvable = resolvable
        self._keys = keys
        # Checks every record about to be written (master data against its template).
        self._check = check
        self._stale = stale_error
        self._clock = clock
        self._max_attempts = max_attempts
        self._sleep = sleep

    # Reads

    def resolve(
        self,
        name: str,
        principal: Principal,
        types: Iterable[str] = (),
        indexes: Iterable[int] = (),
        public_only: bool = False,
    ) -> Resolution:
        handle = Handle.parse(name)
        self.check_resolvable(handle)
        record = self._identifiers.get(handle)
        resolution = self.resolve_read(
            name, record, principal, types=types, indexes=indexes, public_only=public_only
        )
        self.count_resolution(resolution)
        return resolution

    def identifier_of(self, scheme: Scheme | str, key: str) -> str:
        """The node identifier a scheme key (a GTIN, a Digital Link URI, an OID...) maps to."""
        parsed = parse_key(scheme, key)
        if parsed.scheme is Scheme.HANDLE:
            return parsed.value
        entry = self._keys.get(str(parsed)) if self._keys is not None else None
        if entry is None:
            raise HandleNotFoundError(f"{parsed} is not registered", handle=str(parsed))
        return entry.handle

    def check_resolvable(self, handle: Handle) -> None:
        """A suspended enterprise's identifiers may be withdrawn from resolution too."""
        if not self._resolvable(handle.prefix):
            raise HandleNotFoundError(
                f"{handle.name} is not resolvable: its prefix is suspended", handle=handle.name
            )

    def count_resolution(self, resolution: Resolution) -> None:
        self._meter.count(resolution.record.handle.prefix, "resolutions")

    def find_many(self, names: Sequence[str]) -> list[Record | None]:
        """Records for many names at once, in order (None where not registered)."""
        handles = [Handle.parse(name) for name in names]
        found = {r.handle.key: r for r in self._identifiers.get_many(handles)}
        return [found.get(h.key) for h in handles]

    @staticmethod
    def resolve_read(
        name: str,
        record: Record | None,
        principal: Principal,
        *,
        types: Iterable[str] = (),
        indexes: Iterable[int] = (),
        public_only: bool = False,
    ) -> Resolution:
        """Resolve `name` from its record as already read (None: not registered), for
        callers that read records in batches: what of it this principal asked for and may see."""
        if record is None:
            raise HandleNotFoundError(f"{name} is not registered", handle=name)
        types, indexes = tuple(types), tuple(indexes)
        see = not public_only and may_see_restricted(principal, record.handle)
        values = record.select(types, indexes, see_restricted=see)
        return Resolution(
            record=record,
            values=values,
            filtered=bool(types or indexes),
            includes_restricted=any(v.restricted for v in values),
        )

    def list(
        self, prefix: str, principal: Principal, limit: int, cursor: str | None
    ) -> Page[Record]:
        validate_prefix(prefix)
        authorise_list(principal, prefix)
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise InvalidValueError(f"page size must be between 1 and {MAX_PAGE_SIZE}")
        return self._identifiers.list_by_prefix(fold_case(prefix), limit, cursor)

    # Writes

    def create(self, name: str, values: Sequence[Value], principal: Principal) -> Record:
        with self._log.recording(principal, "register-identifier", name) as op:
            handle = self._writable(name, principal, op)
            record = new_record(handle, values, self._clock())
            authorise_write(principal, handle, None, record)
            self._check(record)
            created = self._identifiers.create(record)
            self._count_registration(handle)
            return created

    def register_many(self, items: Sequence[BatchItem], principal: Principal) -> BatchResult:
        """Register up to MAX_BATCH identifiers, each validated and reported on its own.

        Naturally idempotent per item: an identifier registered already with the same values
        is reported EXISTED, so a call that timed out half-way can be sent again as it was.
        Each item is written whole (with its scheme key) or not at all."""
        with self._log.recording(principal, "register-identifiers", f"{len(items)} items") as op:
            if not principal.authenticated:
                raise AuthenticationRequiredError("registering identifiers needs authentication")
            if not 1 <= len(items) <= MAX_BATCH:
                raise InvalidValueError(
                    f"a batch holds 1 to {MAX_BATCH} identifiers, not {len(items)}"
                )
            results: dict[int, ItemResult] = {}
            candidates, enterprises = self._batch_candidates(items, principal, results)
            existing = self._identifiers.get_many([r.handle for _, r in candidates])
            found = {r.handle.key: r for r in existing}
            new: Candidates = []
            for position, record in candidates:
                before = found.get(record.handle.key)
                if before is None:
                    new.append((position, record))
                else:
                    results[position] = _registered(position, record, before)
            self._write_batch(new, results)
            result = BatchResult(tuple(results[p] for p in range(len(items))))
            op.enterprise = enterprises.pop() if len(enterprises) == 1 else principal.enterprise
            op.target = (
                f"{len(items)} identifiers under {candidates[0][1].handle.prefix}"
                if candidates and len({r.handle.prefix_key for _, r in candidates}) == 1
                else f"{len(items)} identifiers"
            )
            op.details.update(_batch_details(result))
            return result

    def _batch_candidates(
        self, items: Sequence[BatchItem], principal: Principal, results: dict[int, ItemResult]
    ) -> tuple[Candidates, set[str]]:
        """The items that may be written (failing the others in `results`), and the
        enterprises they belong to."""
        names: dict[str, int] = {}
        keys: dict[str, int] = {}
        served: dict[str, Prefix | IdnodeError] = {}
        enterprises: set[str] = set()
        candidates: Candidates = []
        at = self._clock()
        for position, item in enumerate(items):
            try:
                if item.error is not None and not item.name:
                    raise item.error  # an entry without a name: say what is wrong with it
                handle = Handle.parse(item.name)
                first = names.setdefault(handle.key, position)
                if first != position:
                    raise DuplicateInBatchError(
                        f"{item.name} is item {first} of this batch already", handle=item.name
                    )
                key = key_of(handle)
                if key is not None:
                    first = keys.setdefault(str(key), position)
                    if first != position:
                        raise DuplicateInBatchError(
                            f"{key} is the key of item {first} of this batch already",
                            handle=item.name,
                        )
                prefix = served.get(handle.prefix_key)
                if prefix is None:
                    try:
                        prefix = self._check_served(handle)
                    except PrefixNotServedError as error:
                        prefix = error
                    served[handle.prefix_key] = prefix
                if isinstance(prefix, IdnodeError):
                    raise PrefixNotServedError(prefix.message, handle=item.name)
                if item.error is not None:
                    raise item.error
                record = new_record(handle, item.values, at)
                authorise_write(principal, handle, None, record)
                self._check(record)
            except IdnodeError as error:
                results[position] = _failed(position, item.name, error)
                continue
            if prefix.enterprise is not None:
                enterprises.add(prefix.enterprise)
            candidates.append((position, record))
        return candidates, enterprises

    def _write_batch(self, new: Candidates, results: dict[int, ItemResult]) -> None:
        """Create the new records; classify those another writer registered meanwhile."""
        outcomes = self._identifiers.create_many([record for _, record in new])
        raced: Raced = []
        created: Counter[str] = Counter()
        for (position, record), error in zip(new, outcomes, strict=True):
            if error is None:
                results[position] = ItemResult(position, record.handle.name, BatchStatus.CREATED)
                created[record.handle.prefix] += 1
            elif isinstance(error, HandleAlreadyExistsError):
                raced.append((position, record, error))
            else:
                results[position] = _failed(position, record.handle.name, error)
        if raced:
            now = {
                r.handle.key: r for r in self._identifiers.get_many([r.handle for _, r, _ in raced])
            }
            for position, record, error in raced:
                before = now.get(record.handle.key)
                results[position] = (
                    _registered(position, record, before)
                    if before is not None
                    else _failed(position, record.handle.name, error)
                )
        for prefix, n in created.items():
            self._meter.count(prefix, "registrations", n)
            self._meter.count(prefix, "identifiers", n)

    def _count_registration(self, handle: Handle) -> None:
        self._meter.count(handle.prefix, "registrations")
        self._meter.count(handle.prefix, "identifiers")

    def mint(self, prefix: str, values: Sequence[Value], principal: Principal) -> Record:
        """Create a record under `prefix` with a server-chosen suffix."""
        validate_prefix(prefix)
        return self.create(f"{prefix}/{uuid.uuid4().hex.upper()}", values, principal)

    def put(self, name: str, values: Sequence[Value], principal: Principal) -> tuple[Record, bool]:
        """Create the record, or replace all its values. Returns (record, created)."""
        with self._log.recording(principal, "put-identifier", name) as op:
            handle = self._writable(name, principal, op)
            record, created = self._retrying(handle, self._putter(handle, values, principal))
            op.details["created"] = created
            if created:
                self._count_registration(handle)
            return record, created

    def _putter(
        self, handle: Handle, values: Sequence[Value], principal: Principal
    ) -> Callable[[], tuple[Record, bool]]:
        def write() -> tuple[Record, bool]:
            before = self._identifiers.get(handle)
            at = self._clock()
            if before is None:
                record = new_record(handle, values, at)
                authorise_write(principal, handle, None, record)
                self._check(record)
                try:
                    return self._identifiers.create(record), True
                except SchemeKeyTakenError:
                    raise  # the key is another identifier's: retrying cannot help
                except HandleAlreadyExistsError:
                    # Created by another writer in between: replace it on the next attempt.
                    raise self._stale(handle.key) from None
            after = before.replaced(values, at)
            authorise_write(principal, handle, before, after)
            self._check(after)
            return self._identifiers.save(after), False

        return write

    def replace_values(self, name: str, values: Sequence[Value], principal: Principal) -> Record:
        return self._change(name, principal, lambda r, at: r.replaced(values, at))

    def upsert_values(self, name: str, values: Sequence[Value], principal: Principal) -> Record:
        return self._change(name, principal, lambda r, at: r.upserted(values, at))

    def remove_values(self, name: str, indexes: Sequence[int], principal: Principal) -> Record:
        with self._log.recording(principal, "update-identifier", name):
            if not indexes:
                raise InvalidValueError("name at least one index to remove", handle=name)
        return self._change(name, principal, lambda r, at: r.removed(indexes, at))

    def update(
        self,
        name: str,
        principal: Principal,
        *,
        replace: Sequence[Value] | None = None,
        upsert: Sequence[Value] = (),
        remove: Sequence[int] = (),
        expected_version: int | None = None,
    ) -> Record:
        """Apply replace, then upsert, then remove, as one change. With `expected_version`,
        the change applies only to that version of the record (else ConcurrentUpdateError)."""
        if replace is None and not upsert and not remove:
            with self._log.recording(principal, "update-identifier", name):
                raise InvalidValueError("the update changes nothing", handle=name)

        def change(record: Record, at: datetime) -> Record:
            if replace is not None:
                record = record.replaced(replace, at)
            if upsert:
                record = record.upserted(upsert, at)
            if remove:
                record = record.removed(remove, at)
            return record

        return self._change(name, principal, change, expected_version)

    def delete(self, name: str, principal: Principal) -> Record:
        with self._log.recording(principal, "delete-identifier", name) as op:
            handle = self._writable(name, principal, op)

            def write() -> Record:
                record = self._require(handle)
                authorise_write(principal, handle, record, None)
                self._identifiers.delete(record)
                return record

            deleted = self._retrying(handle, write)
            self._meter.count(handle.prefix, "deletions")
            self._meter.count(handle.prefix, "identifiers", -1)
            return deleted

    def _change(
        self,
        name: str,
        principal: Principal,
        change: Change,
        expected_version: int | None = None,
    ) -> Record:
        """Read, change, authorise and store; re-read and re-apply when another writer won."""
        with self._log.recording(principal, "update-identifier", name) as op:
            handle = self._writable(name, principal, op)
            record = self._retrying(
                handle, self._changer(handle, principal, change, expected_version)
            )
            op.details["version"] = record.version
            return record

    def _changer(
        self,
        handle: Handle,
        principal: Principal,
        change: Change,
        expected_version: int | None,
    ) -> Callable[[], Record]:
        name = handle.name

        def write() -> Record:
            before = self._require(handle)
            if expected_version is not None and before.version != expected_version:
                raise ConcurrentUpdateError(
                    f"{name} is at version {before.version}, not {expected_version}",
                    handle=name,
                )
            after = change(before, self._clock())
            authorise_write(principal, handle, before, after)
            self._check(after)
            return self._identifiers.save(after)

        return write

    def _retrying(self, handle: Handle, write: Callable[[], W]) -> W:
        """Run `write` (read, decide, conditional write) until no other writer interferes."""
        for attempt in range(self._max_attempts):
            try:
                return write()
            except self._stale:
                self._back_off(attempt)
        raise ConcurrentUpdateError(f"{handle.name} kept changing; try again", handle=handle.name)

    def _writable(self, name: str, principal: Principal, op: Pending) -> Handle:
        """Parse the name, then refuse anonymous callers and prefixes that take no writes."""
        handle = Handle.parse(name)
        op.target = handle.name
        key_of(handle)  # a suffix in a scheme's namespace must be a valid, canonical key
        require_authenticated(principal, handle)
        op.enterprise = self._check_served(handle).enterprise
        return handle

    def _back_off(self, attempt: int) -> None:
        """Sleep a little, with jitter, so that colliding writers spread out."""
        self._sleep(random.uniform(0, 0.005 * 2**attempt))  # noqa: S311 - jitter, not secrecy

    def _require(self, handle: Handle) -> Record:
        record = self._identifiers.get(handle)
        if record is None:
            raise HandleNotFoundError(f"{handle.name} is not registered", handle=handle.name)
        return record

    def _check_served(self, handle: Handle) -> Prefix:
        """Only allocated, active prefixes under the node prefix take writes (a suspended
        prefix's identifiers stay resolvable but cannot be changed)."""
        served = is_under(handle.prefix, self._node_prefix)
        prefix = self._prefixes.get(handle.prefix) if served else None
        if prefix is None or not prefix.active:
            raise PrefixNotServedError(
                f"prefix {handle.prefix} is not an active prefix of this node",
                handle=handle.name,
            )
        return prefix


def _failed(position: int, name: str, error: IdnodeError) -> ItemResult:
    return ItemResult(position, name, BatchStatus.FAILED, error)


def _registered(position: int, record: Record, before: Record) -> ItemResult:
    """An item whose identifier is registered already: EXISTED with the same values."""
    name = record.handle.name
    if _same_values(record, before):
        return ItemResult(position, name, BatchStatus.EXISTED)
    error = HandleAlreadyExistsError(f"{name} is already registered with other values", handle=name)
    return _failed(position, name, error)


def _batch_details(result: BatchResult) -> dict[str, object]:
    failures = [item for item in result.items if item.status is BatchStatus.FAILED]
    details: dict[str, object] = {
        "items": len(result.items),
        "created": result.count(BatchStatus.CREATED),
        "existed": result.count(BatchStatus.EXISTED),
        "failed": len(failures),
    }
    if failures:
        details["failures"] = [
            {"item": f.position, "handle": f.handle, "result": f.code, "message": str(f.error)}
            for f in failures[:MAX_LOGGED_FAILURES]
        ]
    return details
