"""`idnode simulate`: a fleet of simulated industrial sensors speaking MQTT to the platform.

Each simulated device is provisioned the way a real one is (its private key is made here and
only its CSR goes to the platform), then publishes telemetry, answers commands and applies the
desired state of its shadow. The device behaviour below needs no broker: a device talks to
MQTT through one `Link`, so the behaviour, the counters and the publishing schedule are tested
with fake links and a fake clock.
"""

from __future__ import annotations

import argparse
import getpass
import heapq
import json
import math
import os
import random
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, TextIO
from urllib.parse import urlsplit

from idnode.cli.workspace import CommandError, Workspace
from idnode.domain.devices import command_subscription, response_topic, telemetry_topic

DEFAULT_PROFILE = "sim-sensor"
FIRMWARE = "sim-1.0.0"
EXIT_NO_CONNECTION = 1
# AWS IoT Core accepts at most 100 publishes per second on one connection.
MAX_RATE = 100.0
# About one message in 50 carries a value beyond an alarm threshold, in runs long enough for
# the temperature rule's 5 s hold; about one in 500 carries a value outside its valid range.
EXCURSION_SHARE = 1 / 50
FAULT_SHARE = 1 / 500
EXCURSION_SECONDS = (6.0, 20.0)
HIGH_FAULT_SHARE = 0.5  # faults read above the valid range as often as below it
CONNECT_TIMEOUT_SECONDS = 20.0
NO_SHADOW = 404  # the code of shadow/get/rejected for a device without a shadow
DRAIN_SECONDS = 5.0
STOP_SECONDS = 5.0
POLL_SECONDS = 0.1
PROGRESS_SECONDS = 1.0
KEEP_ALIVE_SECONDS = 60
AWS_MQTT_PORT = 8883
PROVISIONING_WORKERS = 4
PAGE_SIZE = 50
GRAPHQL_TIMEOUT_SECONDS = 60  # the first call to each function may start a cold worker
OPERATIONS_DIR = ("graphql", "operations")
LOCAL_CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
DEMO_USERNAME = "demo"
DEMO_PASSWORD = "Demo-Passw0rd!"  # local cloud only # noqa: S105


# The profile the simulated sensors follow


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One metric of the simulated sensor, as the profile declares it."""

    name: str
    type: str  # GraphQL MetricType
    unit: str = ""
    minimum: float | None = None
    maximum: float | None = None

    def valid(self, value: float | bool) -> bool:
        """Whether the platform accepts `value` for this metric."""
        if self.type == "BOOLEAN":
            return isinstance(value, bool)
        if isinstance(value, bool) or not math.isfinite(value):
            return False
        return (self.minimum is None or value >= self.minimum) and (
            self.maximum is None or value <= self.maximum
        )


@dataclass(frozen=True, slots=True)
class AlarmSpec:
    """One alarm rule of the simulated sensor's profile."""

    name: str
    metric: str
    comparison: str  # GraphQL Comparison: GT or GE
    threshold: float
    duration_seconds: int
    severity: str  # GraphQL AlarmSeverity

    def breached(self, value: float) -> bool:
        return value > self.threshold if self.comparison == "GT" else value >= self.threshold


SENSOR_METRICS = (
    MetricSpec("temperature", "NUMBER", "°C", -40.0, 150.0),
    MetricSpec("pressure", "NUMBER", "kPa", 0.0, 1000.0),
    MetricSpec("running", "BOOLEAN"),
    MetricSpec("vibration", "NUMBER", "mm/s", 0.0, 100.0),
)
SENSOR_ALARMS = (
    AlarmSpec("overheating", "temperature", "GT", 90.0, 5, "MAJOR"),
    AlarmSpec("highVibration", "vibration", "GE", 20.0, 0, "MINOR"),
)
_METRICS = {metric.name: metric for metric in SENSOR_METRICS}
NUMERIC_METRICS = tuple(metric.name for metric in SENSOR_METRICS if metric.type != "BOOLEAN")


def profile_input(enterprise: str, name: str) -> dict[str, Any]:
    """The `DeviceProfileInput` of the simulated sensor."""
    return {
        "enterprise": enterprise,
        "name": name,
        "description": "Simulated pump sensor (idnode simulate)",
        "metrics": [
            {
                "name": metric.name,
                "type": metric.type,
                "unit": metric.unit,
                "minimum": metric.minimum,
                "maximum": metric.maximum,
            }
            for metric in SENSOR_METRICS
        ],
        "alarmRules": [
            {
                "name": rule.name,
                "metric": rule.metric,
                "comparison": rule.comparison,
                "threshold": rule.threshold,
                "durationSeconds": rule.duration_seconds,
                "severity": rule.severity,
            }
            for rule in SENSOR_ALARMS
        ],
    }


# Telemetry


@dataclass(frozen=True, slots=True)
class OperatingPoint:
    """Where a metric settles, how much it wanders, how fast it returns, and the band it is
    kept in (inside the alarm thresholds: only excursions cross them)."""

    mean: float
    spread: float
    settle_seconds: float
    low: float
    high: float


RUNNING_POINTS = {
    "temperature": OperatingPoint(68.0, 4.0, 60.0, 20.0, 85.0),
    "pressure": OperatingPoint(420.0, 15.0, 20.0, 150.0, 650.0),
    "vibration": OperatingPoint(4.5, 1.2, 10.0, 0.5, 15.0),
}
# A stopped pump cools down to ambient, loses pressure and stops vibrating.
STOPPED_POINTS = {
    "temperature": OperatingPoint(28.0, 1.5, 300.0, 15.0, 85.0),
    "pressure": OperatingPoint(101.3, 0.8, 30.0, 95.0, 650.0),
    "vibration": OperatingPoint(0.2, 0.05, 5.0, 0.0, 15.0),
}
# Values an excursion takes: beyond the alarm threshold, inside the valid range.
EXCURSION_LEVELS = {"temperature": (92.0, 118.0), "vibration": (21.0, 38.0)}


@dataclass(frozen=True, slots=True)
class Reading:
    """One telemetry message, with what was injected into it."""

    ts: int
    values: Mapping[str, float | bool]
    excursion: str | None = None  # the metric held beyond its alarm threshold
    fault: str | None = None  # the metric carrying an out-of-range value

    def document(self) -> dict[str, Any]:
        return {"ts": self.ts, "values": dict(self.values)}


class TelemetryGenerator:
    """Readings of one pump sensor: mean-reverting random walks around its operating point,
    with injected excursions and faults. Deterministic for a given random generator."""

    def __init__(self, rng: random.Random, rate: float) -> None:
        self._rng = rng
        self.rate = rate
        self.running = True
        self._values = {
            name: _clamp(point.mean + rng.gauss(0.0, point.spread), point)
            for name, point in RUNNING_POINTS.items()
        }
        self._last_ts: int | None = None
        self._excursion: tuple[str, int] | None = None  # metric, until (epoch ms)

    def next(self, now_ms: int) -> Reading:
        """The reading taken at `now_ms` (timestamps strictly increase: each is a point)."""
        if self._last_ts is None:
            ts, elapsed = now_ms, 1.0 / self.rate
        else:
            ts = max(now_ms, self._last_ts + 1)
            elapsed = (ts - self._last_ts) / 1000.0
        self._last_ts = ts
        self._walk(elapsed)
        values: dict[str, float | bool] = {
            "temperature": round(self._values["temperature"], 2),
            "pressure": round(self._values["pressure"], 2),
            "running": self.running,
            "vibration": round(self._values["vibration"], 2),
        }
        excursion = self._excursion_at(ts)
        if excursion is not None:
            low, high = EXCURSION_LEVELS[excursion]
            values[excursion] = round(self._rng.uniform(low, high), 2)
        fault = None
        if self._rng.random() < FAULT_SHARE:
            fault = self._rng.choice(NUMERIC_METRICS)
            values[fault] = self._fault_value(_METRICS[fault])
        return Reading(ts, values, excursion, fault)

    def _walk(self, elapsed: float) -> None:
        points = RUNNING_POINTS if self.running else STOPPED_POINTS
        for name, point in points.items():
            # Exact Ornstein-Uhlenbeck step: the spread stays the same whatever the rate.
            keep = math.exp(-elapsed / point.settle_seconds)
            noise = point.spread * math.sqrt(1.0 - keep * keep) * self._rng.gauss(0.0, 1.0)
            value = point.mean + (self._values[name] - point.mean) * keep + noise
            self._values[name] = _clamp(value, point)

    def _excursion_at(self, ts: int) -> str | None:
        if self._excursion is not None and ts < self._excursion[1]:
            return self._excursion[0]
        self._excursion = None
        if self._rng.random() < self._excursion_start_probability():
            metric = self._rng.choice(tuple(EXCURSION_LEVELS))
            seconds = self._rng.uniform(*EXCURSION_SECONDS)
            self._excursion = (metric, ts + round(seconds * 1000))
            return metric
        return None

    def _excursion_start_probability(self) -> float:
        # Starts are rarer at higher rates so that the share of messages beyond a threshold
        # stays about EXCURSION_SHARE whatever the rate.
        # (an excursion of d seconds spans d * rate messages, plus the one that starts it)
        mean_messages = sum(EXCURSION_SECONDS) / 2 * self.rate + 0.5
        return EXCURSION_SHARE / ((1.0 - EXCURSION_SHARE) * mean_messages)

    def _fault_value(self, metric: MetricSpec) -> float:
        assert metric.minimum is not None and metric.maximum is not None
        span = metric.maximum - metric.minimum
        offset = self._rng.uniform(0.05, 0.5) * span
        if self._rng.random() < HIGH_FAULT_SHARE:
            return round(metric.maximum + offset, 1)
        return round(metric.minimum - offset, 1)

    def latest(self) -> dict[str, float | bool]:
        """The current operating values, as a command answer reports them."""
        values: dict[str, float | bool] = {
            name: round(value, 2) for name, value in self._values.items()
        }
        values["running"] = self.running
        return values


def _clamp(value: float, point: OperatingPoint) -> float:
    return min(point.high, max(point.low, value))


# Device behaviour


class MessageKind(StrEnum):
    TELEMETRY = "telemetry"
    RESPONSE = "response"
    SHADOW_REPORT = "shadow-report"
    SHADOW_GET = "shadow-get"


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message a device publishes (QoS 1)."""

    topic: str
    payload: bytes
    kind: MessageKind


def _json(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def shadow_topic(device: str, suffix: str) -> str:
    """A topic of the device's classic shadow (`update`, `update/delta`, `get`, ...)."""
    return f"$aws/things/{device}/shadow/{suffix}"


class SimulatedDevice:
    """What one simulated device does with the messages it sends and receives."""

    def __init__(self, device_id: str, generator: TelemetryGenerator) -> None:
        self.id = device_id
        self.generator = generator
        self.reported: dict[str, Any] = {}
        self._commands_prefix = command_subscription(device_id).removesuffix("+")
        self._delta = shadow_topic(device_id, "update/delta")
        self._get_accepted = shadow_topic(device_id, "get/accepted")
        self._get_rejected = shadow_topic(device_id, "get/rejected")
        # Commands and shadow deltas arrive on the MQTT client's threads.
        self._lock = threading.Lock()

    @property
    def subscriptions(self) -> tuple[str, ...]:
        return (
            command_subscription(self.id),
            self._delta,
            self._get_accepted,
            self._get_rejected,
        )

    @property
    def period(self) -> float:
        """Seconds between two telemetry messages."""
        return 1.0 / self.generator.rate

    def telemetry(self, now_ms: int) -> Outgoing:
        with self._lock:
            reading = self.generator.next(now_ms)
        return Outgoing(telemetry_topic(self.id), _json(reading.document()), MessageKind.TELEMETRY)

    def shadow_request(self) -> Outgoing:
        """Asks for the shadow on connection: the device starts from its defaults, takes the
        desired state and reports what it then runs with."""
        return Outgoing(shadow_topic(self.id, "get"), b"{}", MessageKind.SHADOW_GET)

    def receive(self, topic: str, payload: bytes) -> list[Outgoing]:
        """The answers to a message received on one of the device's subscriptions."""
        if topic.startswith(self._commands_prefix):
            return [self._answer(topic.removeprefix(self._commands_prefix), payload)]
        document = _object(payload) or {}
        if topic == self._get_rejected:
            # 404: the device has no shadow yet; anything else leaves it as it is.
            return self._start_from({}, {}) if document.get("code") == NO_SHADOW else []
        state = document.get("state")
        if not isinstance(state, dict):
            return []
        if topic == self._delta:
            return self._report(self._take(state), {})
        if topic == self._get_accepted:
            return self._start_from(_mapping(state.get("desired")), _mapping(state.get("reported")))
        return []

    def _answer(self, segment: str, payload: bytes) -> Outgoing:
        command = _object(payload)
        if command is None:
            answer: dict[str, Any] = {
                "status": "failed",
                "error": "the command is not a JSON object",
            }
            return self._response(segment, answer)
        # The response topic carries the command's id; the topic the command came on may
        # name the command or its id.
        command_id = str(command.get("id") or segment)
        if not _is_topic_level(command_id):
            command_id = segment
        name = str(command.get("name") or segment)
        if name == "fail":
            answer = {"status": "failed", "error": "the simulated device was asked to fail"}
            return self._response(command_id, answer)
        with self._lock:
            if name in ("stop", "start"):
                self.generator.running = name == "start"
            values = self.generator.latest()
        return self._response(command_id, {"status": "ok", "result": {"command": name, **values}})

    def _response(self, command_id: str, answer: Mapping[str, Any]) -> Outgoing:
        return Outgoing(response_topic(self.id, command_id), _json(answer), MessageKind.RESPONSE)

    def _start_from(
        self, desired: Mapping[str, Any], reported: Mapping[str, Any]
    ) -> list[Outgoing]:
        applied = self._take(desired)
        with self._lock:
            running = {"running": self.generator.running, "rate": self.generator.rate}
        return self._report({**running, **applied}, reported)

    def _take(self, desired: Mapping[str, Any]) -> dict[str, Any]:
        """Apply what can be applied of `desired`; returns what was."""
        applied: dict[str, Any] = {}
        with self._lock:
            for key, value in desired.items():
                if key == "running":
                    if not isinstance(value, bool):
                        continue  # not applied: the delta stays for people to see
                    self.generator.running = value
                elif key == "rate":
                    if not _is_rate(value):
                        continue
                    self.generator.rate = float(value)
                applied[key] = value
        return applied

    def _report(self, state: Mapping[str, Any], reported: Mapping[str, Any]) -> list[Outgoing]:
        """Report the part of `state` that the shadow's `reported` does not show yet."""
        changed = {
            key: value
            for key, value in state.items()
            if key not in reported or reported[key] != value
        }
        with self._lock:
            _merge(self.reported, changed)
        if not changed:
            return []
        report = {"state": {"reported": changed}}
        return [Outgoing(shadow_topic(self.id, "update"), _json(report), MessageKind.SHADOW_REPORT)]


def _is_rate(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and 0 < value <= MAX_RATE
        and math.isfinite(value)
    )


def _is_topic_level(text: str) -> bool:
    return bool(text) and not any(character in text for character in "/+#")


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _object(payload: bytes) -> dict[str, Any] | None:
    try:
        document = json.loads(payload)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def _merge(target: dict[str, Any], patch: Mapping[str, Any]) -> None:
    """Merge a shadow document the way the shadow service does (null removes a key)."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


# Counters and progress


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The counters at one moment (`at`: seconds since the simulation started)."""

    at: float
    devices: int
    connected: int
    published: int
    acknowledged: int
    failed: int
    commands: int
    shadow_updates: int
    connection_failures: int
    in_flight: int


class Counters:
    """What the fleet has done; updated from the MQTT client's threads."""

    def __init__(self, devices: int) -> None:
        self._lock = threading.Lock()
        self.devices = devices
        self.connected = 0
        self.ever_connected = 0
        self.published = 0
        self.acknowledged = 0
        self.failed = 0
        self.commands = 0
        self.shadow_updates = 0
        self.connection_failures = 0
        self.in_flight = 0
        self.last_connection_error = ""

    def connection(self, *, up: bool, first: bool = False) -> None:
        with self._lock:
            self.connected += 1 if up else -1
            self.ever_connected += 1 if first else 0

    def connection_failed(self, reason: str) -> None:
        with self._lock:
            self.connection_failures += 1
            self.last_connection_error = reason

    def sent(self, kind: MessageKind) -> None:
        with self._lock:
            self.in_flight += 1
            self.published += 1 if kind is MessageKind.TELEMETRY else 0

    def completed(self, kind: MessageKind, *, ok: bool) -> None:
        """The broker acknowledged a message (ok) or it failed."""
        with self._lock:
            self.in_flight -= 1
            if not ok:
                self.failed += 1
            elif kind is MessageKind.TELEMETRY:
                self.acknowledged += 1
            elif kind is MessageKind.RESPONSE:
                self.commands += 1
            elif kind is MessageKind.SHADOW_REPORT:
                self.shadow_updates += 1

    def snapshot(self, at: float) -> Snapshot:
        with self._lock:
            return Snapshot(
                at=at,
                devices=self.devices,
                connected=self.connected,
                published=self.published,
                acknowledged=self.acknowledged,
                failed=self.failed,
                commands=self.commands,
                shadow_updates=self.shadow_updates,
                connection_failures=self.connection_failures,
                in_flight=self.in_flight,
            )


def progress_line(current: Snapshot, previous: Snapshot) -> str:
    """One line of progress; the rate is of messages the broker acknowledged since `previous`."""
    elapsed = current.at - previous.at
    rate = (current.acknowledged - previous.acknowledged) / elapsed if elapsed > 0 else 0.0
    return (
        f"{current.at:7.1f}s  connected {current.connected}/{current.devices}"
        f"  published {current.published}  acked {current.acknowledged}"
        f"  failed {current.failed}  commands {current.commands}"
        f"  shadow {current.shadow_updates}  {rate:.1f} msg/s"
    )


def summary(final: Snapshot, target_rate: float) -> str:
    """The closing lines of a run."""
    rate = final.acknowledged / final.at if final.at > 0 else 0.0
    lines = [
        f"Simulated {final.devices} device(s) for {final.at:.1f} s:"
        f" published {final.published} telemetry messages,"
        f" {final.acknowledged} acknowledged by the broker, {final.failed} failed;"
        f" {final.commands} command(s) answered, {final.shadow_updates} shadow update(s).",
        f"Achieved {rate:.1f} messages/s (target {target_rate:.1f}).",
    ]
    if final.connection_failures:
        lines.append(f"Connection attempts that failed: {final.connection_failures}.")
    return "\n".join(lines)


# Connections


class Link(Protocol):
    """One device's connection to the broker."""

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def subscribe(self, topics: Sequence[str], done: Callable[[bool], None]) -> None: ...
    def publish(self, topic: str, payload: bytes, done: Callable[[bool], None]) -> None: ...


class DeviceSession:
    """A simulated device on its link: the link reports its events here."""

    def __init__(
        self, device: SimulatedDevice, counters: Counters, wall_ms: Callable[[], int]
    ) -> None:
        self.device = device
        self.link: Link | None = None
        self.connected = False
        self.stopped = threading.Event()
        self._counters = counters
        self._wall_ms = wall_ms
        self._ever_connected = False
        self._lock = threading.Lock()

    def attach(self, link: Link) -> None:
        self.link = link

    def on_connected(self) -> None:
        with self._lock:
            if self.connected:
                return
            self.connected = True
            first = not self._ever_connected
            self._ever_connected = True
        self._counters.connection(up=True, first=first)
        # Each connection starts a clean session: subscribe again every time.
        assert self.link is not None
        self.link.subscribe(self.device.subscriptions, self._subscribed)

    def on_disconnected(self) -> None:
        with self._lock:
            if not self.connected:
                return
            self.connected = False
        self._counters.connection(up=False)

    def on_connection_failure(self, reason: str) -> None:
        self._counters.connection_failed(reason)

    def on_stopped(self) -> None:
        self.on_disconnected()
        self.stopped.set()

    def on_message(self, topic: str, payload: bytes) -> None:
        for outgoing in self.device.receive(topic, payload):
            self._send(outgoing)

    def publish_telemetry(self) -> bool:
        """Publish one reading; False while the device is not connected."""
        if not self.connected:
            return False
        self._send(self.device.telemetry(self._wall_ms()))
        return True

    def _subscribed(self, ok: bool) -> None:
        if ok:
            self._send(self.device.shadow_request())
        else:
            self._counters.connection_failed(f"{self.device.id}: subscription refused")

    def _send(self, outgoing: Outgoing) -> None:
        assert self.link is not None
        self._counters.sent(outgoing.kind)
        kind = outgoing.kind
        self.link.publish(
            outgoing.topic,
            outgoing.payload,
            lambda ok: self._counters.completed(kind, ok=ok),
        )


class Simulation:
    """Starts the links, publishes on schedule, prints progress, stops them."""

    def __init__(
        self,
        sessions: Sequence[DeviceSession],
        counters: Counters,
        *,
        out: TextIO,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.sessions = sessions
        self.counters = counters
        self._out = out
        self._clock = clock
        self._sleep = sleep
        self._started = clock()

    def start(self, timeout: float = CONNECT_TIMEOUT_SECONDS) -> int:
        """Start every link; wait until all are connected or `timeout` passes. Returns how
        many are connected."""
        for session in self.sessions:
            assert session.link is not None
            session.link.start()
        deadline = self._clock() + timeout
        while self.counters.connected < len(self.sessions) and self._clock() < deadline:
            self._sleep(POLL_SECONDS)
        self._started = self._clock()
        return self.counters.connected

    def run(self, duration: float | None) -> None:
        """Publish at each device's rate until `duration` seconds have passed (or forever)."""
        start = self._started
        end = math.inf if duration is None else start + duration
        count = len(self.sessions)
        # Spread the devices over their period: no burst of N messages at each tick.
        schedule = [
            (start + session.device.period * index / count, index)
            for index, session in enumerate(self.sessions)
        ]
        heapq.heapify(schedule)
        previous = self.counters.snapshot(0.0)
        next_progress = start + PROGRESS_SECONDS
        while True:
            now = self._clock()
            if now >= end:
                break
            while schedule and schedule[0][0] <= now:
                due, index = heapq.heappop(schedule)
                session = self.sessions[index]
                session.publish_telemetry()
                following = due + session.device.period
                # Fallen behind by more than one period: carry on from now, without a burst.
                heapq.heappush(schedule, (max(following, now), index))
            if now >= next_progress:
                current = self.counters.snapshot(now - start)
                self._print(progress_line(current, previous))
                previous = current
                next_progress = max(next_progress + PROGRESS_SECONDS, now)
            wake = min(schedule[0][0] if schedule else end, next_progress, end)
            self._sleep(max(0.0, wake - self._clock()))

    def stop(self) -> Snapshot:
        """Wait a little for acknowledgements in flight, disconnect every link, and return
        the final counters."""
        elapsed = self._clock() - self._started
        deadline = self._clock() + DRAIN_SECONDS
        while self.counters.snapshot(0.0).in_flight > 0 and self._clock() < deadline:
            self._sleep(POLL_SECONDS)
        for session in self.sessions:
            if session.link is not None:
                session.link.stop()
        deadline = self._clock() + STOP_SECONDS
        while (
            not all(session.stopped.is_set() for session in self.sessions)
            and self._clock() < deadline
        ):
            self._sleep(POLL_SECONDS)
        return self.counters.snapshot(elapsed)

    def _print(self, line: str) -> None:
        self._out.write(line + "\n")
        self._out.flush()


# Keys and certificates


@dataclass(frozen=True, slots=True)
class DeviceCredentials:
    """What a simulated device keeps between runs."""

    suffix: str
    device_id: str
    certificate_id: str
    certificate_pem: bytes
    private_key_pem: bytes
    endpoint: str


class KeyStore:
    """The simulated devices' keys, certificates and ids, in one directory per prefix.

    Private keys are written readable by their owner only; they never leave this machine.
    """

    INDEX = "devices.json"

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()

    def credentials(self, suffix: str) -> DeviceCredentials | None:
        """The stored credentials of the device with this suffix; None if incomplete."""
        entry = self._index().get(suffix)
        if not isinstance(entry, dict):
            return None
        device_id = entry.get("device")
        if not isinstance(device_id, str) or not device_id:
            return None
        try:
            key = self._key_path(device_id).read_bytes()
            certificate = self._certificate_path(device_id).read_bytes()
        except OSError:
            return None
        return DeviceCredentials(
            suffix=suffix,
            device_id=device_id,
            certificate_id=str(entry.get("certificateId") or ""),
            certificate_pem=certificate,
            private_key_pem=key,
            endpoint=str(entry.get("endpoint") or ""),
        )

    def save(self, credentials: DeviceCredentials) -> None:
        with self._lock:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            _write(self._key_path(credentials.device_id), credentials.private_key_pem, 0o600)
            _write(
                self._certificate_path(credentials.device_id), credentials.certificate_pem, 0o644
            )
            index = self._index()
            index[credentials.suffix] = {
                "device": credentials.device_id,
                "certificateId": credentials.certificate_id,
                "endpoint": credentials.endpoint,
            }
            text = json.dumps(index, indent=2, sort_keys=True) + "\n"
            _write(self.directory / self.INDEX, text.encode(), 0o644)

    def _index(self) -> dict[str, Any]:
        try:
            document = json.loads((self.directory / self.INDEX).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return document if isinstance(document, dict) else {}

    def _key_path(self, device_id: str) -> Path:
        return self.directory / f"{device_id}.key.pem"

    def _certificate_path(self, device_id: str) -> Path:
        return self.directory / f"{device_id}.cert.pem"


def _write(path: Path, content: bytes, mode: int) -> None:
    """Replace a file at once, created with `mode` (never briefly readable by others)."""
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(content)
    os.chmod(temporary, mode)  # an existing file keeps its old mode through os.open
    os.replace(temporary, path)


def new_private_key() -> bytes:
    """A new EC P-256 private key (PEM, PKCS#8)."""
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415

    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def certificate_request(private_key_pem: bytes, device_id: str) -> str:
    """A CSR (PEM) for the device, signed with its private key."""
    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    key = serialization.load_pem_private_key(private_key_pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, device_id)])
    request = (
        x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    )
    return request.public_bytes(serialization.Encoding.PEM).decode()


# The platform, through its published GraphQL operations


class PlatformError(CommandError):
    """The platform refused a request, or could not be reached."""

    def __init__(self, message: str, kind: str = "") -> None:
        super().__init__(message)
        self.kind = kind  # the GraphQL error type, when the platform answered with one


# (operation name, variables) -> the operation's one root field
Call = Callable[[str, Mapping[str, Any]], Any]


@dataclass(frozen=True, slots=True)
class Viewer:
    username: str
    enterprise: str | None
    prefixes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PlatformDevice:
    id: str
    identifier: str
    state: str  # lower case: registered, provisioned, active, maintenance, retired
    certificate_id: str | None = None


@dataclass(frozen=True, slots=True)
class Issued:
    certificate_id: str
    certificate_pem: str
    endpoint: str


def _result(operation: str, value: Any) -> dict[str, Any]:
    """A root field's value; its typed error raised as a PlatformError."""
    if not isinstance(value, dict):
        raise PlatformError(f"{operation}: unexpected answer {value!r}")
    kind = str(value.get("__typename", ""))
    if "message" in value and kind.endswith("Error"):
        raise PlatformError(f"{operation}: {kind}: {value['message']}", kind)
    return value


def _device(node: Mapping[str, Any]) -> PlatformDevice:
    return PlatformDevice(
        id=str(node["id"]),
        identifier=str(node.get("identifier") or ""),
        state=str(node.get("state") or "").lower(),
        certificate_id=node.get("certificateId"),
    )


class Platform:
    """The use cases the simulator needs, over the published operation documents."""

    def __init__(self, call: Call) -> None:
        self._call = call

    def viewer(self) -> Viewer:
        value = _result("Viewer", self._call("Viewer", {}))
        if not value.get("authenticated"):
            raise PlatformError("Viewer: the platform did not accept the ID token")
        return Viewer(
            username=str(value.get("username") or ""),
            enterprise=value.get("enterprise"),
            prefixes=tuple(value.get("prefixes") or ()),
        )

    def ensure_profile(self, enterprise: str, name: str) -> bool:
        """Define the simulated sensor's profile unless it exists; True when defined now."""
        try:
            existing = _result(
                "DeviceProfile",
                self._call("DeviceProfile", {"enterprise": enterprise, "name": name}),
            )
        except PlatformError as error:
            if error.kind != "NotFoundError":
                raise
        else:
            declared = {metric.get("name") for metric in existing.get("metrics") or ()}
            if missing := [m.name for m in SENSOR_METRICS if m.name not in declared]:
                raise PlatformError(
                    f"device profile {name} exists without the simulated metrics "
                    f"{', '.join(missing)}; choose another with --profile"
                )
            return False
        _result(
            "DefineDeviceProfile",
            self._call("DefineDeviceProfile", {"input": profile_input(enterprise, name)}),
        )
        return True

    def devices(self, enterprise: str, profile: str) -> dict[str, PlatformDevice]:
        """The enterprise's devices of this profile, by identifier."""
        found: dict[str, PlatformDevice] = {}
        after: str | None = None
        while True:
            variables = {
                "filter": {"enterprise": enterprise, "profile": profile},
                "first": PAGE_SIZE,
                "after": after,
            }
            page = _result("Devices", self._call("Devices", variables))
            for edge in page.get("edges") or ():
                device = _device(edge["node"])
                found[device.identifier] = device
            info = page.get("pageInfo") or {}
            after = info.get("endCursor")
            if not info.get("hasNextPage") or not after:
                return found

    def device(self, device_id: str) -> PlatformDevice:
        return _device(_result("Device", self._call("Device", {"id": device_id})))

    def register(self, enterprise: str, prefix: str, suffix: str, profile: str) -> PlatformDevice:
        variables = {
            "input": {
                "enterprise": enterprise,
                "prefix": prefix,
                "suffix": suffix,
                "profile": profile,
                "name": f"Simulated sensor {suffix}",
                "firmware": FIRMWARE,
            }
        }
        return _device(_result("RegisterDevice", self._call("RegisterDevice", variables)))

    def provision(self, device_id: str, csr: str) -> Issued:
        return self._issue("ProvisionDevice", device_id, csr)

    def rotate(self, device_id: str, csr: str) -> Issued:
        return self._issue("RotateDeviceCertificate", device_id, csr)

    def _issue(self, operation: str, device_id: str, csr: str) -> Issued:
        value = _result(operation, self._call(operation, {"device": device_id, "csr": csr}))
        return Issued(
            certificate_id=str(value["certificateId"]),
            certificate_pem=str(value["certificatePem"]),
            endpoint=str(value.get("endpoint") or ""),
        )


def operation_document(name: str, directory: Path | None = None) -> str:
    """The published operation document `name` (graphql/operations/<name>.graphql)."""
    directory = directory or Workspace.locate().root.joinpath(*OPERATIONS_DIR)
    try:
        return (directory / f"{name}.graphql").read_text(encoding="utf-8")
    except OSError as exc:
        raise PlatformError(f"operation document {name} is missing: {exc}") from exc


def graphql_call(url: str, token: str, documents: Path | None = None) -> Call:
    """Runs published operations against the GraphQL endpoint as the signed-in person."""
    import urllib.error  # noqa: PLC0415 - `idnode` loads this module for its parser
    import urllib.request  # noqa: PLC0415

    if urlsplit(url).scheme not in ("http", "https"):
        raise PlatformError(f"the GraphQL URL must be http(s): {url}")

    def call(name: str, variables: Mapping[str, Any]) -> Any:
        body = {"query": operation_document(name, documents), "variables": dict(variables)}
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
            url,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=GRAPHQL_TIMEOUT_SECONDS) as reply:  # noqa: S310
                document = json.load(reply)
        except urllib.error.HTTPError as exc:
            detail = exc.read(300).decode(errors="replace")
            raise PlatformError(f"{name}: HTTP {exc.code} from {url}: {detail}") from exc
        except (OSError, ValueError) as exc:
            raise PlatformError(f"{name}: no answer from {url}: {exc}") from exc
        if errors := document.get("errors"):
            messages = "; ".join(str(error.get("message")) for error in errors)
            raise PlatformError(f"{name}: {messages}")
        data = document.get("data") or {}
        return next(iter(data.values()), None)

    return call


# The fleet


@dataclass(frozen=True, slots=True)
class Fleet:
    """The devices ready to connect, and why the others are not."""

    devices: list[DeviceCredentials] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    actions: dict[str, int] = field(default_factory=dict)  # registered, provisioned, ...


def suffixes(count: int) -> list[str]:
    return [f"SIM-{number:04d}" for number in range(1, count + 1)]


def provision_fleet(
    platform: Platform,
    store: KeyStore,
    *,
    enterprise: str,
    prefix: str,
    profile: str,
    count: int,
    workers: int = PROVISIONING_WORKERS,
) -> Fleet:
    """Register and provision the devices SIM-0001.. (or reuse what was done before)."""
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

    known = platform.devices(enterprise, profile)

    def prepare(suffix: str) -> tuple[DeviceCredentials | None, list[str], str]:
        try:
            return _prepare(
                platform,
                store,
                known=known,
                enterprise=enterprise,
                prefix=prefix,
                profile=profile,
                suffix=suffix,
            )
        except PlatformError as error:
            return None, [], f"{prefix}/{suffix}: {error}"

    fleet = Fleet()
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for credentials, actions, problem in pool.map(prepare, suffixes(count)):
            for action in actions:
                fleet.actions[action] = fleet.actions.get(action, 0) + 1
            if credentials is not None:
                fleet.devices.append(credentials)
            if problem:
                fleet.problems.append(problem)
    return fleet


def _prepare(
    platform: Platform,
    store: KeyStore,
    *,
    known: Mapping[str, PlatformDevice],
    enterprise: str,
    prefix: str,
    profile: str,
    suffix: str,
) -> tuple[DeviceCredentials | None, list[str], str]:
    actions: list[str] = []
    identifier = f"{prefix}/{suffix}"
    device = known.get(identifier)
    if device is None:
        device = platform.register(enterprise, prefix, suffix, profile)
        actions.append("registered")
    if device.state == "retired":
        return None, actions, f"{identifier}: the device {device.id} is retired"
    stored = store.credentials(suffix)
    if device.state != "registered" and stored is not None and stored.device_id == device.id:
        current = platform.device(device.id)
        if current.certificate_id and current.certificate_id == stored.certificate_id:
            return stored, [*actions, "reused"], ""
    key = new_private_key()
    csr = certificate_request(key, device.id)
    if device.state == "registered":
        issued = platform.provision(device.id, csr)
        actions.append("provisioned")
    else:
        # Its certificate is not here (or no longer valid): a new key, a new certificate.
        issued = platform.rotate(device.id, csr)
        actions.append("rotated")
    credentials = DeviceCredentials(
        suffix=suffix,
        device_id=device.id,
        certificate_id=issued.certificate_id,
        certificate_pem=issued.certificate_pem.encode(),
        private_key_pem=key,
        endpoint=issued.endpoint,
    )
    store.save(credentials)
    return credentials, actions, ""


# MQTT (awsiotsdk / awscrt)


@dataclass(frozen=True, slots=True)
class LocalBroker:
    """The local cloud's broker: MQTT over WebSockets, no TLS; it routes on the Host header."""

    host: str
    port: int
    host_header: str


@dataclass(frozen=True, slots=True)
class AwsBroker:
    """AWS IoT Core: MQTT with mutual TLS, the device's certificate and key."""

    port: int = AWS_MQTT_PORT


Broker = LocalBroker | AwsBroker


class MqttLink:
    """One device's MQTT 5 client (awscrt), reporting its events to the session."""

    def __init__(
        self, credentials: DeviceCredentials, broker: Broker, session: DeviceSession
    ) -> None:
        self._session = session
        self._client = _mqtt_client(credentials, broker, self)

    def start(self) -> None:
        self._client.start()

    def stop(self) -> None:
        self._client.stop()

    def subscribe(self, topics: Sequence[str], done: Callable[[bool], None]) -> None:
        from awscrt import mqtt5  # type: ignore[import-untyped]  # noqa: PLC0415

        packet = mqtt5.SubscribePacket(
            subscriptions=[
                mqtt5.Subscription(topic_filter=topic, qos=mqtt5.QoS.AT_LEAST_ONCE)
                for topic in topics
            ]
        )
        future = self._client.subscribe(packet)

        def finished(result: Any) -> None:
            try:
                codes = result.result().reason_codes or ()
            except Exception:  # any failure of the operation is a refusal
                done(False)
                return
            done(all(int(code) <= int(mqtt5.SubackReasonCode.GRANTED_QOS_2) for code in codes))

        future.add_done_callback(finished)

    def publish(self, topic: str, payload: bytes, done: Callable[[bool], None]) -> None:
        from awscrt import mqtt5  # noqa: PLC0415

        accepted = (mqtt5.PubackReasonCode.SUCCESS, mqtt5.PubackReasonCode.NO_MATCHING_SUBSCRIBERS)
        packet = mqtt5.PublishPacket(topic=topic, payload=payload, qos=mqtt5.QoS.AT_LEAST_ONCE)

        def finished(result: Any) -> None:
            try:
                puback = result.result().puback
            except Exception:  # a publish that did not complete failed
                done(False)
                return
            done(puback is not None and puback.reason_code in accepted)

        self._client.publish(packet).add_done_callback(finished)

    # awscrt lifecycle callbacks (each takes exactly one argument)

    def on_publish_received(self, data: Any) -> None:
        packet = data.publish_packet
        payload = packet.payload
        self._session.on_message(packet.topic, bytes(payload) if payload is not None else b"")

    def on_connection_success(self, _data: Any) -> None:
        self._session.on_connected()

    def on_connection_failure(self, data: Any) -> None:
        self._session.on_connection_failure(str(data.exception))

    def on_disconnection(self, _data: Any) -> None:
        self._session.on_disconnected()

    def on_stopped(self, _data: Any) -> None:
        self._session.on_stopped()


def _mqtt_client(credentials: DeviceCredentials, broker: Broker, link: MqttLink) -> Any:
    from awscrt import mqtt5  # noqa: PLC0415

    if isinstance(broker, LocalBroker):
        host_header = broker.host_header

        def handshake(transform_args: Any) -> None:  # awscrt passes it by this name
            transform_args.http_request.headers.set("Host", host_header)
            transform_args.set_done()

        # mqtt5_client_builder always wraps its connection in TLS; the local broker has none,
        # so its client is configured directly (the same awscrt client the builder makes).
        return mqtt5.Client(
            mqtt5.ClientOptions(
                host_name=broker.host,
                port=broker.port,
                tls_ctx=None,
                websocket_handshake_transform=handshake,
                connect_options=mqtt5.ConnectPacket(
                    client_id=credentials.device_id, keep_alive_interval_sec=KEEP_ALIVE_SECONDS
                ),
                # The default flow control caps a client at IoT Core's 100 publishes/s.
                extended_validation_and_flow_control_options=(
                    mqtt5.ExtendedValidationAndFlowControlOptions.NONE
                ),
                disable_metrics=True,
                on_publish_callback_fn=link.on_publish_received,
                on_lifecycle_event_connection_success_fn=link.on_connection_success,
                on_lifecycle_event_connection_failure_fn=link.on_connection_failure,
                on_lifecycle_event_disconnection_fn=link.on_disconnection,
                on_lifecycle_event_stopped_fn=link.on_stopped,
            )
        )
    from awsiot import mqtt5_client_builder  # type: ignore[import-untyped]  # noqa: PLC0415

    return mqtt5_client_builder.mtls_from_bytes(
        cert_bytes=credentials.certificate_pem,
        pri_key_bytes=credentials.private_key_pem,
        endpoint=credentials.endpoint.split(":")[0],
        port=broker.port,
        client_id=credentials.device_id,
        keep_alive_interval_sec=KEEP_ALIVE_SECONDS,
        enable_metrics_collection=False,
        on_publish_received=link.on_publish_received,
        on_lifecycle_connection_success=link.on_connection_success,
        on_lifecycle_connection_failure=link.on_connection_failure,
        on_lifecycle_disconnection=link.on_disconnection,
        on_lifecycle_stopped=link.on_stopped,
    )


# Where the platform is


@dataclass(frozen=True, slots=True)
class PlatformEndpoints:
    """What the endpoints file says about the platform to simulate devices for."""

    graphql_url: str
    region: str
    user_pool_client_id: str
    endpoint_url: str | None = None  # the local cloud; None for AWS
    username: str | None = None  # the demo person, local cloud only
    password: str | None = None

    @property
    def local(self) -> bool:
        return self.endpoint_url is not None


def read_endpoints(path: Path) -> PlatformEndpoints:
    """The endpoints file `idnode up` writes (or one written by hand for a stack in AWS with
    graphqlUrl, region and userPoolClientId)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CommandError(
            f"{path} does not exist: start the local cloud with `idnode up`, or pass "
            "--endpoints with a file naming graphqlUrl, region and userPoolClientId"
        ) from None
    except (OSError, ValueError) as exc:
        raise CommandError(f"cannot read {path}: {exc}") from exc
    if not isinstance(document, dict):
        raise CommandError(f"{path} does not hold a JSON object")
    missing = [
        name for name in ("graphqlUrl", "region", "userPoolClientId") if not document.get(name)
    ]
    if missing:
        raise CommandError(f"{path} lacks {', '.join(missing)}")
    demo = document.get("demo")
    demo = demo if isinstance(demo, dict) else {}
    endpoint_url = document.get("endpointUrl") or None
    return PlatformEndpoints(
        graphql_url=str(document["graphqlUrl"]),
        region=str(document["region"]),
        user_pool_client_id=str(document["userPoolClientId"]),
        endpoint_url=str(endpoint_url).rstrip("/") if endpoint_url else None,
        username=(demo.get("username") or DEMO_USERNAME) if endpoint_url else None,
        password=(demo.get("password") or DEMO_PASSWORD) if endpoint_url else None,
    )


def _aws_client(endpoints: PlatformEndpoints, service: str) -> Any:
    import boto3  # noqa: PLC0415

    client: Callable[..., Any] = boto3.client  # one service or another: untyped on purpose
    if endpoints.local:
        return client(
            service,
            region_name=endpoints.region,
            endpoint_url=endpoints.endpoint_url,
            **LOCAL_CREDENTIALS,
        )
    return client(service, region_name=endpoints.region)


def sign_in(endpoints: PlatformEndpoints, username: str, password: str) -> str:
    """A person's ID token (Cognito USER_PASSWORD_AUTH)."""
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    cognito = _aws_client(endpoints, "cognito-idp")
    try:
        reply = cognito.initiate_auth(
            ClientId=endpoints.user_pool_client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": password},
        )
    except ClientError as exc:
        raise CommandError(f"sign-in as {username} refused: {exc}") from exc
    except BotoCoreError as exc:
        raise CommandError(f"cannot reach the user pool: {exc}") from exc
    result = reply.get("AuthenticationResult")
    if not result:
        challenge = reply.get("ChallengeName", "a challenge")
        raise CommandError(f"sign-in as {username} asks for {challenge}; sign in once by hand")
    return str(result["IdToken"])


def local_broker(endpoints: PlatformEndpoints) -> LocalBroker:
    """The local cloud's broker, reached through its gateway."""
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    assert endpoints.endpoint_url is not None
    gateway = urlsplit(endpoints.endpoint_url)
    try:
        reply = _aws_client(endpoints, "iot").describe_endpoint(endpointType="iot:Data-ATS")
    except (BotoCoreError, ClientError) as exc:
        raise CommandError(f"cannot find the local MQTT endpoint: {exc}") from exc
    return LocalBroker(
        host=gateway.hostname or "127.0.0.1",
        port=gateway.port or 80,
        host_header=str(reply["endpointAddress"]),
    )


# The command


def add_simulate_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `idnode simulate` to the command line."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "simulate",
        help="provision simulated sensors and run them over MQTT",
        description="Provision N simulated pump sensors (SIM-0001..) on the platform, or reuse "
        "the ones provisioned before, and run them: telemetry at R messages/s each, answers to "
        "commands, desired state applied from their shadows. Ctrl-C stops.",
    )
    parser.add_argument("--devices", type=_positive_int, required=True, help="how many devices")
    parser.add_argument(
        "--rate",
        type=_rate,
        required=True,
        help=f"telemetry messages per second per device (at most {MAX_RATE:g})",
    )
    parser.add_argument(
        "--duration",
        type=_positive_float,
        default=None,
        help="seconds to run (default: until Ctrl-C)",
    )
    parser.add_argument(
        "--endpoints",
        type=Path,
        default=None,
        help="endpoints file (default: .idnode/endpoints.json written by `idnode up`)",
    )
    parser.add_argument(
        "--profile", default=DEFAULT_PROFILE, help=f"device profile (default {DEFAULT_PROFILE})"
    )
    parser.add_argument("--username", default=None, help="who signs in (local default: demo)")
    parser.add_argument("--password", default=None, help="asked for when a username is given")
    parser.add_argument("--seed", type=int, default=None, help="seed of the simulated readings")
    parser.set_defaults(run=run_simulate)
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive number: {text}")
    return value


def _rate(text: str) -> float:
    value = _positive_float(text)
    if value > MAX_RATE:
        raise argparse.ArgumentTypeError(f"at most {MAX_RATE:g} messages/s per device: {text}")
    return value


def _credentials(args: argparse.Namespace, endpoints: PlatformEndpoints) -> tuple[str, str]:
    username = args.username or endpoints.username
    if not username:
        raise CommandError("--username is required outside the local cloud")
    password = args.password
    if password is None:
        password = endpoints.password if username == endpoints.username else None
    if password is None:
        password = getpass.getpass(f"Password for {username}: ")
    return username, password


def build_sessions(
    devices: Iterable[DeviceCredentials],
    counters: Counters,
    *,
    rate: float,
    seed: int | None,
    link: Callable[[DeviceCredentials, DeviceSession], Link],
) -> list[DeviceSession]:
    """One session per device, each with its own random generator (seeded per device)."""
    master = random.Random(seed)  # noqa: S311 - simulated readings, not secrets
    sessions = []
    for credentials in devices:
        rng = random.Random(master.getrandbits(64))  # noqa: S311
        device = SimulatedDevice(credentials.device_id, TelemetryGenerator(rng, rate))
        session = DeviceSession(device, counters, lambda: time.time_ns() // 1_000_000)
        session.attach(link(credentials, session))
        sessions.append(session)
    return sessions


def run_simulate(
    args: argparse.Namespace,
    out: TextIO = sys.stdout,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """`idnode simulate`: provision, connect, run, report. Exit code 1 when no device could
    connect."""
    workspace = Workspace.locate()
    endpoints = read_endpoints(args.endpoints or workspace.endpoints_file)
    username, password = _credentials(args, endpoints)
    token = sign_in(endpoints, username, password)
    platform = Platform(graphql_call(endpoints.graphql_url, token))
    viewer = platform.viewer()
    if not viewer.enterprise or not viewer.prefixes:
        raise CommandError(f"{username} belongs to no enterprise with a prefix")
    enterprise, prefix = viewer.enterprise, viewer.prefixes[0]
    if platform.ensure_profile(enterprise, args.profile):
        out.write(f"Defined device profile {args.profile} for {enterprise}\n")
    store = KeyStore(workspace.state_dir / "simulator" / prefix)
    out.write(f"Preparing {args.devices} device(s) under {prefix} (keys in {store.directory})\n")
    out.flush()
    fleet = provision_fleet(
        platform,
        store,
        enterprise=enterprise,
        prefix=prefix,
        profile=args.profile,
        count=args.devices,
    )
    for problem in fleet.problems:
        out.write(f"  not simulated: {problem}\n")
    done = ", ".join(f"{count} {action}" for action, count in sorted(fleet.actions.items()))
    out.write(f"{len(fleet.devices)} device(s) ready ({done or 'nothing to do'})\n")
    if not fleet.devices:
        raise CommandError("no device could be provisioned")
    broker: Broker = local_broker(endpoints) if endpoints.local else AwsBroker()
    counters = Counters(len(fleet.devices))
    sessions = build_sessions(
        fleet.devices,
        counters,
        rate=args.rate,
        seed=args.seed,
        link=lambda credentials, session: MqttLink(credentials, broker, session),
    )
    simulation = Simulation(sessions, counters, out=out, clock=clock, sleep=sleep)
    try:
        connected = simulation.start()
        if connected == 0:
            simulation.stop()
            reason = counters.last_connection_error or "no answer"
            out.write(f"No device could connect ({reason})\n")
            return EXIT_NO_CONNECTION
        out.write(f"{connected}/{len(sessions)} device(s) connected; publishing (Ctrl-C stops)\n")
        out.flush()
        simulation.run(args.duration)
    except KeyboardInterrupt:
        out.write("\nStopping\n")
    final = simulation.stop()
    # Shadows may have changed some devices' rates during the run.
    target = sum(session.device.generator.rate for session in sessions)
    out.write(summary(final, target) + "\n")
    return 0 if counters.ever_connected else EXIT_NO_CONNECTION
