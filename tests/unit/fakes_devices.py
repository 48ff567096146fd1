"""In-memory stand-ins for the device services' stores and ports.

They keep the stores' contracts: a device is created once and saved only at the version it
was read (else ConcurrentUpdateError); latest values and connectivity move only forward in
time; a reading is stored once per (device, time); an alarm is raised once per id and saved
only from the status expected; a command is answered once, before its deadline. The IoT
fake keeps certificates with their status and the order of every call, and each port can be
told to fail.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from idnode.adapters.iot import IssuedCertificate, Shadow
from idnode.domain.access import Principal
from idnode.domain.alarms import Alarm, AlarmStatus
from idnode.domain.commands import Command, CommandResponse, CommandStatus
from idnode.domain.devices import (
    AlarmRule,
    Comparison,
    Device,
    DeviceProfile,
    LatestValue,
    LifecycleState,
    Metric,
    MetricType,
    RuleState,
    Severity,
    build_profile,
)
from idnode.domain.errors import (
    ConcurrentUpdateError,
    HandleAlreadyExistsError,
    HandleNotFoundError,
    InvalidStateError,
)
from idnode.domain.telemetry import TelemetryMessage
from idnode.domain.values import Value
from idnode.store.pages import Page, decode_cursor, encode_cursor

T = TypeVar("T")


def page_of(scope: str, items: Sequence[T], first: int, cursor: str | None) -> Page[T]:
    """A page of `items` (in listing order) after the cursor's position."""
    start = decode_cursor(scope, cursor)
    offset = int(start["at"]) if start else 0
    chosen = list(items[offset : offset + first])
    cursors = [encode_cursor(scope, {"at": offset + i + 1}) for i in range(len(chosen))]
    more = offset + first < len(items)
    return Page(
        items=chosen, cursors=cursors, next_cursor=cursors[-1] if more and cursors else None
    )


@dataclass
class EpochClock:
    """Epoch milliseconds that move only when told to."""

    now: int = 1_750_000_000_000

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms


class InMemoryDevices:
    def __init__(self) -> None:
        self.items: dict[str, Device] = {}
        self.fail_create: Exception | None = None
        self.fail_get: Exception | None = None
        # Runs just before the next save (another writer changing the device meanwhile).
        self.before_save: list[Callable[[InMemoryDevices], object]] = []
        self.asked: list[dict[str, Any]] = []

    def seed(self, device: Device) -> Device:
        self.items[device.id] = device
        return device

    def create(self, device: Device) -> None:
        if self.fail_create is not None:
            raise self.fail_create
        if device.id in self.items:
            raise InvalidStateError(f"device {device.id} exists already")
        self.items[device.id] = device

    def get(self, device_id: str) -> Device | None:
        if self.fail_get is not None:
            raise self.fail_get
        return self.items.get(device_id)

    def save(self, device: Device) -> Device:
        if self.before_save:
            self.before_save.pop(0)(self)
        current = self.items.get(device.id)
        if current is None or current.version != device.version:
            raise ConcurrentUpdateError(f"device {device.id} changed meanwhile")
        # Only the management attributes: what telemetry recorded meanwhile stays.
        stored = replace(
            current,
            profile=device.profile,
            name=device.name,
            state=device.state,
            firmware=device.firmware,
            certificate_id=device.certificate_id,
            updated_at=device.updated_at,
            version=device.version + 1,
        )
        self.items[device.id] = stored
        return stored

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
        self.asked.append({"enterprise": enterprise, "first": first})
        chosen = [
            d
            for d in sorted(self.items.values(), key=lambda d: d.id)
            if (enterprise is None or d.enterprise == enterprise)
            and (state is None or d.state is state)
            and (profile is None or d.profile == profile)
            and (connected is None or d.connected is connected)
        ]
        return page_of(f"devices/{enterprise}/{state}/{profile}/{connected}", chosen, first, cursor)

    def count_by_state(self, enterprise: str | None) -> dict[LifecycleState, int]:
        self.asked.append({"enterprise": enterprise})
        counts = dict.fromkeys(LifecycleState, 0)
        for device in self.items.values():
            if enterprise is None or device.enterprise == enterprise:
                counts[device.state] += 1
        return counts

    def record_latest(
        self, device_id: str, values: Mapping[str, float | int | bool], at: int
    ) -> bool:
        device = self.items.get(device_id)
        if device is None or (device.latest_at is not None and device.latest_at >= at):
            return False
        latest = {**device.latest, **{m: LatestValue(v, at) for m, v in values.items()}}
        self.items[device_id] = replace(device, latest=latest, latest_at=at)
        return True

    def record_connectivity(self, device_id: str, connected: bool, at: int) -> bool:
        device = self.items.get(device_id)
        if device is None or (device.connectivity_at is not None and device.connectivity_at >= at):
            return False
        self.items[device_id] = replace(device, connected=connected, connectivity_at=at)
        return True

    def record_alarm_states(
        self, device_id: str, states: Mapping[str, RuleState], *, expected_version: int
    ) -> bool:
        device = self.items.get(device_id)
        if device is None or device.alarm_version != expected_version:
            return False
        if not states:
            return True
        merged = dict(device.alarm_states)
        for rule, state in states.items():
            if state.empty:
                merged.pop(rule, None)
            else:
                merged[rule] = state
        self.items[device_id] = replace(
            device, alarm_states=merged, alarm_version=expected_version + 1
        )
        return True

    def record_rejection(self, device_id: str, reason: str) -> None:
        device = self.items.get(device_id)
        if device is not None:
            self.items[device_id] = replace(
                device, rejected=device.rejected + 1, last_rejection=reason
            )


class InMemoryProfiles:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], DeviceProfile] = {}
        self.reads = 0
        self.asked: list[dict[str, Any]] = []

    def put(self, profile: DeviceProfile) -> DeviceProfile:
        key = (profile.enterprise, profile.name)
        current = self.items.get(key)
        if profile.version == 1 and current is not None:
            raise InvalidStateError(f"profile {profile.name} exists already")
        if profile.version > 1 and (current is None or current.version != profile.version - 1):
            raise ConcurrentUpdateError(f"profile {profile.name} changed meanwhile")
        self.items[key] = profile
        return profile

    def get(self, enterprise: str, name: str) -> DeviceProfile | None:
        self.reads += 1
        return self.items.get((enterprise, name))

    def list(self, enterprise: str, *, first: int, cursor: str | None) -> Page[DeviceProfile]:
        self.asked.append({"enterprise": enterprise, "first": first})
        chosen = sorted(
            (p for (e, _), p in self.items.items() if e == enterprise), key=lambda p: p.name
        )
        return page_of(f"profiles/{enterprise}", chosen, first, cursor)


class InMemoryTelemetry:
    def __init__(self) -> None:
        self.items: dict[tuple[str, int], TelemetryMessage] = {}
        self.expires: dict[tuple[str, int], int] = {}
        self.asked_limits: list[int] = []

    def put(self, message: TelemetryMessage, *, expires: int) -> bool:
        key = (message.device, message.at)
        if key in self.items:
            return False
        self.items[key] = message
        self.expires[key] = expires
        return True

    def points(
        self, device: str, metric: str, *, start: int, end: int, limit: int
    ) -> tuple[list[tuple[int, float | int | bool]], bool]:
        self.asked_limits.append(limit)
        inside = sorted(
            (at, m) for (d, at), m in self.items.items() if d == device and start <= at < end
        )
        read, truncated = inside[:limit], len(inside) > limit
        return [(at, m.values[metric]) for at, m in read if metric in m.values], truncated


class InMemoryAlarms:
    def __init__(self) -> None:
        self.items: dict[str, Alarm] = {}
        self.raised_calls = 0
        # Runs just before the next save (someone acting on the alarm meanwhile).
        self.before_save: list[Callable[[InMemoryAlarms], object]] = []

    def raise_(self, alarm: Alarm) -> bool:
        self.raised_calls += 1
        if alarm.id in self.items:
            return False
        self.items[alarm.id] = alarm
        return True

    def get(self, alarm_id: str) -> Alarm | None:
        return self.items.get(alarm_id)

    def save(self, alarm: Alarm, *, expected: AlarmStatus) -> bool:
        if self.before_save:
            self.before_save.pop(0)(self)
        current = self.items.get(alarm.id)
        if current is None or current.status is not expected:
            return False
        self.items[alarm.id] = alarm
        return True

    def list(
        self,
        *,
        enterprise: str | None,
        device: str | None,
        status: AlarmStatus | None,
        severity: Any,
        first: int,
        cursor: str | None,
    ) -> Page[Alarm]:
        chosen = sorted(
            (
                a
                for a in self.items.values()
                if (device is None or a.device == device)
                and (enterprise is None or a.enterprise == enterprise)
                and (status is None or a.status is status)
                and (severity is None or a.severity is severity)
            ),
            key=lambda a: a.raised_at,
            reverse=True,
        )
        return page_of(f"alarms/{enterprise}/{device}/{status}/{severity}", chosen, first, cursor)


class InMemoryCommands:
    def __init__(self) -> None:
        self.items: dict[str, Command] = {}
        self.expires: dict[str, int] = {}

    def create(self, command: Command, *, expires: int) -> None:
        if command.id in self.items:
            raise InvalidStateError(f"command {command.id} exists already")
        self.items[command.id] = command
        self.expires[command.id] = expires

    def get(self, command_id: str) -> Command | None:
        return self.items.get(command_id)

    def respond(self, command_id: str, response: CommandResponse, at: int) -> bool:
        command = self.items.get(command_id)
        if command is None or command.status is not CommandStatus.SENT or command.deadline < at:
            return False
        self.items[command_id] = replace(
            command,
            status=response.status,
            responded_at=at,
            result=response.result,
            error=response.error,
        )
        return True

    def list(self, device: str, *, first: int, cursor: str | None) -> Page[Command]:
        chosen = sorted(
            (c for c in self.items.values() if c.device == device),
            key=lambda c: c.sent_at,
            reverse=True,
        )
        return page_of(f"commands/{device}", chosen, first, cursor)


@dataclass
class FakeIotCore:
    """Things, certificates (id -> status) and shadows, with every call in order."""

    things: dict[str, dict[str, str]] = field(default_factory=dict)
    certificates: dict[str, str] = field(default_factory=dict)
    attached: dict[str, set[str]] = field(default_factory=dict)
    published: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    desired: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    fail: dict[str, Exception] = field(default_factory=dict)
    issued: int = 0

    def _call(self, name: str, subject: str) -> None:
        self.calls.append((name, subject))
        if name in self.fail:
            raise self.fail[name]

    def endpoint(self) -> str:
        return "abc123-ats.iot.us-east-1.amazonaws.com"

    def ensure_thing(self, device_id: str, attributes: Mapping[str, str]) -> None:
        self._call("ensure_thing", device_id)
        self.things[device_id] = dict(attributes)

    def issue_certificate(self, device_id: str, csr_pem: str) -> IssuedCertificate:
        self._call("issue_certificate", device_id)
        self.issued += 1
        certificate = f"cert-{self.issued}"
        self.certificates[certificate] = "ACTIVE"
        self.attached.setdefault(device_id, set()).add(certificate)
        return IssuedCertificate(
            id=certificate,
            arn=f"arn:aws:iot:us-east-1:000000000000:cert/{certificate}",
            pem=f"-----BEGIN CERTIFICATE-----\n{certificate}\n-----END CERTIFICATE-----\n",
        )

    def deactivate_certificate(self, device_id: str, certificate_id: str, *, revoke: bool) -> None:
        self._call("deactivate_certificate", certificate_id)
        if certificate_id in self.certificates:
            self.certificates[certificate_id] = "REVOKED" if revoke else "INACTIVE"
        self.attached.get(device_id, set()).discard(certificate_id)

    def publish(self, topic: str, message: Mapping[str, Any]) -> None:
        self._call("publish", topic)
        self.published.append((topic, dict(message)))

    def update_desired(self, device_id: str, desired: Mapping[str, Any]) -> Shadow:
        self._call("update_desired", device_id)
        merged = {**self.desired.get(device_id, {}), **desired}
        self.desired[device_id] = {k: v for k, v in merged.items() if v is not None}
        return self.shadow(device_id)

    def shadow(self, device_id: str) -> Shadow:
        desired = dict(self.desired.get(device_id, {}))
        return Shadow(desired=desired, reported={}, delta=desired, version=None, updated_at=None)


@dataclass
class DeadLetter:
    kind: str
    reason: str
    message: str
    event: Mapping[str, Any]


@dataclass
class FakeDeadLetters:
    sent: list[DeadLetter] = field(default_factory=list)
    fail_with: Exception | None = None

    def send(self, *, kind: str, reason: str, message: str, event: Mapping[str, Any]) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append(DeadLetter(kind, reason, message, dict(event)))

    @property
    def reasons(self) -> list[str]:
        return [letter.reason for letter in self.sent]


@dataclass
class FakeRegistry:
    """Identifier records as value lists by name, with who wrote them."""

    records: dict[str, dict[int, Value]] = field(default_factory=dict)
    calls: list[tuple[str, str, str]] = field(default_factory=list)
    fail: dict[str, Exception] = field(default_factory=dict)

    def _call(self, name: str, identifier: str, principal: Principal) -> None:
        self.calls.append((name, identifier, principal.name))
        if name in self.fail:
            raise self.fail[name]

    def create(self, name: str, values: Sequence[Value], principal: Principal) -> None:
        self._call("create", name, principal)
        if name in self.records:
            raise HandleAlreadyExistsError(f"{name} is already registered", handle=name)
        self.records[name] = {v.index: v for v in values}

    def upsert_values(self, name: str, values: Sequence[Value], principal: Principal) -> None:
        self._call("upsert_values", name, principal)
        if name not in self.records:
            raise HandleNotFoundError(f"{name} is not registered", handle=name)
        self.records[name].update({v.index: v for v in values})

    def delete(self, name: str, principal: Principal) -> None:
        self._call("delete", name, principal)
        if self.records.pop(name, None) is None:
            raise HandleNotFoundError(f"{name} is not registered", handle=name)

    def value(self, name: str, index: int) -> Any:
        return self.records[name][index].data.value


# A sample enterprise with a pump profile, for the device services' tests.

ENTERPRISE = "91110000600037341L"
OTHER_ENTERPRISE = "91350100M000100Y43"
PREFIXES = {ENTERPRISE: ["88.100.1000", "88.100.1001"], OTHER_ENTERPRISE: ["88.100.2000"]}
CSR = "-----BEGIN CERTIFICATE REQUEST-----\nMIIBfake\n-----END CERTIFICATE REQUEST-----\n"


def prefixes_of(enterprise: str) -> list[str]:
    return list(PREFIXES.get(enterprise, []))


PUMP_METRICS = (
    Metric("temperature", MetricType.NUMBER, "Cel", minimum=-50.0, maximum=150.0),
    Metric("rpm", MetricType.INTEGER, "1/min", minimum=0, maximum=10_000),
    Metric("running", MetricType.BOOLEAN),
)
PUMP_RULES = (
    AlarmRule("overheat", "temperature", Comparison.GT, 100.0, 0, Severity.CRITICAL),
    AlarmRule("overspeed", "rpm", Comparison.GE, 9000, 60, Severity.MAJOR),
)


def pump_profile(enterprise: str = ENTERPRISE, name: str = "pump", at: int = 0) -> DeviceProfile:
    return build_profile(
        enterprise,
        name,
        "Centrifugal pump",
        PUMP_METRICS,
        PUMP_RULES,
        version=1,
        created_at=at,
        updated_at=at,
    )


def pump(
    device_id: str = "d-pump1",
    *,
    enterprise: str = ENTERPRISE,
    state: LifecycleState = LifecycleState.ACTIVE,
    certificate_id: str | None = "cert-0",
    identifier: str = "88.100.1000/PUMP-0001",
) -> Device:
    return Device(
        id=device_id,
        enterprise=enterprise,
        prefix=identifier.split("/", 1)[0],
        identifier=identifier,
        profile="pump",
        name="Pump 1",
        state=state,
        firmware="1.0.0",
        created_at=0,
        updated_at=0,
        version=1,
        certificate_id=certificate_id,
    )
