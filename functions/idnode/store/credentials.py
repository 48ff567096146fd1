"""Admin identities and their hashed secrets.

The table is keyed by identity only. Listing the identities of some prefixes is a scan with a
filter: the table holds a handful of identities per enterprise, so a scan reads little. A
global secondary index by enterprise replaces it once the table grows (docs/authorisation.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import reduce
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError, UpdateError
from pynamodb.expressions.condition import Condition

from idnode.domain.credentials import AdminCredential
from idnode.domain.errors import InvalidStateError, InvalidValueError, NotFoundError
from idnode.domain.handles import fold_case
from idnode.store.models import CredentialModel
from idnode.store.pages import Page, decode_cursor, encode_cursor

# Items a listing's scan reads per request (filtered afterwards).
SCAN_PAGE_ITEMS = 200


def _conditional_failure(exc: PutError | UpdateError) -> bool:
    return exc.cause_response_code == "ConditionalCheckFailedException"


def _is_identity_key(key: dict[str, Any]) -> bool:
    if set(key) != {"identity"}:
        return False
    identity = key["identity"]
    return isinstance(identity, dict) and set(identity) == {"S"} and isinstance(identity["S"], str)


class CredentialRepository:
    def __init__(self, model: type[CredentialModel]) -> None:
        self._model = model

    def get(self, identity: str) -> AdminCredential | None:
        try:
            item = self._model.get(fold_case(identity))
        except DoesNotExist:
            return None
        return self._to_credential(item)

    def put(self, credential: AdminCredential) -> None:
        """Store an identity, replacing any with the same name (seeding and onboarding)."""
        self._to_item(credential).save()

    def create(self, credential: AdminCredential) -> None:
        """Store a new identity; InvalidStateError if the identity exists already."""
        try:
            self._to_item(credential).save(condition=self._model.identity.does_not_exist())
        except PutError as exc:
            if _conditional_failure(exc):
                raise InvalidStateError(
                    f"the admin identity {credential.identity} exists already"
                ) from None
            raise

    def set_secret(self, identity: str, secret_hash: str) -> None:
        """Replace the identity's secret hash: the old secret stops working."""
        self._update(identity, self._model.secret_hash.set(secret_hash))

    def set_enabled(self, identity: str, enabled: bool) -> None:
        self._update(identity, self._model.enabled.set(enabled))

    def _update(self, identity: str, action: Any) -> None:
        item = self._model(fold_case(identity))
        try:
            item.update(actions=[action], condition=self._model.identity.exists())
        except UpdateError as exc:
            if _conditional_failure(exc):
                raise NotFoundError(f"there is no admin identity {identity}") from None
            raise

    def list(
        self, prefixes: Sequence[str] | None, limit: int, cursor: str | None, scope: str
    ) -> Page[AdminCredential]:
        """Identities administering any of `prefixes` (None: every identity), in table order.
        `scope` names the listing, so that its cursors cannot be replayed on another."""
        start = decode_cursor(scope, cursor)
        if start is not None and not _is_identity_key(start):
            raise InvalidValueError("the cursor does not belong to this listing")
        condition: Condition | None = None
        if prefixes is not None:
            if not prefixes:
                return Page(items=[], cursors=[], next_cursor=None)
            condition = reduce(
                lambda a, b: a | b,
                (self._model.prefixes.contains(fold_case(p)) for p in prefixes),
            )
        results = self._model.scan(
            condition,
            limit=limit,
            last_evaluated_key=start,
            page_size=SCAN_PAGE_ITEMS,
        )
        items = list(results)
        last = results.last_evaluated_key
        return Page(
            items=[self._to_credential(i) for i in items],
            cursors=[encode_cursor(scope, {"identity": {"S": i.identity}}) for i in items],
            next_cursor=encode_cursor(scope, last) if last else None,
        )

    def _to_item(self, credential: AdminCredential) -> CredentialModel:
        return self._model(
            fold_case(credential.identity),
            name=credential.identity,
            secret_hash=credential.secret_hash,
            prefixes=[fold_case(p) for p in credential.prefixes],
            enabled=credential.enabled,
            created=datetime.now(UTC),
        )

    @staticmethod
    def _to_credential(item: CredentialModel) -> AdminCredential:
        return AdminCredential(
            identity=item.name,
            secret_hash=item.secret_hash,
            prefixes=tuple(str(p) for p in item.prefixes),
            enabled=bool(item.enabled),
        )
