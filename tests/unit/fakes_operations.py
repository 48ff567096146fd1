"""An operation log store for unit tests of the log's readers: it keeps what was appended
and records each query it is asked, answering with the entries it holds."""

from __future__ import annotations

from dataclasses import dataclass, field

from idnode.domain.operations import OperationEntry
from idnode.store.operations import OperationQuery
from idnode.store.pages import Page


@dataclass
class AskedQuery:
    query: OperationQuery
    limit: int
    cursor: str | None
    scope: str


@dataclass
class QueriedOperations:
    entries: list[OperationEntry] = field(default_factory=list)
    asked: list[AskedQuery] = field(default_factory=list)
    fail_with: Exception | None = None

    def append(self, entry: OperationEntry) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.entries.append(entry)

    def query(
        self, query: OperationQuery, limit: int, cursor: str | None, scope: str
    ) -> Page[OperationEntry]:
        self.asked.append(AskedQuery(query, limit, cursor, scope))
        items = sorted(self.entries, key=lambda e: e.at, reverse=True)[:limit]
        return Page(items=items, cursors=[e.id for e in items], next_cursor=None)

    @property
    def last(self) -> AskedQuery:
        return self.asked[-1]
