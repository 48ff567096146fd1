"""GraphQL object and input types of the identifier registry."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any, Generic, TypeVar

import strawberry
from strawberry.scalars import JSON

from idnode.domain.records import Record
from idnode.domain.values import DataFormat, Value, select
from idnode.store.pages import Page

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)


def time_of(epoch_ms: int) -> datetime:
    """A stored time (epoch milliseconds) as a GraphQL DateTime."""
    # Whole milliseconds through timedelta: a float division could be a microsecond off.
    return _EPOCH + epoch_ms * _MILLISECOND


def time_or_none(epoch_ms: int | None) -> datetime | None:
    return None if epoch_ms is None else time_of(epoch_ms)


def epoch_ms(at: datetime) -> int:
    """Epoch milliseconds of `at`; a time without a zone is UTC."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return (at - _EPOCH) // _MILLISECOND


ValueFormat = strawberry.enum(
    DataFormat,
    name="ValueFormat",
    description="How a value's data is encoded (Handle data formats).",
)


@strawberry.type(description="A value's data: its format and the value in that format.")
class ValueData:
    format: DataFormat
    value: JSON = strawberry.field(
        description="A string for string/base64/hex; an object for admin; a list for vlist."
    )


@strawberry.type(description="One typed value of an identifier (Handle data model).")
class HandleValue:
    index: int
    type: str
    data: ValueData
    ttl: int = strawberry.field(description="Seconds a resolver may cache this value.")
    timestamp: datetime = strawberry.field(description="When the value last changed (server time).")
    restricted: bool = strawberry.field(description="Readable only by authorised callers.")
    permissions: str = strawberry.field(
        description="Handle permission bits: admin read, admin write, public read, public write."
    )

    @classmethod
    def of(cls, value: Value) -> HandleValue:
        assert value.timestamp is not None  # stored values always carry one
        return cls(
            index=value.index,
            type=value.type,
            data=ValueData(format=value.data.format, value=value.data.value),
            ttl=value.ttl,
            timestamp=value.timestamp,
            restricted=value.restricted,
            permissions=value.permissions.bits,
        )


@strawberry.type(description="A registered identifier and the values the caller may see.")
class Identifier:
    handle: str = strawberry.field(
        description="The name as first registered (prefix/suffix); matching ignores ASCII case."
    )
    prefix: str
    suffix: str
    created: datetime
    updated: datetime
    version: int = strawberry.field(description="Increases with every change.")
    _values: strawberry.Private[tuple[Value, ...]]

    @strawberry.field(description="Values, optionally filtered by type (or parent type) or index.")
    def values(
        self, types: list[str] | None = None, indexes: list[int] | None = None
    ) -> list[HandleValue]:
        return [HandleValue.of(v) for v in select(self._values, types or (), indexes or ())]

    @strawberry.field(description="Where the answer came from: always STORED for a record.")
    def provenance(self) -> Provenance:
        return Provenance(source=AnswerSource.STORED)

    @classmethod
    def of(cls, record: Record, visible: tuple[Value, ...] | None = None) -> Identifier:
        return cls(
            handle=record.handle.name,
            prefix=record.handle.prefix,
            suffix=record.handle.suffix,
            created=record.created,
            updated=record.updated,
            version=record.version,
            _values=record.values if visible is None else visible,
        )


@strawberry.enum(description="Where an answer came from.")
class AnswerSource(Enum):
    STORED = "stored"
    GENERATED = "generated"
    REFERRED = "referred"


@strawberry.type(description="Where an answer came from, and how fresh it is.")
class Provenance:
    source: AnswerSource = strawberry.field(
        description="STORED: a record of this node; GENERATED: a prefix or service handle the "
        "node derives from its configuration; REFERRED: resolved at a self-hosted enterprise "
        "node."
    )
    site: str | None = strawberry.field(
        default=None, description="REFERRED: the server that answered (address:port/protocol)."
    )
    from_cache: bool = strawberry.field(
        default=False, description="REFERRED: answered from this node's cache."
    )
    age_seconds: int = strawberry.field(
        default=0, description="REFERRED: seconds since the enterprise node answered."
    )
    stale: bool = strawberry.field(
        default=False,
        description="REFERRED: the enterprise node is unreachable and this answer is past its "
        "TTL (served for a bounded time).",
    )


@strawberry.type(
    description="A name's values as resolved at a self-hosted enterprise node, or generated by "
    "this node (prefix and service handles): there is no stored record."
)
class ResolvedIdentifier:
    handle: str
    provenance: Provenance
    _values: strawberry.Private[tuple[Value, ...]]

    @strawberry.field(description="Values, optionally filtered by type (or parent type) or index.")
    def values(
        self, types: list[str] | None = None, indexes: list[int] | None = None
    ) -> list[HandleValue]:
        return [HandleValue.of(v) for v in select(self._values, types or (), indexes or ())]


@strawberry.type(description="An identifier that was deleted.")
class DeletedIdentifier:
    handle: str


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


Node = TypeVar("Node")
Item = TypeVar("Item")


@strawberry.type
class Edge(Generic[Node]):
    """`Edge[Device]` is the schema's `DeviceEdge`."""

    cursor: str = strawberry.field(description="Pass as `after` to continue after this node.")
    node: Node


@strawberry.type(
    description="A page of a listing: its items with the cursor after each, and whether more "
    "follow (`pageInfo.endCursor` is where the next page starts)."
)
class Connection(Generic[Node]):
    """`Connection[Device]` is the schema's `DeviceConnection`."""

    edges: list[Edge[Node]]
    page_info: PageInfo


def connection(page: Page[Item], node: Callable[[Item], Node]) -> Connection[Node]:
    """A stored page as the schema's connection, each item shown by `node`."""
    return Connection(
        edges=[
            Edge(cursor=cursor, node=node(item))
            for item, cursor in zip(page.items, page.cursors, strict=True)
        ],
        page_info=PageInfo(has_next_page=page.next_cursor is not None, end_cursor=page.next_cursor),
    )


@strawberry.type(description="Who the caller is, as the node sees it.")
class Viewer:
    authenticated: bool
    username: str | None
    roles: list[str]
    withheld_roles: list[str] = strawberry.field(
        description="Roles the person holds but may not use until they enrol a second factor "
        "(TOTP): platform admins and auditors must."
    )
    enterprise: str | None
    prefixes: list[str]


@strawberry.input(description="A value to store. The server sets the timestamp.")
class ValueInput:
    index: int = strawberry.field(description="1 to 2^31-1, unique within the identifier.")
    type: str = strawberry.field(description="e.g. URL, EMAIL, HS_ADMIN, or an industry type.")
    value: JSON = strawberry.field(description="The data in the given format.")
    format: DataFormat = DataFormat.STRING
    ttl: int = 86400
    restricted: bool = strawberry.field(
        default=False, description="Hide from anonymous resolution."
    )

    def to_raw(self) -> dict[str, Any]:
        """The Handle REST JSON form, validated by the domain like any other client input."""
        return {
            "index": self.index,
            "type": self.type,
            "data": {"format": self.format.value, "value": self.value},
            "ttl": self.ttl,
            "restricted": self.restricted,
        }


@strawberry.input
class RegisterIdentifierInput:
    handle: str = strawberry.field(description="prefix/suffix under a prefix you administer.")
    values: list[ValueInput]


@strawberry.input(description="Applied in order: replace all values, then upsert, then remove.")
class UpdateIdentifierInput:
    handle: str
    replace_values: list[ValueInput] | None = None
    upsert_values: list[ValueInput] | None = None
    remove_indexes: list[int] | None = None
    expected_version: int | None = strawberry.field(
        default=None,
        description="Apply only if the identifier is still at this version (else ConflictError).",
    )
