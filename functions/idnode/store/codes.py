"""Private codes and code grants in the codes table.

- a mapping: `pk = code#<enterprise>`, `sk = <the code>`, `handle = <identifier key>` (the
  sparse byHandle index maps an identifier back to its codes), data `{identifier, created_by}`;
- a grant: `pk = grants#<enterprise>`, `sk = <grantee enterprise>`, data `{created_by}`.

New mappings are written with `attribute_not_exists`, a hundred to a transaction; when one of
them was taken by another writer in between, that hundred is written again item by item, so
that each code gets its own answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, TransactWriteError
from pynamodb.transactions import TransactWrite

from idnode.domain.codes import CodeGrant, CodeMapping
from idnode.store.listings import querying, read_page, start_key
from idnode.store.metadata_models import CodeModel
from idnode.store.models import connection_for
from idnode.store.pages import Page

TRANSACTION_SIZE = 100  # DynamoDB's limit of actions per transaction
_KEY = {"pk": "S", "sk": "S"}
_CONDITION_FAILED = "ConditionalCheckFailedException"


def codes_partition(enterprise: str) -> str:
    return f"code#{enterprise}"


def grants_partition(enterprise: str) -> str:
    return f"grants#{enterprise}"


class CodeRepository:
    def __init__(self, model: type[CodeModel]) -> None:
        self._model = model

    # Mappings

    def get(self, enterprise: str, code: str) -> CodeMapping | None:
        try:
            item = self._model.get(codes_partition(enterprise), code, consistent_read=True)
        except DoesNotExist:
            return None
        return _mapping(item)

    def get_many(self, enterprise: str, codes: Iterable[str]) -> dict[str, CodeMapping]:
        """The stored mappings among `codes`, by code."""
        partition = codes_partition(enterprise)
        keys = [(partition, code) for code in dict.fromkeys(codes)]
        found = self._model.batch_get(keys, consistent_read=True)
        return {item.sk: _mapping(item) for item in found}

    def add_many(self, mappings: Sequence[CodeMapping]) -> set[str]:
        """Write new mappings (distinct codes of one enterprise) where their codes are free.
        Returns the codes that were taken already, for which nothing was written."""
        taken: set[str] = set()
        for start in range(0, len(mappings), TRANSACTION_SIZE):
            chunk = mappings[start : start + TRANSACTION_SIZE]
            try:
                self._add_together(chunk)
            except TransactWriteError as exc:
                reasons = {r.code for r in exc.cancellation_reasons if r is not None}
                # A code taken in between, or another transaction on the same items: each
                # item then gets its own conditional write and its own answer.
                if not reasons & {"ConditionalCheckFailed", "TransactionConflict"}:
                    raise
                taken |= self._add_one_by_one(chunk)
        return taken

    def _add_together(self, chunk: Sequence[CodeMapping]) -> None:
        model = self._model
        with TransactWrite(connection=connection_for(model)) as transaction:
            for mapping in chunk:
                transaction.save(_item(model, mapping), condition=model.sk.does_not_exist())

    def _add_one_by_one(self, chunk: Sequence[CodeMapping]) -> set[str]:
        model = self._model
        taken: set[str] = set()
        for mapping in chunk:
            try:
                _item(model, mapping).save(condition=model.sk.does_not_exist())
            except PutError as exc:
                if exc.cause_response_code != _CONDITION_FAILED:
                    raise
                taken.add(mapping.code)
        return taken

    def remove_many(self, enterprise: str, codes: Iterable[str]) -> None:
        """Delete these codes' mappings (a code not mapped is no error)."""
        partition = codes_partition(enterprise)
        with self._model.batch_write() as batch:
            for code in dict.fromkeys(codes):
                batch.delete(self._model(partition, code))

    def of_identifier(self, enterprise: str, identifier_key: str) -> list[CodeMapping]:
        """The enterprise's codes that map to the identifier (its case-folded key)."""
        model = self._model
        items = model.by_handle.query(
            identifier_key, range_key_condition=model.pk == codes_partition(enterprise)
        )
        return sorted((_mapping(item) for item in items), key=lambda m: m.code)

    def code_book(self, enterprise: str, *, first: int, cursor: str | None) -> Page[CodeMapping]:
        """An enterprise's codes in code order (by UTF-8 bytes, DynamoDB's order)."""
        model = self._model
        partition = codes_partition(enterprise)
        scope = f"codes:{enterprise}"
        return read_page(
            querying(model, partition),
            lambda raw: _mapping(model.from_raw_data(raw)),
            scope=scope,
            first=first,
            start=start_key(scope, cursor, _KEY, {"pk": partition}),
            shape=_KEY,
            filtered=False,
        )

    # Grants

    def grant(self, grant: CodeGrant) -> CodeGrant:
        """Store the grant; one given already stays as it was (and is returned)."""
        model = self._model
        item = model(
            grants_partition(grant.enterprise),
            grant.grantee,
            data={"created_by": grant.created_by},
            created_at=grant.created_at,
        )
        try:
            item.save(condition=model.sk.does_not_exist())
        except PutError as exc:
            if exc.cause_response_code != _CONDITION_FAILED:
                raise
            existing = self.get_grant(grant.enterprise, grant.grantee)
            if existing is not None:
                return existing
            raise
        return grant

    def get_grant(self, enterprise: str, grantee: str) -> CodeGrant | None:
        try:
            item = self._model.get(grants_partition(enterprise), grantee, consistent_read=True)
        except DoesNotExist:
            return None
        return _grant(item)

    def revoke(self, grant: CodeGrant) -> bool:
        """Delete the grant; False when it was gone already."""
        model = self._model
        try:
            model(grants_partition(grant.enterprise), grant.grantee).delete(
                condition=model.sk.exists()
            )
        except DeleteError as exc:
            if exc.cause_response_code != _CONDITION_FAILED:
                raise
            return False
        return True

    def grants(self, enterprise: str) -> list[CodeGrant]:
        """Every grant the enterprise gave, by grantee (a handful per enterprise)."""
        items = self._model.query(grants_partition(enterprise), consistent_read=True)
        return [_grant(item) for item in items]


def _item(model: type[CodeModel], mapping: CodeMapping) -> CodeModel:
    return model(
        codes_partition(mapping.enterprise),
        mapping.code,
        handle=mapping.identifier_key,
        data={"identifier": mapping.identifier, "created_by": mapping.created_by},
        created_at=mapping.created_at,
    )


def _data(item: CodeModel) -> dict[str, Any]:
    return item.data if isinstance(item.data, dict) else {}


def _mapping(item: CodeModel) -> CodeMapping:
    data = _data(item)
    return CodeMapping(
        enterprise=item.pk.removeprefix("code#"),
        code=item.sk,
        identifier=str(data.get("identifier", item.handle or "")),
        created_at=int(item.created_at),
        created_by=str(data.get("created_by", "")),
    )


def _grant(item: CodeModel) -> CodeGrant:
    return CodeGrant(
        enterprise=item.pk.removeprefix("grants#"),
        grantee=item.sk,
        created_at=int(item.created_at),
        created_by=str(_data(item).get("created_by", "")),
    )
