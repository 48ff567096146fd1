"""What devices send (IOT-3, IOT-5, IOT-6): telemetry, command responses and presence, as the
IoT topic rules hand them to the device-events function, and telemetry queries.

There is no caller to authorise on the event side: the broker authenticated the device by its
certificate, and its policy lets it publish only on its own topics. What a device sends is
still checked: a message that fails a check goes to the dead letters with its reason and is
counted on the device; it never raises. Only a failing store or queue raises, so that Lambda
retries the event (every step is idempotent) and finally dead-letters it.

Delivery is at least once and, across concurrent invocations, in no particular order:
readings are keyed by device and time (a redelivery is a duplicate), the latest values and
connectivity only move forward in time, and alarm ids are deterministic.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from idnode.domain.access import Operation, Principal, authorise
from idnode.domain.alarms import Alarm, AlarmStatus, Transition, clear, evaluate, new_alarm
from idnode.domain.commands import Command, CommandResponse, CommandStatus, read_response
from idnode.domain.devices import (
    SUPERSEDED_SESSION,
    AlarmRule,
    Device,
    DeviceProfile,
    LifecycleState,
    RuleState,
    is_device_id,
)
from idnode.domain.errors import ConcurrentUpdateError, InvalidValueError, NotFoundError
from idnode.domain.parameters import Parameters
from idnode.domain.telemetry import (
    Bucket,
    RejectionReason,
    TelemetryMessage,
    aggregate,
    check_range,
    decode_payload,
    read_message,
)
from idnode.services.caching import TtlCache

MAX_POINTS = 20_000
PROFILE_CACHE_SECONDS = 60.0
PROFILE_CACHE_SIZE = 512
DAY_SECONDS = 86_400
_ATTEMPTS = 3

# Dead-letter kinds: which rule the event came from.
TELEMETRY, RESPONSE, PRESENCE, UNKNOWN = "telemetry", "response", "presence", "unknown"
# Why a command response is refused, beyond the reasons any device message can have.
UNKNOWN_COMMAND = "unknown-command"
WRONG_DEVICE = "wrong-device"
LATE = "late"
ALREADY_ANSWERED = "already-answered"
UNKNOWN_KIND = "unknown-kind"
# Why an event changes nothing, without being wrong.
STALE = "stale"
SUPERSEDED = "superseded"
NOT_A_DEVICE = "unknown-device"
PRESENCE_EVENTS = {"connected": True, "disconnected": False}


class DeviceRecords(Protocol):
    def get(self, device_id: str) -> Device | None: ...
    def record_latest(
        self, device_id: str, values: Mapping[str, float | int | bool], at: int
    ) -> bool: ...
    def record_connectivity(self, device_id: str, connected: bool, at: int) -> bool: ...
    def record_alarm_states(
        self, device_id: str, states: Mapping[str, RuleState], *, expected_version: int
    ) -> bool: ...
    def record_rejection(self, device_id: str, reason: str) -> None: ...


class ProfileSource(Protocol):
    def get(self, enterprise: str, name: str) -> DeviceProfile | None: ...


class TelemetryStore(Protocol):
    def put(self, message: TelemetryMessage, *, expires: int) -> bool: ...
    def points(
        self, device: str, metric: str, *, start: int, end: int, limit: int
    ) -> tuple[list[tuple[int, float | int | bool]], bool]: ...


class AlarmStore(Protocol):
    def raise_(self, alarm: Alarm) -> bool: ...
    def get(self, alarm_id: str) -> Alarm | None: ...
    def save(self, alarm: Alarm, *, expected: AlarmStatus) -> bool: ...


class CommandStore(Protocol):
    def get(self, command_id: str) -> Command | None: ...
    def respond(self, command_id: str, response: CommandResponse, at: int) -> bool: ...


class DeadLetterQueue(Protocol):
    def send(self, *, kind: str, reason: str, message: str, event: Mapping[str, Any]) -> None: ...


@dataclass(frozen=True)
class Outcome:
    """What became of one event. `alarms`: ids of alarms it raised."""

    kind: Literal["stored", "duplicate", "rejected", "ignored"]
    reason: str | None = None
    alarms: tuple[str, ...] = ()


class _Refused(Exception):  # noqa: N818 - control flow inside this module, never escapes
    """A device message that is not accepted; becomes a dead letter."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


_Change = tuple[AlarmRule, RuleState, RuleState, float, Transition]


def _transitions(
    device: Device, profile: DeviceProfile, message: TelemetryMessage
) -> tuple[dict[str, RuleState], list[_Change]]:
    """The rule states a reading changes, and the alarms it raises or clears."""
    changed: dict[str, RuleState] = {}
    transitions: list[_Change] = []
    for rule in profile.alarm_rules:
        reading = message.values.get(rule.metric)
        if reading is None:
            continue
        value = float(reading)
        state = device.alarm_states.get(rule.name, RuleState())
        after, transition = evaluate(rule, value, message.at, state, device=device.id)
        if after != state:
            changed[rule.name] = after
        if transition is not None:
            transitions.append((rule, state, after, value, transition))
    return changed, transitions


def _whole(value: object) -> bool:
    """A JSON integer (a boolean is not one)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


class TelemetryService:
    def __init__(
        self,
        devices: DeviceRecords,
        profiles: ProfileSource,
        telemetry: TelemetryStore,
        alarms: AlarmStore,
        commands: CommandStore,
        *,
        dead_letters: DeadLetterQueue,
        parameters: Callable[[], Parameters],
        on_connect: Callable[[str, int], None],
        clock: Callable[[], int],
    ) -> None:
        self._devices = devices
        self._profiles = profiles
        self._telemetry = telemetry
        self._alarms = alarms
        self._commands = commands
        self._dead_letters = dead_letters
        self._parameters = parameters
        self._on_connect = on_connect
        self._clock = clock
        # Read for every message; a changed profile applies within a minute.
        self._profile_cache = TtlCache[DeviceProfile](
            PROFILE_CACHE_SECONDS, PROFILE_CACHE_SIZE, lambda: self._clock() / 1000
        )

    # Events from the topic rules

    def ingest(self, event: Mapping[str, Any]) -> Outcome:
        """A telemetry message: `{"payload": base64, "device", "clientId", "receivedAt"}`."""
        device: Device | None = None
        parameters = self._parameters()
        try:
            device = self._topic_device(event)
            _check_sender(event, device)
            document = decode_payload(_payload(event))
            profile = self._profile_of(device)
            message = read_message(
                document,
                device=device.id,
                received_at=_received_at(event),
                profile=profile,
                now=self._clock(),
                retention_days=parameters.telemetry_retention_days,
            )
        except (_Refused, InvalidValueError) as refused:
            return self._reject(TELEMETRY, event, device, refused)
        expires = message.at // 1000 + parameters.telemetry_retention_days * DAY_SECONDS
        stored = self._telemetry.put(message, expires=expires)
        raised: tuple[str, ...] = ()
        # Only a reading newer than the latest on record speaks for the present: an older one
        # (late or redelivered) is kept in the series but neither raises nor clears alarms.
        # The latest values are recorded last, so a retry after a failure in between
        # evaluates the same reading again, which raises nothing twice.
        if device.latest_at is None or message.at > device.latest_at:
            raised = self._evaluate_alarms(device, profile, message)
        self._devices.record_latest(device.id, message.values, message.at)
        if device.state is LifecycleState.PROVISIONED:
            self._on_connect(device.id, message.at)
        return Outcome("stored" if stored else "duplicate", alarms=raised)

    def respond(self, event: Mapping[str, Any]) -> Outcome:
        """A device's answer to a command: `{"payload": base64, "device", "command",
        "clientId", "receivedAt"}`."""
        device: Device | None = None
        try:
            command_id = event.get("command")
            if not isinstance(command_id, str) or not command_id:
                raise _Refused(RejectionReason.MALFORMED, "command: the command id is missing")
            device = self._topic_device(event)
            _check_sender(event, device)
            response = read_response(decode_payload(_payload(event)))
            received_at = _received_at(event)
            return self._answer(device, command_id, response, received_at)
        except (_Refused, InvalidValueError) as refused:
            return self._reject(RESPONSE, event, device, refused)

    def presence(self, event: Mapping[str, Any]) -> Outcome:
        """A client connected or disconnected: `{"clientId", "eventType", "timestamp",
        "disconnectReason"}`. Clients that are not devices (or not this node's) are ignored,
        and so is the end of a session that a newer one with the same client id replaced."""
        client = event.get("clientId")
        event_type = event.get("eventType")
        connected = PRESENCE_EVENTS.get(event_type) if isinstance(event_type, str) else None
        at = event.get("timestamp")
        if not isinstance(client, str) or connected is None or not _whole(at):
            refused = _Refused(
                RejectionReason.MALFORMED,
                "a presence event has a clientId, an eventType (connected or disconnected) and "
                "a timestamp in epoch milliseconds",
            )
            return self._reject(PRESENCE, event, None, refused)
        assert isinstance(at, int)
        if not connected and event.get("disconnectReason") == SUPERSEDED_SESSION:
            return Outcome("ignored", reason=SUPERSEDED)
        device = self._devices.get(client) if is_device_id(client) else None
        if device is None:
            return Outcome("ignored", reason=NOT_A_DEVICE)
        if not self._devices.record_connectivity(device.id, connected, at):
            return Outcome("ignored", reason=STALE)
        if connected and device.state is LifecycleState.PROVISIONED:
            self._on_connect(device.id, at)
        return Outcome("stored")

    def misrouted(self, event: Any) -> Outcome:
        """An event no rule should produce (no known kind): kept in the dead letters."""
        kept = event if isinstance(event, Mapping) else {"event": event}
        kind = kept.get("kind")
        refused = _Refused(UNKNOWN_KIND, f"kind: {kind!r} is not telemetry, response or presence")
        return self._reject(UNKNOWN, kept, None, refused)

    # Queries

    def query(
        self,
        principal: Principal,
        device_id: str,
        metric: str,
        *,
        start: int,
        end: int,
        interval_ms: int,
    ) -> tuple[list[Bucket], bool]:
        """A device's metric over [start, end) in buckets of `interval_ms`; True when more
        than MAX_POINTS readings fall in the range (the buckets cover the first ones)."""
        authorise(principal, Operation.VIEW_DEVICES)
        device = self._devices.get(device_id)
        if device is None:
            raise NotFoundError(f"device {device_id} does not exist")
        authorise(principal, Operation.VIEW_DEVICES, enterprise=device.enterprise)
        profile = self._profile_of(device)
        if profile.metric(metric) is None:
            raise InvalidValueError(f"metric: profile {profile.name} has no metric {metric!r}")
        check_range(start, end, interval_ms)
        points, truncated = self._telemetry.points(
            device.id, metric, start=start, end=end, limit=MAX_POINTS
        )
        buckets = aggregate(
            ((at, float(value)) for at, value in points),
            start=start,
            end=end,
            interval_ms=interval_ms,
        )
        return buckets, truncated

    # Internals

    def _topic_device(self, event: Mapping[str, Any]) -> Device:
        """The device whose topic the message came in on."""
        device_id = event.get("device")
        if not isinstance(device_id, str) or not is_device_id(device_id):
            raise _Refused(
                RejectionReason.UNKNOWN_DEVICE, f"device: {device_id!r} is not a device id"
            )
        device = self._devices.get(device_id)
        if device is None:
            raise _Refused(RejectionReason.UNKNOWN_DEVICE, f"device {device_id} does not exist")
        return device

    def _profile_of(self, device: Device) -> DeviceProfile:
        key = f"{device.enterprise}/{device.profile}"
        profile = self._profile_cache.get(key)
        if profile is None:
            profile = self._profiles.get(device.enterprise, device.profile)
            if profile is None:
                raise _Refused(
                    RejectionReason.UNKNOWN_METRIC,
                    f"device profile {device.profile} of enterprise {device.enterprise} does "
                    "not exist",
                )
            self._profile_cache.put(key, profile)
        return profile

    def _evaluate_alarms(
        self, device: Device, profile: DeviceProfile, message: TelemetryMessage
    ) -> tuple[str, ...]:
        """Run the profile's alarm rules over a reading; the ids of the alarms raised.

        Invocations for one device may run at once. The new rule states are written only if
        no other invocation changed them since they were read (else read again and evaluate
        again), so one breach raises one alarm however its readings are spread over
        invocations. The alarms themselves are written after their states."""
        current: Device | None = device
        for _ in range(_ATTEMPTS):
            if current is None or (
                current.latest_at is not None and message.at <= current.latest_at
            ):
                return ()  # gone, or a newer reading has spoken since
            changed, transitions = _transitions(current, profile, message)
            if self._devices.record_alarm_states(
                current.id, changed, expected_version=current.alarm_version
            ):
                break
            current = self._devices.get(device.id)
        else:
            raise ConcurrentUpdateError(f"alarm states of {device.id} kept changing")
        raised: list[str] = []
        for rule, before, after, value, transition in transitions:
            if transition is Transition.RAISE:
                alarm = new_alarm(
                    rule,
                    after,
                    enterprise=current.enterprise,
                    device=current.id,
                    value=value,
                    at=message.at,
                )
                # False: raised by an earlier delivery of this reading, which is fine.
                if self._alarms.raise_(alarm):
                    raised.append(alarm.id)
            elif before.alarm is not None:
                self._clear(before.alarm, value, message.at)
        return tuple(raised)

    def _clear(self, alarm_id: str, value: float, at: int) -> None:
        for _ in range(_ATTEMPTS):
            alarm = self._alarms.get(alarm_id)
            if alarm is None or alarm.status is AlarmStatus.CLEARED:
                return
            if self._alarms.save(clear(alarm, value, at), expected=alarm.status):
                return
            # Acknowledged meanwhile: clear what is stored now.
        raise ConcurrentUpdateError(f"alarm {alarm_id} kept changing while being cleared")

    def _answer(
        self, device: Device, command_id: str, response: CommandResponse, at: int
    ) -> Outcome:
        for _ in range(_ATTEMPTS):
            command = self._commands.get(command_id)
            if command is None:
                raise _Refused(UNKNOWN_COMMAND, f"command {command_id} does not exist")
            if command.device != device.id:
                raise _Refused(WRONG_DEVICE, f"command {command_id} was sent to another device")
            if command.status is not CommandStatus.SENT:
                if _same_answer(command, response):
                    return Outcome("duplicate")
                raise _Refused(
                    ALREADY_ANSWERED,
                    f"command {command_id} was answered already ({command.status.value})",
                )
            if at > command.deadline:
                raise _Refused(
                    LATE,
                    f"command {command_id} timed out at {command.deadline}; the answer came "
                    f"at {at}",
                )
            if self._commands.respond(command_id, response, at):
                return Outcome("stored")
            # Answered by a concurrent delivery meanwhile: the next reading says how.
        raise ConcurrentUpdateError(f"command {command_id} kept changing")

    def _reject(
        self,
        kind: str,
        event: Mapping[str, Any],
        device: Device | None,
        refused: _Refused | InvalidValueError,
    ) -> Outcome:
        reason = str(getattr(refused, "reason", RejectionReason.MALFORMED))
        # The dead letter first: losing the message matters more than a count.
        self._dead_letters.send(kind=kind, reason=reason, message=refused.message, event=event)
        if device is not None:
            self._devices.record_rejection(device.id, reason)
        return Outcome("rejected", reason=reason)


def _payload(event: Mapping[str, Any]) -> bytes:
    raw = event.get("payload")
    if not isinstance(raw, str):
        raise _Refused(RejectionReason.MALFORMED, "payload: missing (base64 expected)")
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise _Refused(RejectionReason.MALFORMED, "payload: not base64") from None


def _received_at(event: Mapping[str, Any]) -> int:
    at = event.get("receivedAt")
    if isinstance(at, bool) or not isinstance(at, int):
        raise _Refused(RejectionReason.MALFORMED, f"receivedAt: {at!r} is not epoch milliseconds")
    return at


def _same_answer(command: Command, response: CommandResponse) -> bool:
    """Whether `response` is the answer already on record (a redelivery)."""
    return (
        command.status is response.status
        and command.error == response.error
        and (command.result or None) == (response.result or None)
    )


def _check_sender(event: Mapping[str, Any], device: Device) -> None:
    """Only the device itself publishes on its topics (its policy says so; this makes sure),
    and only while it is not retired. A mismatch is counted on the device too: someone is
    using its topics."""
    client = event.get("clientId")
    if client != device.id:
        raise _Refused(
            RejectionReason.CLIENT_MISMATCH,
            f"client {client!r} published on the topic of device {device.id}",
        )
    if device.state is LifecycleState.RETIRED:
        raise _Refused(RejectionReason.DEVICE_RETIRED, f"device {device.id} is retired")
