"""Allocated prefixes and the enterprises that hold them."""

from __future__ import annotations

from datetime import UTC, datetime

from pynamodb.exceptions import DoesNotExist

from idnode.domain.handles import fold_case
from idnode.domain.prefixes import Prefix, PrefixStatus
from idnode.store.models import PrefixModel


class PrefixRepository:
    def __init__(self, model: type[PrefixModel]) -> None:
        self._model = model

    def get(self, prefix: str) -> Prefix | None:
        try:
            item = self._model.get(fold_case(prefix))
        except DoesNotExist:
            return None
        return Prefix(item.name, item.enterprise, PrefixStatus(item.status), item.resolvable)

    def prefixes_of(self, enterprise: str) -> list[str]:
        """Active prefixes held by an enterprise."""
        return [
            item.name
            for item in self._model.query(enterprise, index_name="byEnterprise")
            if item.status == PrefixStatus.ACTIVE
        ]

    def put(self, prefix: Prefix) -> None:
        self._model(
            fold_case(prefix.name),
            name=prefix.name,
            enterprise=prefix.enterprise,
            status=prefix.status.value,
            resolvable=prefix.resolvable,
            created=datetime.now(UTC),
        ).save()
