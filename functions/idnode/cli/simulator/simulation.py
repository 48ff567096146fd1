"""A fleet of simulated devices on their links: each device's session with the broker, and
the publishing schedule. A device reaches the broker through one `Link`, so the sessions and
the schedule run as well on fake links and a fake clock."""

from __future__ import annotations

import heapq
import math
import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol, TextIO

from idnode.cli.simulator.behaviour import Outgoing, SimulatedDevice
from idnode.cli.simulator.counters import Counters, Snapshot, progress_line
from idnode.cli.simulator.keys import DeviceCredentials
from idnode.cli.simulator.sensor import TelemetryGenerator

CONNECT_TIMEOUT_SECONDS = 20.0
DRAIN_SECONDS = 5.0
STOP_SECONDS = 5.0
POLL_SECONDS = 0.1
PROGRESS_SECONDS = 1.0


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
