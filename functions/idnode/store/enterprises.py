"""Onboarded enterprises, keyed by their USCC. Created once (in the approval transaction),
changed only with the version they were read at, listed by status in name order. Suspension
and reinstatement change the enterprise and all its prefixes in one transaction."""

from __future__ import annotations

from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError
from pynamodb.transactions import TransactWrite

from idnode.domain.enterprises import Enterprise, EnterpriseStatus, Profile
from idnode.domain.errors import ConcurrentUpdateError, InvalidStateError, InvalidValueError
from idnode.domain.prefixes import PrefixStatus
from idnode.store.models import EnterpriseModel, PrefixModel, connection_for
from idnode.store.pages import Page, decode_cursor, encode_cursor

MAX_TRANSACTION_ITEMS = 100  # DynamoDB's limit per transaction


def name_key(enterprise: Enterprise) -> str:
    """Sorts the directory by name (case-folded); the id keeps keys unique."""
    return f"{enterprise.name.casefold()}#{enterprise.id}"


class EnterpriseRepository:
    def __init__(self, model: type[EnterpriseModel], prefixes: type[PrefixModel]) -> None:
        self._model = model
        self._prefixes = prefixes

    @property
    def model(self) -> type[EnterpriseModel]:
        return self._model

    def get(self, enterprise_id: str) -> Enterprise | None:
        try:
            item = self._model.get(enterprise_id, consistent_read=True)
        except DoesNotExist:
            return None
        return self.to_enterprise(item)

    def create(self, enterprise: Enterprise) -> Enterprise:
        """One enterprise per USCC: refused if one exists with this id."""
        item = self.to_item(enterprise, version=None)
        try:
            item.save(condition=self._model.id.does_not_exist())
        except PutError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                raise InvalidStateError(
                    f"enterprise {enterprise.id} is onboarded already"
                ) from None
            raise
        return self.to_enterprise(item)

    def save(self, enterprise: Enterprise) -> Enterprise:
        """Store a changed enterprise; ConcurrentUpdateError if it changed since it was read."""
        item = self.to_item(enterprise, version=enterprise.version)
        try:
            item.save()
        except PutError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                raise ConcurrentUpdateError(
                    f"enterprise {enterprise.id} changed meanwhile"
                ) from None
            raise
        return self.to_enterprise(item)

    def by_status(
        self, status: EnterpriseStatus, limit: int, cursor: str | None
    ) -> Page[Enterprise]:
        """Enterprises of one status in name order."""
        scope = f"enterprises/byStatus/{status.value}"
        start = decode_cursor(scope, cursor)
        if start is not None and not _is_status_key(start, status):
            raise InvalidValueError("the cursor does not belong to this listing")
        results = self._model.query(
            status.value,
            index_name="byStatus",
            limit=limit,
            last_evaluated_key=start,
            page_size=limit,
        )
        items = list(results)
        last = results.last_evaluated_key
        return Page(
            items=[self.to_enterprise(item) for item in items],
            cursors=[
                encode_cursor(
                    scope,
                    {
                        "id": {"S": i.id},
                        "status": {"S": i.status},
                        "name_key": {"S": i.name_key},
                    },
                )
                for i in items
            ],
            next_cursor=encode_cursor(scope, last) if last else None,
        )

    def prefixes_of(self, enterprise_id: str) -> list[str]:
        """Every prefix the enterprise holds, whatever its status (case-folded keys)."""
        return [
            item.prefix for item in self._prefixes.query(enterprise_id, index_name="byEnterprise")
        ]

    def change_status(self, enterprise: Enterprise, *, resolvable: bool) -> Enterprise:
        """Store `enterprise` (its new status, version-checked) and give each of its prefixes the
        same status and `resolvable`, all or nothing."""
        prefixes = self.prefixes_of(enterprise.id)
        if len(prefixes) + 1 > MAX_TRANSACTION_ITEMS:
            raise InvalidStateError(
                f"enterprise {enterprise.id} holds {len(prefixes)} prefixes; suspend them in parts"
            )
        prefix_status = (
            PrefixStatus.ACTIVE
            if enterprise.status is EnterpriseStatus.ACTIVE
            else PrefixStatus.SUSPENDED
        )
        item = self.to_item(enterprise, version=enterprise.version)
        try:
            with TransactWrite(connection=connection_for(self._model)) as transaction:
                transaction.save(item)
                for key in prefixes:
                    transaction.update(
                        self._prefixes(key),
                        actions=[
                            self._prefixes.status.set(prefix_status.value),
                            self._prefixes.resolvable.set(resolvable),
                        ],
                        # The prefix is still this enterprise's (it was listed from an index).
                        condition=self._prefixes.enterprise == enterprise.id,
                    )
        except TransactWriteError as error:
            raise ConcurrentUpdateError(
                f"enterprise {enterprise.id} or one of its prefixes changed meanwhile; try again"
            ) from error
        return self.to_enterprise(item)

    # Conversion (also used by the transactions that approve applications)

    def to_item(self, enterprise: Enterprise, version: int | None) -> EnterpriseModel:
        item = self._model(
            enterprise.id,
            name=enterprise.name,
            name_key=name_key(enterprise),
            profile=enterprise.profile.to_json(),
            status=enterprise.status.value,
            prefix=enterprise.prefix,
            industry=enterprise.industry,
            created=enterprise.created,
            updated=enterprise.updated,
        )
        if version is not None:
            item.version = version
        return item

    @staticmethod
    def to_enterprise(item: EnterpriseModel) -> Enterprise:
        return Enterprise(
            id=item.id,
            profile=Profile.from_json(item.profile),
            prefix=item.prefix,
            created=item.created,
            updated=item.updated,
            status=EnterpriseStatus(item.status),
            version=item.version or 0,
        )


def _is_status_key(key: dict[str, Any], status: EnterpriseStatus) -> bool:
    if set(key) != {"id", "status", "name_key"}:
        return False
    if not all(
        isinstance(v, dict) and set(v) == {"S"} and isinstance(v["S"], str) for v in key.values()
    ):
        return False
    return bool(key["status"]["S"] == status.value)
