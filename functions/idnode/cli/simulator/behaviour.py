"""What a simulated device does over MQTT: the telemetry it publishes, the commands it
answers, the desired state of its shadow it applies and reports. It needs no broker: it turns
each message it receives into the messages it sends."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from idnode.cli.simulator.sensor import TelemetryGenerator
from idnode.domain.devices import command_subscription, response_topic, telemetry_topic

# AWS IoT Core accepts at most 100 publishes per second on one connection.
MAX_RATE = 100.0
NO_SHADOW = 404  # the code of shadow/get/rejected for a device without a shadow


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
