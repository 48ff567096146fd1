"""Device events on in-memory stores: telemetry stored with its latest values, threshold
alarms raised once and cleared, every kind of bad message dead-lettered and counted,
presence in time order, activation on first contact, command responses, and queries."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from idnode.domain.access import user
from idnode.domain.alarms import AlarmStatus
from idnode.domain.commands import Command, CommandStatus
from idnode.domain.devices import LifecycleState, RuleState
from idnode.domain.errors import InvalidValueError, NotAuthorisedError, NotFoundError
from idnode.domain.parameters import Parameters
from idnode.domain.telemetry import MAX_PAYLOAD_BYTES, RejectionReason
from idnode.services.devices import DeviceService
from idnode.services.operations import OperationLog
from idnode.services.telemetry import MAX_POINTS, Outcome, TelemetryService
from tests.unit.fakes import InMemoryOperations
from tests.unit.fakes_devices import (
    ENTERPRISE,
    OTHER_ENTERPRISE,
    EpochClock,
    FakeDeadLetters,
    FakeIotCore,
    FakeRegistry,
    InMemoryAlarms,
    InMemoryCommands,
    InMemoryDevices,
    InMemoryProfiles,
    InMemoryTelemetry,
    prefixes_of,
    pump,
    pump_profile,
)

DEVICE = "d-pump1"
MEMBER = user("eve", ["enterprise-user"], ENTERPRISE, [])
OTHER_ADMIN = user("oscar", ["enterprise-admin"], OTHER_ENTERPRISE, [])


@dataclass
class World:
    clock: EpochClock = field(default_factory=EpochClock)
    devices: InMemoryDevices = field(default_factory=InMemoryDevices)
    profiles: InMemoryProfiles = field(default_factory=InMemoryProfiles)
    telemetry: InMemoryTelemetry = field(default_factory=InMemoryTelemetry)
    alarms: InMemoryAlarms = field(default_factory=InMemoryAlarms)
    commands: InMemoryCommands = field(default_factory=InMemoryCommands)
    dead_letters: FakeDeadLetters = field(default_factory=FakeDeadLetters)
    connected: list[tuple[str, int]] = field(default_factory=list)
    parameters: Parameters = field(default_factory=Parameters)

    def __post_init__(self) -> None:
        self.profiles.put(pump_profile())
        self.devices.seed(pump())
        self.service = TelemetryService(
            self.devices,
            self.profiles,
            self.telemetry,
            self.alarms,
            self.commands,
            dead_letters=self.dead_letters,
            parameters=lambda: self.parameters,
            on_connect=lambda device, at: self.connected.append((device, at)),
            clock=self.clock,
        )

    @property
    def device(self) -> Any:
        return self.devices.items[DEVICE]

    def reading(self, at_offset: int, **values: Any) -> Outcome:
        """A telemetry message taken `at_offset` ms before now."""
        at = self.clock.now - at_offset
        return self.service.ingest(telemetry_event({"ts": at, "values": values}))


def telemetry_event(
    document: Any = None, *, raw: bytes | None = None, device: str = DEVICE, client: str = DEVICE
) -> dict[str, Any]:
    payload = raw if raw is not None else json.dumps(document).encode()
    return {
        "kind": "telemetry",
        "payload": base64.b64encode(payload).decode(),
        "device": device,
        "clientId": client,
        "receivedAt": 1_750_000_000_000,
    }


@pytest.fixture
def world() -> World:
    return World()


# Storing


def test_a_reading_is_stored_and_becomes_the_latest(world: World) -> None:
    outcome = world.reading(1000, temperature=71.5, rpm=1500, running=True)
    assert outcome == Outcome("stored")
    at = world.clock.now - 1000
    stored = world.telemetry.items[(DEVICE, at)]
    assert stored.values == {"temperature": 71.5, "rpm": 1500, "running": True}
    retention = world.parameters.telemetry_retention_days * 86_400
    assert world.telemetry.expires[(DEVICE, at)] == at // 1000 + retention
    assert world.device.latest_at == at
    assert world.device.latest["rpm"].value == 1500
    assert world.dead_letters.sent == []


def test_a_reading_without_a_time_takes_the_brokers(world: World) -> None:
    world.service.ingest(telemetry_event({"values": {"temperature": 20.0}}))
    assert (DEVICE, 1_750_000_000_000) in world.telemetry.items


def test_a_redelivered_reading_is_a_duplicate(world: World) -> None:
    event = telemetry_event({"ts": world.clock.now, "values": {"temperature": 20.0}})
    assert world.service.ingest(event).kind == "stored"
    assert world.service.ingest(event).kind == "duplicate"
    assert len(world.telemetry.items) == 1


def test_an_older_reading_is_kept_but_does_not_replace_the_latest(world: World) -> None:
    world.reading(0, temperature=30.0)
    assert world.reading(60_000, temperature=25.0).kind == "stored"
    assert world.device.latest["temperature"].value == 30.0
    assert len(world.telemetry.items) == 2


# Alarms


def test_an_alarm_is_raised_once_across_breaching_readings_and_redeliveries(
    world: World,
) -> None:
    first = telemetry_event({"ts": world.clock.now - 3000, "values": {"temperature": 120.0}})
    raised = world.service.ingest(first)
    assert len(raised.alarms) == 1
    (alarm_id,) = raised.alarms
    assert world.service.ingest(first).alarms == ()  # redelivered
    assert world.reading(2000, temperature=125.0).alarms == ()
    assert world.reading(1000, temperature=130.0).alarms == ()
    assert list(world.alarms.items) == [alarm_id]
    alarm = world.alarms.items[alarm_id]
    assert (alarm.status, alarm.raised_value, alarm.rule, alarm.enterprise) == (
        AlarmStatus.ACTIVE,
        120.0,
        "overheat",
        ENTERPRISE,
    )
    assert world.device.alarm_states["overheat"].alarm == alarm_id


def test_invocations_running_at_once_for_one_device_raise_one_alarm(world: World) -> None:
    """Both read the device before either wrote; the second to write reads again and finds
    the alarm the first raised."""
    both_read = world.device
    world.reading(2000, temperature=120.0)
    current = world.devices.get
    reads = iter([both_read])
    world.devices.get = lambda device_id: next(reads, None) or current(device_id)  # type: ignore[method-assign]
    assert world.reading(1000, temperature=125.0).alarms == ()
    assert len(world.alarms.items) == 1
    assert world.device.alarm_version == 1


def test_a_redelivery_after_a_failure_midway_raises_nothing_new(world: World) -> None:
    # The alarm was raised, but the device's rule state was never written.
    event = telemetry_event({"ts": world.clock.now, "values": {"temperature": 120.0}})
    world.service.ingest(event)
    world.devices.seed(replace(world.device, alarm_states={}, latest_at=None, latest={}))
    outcome = world.service.ingest(event)
    assert (outcome.kind, outcome.alarms) == ("duplicate", ())
    assert len(world.alarms.items) == 1
    assert world.device.alarm_states["overheat"].alarm is not None


def test_a_rule_with_a_duration_raises_once_the_breach_has_lasted(world: World) -> None:
    assert world.reading(90_000, rpm=9500).alarms == ()
    assert world.device.alarm_states["overspeed"] == RuleState(
        pending_since=world.clock.now - 90_000
    )
    assert world.reading(40_000, rpm=9600).alarms == ()  # 50 s so far
    (alarm_id,) = world.reading(25_000, rpm=9700).alarms  # 65 s
    assert world.alarms.items[alarm_id].severity.value == "major"


def test_a_reading_within_limits_clears_the_alarm(world: World) -> None:
    (alarm_id,) = world.reading(2000, temperature=120.0).alarms
    world.reading(1000, temperature=80.0)
    alarm = world.alarms.items[alarm_id]
    assert (alarm.status, alarm.cleared_value, alarm.cleared_at) == (
        AlarmStatus.CLEARED,
        80.0,
        world.clock.now - 1000,
    )
    assert "overheat" not in world.device.alarm_states
    # A new breach is a new alarm.
    (again,) = world.reading(0, temperature=110.0).alarms
    assert again != alarm_id


def test_clearing_keeps_who_acknowledged(world: World) -> None:
    (alarm_id,) = world.reading(2000, temperature=120.0).alarms
    alarm = world.alarms.items[alarm_id]
    world.alarms.items[alarm_id] = replace(
        alarm, status=AlarmStatus.ACKNOWLEDGED, acknowledged_by="eve", acknowledged_at=5
    )
    world.reading(1000, temperature=80.0)
    cleared = world.alarms.items[alarm_id]
    assert (cleared.status, cleared.acknowledged_by) == (AlarmStatus.CLEARED, "eve")


def test_an_acknowledgement_meanwhile_does_not_stop_clearing(world: World) -> None:
    (alarm_id,) = world.reading(2000, temperature=120.0).alarms

    def acknowledge(alarms: InMemoryAlarms) -> None:
        alarms.items[alarm_id] = replace(
            alarms.items[alarm_id], status=AlarmStatus.ACKNOWLEDGED, acknowledged_by="eve"
        )

    world.alarms.before_save.append(acknowledge)
    world.reading(1000, temperature=80.0)
    assert world.alarms.items[alarm_id].status is AlarmStatus.CLEARED
    assert world.alarms.items[alarm_id].acknowledged_by == "eve"


def test_a_late_reading_inside_a_breach_does_not_clear_it(world: World) -> None:
    (alarm_id,) = world.reading(3000, temperature=120.0).alarms
    world.reading(1000, temperature=125.0)
    # Taken between the two, delivered after the newer one: the breach goes on regardless.
    assert world.reading(2000, temperature=20.0).kind == "stored"
    assert world.alarms.items[alarm_id].status is AlarmStatus.ACTIVE
    assert world.device.alarm_states["overheat"].alarm == alarm_id


def test_a_late_breaching_reading_raises_nothing(world: World) -> None:
    world.reading(1000, temperature=20.0)
    assert world.reading(2000, temperature=120.0).alarms == ()
    assert world.alarms.items == {}


def test_a_late_reading_neither_clears_nor_raises(world: World) -> None:
    (alarm_id,) = world.reading(1000, temperature=120.0).alarms
    assert world.reading(5000, temperature=20.0).kind == "stored"
    assert world.alarms.items[alarm_id].status is AlarmStatus.ACTIVE
    world.reading(0, temperature=20.0)
    assert world.alarms.items[alarm_id].status is AlarmStatus.CLEARED


# Rejections


def _rejections() -> list[tuple[RejectionReason, dict[str, Any], LifecycleState]]:
    now = 1_750_000_000_000
    active = LifecycleState.ACTIVE

    def values(**given: Any) -> dict[str, Any]:
        return telemetry_event({"ts": now, "values": given})

    return [
        (RejectionReason.NOT_JSON, telemetry_event(raw=b"\xff{not json"), active),
        (RejectionReason.MALFORMED, telemetry_event({"ts": now, "values": {}}), active),
        (RejectionReason.MALFORMED, telemetry_event([1, 2]), active),
        (RejectionReason.MALFORMED, {**values(temperature=1.0), "payload": "%%%"}, active),
        (RejectionReason.MALFORMED, telemetry_event({"ts": "now", "values": {"rpm": 1}}), active),
        (
            RejectionReason.OVERSIZED,
            telemetry_event(raw=b"{" + b" " * MAX_PAYLOAD_BYTES + b"}"),
            active,
        ),
        (RejectionReason.UNKNOWN_DEVICE, telemetry_event({}, device="d-nobody"), active),
        (RejectionReason.UNKNOWN_DEVICE, telemetry_event({}, device="a/b"), active),
        (RejectionReason.DEVICE_RETIRED, values(temperature=1.0), LifecycleState.RETIRED),
        (RejectionReason.CLIENT_MISMATCH, telemetry_event({}, client="d-other"), active),
        (RejectionReason.UNKNOWN_METRIC, values(pressure=2.0), active),
        (RejectionReason.WRONG_TYPE, values(running=1), active),
        (RejectionReason.WRONG_TYPE, values(rpm=1.5), active),
        (RejectionReason.OUT_OF_RANGE, values(temperature=912.0), active),
        (
            RejectionReason.TIMESTAMP_OUT_OF_RANGE,
            telemetry_event({"ts": now + 3_600_000, "values": {"rpm": 1}}),
            active,
        ),
        (
            RejectionReason.TIMESTAMP_OUT_OF_RANGE,
            telemetry_event({"ts": now - 91 * 86_400_000, "values": {"rpm": 1}}),
            active,
        ),
    ]


@pytest.mark.parametrize(("reason", "event", "state"), _rejections())
def test_every_rejection_reaches_the_dead_letters_and_the_device(
    world: World, reason: RejectionReason, event: dict[str, Any], state: LifecycleState
) -> None:
    world.devices.seed(replace(world.device, state=state))
    outcome = world.service.ingest(event)
    assert outcome == Outcome("rejected", reason=reason.value)
    (letter,) = world.dead_letters.sent
    assert (letter.kind, letter.reason, letter.event) == ("telemetry", reason.value, event)
    assert letter.message
    assert world.telemetry.items == {}
    known = reason is not RejectionReason.UNKNOWN_DEVICE
    assert world.device.rejected == (1 if known else 0)
    assert world.device.last_rejection == (reason.value if known else None)


def test_every_rejection_reason_is_exercised() -> None:
    assert {reason for reason, _, _ in _rejections()} == set(RejectionReason)


def test_a_rejection_names_the_metric_and_value(world: World) -> None:
    world.reading(0, temperature=912.0)
    assert world.dead_letters.sent[0].message == (
        "values.temperature: 912.0 is above the maximum 150.0"
    )


def test_a_dead_letter_queue_failure_raises_so_that_the_event_is_retried(world: World) -> None:
    world.dead_letters.fail_with = RuntimeError("queue unavailable")
    with pytest.raises(RuntimeError):
        world.reading(0, temperature=912.0)


def test_a_store_failure_raises(world: World) -> None:
    world.devices.fail_get = RuntimeError("table unavailable")
    with pytest.raises(RuntimeError):
        world.reading(0, temperature=20.0)
    assert world.dead_letters.sent == []


# Profiles are cached


def test_the_profile_is_read_once_a_minute(world: World) -> None:
    reads = world.profiles.reads
    world.reading(3000, temperature=20.0)
    world.reading(2000, temperature=21.0)
    assert world.profiles.reads == reads + 1
    world.clock.advance(61_000)
    world.reading(0, temperature=22.0)
    assert world.profiles.reads == reads + 2


# Presence and activation


def presence(
    event_type: str, at: int, client: str = DEVICE, reason: str | None = None
) -> dict[str, Any]:
    event = {"kind": "presence", "clientId": client, "eventType": event_type, "timestamp": at}
    if reason is not None:
        event["disconnectReason"] = reason
    return event


def test_presence_is_recorded_in_time_order(world: World) -> None:
    assert world.service.presence(presence("connected", 2000)) == Outcome("stored")
    assert world.service.presence(presence("disconnected", 1000)) == Outcome(
        "ignored", reason="stale"
    )
    assert (world.device.connected, world.device.connectivity_at) == (True, 2000)
    assert world.service.presence(presence("disconnected", 3000)).kind == "stored"
    assert (world.device.connected, world.device.connectivity_at) == (False, 3000)


def test_a_reconnection_is_not_hidden_by_the_replaced_sessions_disconnection(
    world: World,
) -> None:
    world.service.presence(presence("connected", 1000))
    world.service.presence(presence("connected", 2000))
    # IoT Core drops the old session when the device connects again with its client id; that
    # disconnection may be reported after, and stamped later than, the new connection.
    dropped = presence("disconnected", 2001, reason="DUPLICATE_CLIENTID")
    assert world.service.presence(dropped) == Outcome("ignored", reason="superseded")
    assert (world.device.connected, world.device.connectivity_at) == (True, 2000)
    lost = presence("disconnected", 2002, reason="CONNECTION_LOST")
    assert world.service.presence(lost) == Outcome("stored")
    assert world.device.connected is False


def test_presence_of_clients_that_are_no_devices_is_ignored(world: World) -> None:
    assert world.service.presence(presence("connected", 1, client="d-nobody")).kind == "ignored"
    assert world.service.presence(presence("connected", 1, client="sim/01")).kind == "ignored"
    assert world.dead_letters.sent == []


@pytest.mark.parametrize(
    "event",
    [
        {"clientId": DEVICE, "eventType": "subscribed", "timestamp": 1},
        {"clientId": DEVICE, "eventType": "connected", "timestamp": "1"},
        {"eventType": "connected", "timestamp": 1},
        {"clientId": DEVICE, "eventType": "connected", "timestamp": True},
    ],
)
def test_a_malformed_presence_event_is_dead_lettered(world: World, event: dict[str, Any]) -> None:
    assert world.service.presence(event) == Outcome("rejected", reason="malformed")
    assert [(d.kind, d.reason) for d in world.dead_letters.sent] == [("presence", "malformed")]


def test_a_provisioned_device_is_activated_on_connecting_or_publishing(world: World) -> None:
    world.devices.seed(replace(world.device, state=LifecycleState.PROVISIONED))
    world.service.presence(presence("disconnected", 500))
    assert world.connected == []
    world.service.presence(presence("connected", 1000))
    world.reading(0, temperature=20.0)
    assert world.connected == [(DEVICE, 1000), (DEVICE, world.clock.now)]


def test_an_active_device_is_not_activated_again(world: World) -> None:
    world.service.presence(presence("connected", 1000))
    world.reading(0, temperature=20.0)
    assert world.connected == []


def test_first_connection_moves_a_provisioned_device_to_active() -> None:
    world = World()
    world.devices.seed(replace(world.device, state=LifecycleState.PROVISIONED))
    registry = FakeRegistry()
    registry.records["88.100.1000/PUMP-0001"] = {}
    devices = DeviceService(
        world.devices,
        world.profiles,
        FakeIotCore(),
        registry,
        OperationLog(InMemoryOperations(), fallback=lambda _entry, _error: None),
        commands=world.commands,
        alarms=world.alarms,
        prefixes_of=prefixes_of,
        parameters=Parameters,
        clock=world.clock,
    )
    service = replace_on_connect(world, devices.activate_on_connect)
    service.presence(presence("connected", 1000))
    assert world.device.state is LifecycleState.ACTIVE
    assert world.device.connected is True


def replace_on_connect(world: World, on_connect: Any) -> TelemetryService:
    return TelemetryService(
        world.devices,
        world.profiles,
        world.telemetry,
        world.alarms,
        world.commands,
        dead_letters=world.dead_letters,
        parameters=lambda: world.parameters,
        on_connect=on_connect,
        clock=world.clock,
    )


# Command responses


def sent_command(world: World, *, device: str = DEVICE, timeout_ms: int = 30_000) -> Command:
    command = Command(
        id="c1",
        device=device,
        enterprise=ENTERPRISE,
        name="reboot",
        parameters={},
        status=CommandStatus.SENT,
        sent_at=world.clock.now,
        deadline=world.clock.now + timeout_ms,
        sent_by="eve",
    )
    world.commands.create(command, expires=0)
    return command


def response_event(
    document: Any, *, at: int, command: str = "c1", device: str = DEVICE
) -> dict[str, Any]:
    return {
        "kind": "response",
        "payload": base64.b64encode(json.dumps(document).encode()).decode(),
        "device": device,
        "command": command,
        "clientId": device,
        "receivedAt": at,
    }


def test_an_ok_response_acknowledges_the_command(world: World) -> None:
    sent_command(world)
    at = world.clock.now + 1000
    event = response_event({"status": "ok", "result": {"uptime": 0}}, at=at)
    assert world.service.respond(event) == Outcome("stored")
    stored = world.commands.items["c1"]
    assert (stored.status, stored.result, stored.responded_at) == (
        CommandStatus.ACKNOWLEDGED,
        {"uptime": 0},
        at,
    )


def test_a_failed_response_records_the_error(world: World) -> None:
    sent_command(world)
    event = response_event({"status": "failed", "error": "busy"}, at=world.clock.now)
    assert world.service.respond(event).kind == "stored"
    stored = world.commands.items["c1"]
    assert (stored.status, stored.error) == (CommandStatus.FAILED, "busy")


def test_a_redelivered_response_is_a_duplicate_and_a_second_answer_refused(world: World) -> None:
    sent_command(world)
    event = response_event({"status": "ok"}, at=world.clock.now)
    world.service.respond(event)
    assert world.service.respond(event) == Outcome("duplicate")
    changed = response_event({"status": "failed", "error": "changed my mind"}, at=world.clock.now)
    assert world.service.respond(changed) == Outcome("rejected", reason="already-answered")
    assert world.commands.items["c1"].status is CommandStatus.ACKNOWLEDGED
    assert world.dead_letters.reasons == ["already-answered"]


@pytest.mark.parametrize(
    ("setup", "event_of", "reason"),
    [
        (
            {"timeout_ms": 1000},
            lambda now: response_event({"status": "ok"}, at=now + 1001),
            "late",
        ),
        (
            {"device": "d-other"},
            lambda now: response_event({"status": "ok"}, at=now),
            "wrong-device",
        ),
        ({}, lambda now: response_event({"status": "ok"}, at=now, command="c9"), "unknown-command"),
        ({}, lambda now: response_event({"status": "done"}, at=now), "malformed"),
        ({}, lambda now: response_event({"status": "ok"}, at=now, device="d-x"), "unknown-device"),
    ],
)
def test_responses_that_cannot_be_taken_are_dead_lettered(
    world: World, setup: dict[str, Any], event_of: Any, reason: str
) -> None:
    sent_command(world, **setup)
    event = event_of(world.clock.now)
    assert world.service.respond(event) == Outcome("rejected", reason=reason)
    assert [(d.kind, d.reason, d.event) for d in world.dead_letters.sent] == [
        ("response", reason, event)
    ]
    assert world.commands.items["c1"].status is CommandStatus.SENT
    if reason != "unknown-device":
        assert world.device.last_rejection == reason


def test_an_event_of_no_known_kind_is_dead_lettered(world: World) -> None:
    assert world.service.misrouted({"kind": "firmware"}) == Outcome(
        "rejected", reason="unknown-kind"
    )
    assert world.service.misrouted(["not", "an", "object"]).kind == "rejected"
    assert [d.kind for d in world.dead_letters.sent] == ["unknown", "unknown"]


# Queries


def test_a_query_aggregates_readings_into_buckets(world: World) -> None:
    base = world.clock.now - 60_000
    for offset, value in [(0, 10.0), (1000, 20.0), (30_000, 40.0)]:
        world.service.ingest(
            telemetry_event({"ts": base + offset, "values": {"temperature": value}})
        )
    buckets, truncated = world.service.query(
        MEMBER, DEVICE, "temperature", start=base, end=base + 60_000, interval_ms=30_000
    )
    assert truncated is False
    assert [(b.start, b.count, b.minimum, b.maximum, b.average) for b in buckets] == [
        (base, 2, 10.0, 20.0, 15.0),
        (base + 30_000, 1, 40.0, 40.0, 40.0),
    ]
    assert world.telemetry.asked_limits == [MAX_POINTS]


def test_a_query_checks_who_asks_for_what(world: World) -> None:
    now = world.clock.now
    with pytest.raises(NotAuthorisedError):
        world.service.query(
            OTHER_ADMIN, DEVICE, "temperature", start=now - 1000, end=now, interval_ms=1000
        )
    with pytest.raises(InvalidValueError, match="metric"):
        world.service.query(MEMBER, DEVICE, "pressure", start=now - 1000, end=now, interval_ms=1000)
    with pytest.raises(InvalidValueError):
        world.service.query(MEMBER, DEVICE, "temperature", start=now, end=now, interval_ms=1000)
    with pytest.raises(NotFoundError):
        world.service.query(
            MEMBER, "d-nobody", "temperature", start=now - 1000, end=now, interval_ms=1000
        )
