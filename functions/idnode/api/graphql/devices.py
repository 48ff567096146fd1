"""GraphQL queries and mutations of the IoT management system: device profiles, devices and
their certificates and lifecycle, telemetry, shadows, commands and alarms (IOT-2 to IOT-6)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, cast

import strawberry
from strawberry.scalars import JSON

from idnode.adapters.iot import Shadow
from idnode.api.graphql.context import Info
from idnode.api.graphql.errors import (
    AlreadyExistsError,
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    InvalidStateError,
    NotAuthorisedError,
    NotFoundError,
    PrefixNotServedError,
    QuotaExceededError,
    typed_errors,
)
from idnode.api.graphql.types import Connection, connection, epoch_ms, time_of, time_or_none
from idnode.domain import alarms as domain_alarms
from idnode.domain import commands as domain_commands
from idnode.domain import devices as domain
from idnode.domain import telemetry as domain_telemetry
from idnode.domain.alarms import AlarmStatus
from idnode.domain.commands import DEFAULT_TIMEOUT_SECONDS, CommandStatus
from idnode.domain.devices import Comparison, LifecycleState, MetricType, Severity
from idnode.services.devices import DeviceService, Provisioned
from idnode.services.telemetry import TelemetryService

DEFAULT_PAGE = 50

strawberry.enum(
    LifecycleState,
    name="DeviceState",
    description="Where a device is in its life: REGISTERED (known, no certificate yet), "
    "PROVISIONED (holds a certificate, never connected), ACTIVE (connected at least once), "
    "MAINTENANCE (taken out of service for a while), RETIRED (for good; its certificate is "
    "deactivated).",
)
strawberry.enum(
    MetricType,
    name="MetricType",
    description="What a metric's values are: NUMBER (any finite number), INTEGER (whole "
    "numbers), BOOLEAN (true/false, aggregated as 1/0).",
)
strawberry.enum(
    Comparison,
    name="Comparison",
    description="How an alarm rule compares a value with its threshold: GT >, GE >=, LT <, "
    "LE <=, EQ ==, NE !=.",
)
strawberry.enum(
    Severity, name="AlarmSeverity", description="How urgent an alarm is, CRITICAL first."
)
strawberry.enum(
    AlarmStatus,
    name="AlarmStatus",
    description="ACTIVE (raised, nobody has acknowledged it), ACKNOWLEDGED (someone is on it, "
    "the condition still holds), CLEARED (the condition no longer holds).",
)
strawberry.enum(
    CommandStatus,
    name="CommandStatus",
    description="SENT (published, no answer yet), ACKNOWLEDGED (the device did it), FAILED "
    "(the device answered with an error), TIMED_OUT (no answer before the deadline).",
)


def _devices(info: Info) -> DeviceService:
    """The node's device service (`Node.devices`)."""
    return info.context.node.devices


def _telemetry(info: Info) -> TelemetryService:
    """The node's telemetry service (`Node.telemetry`)."""
    return info.context.node.telemetry


# Profiles


@strawberry.type(description="A measurement a device of the profile sends.")
class Metric:
    name: str = strawberry.field(description="The key in the device's `values` object.")
    type: MetricType
    unit: str = strawberry.field(description="e.g. °C, bar, rpm; empty when none.")
    minimum: float | None = strawberry.field(
        description="Values below are refused as sensor faults (null: no lower bound)."
    )
    maximum: float | None = strawberry.field(
        description="Values above are refused as sensor faults (null: no upper bound)."
    )

    @classmethod
    def of(cls, metric: domain.Metric) -> Metric:
        return cls(
            name=metric.name,
            type=metric.type,
            unit=metric.unit,
            minimum=metric.minimum,
            maximum=metric.maximum,
        )


@strawberry.type(
    description="Raises an alarm when a numeric metric's value compared with the threshold "
    "has held for `durationSeconds` without a break, and clears it when it no longer holds."
)
class AlarmRule:
    name: str
    metric: str
    comparison: Comparison
    threshold: float
    duration_seconds: int = strawberry.field(description="0: raised by the first such value.")
    severity: Severity

    @classmethod
    def of(cls, rule: domain.AlarmRule) -> AlarmRule:
        return cls(
            name=rule.name,
            metric=rule.metric,
            comparison=rule.comparison,
            threshold=rule.threshold,
            duration_seconds=rule.duration_seconds,
            severity=rule.severity,
        )


@strawberry.type(
    description="A kind of device of one enterprise: the telemetry its devices send (typed "
    "metrics with units and valid ranges) and the alarm rules applied to it."
)
class DeviceProfile:
    enterprise: str = strawberry.field(description="The enterprise's USCC.")
    name: str = strawberry.field(description="Unique within the enterprise; lowercase, digits, -.")
    description: str
    metrics: list[Metric]
    alarm_rules: list[AlarmRule]
    version: int = strawberry.field(
        description="Increases with every change; pass it to updateDeviceProfile."
    )
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, profile: domain.DeviceProfile) -> DeviceProfile:
        return cls(
            enterprise=profile.enterprise,
            name=profile.name,
            description=profile.description,
            metrics=[Metric.of(m) for m in profile.metrics],
            alarm_rules=[AlarmRule.of(r) for r in profile.alarm_rules],
            version=profile.version,
            created_at=time_of(profile.created_at),
            updated_at=time_of(profile.updated_at),
        )


@strawberry.input
class MetricInput:
    name: str = strawberry.field(description="A letter, then letters, digits or _ (64 at most).")
    type: MetricType
    unit: str = strawberry.field(default="", description="32 characters at most.")
    minimum: float | None = strawberry.field(
        default=None, description="Lowest valid value; not for BOOLEAN metrics."
    )
    maximum: float | None = strawberry.field(
        default=None, description="Highest valid value; not for BOOLEAN metrics."
    )

    def to_domain(self) -> domain.Metric:
        return domain.Metric(
            name=self.name,
            type=self.type,
            unit=self.unit,
            minimum=self.minimum,
            maximum=self.maximum,
        )


@strawberry.input
class AlarmRuleInput:
    name: str = strawberry.field(description="Unique within the profile; named like metrics.")
    metric: str = strawberry.field(description="A NUMBER or INTEGER metric of the profile.")
    comparison: Comparison
    threshold: float
    severity: Severity
    duration_seconds: int = strawberry.field(
        default=0, description="How long the condition must hold first: 0 to 86400."
    )

    def to_domain(self) -> domain.AlarmRule:
        return domain.AlarmRule(
            name=self.name,
            metric=self.metric,
            comparison=self.comparison,
            threshold=self.threshold,
            duration_seconds=self.duration_seconds,
            severity=self.severity,
        )


@strawberry.input(
    description="A whole profile: 1 to 50 metrics, up to 20 alarm rules. Every field is "
    "checked; an InvalidInputError names the one at fault (e.g. `metrics[2].name`)."
)
class DeviceProfileInput:
    enterprise: str = strawberry.field(description="The enterprise's USCC.")
    name: str = strawberry.field(
        description="Lowercase letters, digits and -, starting with a letter or digit (63 at "
        "most). Fixed once defined."
    )
    metrics: list[MetricInput]
    alarm_rules: list[AlarmRuleInput] = strawberry.field(default_factory=list)
    description: str = strawberry.field(default="", description="500 characters at most.")


DeviceProfileResult = Annotated[
    DeviceProfile
    | InvalidInputError
    | NotFoundError
    | InvalidStateError
    | ConflictError
    | AuthenticationError
    | NotAuthorisedError,
    strawberry.union("DeviceProfileResult"),
]
DeviceProfilesResult = Annotated[
    Connection[DeviceProfile]
    | InvalidInputError
    | NotFoundError
    | AuthenticationError
    | NotAuthorisedError,
    strawberry.union("DeviceProfilesResult"),
]


# Shadows, commands and alarms


@strawberry.type(
    description="The device's shadow: the state asked of it (desired), the state it last "
    "reported, and where they differ (delta: the desired keys not yet reported as such)."
)
class DeviceShadow:
    desired: JSON
    reported: JSON
    delta: JSON
    version: int | None = strawberry.field(description="Null while the device has no shadow.")
    updated_at: datetime | None

    @classmethod
    def of(cls, shadow: Shadow) -> DeviceShadow:
        return cls(
            desired=cast(JSON, dict(shadow.desired)),
            reported=cast(JSON, dict(shadow.reported)),
            delta=cast(JSON, dict(shadow.delta)),
            version=shadow.version,
            updated_at=time_or_none(shadow.updated_at),
        )


@strawberry.type(
    description="A command sent to a device on its commands topic, and the device's answer."
)
class Command:
    id: strawberry.ID
    device: str
    enterprise: str
    name: str
    parameters: JSON
    status: CommandStatus
    sent_at: datetime
    sent_by: str = strawberry.field(description="Who sent it.")
    deadline: datetime = strawberry.field(
        description="An answer after this is refused; the command shows TIMED_OUT."
    )
    responded_at: datetime | None
    result: JSON | None = strawberry.field(description="What the device answered, if anything.")
    error: str | None = strawberry.field(description="The device's error, when FAILED.")

    @classmethod
    def of(cls, command: domain_commands.Command) -> Command:
        return cls(
            id=strawberry.ID(command.id),
            device=command.device,
            enterprise=command.enterprise,
            name=command.name,
            parameters=cast(JSON, dict(command.parameters)),
            status=command.status,
            sent_at=time_of(command.sent_at),
            sent_by=command.sent_by,
            deadline=time_of(command.deadline),
            responded_at=time_or_none(command.responded_at),
            result=None if command.result is None else cast(JSON, dict(command.result)),
            error=command.error,
        )


@strawberry.type(
    description="An alarm a rule raised on a device: raised once per excursion, acknowledged "
    "by a person, cleared when the condition stops holding."
)
class Alarm:
    id: strawberry.ID
    enterprise: str
    device: str
    rule: str = strawberry.field(description="The profile's alarm rule that raised it.")
    metric: str
    severity: Severity
    comparison: Comparison
    threshold: float
    status: AlarmStatus
    raised_at: datetime = strawberry.field(
        description="The time of the reading that raised it (the condition had then held "
        "for the rule's duration)."
    )
    raised_value: float = strawberry.field(description="The value that raised it.")
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    cleared_at: datetime | None
    cleared_value: float | None = strawberry.field(description="The value that cleared it.")

    @classmethod
    def of(cls, alarm: domain_alarms.Alarm) -> Alarm:
        return cls(
            id=strawberry.ID(alarm.id),
            enterprise=alarm.enterprise,
            device=alarm.device,
            rule=alarm.rule,
            metric=alarm.metric,
            severity=alarm.severity,
            comparison=alarm.comparison,
            threshold=alarm.threshold,
            status=alarm.status,
            raised_at=time_of(alarm.raised_at),
            raised_value=alarm.raised_value,
            acknowledged_at=time_or_none(alarm.acknowledged_at),
            acknowledged_by=alarm.acknowledged_by,
            cleared_at=time_or_none(alarm.cleared_at),
            cleared_value=alarm.cleared_value,
        )


@strawberry.input(description="Which alarms to list; every field given must match.")
class AlarmFilter:
    enterprise: str | None = strawberry.field(
        default=None,
        description="The enterprise's USCC (enterprise people always see their own only).",
    )
    device: str | None = None
    status: AlarmStatus | None = None
    severity: Severity | None = None


DeviceShadowResult = Annotated[
    DeviceShadow
    | InvalidInputError
    | NotFoundError
    | InvalidStateError
    | AuthenticationError
    | NotAuthorisedError,
    strawberry.union("DeviceShadowResult"),
]
CommandResult = Annotated[
    Command
    | InvalidInputError
    | NotFoundError
    | InvalidStateError
    | AuthenticationError
    | NotAuthorisedError,
    strawberry.union("CommandResult"),
]
CommandsResult = Annotated[
    Connection[Command]
    | InvalidInputError
    | NotFoundError
    | AuthenticationError
    | NotAuthorisedError,
    strawberry.union("CommandsResult"),
]
AlarmResult = Annotated[
    Alarm
    | InvalidInputError
    | NotFoundError
    | InvalidStateError
    | ConflictError
    | AuthenticationError
    | NotAuthorisedError,
    strawberry.union("AlarmResult"),
]
AlarmsResult = Annotated[
    Connection[Alarm]
    | InvalidInputError
    | NotFoundError
    | AuthenticationError
    | NotAuthorisedError,
    strawberry.union("AlarmsResult"),
]


# Devices


@strawberry.type(
    description="A metric's latest value. BOOLEAN metrics show 1 or 0 in `value` and "
    "true/false in `boolean`."
)
class MetricValue:
    metric: str
    value: float
    boolean: bool | None = strawberry.field(description="Set for BOOLEAN metrics only.")
    at: datetime = strawberry.field(description="When the device measured it.")

    @classmethod
    def of(cls, metric: str, latest: domain.LatestValue) -> MetricValue:
        value = latest.value
        if isinstance(value, bool):
            return cls(metric=metric, value=float(value), boolean=value, at=time_of(latest.at))
        return cls(metric=metric, value=float(value), boolean=None, at=time_of(latest.at))


@strawberry.type(
    description="The MQTT topics of a device (its client id is its id). `+` stands for a "
    "command's id: a command arrives on `commands/<id>` as `{id, name, parameters, deadline}` "
    "and the device answers on `responses/<id>` with `{status: ok|failed, result, error}`."
)
class DeviceTopics:
    telemetry: str = strawberry.field(description="Where it publishes its measurements.")
    commands: str = strawberry.field(description="The filter it subscribes to for commands.")
    responses: str = strawberry.field(description="Where it answers commands.")

    @classmethod
    def of(cls, device_id: str) -> DeviceTopics:
        return cls(
            telemetry=domain.telemetry_topic(device_id),
            commands=domain.command_subscription(device_id),
            responses=domain.response_topic(device_id, "+"),
        )


@strawberry.type(
    description="A device of an enterprise, named by an industrial identifier that resolves "
    "to its type, enterprise and lifecycle state."
)
class Device:
    id: strawberry.ID = strawberry.field(
        description="Its AWS IoT thing name and MQTT client id (assigned at registration)."
    )
    identifier: str = strawberry.field(description="Its identifier (prefix/suffix).")
    enterprise: str = strawberry.field(description="The enterprise's USCC.")
    prefix: str
    profile: str = strawberry.field(description="The name of its device profile.")
    name: str
    state: LifecycleState
    firmware: str = strawberry.field(description="Its firmware version, as last recorded.")
    certificate_id: str | None = strawberry.field(
        description="Its active certificate's id (null until provisioned, or once revoked)."
    )
    connected: bool = strawberry.field(description="Connected to the broker, as last heard.")
    connectivity_changed_at: datetime | None = strawberry.field(
        description="When it last connected or disconnected."
    )
    last_seen: datetime | None = strawberry.field(
        description="The latest time anything was heard from it."
    )
    latest: list[MetricValue] = strawberry.field(description="Each metric's latest value.")
    rejected_messages: int = strawberry.field(
        description="Messages it sent that were refused (malformed, unknown metric, out of "
        "range, ...)."
    )
    last_rejection: str | None = strawberry.field(
        description="Why the last refused message was refused."
    )
    created_at: datetime
    updated_at: datetime
    version: int = strawberry.field(description="Increases with every change.")
    topics: DeviceTopics

    @strawberry.field(description="Its shadow: desired and reported state, and the delta.")
    @typed_errors
    async def shadow(self, info: Info) -> DeviceShadowResult:
        return DeviceShadow.of(_devices(info).shadow(info.context.principal, str(self.id)))

    @strawberry.field(description="Commands sent to it, newest first.")
    @typed_errors
    async def commands(
        self, info: Info, first: int = DEFAULT_PAGE, after: str | None = None
    ) -> CommandsResult:
        page = _devices(info).commands(
            info.context.principal, str(self.id), first=first, cursor=after
        )
        return connection(page, Command.of)

    @strawberry.field(description="Its alarms, newest first.")
    @typed_errors
    async def alarms(
        self,
        info: Info,
        status: AlarmStatus | None = None,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
    ) -> AlarmsResult:
        page = _devices(info).alarms(
            info.context.principal,
            enterprise=self.enterprise,
            device=str(self.id),
            status=status,
            severity=None,
            first=first,
            cursor=after,
        )
        return connection(page, Alarm.of)

    @classmethod
    def of(cls, device: domain.Device) -> Device:
        return cls(
            id=strawberry.ID(device.id),
            identifier=device.identifier,
            enterprise=device.enterprise,
            prefix=device.prefix,
            profile=device.profile,
            name=device.name,
            state=device.state,
            firmware=device.firmware,
            certificate_id=device.certificate_id,
            connected=device.connected,
            connectivity_changed_at=time_or_none(device.connectivity_at),
            last_seen=time_or_none(device.last_seen),
            latest=[MetricValue.of(m, v) for m, v in sorted(device.latest.items())],
            rejected_messages=device.rejected,
            last_rejection=device.last_rejection,
            created_at=time_of(device.created_at),
            updated_at=time_of(device.updated_at),
            version=device.version,
            topics=DeviceTopics.of(device.id),
        )


@strawberry.input(description="Which devices to list; every field given must match.")
class DeviceFilter:
    enterprise: str | None = strawberry.field(
        default=None,
        description="The enterprise's USCC. Platform admins and auditors without one list "
        "every enterprise's devices; enterprise people always list their own.",
    )
    state: LifecycleState | None = None
    profile: str | None = None
    connected: bool | None = None


@strawberry.type(description="How many devices are in one lifecycle state.")
class DeviceStateCount:
    state: LifecycleState
    count: int


@strawberry.type(
    description="Devices counted by lifecycle state, every state listed (zeros too): of the "
    "enterprise asked for, else of the caller's own (enterprise people) or of the whole node."
)
class DeviceCounts:
    counts: list[DeviceStateCount]
    total: int


@strawberry.input(description="A device to register; its identifier is registered with it.")
class RegisterDeviceInput:
    enterprise: str = strawberry.field(description="The enterprise's USCC.")
    suffix: str = strawberry.field(
        description="The identifier's suffix: the device is named `prefix/suffix`."
    )
    profile: str = strawberry.field(description="A device profile of the enterprise.")
    name: str = strawberry.field(description="A name for people, 1 to 128 characters.")
    firmware: str = strawberry.field(default="", description="64 characters at most.")
    prefix: str | None = strawberry.field(
        default=None,
        description="One of the enterprise's prefixes (default: its first).",
    )


@strawberry.type(
    description="A device's new certificate. The device keeps the private key it made the "
    "CSR with; the platform never sees it. Store the certificate on the device and connect "
    "to `endpoint` (port 8883) with the device id as client id."
)
class ProvisionedDevice:
    device: Device
    certificate_id: str
    certificate_pem: str
    endpoint: str = strawberry.field(description="The MQTT broker's host name.")


DeviceResult = Annotated[
    Device
    | InvalidInputError
    | NotFoundError
    | AlreadyExistsError
    | PrefixNotServedError
    | InvalidStateError
    | ConflictError
    | QuotaExceededError
    | AuthenticationError
    | NotAuthorisedError,
    strawberry.union("DeviceResult"),
]
DevicesResult = Annotated[
    Connection[Device]
    | InvalidInputError
    | NotFoundError
    | AuthenticationError
    | NotAuthorisedError,
    strawberry.union("DevicesResult"),
]
DeviceCountsResult = Annotated[
    DeviceCounts | InvalidInputError | AuthenticationError | NotAuthorisedError,
    strawberry.union("DeviceCountsResult"),
]
ProvisionedDeviceResult = Annotated[
    ProvisionedDevice
    | InvalidInputError
    | NotFoundError
    | PrefixNotServedError
    | InvalidStateError
    | ConflictError
    | AuthenticationError
    | NotAuthorisedError,
    strawberry.union("ProvisionedDeviceResult"),
]


def _provisioned(provisioned: Provisioned) -> ProvisionedDevice:
    return ProvisionedDevice(
        device=Device.of(provisioned.device),
        certificate_id=provisioned.certificate_id,
        certificate_pem=provisioned.certificate_pem,
        endpoint=provisioned.endpoint,
    )


# Telemetry


@strawberry.type(
    description="One interval of a series: how many values fell in it and their minimum, "
    "maximum and average (null when none did)."
)
class TelemetryBucket:
    start: datetime
    count: int
    minimum: float | None = strawberry.field(name="min")
    maximum: float | None = strawberry.field(name="max")
    average: float | None = strawberry.field(name="avg")

    @classmethod
    def of(cls, bucket: domain_telemetry.Bucket) -> TelemetryBucket:
        return cls(
            start=time_of(bucket.start),
            count=bucket.count,
            minimum=bucket.minimum,
            maximum=bucket.maximum,
            average=bucket.average,
        )


@strawberry.type(
    description="One metric of one device over a time range, aggregated in equal intervals "
    "(empty ones included). BOOLEAN metrics count as 1/0."
)
class TelemetrySeries:
    device: str
    metric: str
    from_: datetime = strawberry.field(name="from")
    to: datetime
    interval_seconds: int
    buckets: list[TelemetryBucket]
    truncated: bool = strawberry.field(
        description="The range held more values than one query reads: the buckets cover "
        "only the earliest ones. Ask for a shorter range."
    )
    _enterprise: strawberry.Private[str]
    _profile: strawberry.Private[str]

    @strawberry.field(description="The metric's unit, from the device's profile.")
    def unit(self, info: Info) -> str:
        profile = _devices(info).profile(info.context.principal, self._enterprise, self._profile)
        metric = profile.metric(self.metric)
        return metric.unit if metric is not None else ""


TelemetryResult = Annotated[
    TelemetrySeries | InvalidInputError | NotFoundError | AuthenticationError | NotAuthorisedError,
    strawberry.union("TelemetryResult"),
]


@strawberry.type
class DevicesQuery:
    @strawberry.field(description="A device profile of an enterprise.")
    @typed_errors
    async def device_profile(self, info: Info, enterprise: str, name: str) -> DeviceProfileResult:
        profile = _devices(info).profile(info.context.principal, enterprise, name)
        return DeviceProfile.of(profile)

    @strawberry.field(description="An enterprise's device profiles, by name.")
    @typed_errors
    async def device_profiles(
        self, info: Info, enterprise: str, first: int = DEFAULT_PAGE, after: str | None = None
    ) -> DeviceProfilesResult:
        page = _devices(info).profiles(
            info.context.principal, enterprise, first=first, cursor=after
        )
        return connection(page, DeviceProfile.of)

    @strawberry.field(description="A device, by its id.")
    @typed_errors
    async def device(self, info: Info, id: strawberry.ID) -> DeviceResult:
        return Device.of(_devices(info).device(info.context.principal, str(id)))

    @strawberry.field(
        description="Devices you may see: enterprise people their enterprise's; platform "
        "admins and auditors any enterprise's, or all. Filters other than the enterprise are "
        "applied to what each page reads, so a page may hold fewer devices than asked for and "
        "still have a next one: follow `pageInfo.endCursor` until `hasNextPage` is false."
    )
    @typed_errors
    async def devices(
        self,
        info: Info,
        filter: DeviceFilter | None = None,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
    ) -> DevicesResult:
        asked = filter or DeviceFilter()
        page = _devices(info).devices(
            info.context.principal,
            enterprise=asked.enterprise,
            state=asked.state,
            profile=asked.profile,
            connected=asked.connected,
            first=first,
            cursor=after,
        )
        return connection(page, Device.of)

    @strawberry.field(
        description="How many devices are in each lifecycle state: of one enterprise, or (for "
        "platform admins and auditors, without one) of the whole node."
    )
    @typed_errors
    async def device_counts(self, info: Info, enterprise: str | None = None) -> DeviceCountsResult:
        principal = info.context.principal
        counted = _devices(info).counts(principal, enterprise)
        counts = [
            DeviceStateCount(state=state, count=counted.get(state, 0)) for state in LifecycleState
        ]
        return DeviceCounts(counts=counts, total=sum(c.count for c in counts))

    @strawberry.field(
        description="A device's metric between two times, in buckets of `intervalSeconds` "
        "(at least 1; at most 1000 buckets). A time without a zone is UTC."
    )
    @typed_errors
    async def telemetry(
        self,
        info: Info,
        device: strawberry.ID,
        metric: str,
        *,
        from_: Annotated[datetime, strawberry.argument(name="from")],
        to: datetime,
        interval_seconds: int,
    ) -> TelemetryResult:
        principal = info.context.principal
        start, end = epoch_ms(from_), epoch_ms(to)
        buckets, truncated = _telemetry(info).query(
            principal,
            str(device),
            metric,
            start=start,
            end=end,
            interval_ms=interval_seconds * 1000,
        )
        found = _devices(info).device(principal, str(device))
        return TelemetrySeries(
            device=found.id,
            metric=metric,
            from_=time_of(start),
            to=time_of(end),
            interval_seconds=interval_seconds,
            buckets=[TelemetryBucket.of(b) for b in buckets],
            truncated=truncated,
            _enterprise=found.enterprise,
            _profile=found.profile,
        )

    @strawberry.field(
        description="Alarms you may see, newest first: enterprise people their enterprise's; "
        "platform admins and auditors any."
    )
    @typed_errors
    async def alarms(
        self,
        info: Info,
        filter: AlarmFilter | None = None,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
    ) -> AlarmsResult:
        asked = filter or AlarmFilter()
        page = _devices(info).alarms(
            info.context.principal,
            enterprise=asked.enterprise,
            device=asked.device,
            status=asked.status,
            severity=asked.severity,
            first=first,
            cursor=after,
        )
        return connection(page, Alarm.of)

    @strawberry.field(description="A command, by its id, with the device's answer if any.")
    @typed_errors
    async def command(self, info: Info, id: strawberry.ID) -> CommandResult:
        return Command.of(_devices(info).command(info.context.principal, str(id)))


@strawberry.type
class DevicesMutation:
    @strawberry.mutation(description="Define a device profile (enterprise admins).")
    @typed_errors
    async def define_device_profile(
        self, info: Info, input: DeviceProfileInput
    ) -> DeviceProfileResult:
        profile = _devices(info).define_profile(
            info.context.principal,
            input.enterprise,
            input.name,
            input.description,
            [m.to_domain() for m in input.metrics],
            [r.to_domain() for r in input.alarm_rules],
        )
        return DeviceProfile.of(profile)

    @strawberry.mutation(
        description="Replace a device profile's description, metrics and alarm rules, if it "
        "is still at `version` (else ConflictError: read it again)."
    )
    @typed_errors
    async def update_device_profile(
        self, info: Info, input: DeviceProfileInput, version: int
    ) -> DeviceProfileResult:
        profile = _devices(info).update_profile(
            info.context.principal,
            input.enterprise,
            input.name,
            input.description,
            [m.to_domain() for m in input.metrics],
            [r.to_domain() for r in input.alarm_rules],
            version=version,
        )
        return DeviceProfile.of(profile)

    @strawberry.mutation(
        description="Register a device (enterprise admins): it gets an id and its identifier "
        "is registered, resolving to its type, enterprise and state. Next: provisionDevice."
    )
    @typed_errors
    async def register_device(self, info: Info, input: RegisterDeviceInput) -> DeviceResult:
        device = _devices(info).register(
            info.context.principal,
            enterprise=input.enterprise,
            suffix=input.suffix,
            profile=input.profile,
            name=input.name,
            firmware=input.firmware,
            prefix=input.prefix,
        )
        return Device.of(device)

    @strawberry.mutation(
        description="Issue a registered device's first certificate from its CSR (PEM; the "
        "private key stays on the device). The device may then connect, on its own topics only."
    )
    @typed_errors
    async def provision_device(
        self, info: Info, device: strawberry.ID, csr: str
    ) -> ProvisionedDeviceResult:
        provisioned = _devices(info).provision(info.context.principal, str(device), csr)
        return _provisioned(provisioned)

    @strawberry.mutation(
        description="Issue a new certificate from a new CSR and deactivate the old one."
    )
    @typed_errors
    async def rotate_device_certificate(
        self, info: Info, device: strawberry.ID, csr: str
    ) -> ProvisionedDeviceResult:
        provisioned = _devices(info).rotate_certificate(info.context.principal, str(device), csr)
        return _provisioned(provisioned)

    @strawberry.mutation(
        description="Revoke the device's certificate (e.g. a compromised device): it can no "
        "longer connect until it gets a new one by rotateDeviceCertificate."
    )
    @typed_errors
    async def revoke_device_certificate(self, info: Info, device: strawberry.ID) -> DeviceResult:
        return Device.of(_devices(info).revoke_certificate(info.context.principal, str(device)))

    @strawberry.mutation(
        description="Rename a device or record its firmware version (fields left out stay as "
        "they are). `version` is the one you read: a ConflictError says it changed since."
    )
    @typed_errors
    async def update_device(
        self,
        info: Info,
        device: strawberry.ID,
        version: int,
        name: str | None = None,
        firmware: str | None = None,
    ) -> DeviceResult:
        changed = _devices(info).update(
            info.context.principal, str(device), version=version, name=name, firmware=firmware
        )
        return Device.of(changed)

    @strawberry.mutation(
        description="Move a device to ACTIVE, MAINTENANCE or RETIRED (retiring deactivates its "
        "certificate). The reason goes to the operation log."
    )
    @typed_errors
    async def change_device_state(
        self, info: Info, device: strawberry.ID, state: LifecycleState, reason: str = ""
    ) -> DeviceResult:
        changed = _devices(info).change_state(info.context.principal, str(device), state, reason)
        return Device.of(changed)

    @strawberry.mutation(
        description="Ask the device for a state: a non-empty JSON object (8 KB at most) whose "
        "keys are named like metrics, merged into its shadow's desired state (a key set to "
        "null is removed). Not for retired devices."
    )
    @typed_errors
    async def set_desired_state(
        self, info: Info, device: strawberry.ID, desired: JSON
    ) -> DeviceShadowResult:
        # Checked by the service (a JSON object of bounded size), inside its operation log.
        desired_state = cast(Mapping[str, Any], desired)
        shadow = _devices(info).set_desired(info.context.principal, str(device), desired_state)
        return DeviceShadow.of(shadow)

    @strawberry.mutation(
        description="Send a command to a device; it answers on its responses topic before "
        "`timeoutSeconds` (1 to 3600) or the command times out. Read it back with `command`."
    )
    @typed_errors
    async def send_command(
        self,
        info: Info,
        device: strawberry.ID,
        name: str,
        parameters: JSON | None = None,
        timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS,
    ) -> CommandResult:
        # Checked by the domain (a JSON object of bounded size), inside the operation log.
        arguments = {} if parameters is None else cast(Mapping[str, Any], parameters)
        command = _devices(info).send_command(
            info.context.principal, str(device), name, arguments, timeout_seconds
        )
        return Command.of(command)

    @strawberry.mutation(description="Acknowledge an active alarm: someone is on it.")
    @typed_errors
    async def acknowledge_alarm(self, info: Info, id: strawberry.ID) -> AlarmResult:
        return Alarm.of(_devices(info).acknowledge_alarm(info.context.principal, str(id)))
