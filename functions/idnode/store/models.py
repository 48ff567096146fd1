"""pynamodb models: the only description of the tables' shape in the product code.

Table names come from settings, so each model is bound to its table at start-up with
`bind()`, which returns a subclass whose Meta names the table, region and endpoint.
Key schemas here must match infra/cdk/idnode_infra/data.py (an infra test checks both).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    ListAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

M = TypeVar("M", bound=Model)


class _ByPrefix(GlobalSecondaryIndex["IdentifierModel"]):
    class Meta:
        index_name = "byPrefix"
        projection = AllProjection()

    prefix = UnicodeAttribute(hash_key=True)
    handle = UnicodeAttribute(range_key=True)


class IdentifierModel(Model):
    """One identifier record. `handle` is the case-folded key; `name` the display form."""

    class Meta:
        table_name = "unbound-identifiers"

    handle = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    prefix = UnicodeAttribute()  # case-folded, for the byPrefix index
    # Values as one JSON document: read and written whole, and cheap to (de)serialise on
    # the resolution hot path compared with nested DynamoDB maps.
    values = JSONAttribute()
    created = UTCDateTimeAttribute()
    updated = UTCDateTimeAttribute()
    version = VersionAttribute()
    by_prefix = _ByPrefix()


class _ByEnterprise(GlobalSecondaryIndex["PrefixModel"]):
    class Meta:
        index_name = "byEnterprise"
        projection = AllProjection()

    enterprise = UnicodeAttribute(hash_key=True)
    prefix = UnicodeAttribute(range_key=True)


class PrefixModel(Model):
    """An allocated prefix: the node's own, or an enterprise's."""

    class Meta:
        table_name = "unbound-prefixes"

    prefix = UnicodeAttribute(hash_key=True)  # case-folded
    name = UnicodeAttribute()  # display form
    enterprise = UnicodeAttribute()
    status = UnicodeAttribute(default="active")
    created = UTCDateTimeAttribute()
    by_enterprise = _ByEnterprise()


class CredentialModel(Model):
    """An admin identity (`index:handle`) and its hashed secret."""

    class Meta:
        table_name = "unbound-credentials"

    identity = UnicodeAttribute(hash_key=True)  # case-folded `index:handle`
    name = UnicodeAttribute()
    secret_hash = UnicodeAttribute()
    prefixes = ListAttribute(of=UnicodeAttribute)  # case-folded
    enabled = BooleanAttribute(default=True)
    created = UTCDateTimeAttribute()


def bind(model: type[M], table_name: str, region: str, host: str | None) -> type[M]:
    """A subclass of `model` bound to a concrete table."""
    meta: dict[str, Any] = {"table_name": table_name, "region": region}
    if host:
        meta["host"] = host
    # Keep connections short-lived enough to fail fast, long enough for a cold table.
    meta.update(connect_timeout_seconds=3, read_timeout_seconds=10, max_retry_attempts=3)
    return type(model.__name__, (model,), {"Meta": type("Meta", (), meta)})


@dataclass(frozen=True)
class Tables:
    """The node's models, each bound to its table."""

    identifiers: type[IdentifierModel]
    prefixes: type[PrefixModel]
    credentials: type[CredentialModel]

    def all(self) -> tuple[type[Model], ...]:
        return (self.identifiers, self.prefixes, self.credentials)


def bind_tables(
    identifiers: str, prefixes: str, credentials: str, region: str, host: str | None
) -> Tables:
    return Tables(
        identifiers=bind(IdentifierModel, identifiers, region, host),
        prefixes=bind(PrefixModel, prefixes, region, host),
        credentials=bind(CredentialModel, credentials, region, host),
    )
