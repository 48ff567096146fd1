# pynamodb leaves Index.__init_subclass__ and MapAttribute() untyped; declaring an index
# or a raw map calls them (store/models.py has the same exemption in pyproject.toml).
# mypy: disable-error-code="no-untyped-call"
"""pynamodb models of the IoT management system's tables: devices, their profiles,
telemetry, alarms and commands.

Like the models in `store/models.py`, each is bound to its table at start-up with `bind()`.
Key schemas here must match infra/cdk/idnode_infra/data.py. Times are epoch milliseconds;
`expires` attributes are epoch seconds (DynamoDB TTL).
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

BY_ENTERPRISE = "byEnterprise"
BY_DEVICE = "byDevice"


class _DevicesByEnterprise(GlobalSecondaryIndex["DeviceModel"]):
    class Meta:
        index_name = BY_ENTERPRISE
        projection = AllProjection()

    enterprise = UnicodeAttribute(hash_key=True)
    device = UnicodeAttribute(range_key=True)


class DeviceModel(Model):
    """A device. Two writers share the item: the management side (registration, lifecycle,
    certificates; guarded by `version`) and the telemetry function (connectivity, latest
    values, alarm rule states, rejections; each a conditional update of its own attributes),
    so neither overwrites the other's attributes."""

    class Meta:
        table_name = "unbound-devices"

    device = UnicodeAttribute(hash_key=True)  # the AWS IoT thing name and MQTT client id
    enterprise = UnicodeAttribute()
    prefix = UnicodeAttribute()
    identifier = UnicodeAttribute()  # the device's handle
    profile = UnicodeAttribute()
    name = UnicodeAttribute()
    state = UnicodeAttribute()
    firmware = UnicodeAttribute(default="")
    certificate_id = UnicodeAttribute(null=True)
    created_at = NumberAttribute()
    updated_at = NumberAttribute()
    # A plain number, not a VersionAttribute: pynamodb would bump a VersionAttribute on the
    # telemetry function's updates too, and every management change would then conflict.
    version = NumberAttribute()
    connected = BooleanAttribute(default=False)
    connectivity_at = NumberAttribute(null=True)
    # metric -> {"v": value, "at": ms}; created empty so that updates can set one metric.
    latest: MapAttribute[str, Any] = MapAttribute(default=dict)
    latest_at = NumberAttribute(null=True)
    # rule -> {"pending_since": ms, "alarm": id} (either may be absent); created empty.
    alarm_states: MapAttribute[str, Any] = MapAttribute(default=dict)
    # Bumped by every change of alarm_states: concurrent invocations for one device evaluate
    # its rules one after the other (a conflicting writer reads again and re-evaluates).
    alarm_version = NumberAttribute(default=0)
    rejected = NumberAttribute(default=0)
    last_rejection = UnicodeAttribute(null=True)
    by_enterprise = _DevicesByEnterprise()


class ProfileModel(Model):
    """A device profile. Metrics and alarm rules are JSON documents, read and written whole."""

    class Meta:
        table_name = "unbound-profiles"

    enterprise = UnicodeAttribute(hash_key=True)
    profile = UnicodeAttribute(range_key=True)
    description = UnicodeAttribute(default="")
    metrics = JSONAttribute()
    alarm_rules = JSONAttribute()
    version = NumberAttribute()
    created_at = NumberAttribute()
    updated_at = NumberAttribute()


class TelemetryModel(Model):
    """One telemetry message: the values a device reported at one time."""

    class Meta:
        table_name = "unbound-telemetry"

    device = UnicodeAttribute(hash_key=True)
    at = NumberAttribute(range_key=True)
    # metric -> number or boolean; a map, so that one metric can be projected on reads.
    values: MapAttribute[str, Any] = MapAttribute()
    expires = TTLAttribute()


class _AlarmsByEnterprise(GlobalSecondaryIndex["AlarmModel"]):
    class Meta:
        index_name = BY_ENTERPRISE
        projection = AllProjection()

    enterprise = UnicodeAttribute(hash_key=True)
    raised_at = NumberAttribute(range_key=True)


class _AlarmsByDevice(GlobalSecondaryIndex["AlarmModel"]):
    class Meta:
        index_name = BY_DEVICE
        projection = AllProjection()

    device = UnicodeAttribute(hash_key=True)
    raised_at = NumberAttribute(range_key=True)


class AlarmModel(Model):
    """An alarm raised by a profile's rule for one device."""

    class Meta:
        table_name = "unbound-alarms"

    alarm = UnicodeAttribute(hash_key=True)  # device:rule:since, so a breach raises one alarm
    enterprise = UnicodeAttribute()
    device = UnicodeAttribute()
    rule = UnicodeAttribute()
    metric = UnicodeAttribute()
    severity = UnicodeAttribute()
    comparison = UnicodeAttribute()
    threshold = NumberAttribute()
    status = UnicodeAttribute()
    raised_at = NumberAttribute()
    raised_value = NumberAttribute()
    acknowledged_at = NumberAttribute(null=True)
    acknowledged_by = UnicodeAttribute(null=True)
    cleared_at = NumberAttribute(null=True)
    cleared_value = NumberAttribute(null=True)
    by_enterprise = _AlarmsByEnterprise()
    by_device = _AlarmsByDevice()


class _CommandsByDevice(GlobalSecondaryIndex["CommandModel"]):
    class Meta:
        index_name = BY_DEVICE
        projection = AllProjection()

    device = UnicodeAttribute(hash_key=True)
    sent_at = NumberAttribute(range_key=True)


class CommandModel(Model):
    """A command sent to a device and, once it answered, its response."""

    class Meta:
        table_name = "unbound-commands"

    command = UnicodeAttribute(hash_key=True)
    device = UnicodeAttribute()
    enterprise = UnicodeAttribute()
    name = UnicodeAttribute()
    parameters = JSONAttribute()
    status = UnicodeAttribute()
    sent_at = NumberAttribute()
    deadline = NumberAttribute()
    sent_by = UnicodeAttribute()
    responded_at = NumberAttribute(null=True)
    result = JSONAttribute(null=True)
    error = UnicodeAttribute(null=True)
    expires = TTLAttribute()
    by_device = _CommandsByDevice()
