"""What the fleet has done, counted as the broker answers, and the lines that report it
while a simulation runs and at its end."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from idnode.cli.simulator.behaviour import MessageKind


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
