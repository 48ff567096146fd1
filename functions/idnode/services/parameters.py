"""System parameters (IOT-1): applied by the services that read them, seen by platform
admins and auditors, changed by platform admins only; every change is in the operation log
with the old and new value of each field it changed."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from idnode.domain.access import Operation, Principal, authorise
from idnode.domain.errors import ConcurrentUpdateError, InvalidValueError
from idnode.domain.parameters import MAX_RETENTION_DAYS, Parameters, parse_parameters
from idnode.observability import logger
from idnode.services.operations import OperationLog
from idnode.store.parameters import StoredParameters

PARAMETERS_TARGET = "parameters"


class ParameterStore(Protocol):
    def current(self) -> Parameters: ...
    def read(self) -> StoredParameters: ...
    def write(
        self, parameters: Parameters, expected_version: int, by: str, at: datetime
    ) -> StoredParameters: ...


@dataclass(frozen=True, slots=True)
class ParametersView:
    """The parameters as an administrator sees them: with their version (to send back with
    a change) and the node prefix, which is fixed at deployment."""

    parameters: Parameters
    version: int
    node_prefix: str
    updated: datetime | None = None
    updated_by: str | None = None


class ParameterService:
    def __init__(
        self,
        store: ParameterStore,
        log: OperationLog,
        node_prefix: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._log = log
        self._node_prefix = node_prefix
        self._clock = clock

    def current(self) -> Parameters:
        """The parameters in force, as this process read them at most a minute ago."""
        return self._store.current()

    def retention_days(self) -> int:
        """How long a new operation log entry is kept. Never fails: when the parameters
        cannot be read, the entry is kept as long as the parameters could ask for."""
        try:
            return self.current().operation_log_retention_days
        except Exception:  # the operation log must not fail on a parameter read
            logger.warning("parameters unreadable; keeping the entry longest", exc_info=True)
            return MAX_RETENTION_DAYS

    def view(self, principal: Principal) -> ParametersView:
        authorise(principal, Operation.VIEW_PARAMETERS)
        return self._view(self._store.read())

    def update(
        self, principal: Principal, changes: Mapping[str, Any], expected_version: int
    ) -> ParametersView:
        """Apply `changes` (fields in the parameters' JSON form) if the parameters are still
        at `expected_version`; else ConcurrentUpdateError."""
        with self._log.recording(principal, "update-parameters", PARAMETERS_TARGET) as op:
            authorise(principal, Operation.UPDATE_PARAMETERS)
            if not changes:
                raise InvalidValueError("nothing to change: name at least one parameter")
            if expected_version < 0:
                raise InvalidValueError("expected_version must not be negative")
            stored = self._store.read()
            if stored.version != expected_version:
                raise ConcurrentUpdateError(
                    f"the parameters are at version {stored.version}, not {expected_version}; "
                    "read them again and retry"
                )
            updated = parse_parameters(changes, base=stored.parameters)
            before, after = stored.parameters.to_json(), updated.to_json()
            changed = {
                name: {"old": before[name], "new": after[name]}
                for name in after
                if before[name] != after[name]
            }
            op.details["changes"] = changed
            if not changed:
                return self._view(stored)
            saved = self._store.write(updated, expected_version, principal.name, self._clock())
            op.details["version"] = saved.version
            return self._view(saved)

    def _view(self, stored: StoredParameters) -> ParametersView:
        return ParametersView(
            parameters=stored.parameters,
            version=stored.version,
            node_prefix=self._node_prefix,
            updated=stored.updated,
            updated_by=stored.updated_by,
        )
