"""The operation log table: entries are only ever appended (the functions' IAM policies
allow PutItem and reads on it, nothing else), and expire after the retention period."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from idnode.domain.operations import OperationEntry
from idnode.store.models import OperationModel


def at_key(entry: OperationEntry) -> str:
    return f"{entry.at.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}#{entry.id}"


class OperationRepository:
    def __init__(self, model: type[OperationModel], retention_days: Callable[[], int]) -> None:
        self._model = model
        self._retention_days = retention_days

    def append(self, entry: OperationEntry) -> None:
        item = self._model(
            entry.at.strftime("%Y-%m"),
            at_key(entry),
            at=entry.at,
            actor=entry.actor,
            actor_kind=entry.actor_kind,
            action=entry.action,
            target=entry.target,
            enterprise=entry.enterprise,
            result=entry.result,
            message=entry.message,
            source=entry.source,
            details=entry.details or None,
            expires=entry.at + timedelta(days=self._retention_days()),
        )
        # Never overwrite: an entry's key is unique, and the log is append-only.
        item.save(condition=self._model.at_key.does_not_exist())
