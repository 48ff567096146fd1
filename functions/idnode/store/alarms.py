"""Alarms in DynamoDB. An alarm's id is derived from the breach it reports, so raising is a
conditional create that succeeds once however often the reading is delivered; status changes
are conditioned on the status they start from."""

from __future__ import annotations

import json

from pynamodb.exceptions import DoesNotExist, PutError
from pynamodb.expressions.condition import Condition

from idnode.domain.alarms import Alarm, AlarmStatus
from idnode.domain.devices import Comparison, Severity
from idnode.store.device_models import BY_DEVICE, BY_ENTERPRISE, AlarmModel
from idnode.store.listings import KeyShape, all_of, querying, read_page, scanning, start_key
from idnode.store.pages import Page

_TABLE_KEY = {"alarm": "S"}
_DEVICE_KEY = {"alarm": "S", "device": "S", "raised_at": "N"}
_ENTERPRISE_KEY = {"alarm": "S", "enterprise": "S", "raised_at": "N"}


class AlarmRepository:
    def __init__(self, model: type[AlarmModel]) -> None:
        self._model = model

    def raise_(self, alarm: Alarm) -> bool:
        """Store a newly raised alarm; False when it was raised already."""
        return self._put(alarm, self._model.alarm.does_not_exist())

    def get(self, alarm_id: str) -> Alarm | None:
        try:
            item = self._model.get(alarm_id, consistent_read=True)
        except DoesNotExist:
            return None
        return _alarm(item)

    def save(self, alarm: Alarm, *, expected: AlarmStatus) -> bool:
        """Store a changed alarm if its stored status is still `expected`; False otherwise."""
        return self._put(alarm, self._model.status == expected.value)

    def list(
        self,
        *,
        enterprise: str | None,
        device: str | None,
        status: AlarmStatus | None,
        severity: Severity | None,
        first: int,
        cursor: str | None,
    ) -> Page[Alarm]:
        """A device's alarms, or an enterprise's, newest first; with neither, every alarm in
        table order."""
        model = self._model
        conditions: list[Condition] = []
        if status is not None:
            conditions.append(model.status == status.value)
        if severity is not None:
            conditions.append(model.severity == severity.value)
        if device is not None and enterprise is not None:
            # The device's index alone would show it whatever its enterprise.
            conditions.append(model.enterprise == enterprise)
        filters = all_of(conditions)
        scope = json.dumps(["alarms", enterprise, device, status, severity], separators=(",", ":"))
        shape: KeyShape
        if device is not None or enterprise is not None:
            index, partition = (
                (BY_DEVICE, device) if device is not None else (BY_ENTERPRISE, enterprise)
            )
            assert partition is not None
            name = "device" if device is not None else "enterprise"
            shape = _DEVICE_KEY if device is not None else _ENTERPRISE_KEY
            start = start_key(scope, cursor, shape, {name: partition})
            request = querying(model, partition, index=index, filters=filters, newest_first=True)
        else:
            shape = _TABLE_KEY
            start = start_key(scope, cursor, shape)
            request = scanning(model, filters=filters)

        return read_page(
            request,
            lambda raw: _alarm(model.from_raw_data(raw)),
            scope=scope,
            first=first,
            start=start,
            shape=shape,
            filtered=filters is not None,
        )

    def _put(self, alarm: Alarm, condition: Condition) -> bool:
        try:
            self._item(alarm).save(condition=condition)
        except PutError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _item(self, alarm: Alarm) -> AlarmModel:
        return self._model(
            alarm.id,
            enterprise=alarm.enterprise,
            device=alarm.device,
            rule=alarm.rule,
            metric=alarm.metric,
            severity=alarm.severity.value,
            comparison=alarm.comparison.value,
            threshold=alarm.threshold,
            status=alarm.status.value,
            raised_at=alarm.raised_at,
            raised_value=alarm.raised_value,
            acknowledged_at=alarm.acknowledged_at,
            acknowledged_by=alarm.acknowledged_by,
            cleared_at=alarm.cleared_at,
            cleared_value=alarm.cleared_value,
        )


def _alarm(item: AlarmModel) -> Alarm:
    return Alarm(
        id=item.alarm,
        enterprise=item.enterprise,
        device=item.device,
        rule=item.rule,
        metric=item.metric,
        severity=Severity(item.severity),
        comparison=Comparison(item.comparison),
        threshold=item.threshold,
        status=AlarmStatus(item.status),
        raised_at=int(item.raised_at),
        raised_value=item.raised_value,
        acknowledged_at=None if item.acknowledged_at is None else int(item.acknowledged_at),
        acknowledged_by=item.acknowledged_by,
        cleared_at=None if item.cleared_at is None else int(item.cleared_at),
        cleared_value=item.cleared_value,
    )
