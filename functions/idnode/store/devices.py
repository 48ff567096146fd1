"""Devices in DynamoDB.

The management side writes a device's registration, lifecycle and certificate under an
optimistic version; the telemetry function writes connectivity, latest values, alarm rule
states and rejections, each as one conditional UpdateItem of only its own attributes. So a
management change never overwrites what telemetry recorded meanwhile, and telemetry never
makes a management change fail. `last_seen` is not stored: it is the later of the latest
reading and the last connectivity change.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pynamodb.constants import NONE
from pynamodb.exceptions import DoesNotExist, PutError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.operand import Path
from pynamodb.expressions.update import Action

from idnode.domain.devices import Device, LatestValue, LifecycleState, RuleState
from idnode.domain.errors import ConcurrentUpdateError, InvalidStateError
from idnode.store.device_models import BY_ENTERPRISE, DeviceModel
from idnode.store.listings import all_of, querying, read_page, scanning, start_key
from idnode.store.pages import Page

_CONDITION_FAILED = "ConditionalCheckFailedException"
_TABLE_KEY = {"device": "S"}
_ENTERPRISE_KEY = {"device": "S", "enterprise": "S"}


def _failed_condition(exc: PutError | UpdateError) -> bool:
    return exc.cause_response_code == _CONDITION_FAILED


def _number(value: float | int | bool) -> dict[str, Any]:
    """A reading as a DynamoDB attribute value (booleans stay booleans)."""
    if isinstance(value, bool):
        return {"BOOL": value}
    return {"N": json.dumps(value)}


class DeviceRepository:
    def __init__(self, model: type[DeviceModel]) -> None:
        self._model = model

    def create(self, device: Device) -> None:
        """Store a new device; InvalidStateError if its id is taken."""
        item = self._model(
            device.id,
            enterprise=device.enterprise,
            prefix=device.prefix,
            identifier=device.identifier,
            profile=device.profile,
            name=device.name,
            state=device.state.value,
            firmware=device.firmware,
            certificate_id=device.certificate_id,
            created_at=device.created_at,
            updated_at=device.updated_at,
            version=device.version,
            connected=device.connected,
            connectivity_at=device.connectivity_at,
            latest={m: {"v": v.value, "at": v.at} for m, v in device.latest.items()},
            latest_at=device.latest_at,
            alarm_states={r: _rule_state(s) for r, s in device.alarm_states.items()},
            alarm_version=device.alarm_version,
            rejected=device.rejected,
            last_rejection=device.last_rejection,
        )
        try:
            item.save(condition=self._model.device.does_not_exist())
        except PutError as exc:
            if _failed_condition(exc):
                raise InvalidStateError(f"device {device.id} exists already") from None
            raise

    def get(self, device_id: str) -> Device | None:
        try:
            item = self._model.get(device_id, consistent_read=True)
        except DoesNotExist:
            return None
        return _device(item)

    def save(self, device: Device) -> Device:
        """Write the management attributes (profile, name, state, firmware, certificate,
        updated_at) if the stored version is still `device.version`; the device as stored
        now, with the next version. ConcurrentUpdateError if it changed meanwhile."""
        model = self._model
        certificate: Action = (
            model.certificate_id.set(device.certificate_id)
            if device.certificate_id is not None
            else model.certificate_id.remove()
        )
        actions: list[Action] = [
            model.profile.set(device.profile),
            model.name.set(device.name),
            model.state.set(device.state.value),
            model.firmware.set(device.firmware),
            model.updated_at.set(device.updated_at),
            model.version.set(device.version + 1),
            certificate,
        ]
        item = model(device.id)
        try:
            item.update(actions=actions, condition=model.version == device.version)
        except UpdateError as exc:
            if _failed_condition(exc):
                raise ConcurrentUpdateError(
                    f"device {device.id} changed since version {device.version} was read"
                ) from None
            raise
        return _device(item)

    def list(
        self,
        enterprise: str | None,
        *,
        state: LifecycleState | None,
        profile: str | None,
        connected: bool | None,
        first: int,
        cursor: str | None,
    ) -> Page[Device]:
        """An enterprise's devices by id, or (enterprise None) every device in table order."""
        model = self._model
        conditions: list[Condition] = []
        if state is not None:
            conditions.append(model.state == state.value)
        if profile is not None:
            conditions.append(model.profile == profile)
        if connected is not None:
            conditions.append(model.connected == connected)
        filters = all_of(conditions)
        scope = json.dumps(
            ["devices", enterprise, state, profile, connected], separators=(",", ":")
        )
        if enterprise is not None:
            shape = _ENTERPRISE_KEY
            start = start_key(scope, cursor, shape, {"enterprise": enterprise})
            request = querying(model, enterprise, index=BY_ENTERPRISE, filters=filters)
        else:
            shape = _TABLE_KEY
            start = start_key(scope, cursor, shape)
            request = scanning(model, filters=filters)

        return read_page(
            request,
            lambda raw: _device(model.from_raw_data(raw)),
            scope=scope,
            first=first,
            start=start,
            shape=shape,
            filtered=filters is not None,
        )

    def count_by_state(self, enterprise: str | None) -> dict[LifecycleState, int]:
        """How many devices are in each state (every state, zeros included)."""
        model = self._model
        if enterprise is not None:
            results = model.query(enterprise, index_name=BY_ENTERPRISE, attributes_to_get=["state"])
        else:
            results = model.scan(attributes_to_get=["state"])
        counts = dict.fromkeys(LifecycleState, 0)
        known = {state.value: state for state in LifecycleState}
        for page in results.page_iter:
            for raw in page.get("Items", []):
                state = known.get(raw.get("state", {}).get("S"))
                if state is not None:
                    counts[state] += 1
        return counts

    def record_latest(
        self, device_id: str, values: Mapping[str, float | int | bool], at: int
    ) -> bool:
        """Record a reading as the device's latest values, unless a reading as new or newer
        is recorded already (False then: an older, redelivered or duplicate point)."""
        model = self._model
        actions: list[Action] = [
            Path(["latest", metric]).set({"M": {"v": _number(value), "at": {"N": str(at)}}})
            for metric, value in values.items()
        ]
        actions.append(model.latest_at.set(at))
        condition = model.device.exists() & (
            model.latest_at.does_not_exist() | (model.latest_at < at)
        )
        return _update(self._model, device_id, actions, condition)

    def record_connectivity(self, device_id: str, connected: bool, at: int) -> bool:
        """Record a connection or disconnection, unless a later one is recorded already
        (presence events may arrive out of order). False when stale or unknown."""
        model = self._model
        condition = model.device.exists() & (
            model.connectivity_at.does_not_exist() | (model.connectivity_at < at)
        )
        return _update(
            model,
            device_id,
            [model.connected.set(connected), model.connectivity_at.set(at)],
            condition,
        )

    def record_alarm_states(
        self, device_id: str, states: Mapping[str, RuleState], *, expected_version: int
    ) -> bool:
        """Set the given rules' states, leaving the others as they are (an empty state is
        removed), if the alarm states are still at `expected_version`; False when another
        writer changed them meanwhile, or the device is unknown."""
        if not states:
            return True
        model = self._model
        actions: list[Action] = [model.alarm_version.set(expected_version + 1)]
        for rule, state in states.items():
            path = Path(["alarm_states", rule])
            if state.empty:
                actions.append(path.remove())
            else:
                stored = {k: _attribute(v) for k, v in _rule_state(state).items()}
                actions.append(path.set({"M": stored}))
        unchanged = model.alarm_version == expected_version
        if expected_version == 0:
            unchanged = unchanged | model.alarm_version.does_not_exist()
        return _update(model, device_id, actions, model.device.exists() & unchanged)

    def record_rejection(self, device_id: str, reason: str) -> None:
        """Count a rejected message and keep its reason. Nothing happens for an unknown device."""
        model = self._model
        _update(
            model,
            device_id,
            [model.rejected.add(1), model.last_rejection.set(reason)],
            model.device.exists(),
        )


def _update(
    model: type[DeviceModel], device_id: str, actions: list[Action], condition: Condition
) -> bool:
    """One conditional UpdateItem that reads nothing back (`Model.update` would ask for the
    whole item, latest values and rule states included, on every message); False when the
    condition fails."""
    try:
        model._get_connection().update_item(
            device_id, actions=actions, condition=condition, return_values=NONE
        )
    except UpdateError as exc:
        if _failed_condition(exc):
            return False
        raise
    return True


def _rule_state(state: RuleState) -> dict[str, Any]:
    stored: dict[str, Any] = {}
    if state.pending_since is not None:
        stored["pending_since"] = state.pending_since
    if state.alarm is not None:
        stored["alarm"] = state.alarm
    return stored


def _attribute(value: int | str) -> dict[str, str]:
    return {"S": value} if isinstance(value, str) else {"N": str(value)}


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _device(item: DeviceModel) -> Device:
    # Raw maps hold plain dicts below their top level.
    latest_raw = item.latest.attribute_values if item.latest is not None else {}
    states_raw = item.alarm_states.attribute_values if item.alarm_states is not None else {}
    connectivity_at = _optional_int(item.connectivity_at)
    latest_at = _optional_int(item.latest_at)
    seen = [t for t in (latest_at, connectivity_at) if t is not None]
    return Device(
        id=item.device,
        enterprise=item.enterprise,
        prefix=item.prefix,
        identifier=item.identifier,
        profile=item.profile,
        name=item.name,
        state=LifecycleState(item.state),
        firmware=item.firmware or "",
        created_at=int(item.created_at),
        updated_at=int(item.updated_at),
        version=int(item.version),
        certificate_id=item.certificate_id,
        connected=bool(item.connected),
        connectivity_at=connectivity_at,
        last_seen=max(seen) if seen else None,
        latest={
            metric: LatestValue(value=entry["v"], at=int(entry["at"]))
            for metric, entry in latest_raw.items()
        },
        latest_at=latest_at,
        alarm_states={
            rule: RuleState(
                pending_since=_optional_int(entry.get("pending_since")),
                alarm=entry.get("alarm"),
            )
            for rule, entry in states_raw.items()
        },
        alarm_version=int(item.alarm_version or 0),
        rejected=int(item.rejected or 0),
        last_rejection=item.last_rejection,
    )
