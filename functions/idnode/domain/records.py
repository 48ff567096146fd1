"""A record: an identifier and its values, with the rules for changing them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from idnode.domain.errors import (
    InvalidValueError,
    ValuesNotFoundError,
)
from idnode.domain.handles import Handle
from idnode.domain.values import Value, sorted_by_index

MAX_VALUES = 256
# The node's convention (shared with the national node's secondary-node API): the value at
# this index names the metadata template, `<code>@<version>`, the record's master data follows.
TEMPLATE_INDEX = 1001


@dataclass(frozen=True, slots=True)
class Record:
    """An identifier's record. `version` increases with every stored change (optimistic lock)."""

    handle: Handle
    values: tuple[Value, ...]
    created: datetime
    updated: datetime
    version: int = 0

    def value_at(self, index: int) -> Value | None:
        return next((v for v in self.values if v.index == index), None)

    def select(
        self, types: Iterable[str] = (), indexes: Iterable[int] = (), *, see_restricted: bool
    ) -> tuple[Value, ...]:
        """Values matching the Handle filter that this reader may see."""
        t, i = frozenset(types), frozenset(indexes)
        return tuple(
            v for v in self.values if (see_restricted or not v.restricted) and v.matches(t, i)
        )

    # Changes. Each returns a new record; timestamps of changed values are `at`.

    def replaced(self, values: Iterable[Value], at: datetime) -> Record:
        """Replace every value."""
        return self._with(sorted_by_index(v.stamped(at) for v in values), at)

    def upserted(self, values: Iterable[Value], at: datetime) -> Record:
        """Add new values and replace those whose index exists."""
        incoming = {v.index: v.stamped(at) for v in values}
        kept = [v for v in self.values if v.index not in incoming]
        return self._with(sorted_by_index([*kept, *incoming.values()]), at)

    def removed(self, indexes: Iterable[int], at: datetime) -> Record:
        """Remove values by index; every index must exist."""
        wanted = set(indexes)
        missing = sorted(i for i in wanted if self.value_at(i) is None)
        if missing:
            raise ValuesNotFoundError(
                f"no value at index {', '.join(map(str, missing))}", handle=self.handle.name
            )
        return self._with(tuple(v for v in self.values if v.index not in wanted), at)

    def _with(self, values: tuple[Value, ...], at: datetime) -> Record:
        indexes = [v.index for v in values]
        repeated = sorted({i for i in indexes if indexes.count(i) > 1})
        if repeated:
            raise InvalidValueError(
                f"value index {', '.join(map(str, repeated))} appears more than once",
                handle=self.handle.name,
            )
        if len(values) > MAX_VALUES:
            raise InvalidValueError(f"a record holds at most {MAX_VALUES} values")
        return replace(self, values=values, updated=at)


def new_record(handle: Handle, values: Iterable[Value], at: datetime) -> Record:
    """A record about to be created."""
    record = Record(handle=handle, values=(), created=at, updated=at)
    return record.replaced(values, at)
