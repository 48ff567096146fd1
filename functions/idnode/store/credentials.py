"""Admin identities and their hashed secrets."""

from __future__ import annotations

from datetime import UTC, datetime

from pynamodb.exceptions import DoesNotExist

from idnode.domain.credentials import AdminCredential
from idnode.domain.handles import fold_case
from idnode.store.models import CredentialModel


class CredentialRepository:
    def __init__(self, model: type[CredentialModel]) -> None:
        self._model = model

    def get(self, identity: str) -> AdminCredential | None:
        try:
            item = self._model.get(fold_case(identity))
        except DoesNotExist:
            return None
        return AdminCredential(
            identity=item.name,
            secret_hash=item.secret_hash,
            prefixes=tuple(str(p) for p in item.prefixes),
            enabled=bool(item.enabled),
        )

    def put(self, credential: AdminCredential) -> None:
        self._model(
            fold_case(credential.identity),
            name=credential.identity,
            secret_hash=credential.secret_hash,
            prefixes=[fold_case(p) for p in credential.prefixes],
            enabled=credential.enabled,
            created=datetime.now(UTC),
        ).save()
