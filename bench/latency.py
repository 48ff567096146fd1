"""How long a device's reading takes to become visible to people, in the local cloud.

A provisioned device publishes one telemetry message at a time over MQTT (QoS 1) and the
clock runs from the publish until the `Device` operation, read through the GraphQL API by
the demo user, shows the message's `ts` among the device's latest values: broker, topic
rule, device-events function, DynamoDB, GraphQL function. The next message is sent only once
the previous one is visible, so each sample is one message's own path, never a queue behind
others. The broker's acknowledgement of each publish is timed too.

The local cloud is brought up as `idnode up --detach` does it (an emulator answering on
127.0.0.1:4566, or AWS_ENDPOINT_URL, is reused and left running; one started here is stopped
at the end); the stack is deployed (an update when it is there already) and the demo node
seeded. The run signs in as the demo user, defines the simulated sensor's profile (four
metrics, two alarm rules) under a name of its own, registers a new device, provisions it
from a CSR whose key never leaves this process, connects with the simulator's MQTT client,
and retires the device when done. The first messages are a warm-up, not counted: the first
one activates the device, and each may meet a function worker that is not started yet.

Nothing here is CPU time, and the emulator runs the functions on this machine, so the
figures are this machine's, for information: they have no targets. Each visibility check is
one GraphQL request, so a sample is late by at most one request (`poll_p50_ms` says how long
one takes) plus the pause between two checks.

The suite runs this module as `python -m bench.latency OUTPUT` in the caller's environment
(it needs the local cloud, not the measured functions' settings) and reads OUTPUT; run
alone, it also prints the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.report import Entry, cost_entry, median, percentile

MESSAGES = 30
WARMUP_MESSAGES = 3
MESSAGE_TIMEOUT_SECONDS = 30.0  # a message not visible by then counts as lost
RUN_TIMEOUT_SECONDS = 300.0  # for all the messages, warm-up included
# Between two visibility checks: short, since a sample can be no finer than a check.
CHECK_PAUSE_SECONDS = 0.005
ACK_TIMEOUT_SECONDS = 10.0
PROFILE = "bench-sensor"
# Within every limit, below both alarm thresholds of the simulated sensor's profile.
VALUES: Mapping[str, float | bool] = {
    "temperature": 71.5,
    "pressure": 412.0,
    "running": True,
    "vibration": 3.2,
}
UNAVAILABLE_EXIT = 3  # the local cloud could not be brought up: OUTPUT says why
PROCESS_TIMEOUT_SECONDS = 1200  # deploying may take minutes, then the run itself
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)


class LocalCloudUnavailable(RuntimeError):  # noqa: N818 - a condition, reported as such
    """The local cloud could not be brought up; the message says why."""


class LatencySetupError(RuntimeError):
    """The device could not be set up or connected: no latency could be measured."""


# Pure parts: what a message is, when it is visible, the figures.


def telemetry_document(ts: int) -> bytes:
    """One telemetry message, as the device publishes it."""
    return json.dumps({"ts": ts, "values": dict(VALUES)}, separators=(",", ":")).encode()


def epoch_ms(text: str) -> int:
    """Epoch milliseconds of an ISO 8601 time as GraphQL returns it (no zone: UTC)."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MILLISECOND


def shows(device: Any, ts: int) -> bool:
    """Whether the `Device` operation's answer has the reading taken at `ts` among its
    latest values."""
    if not isinstance(device, Mapping) or device.get("__typename") != "Device":
        return False
    latest = device.get("latest") or ()
    return any(isinstance(value, Mapping) and epoch_ms(value["at"]) == ts for value in latest)


def _ms(values: Sequence[float]) -> list[float]:
    return [round(value, 1) for value in values]


def latency_entries(document: Mapping[str, Any]) -> list[Entry]:
    """Figures from the latency measurement (the output of `run`), in milliseconds."""
    samples: list[float] = document["samples_ms"]
    if not samples:
        raise ValueError("no message became visible: nothing to report")
    lost = int(document["lost"])
    common: dict[str, Any] = {
        "unit": "ms",
        "samples": len(samples),
        "lost": lost,
        "max_ms": round(max(samples), 1),
    }
    acks, checks = document["ack_ms"], document["check_ms"]
    what = (
        "time from an MQTT publish (QoS 1, acknowledged) of a telemetry message until the Device "
        "operation through GraphQL shows its ts among the latest values, in the local cloud, "
        "messages sent one after another"
    )
    return [
        cost_entry(
            "telemetry_publish_to_queryable_p50_ms",
            percentile(samples, 0.5),
            of=f"{what}: median (nearest rank) of the messages",
            **common,
            min_ms=round(min(samples), 1),
            ack_p50_ms=round(median(acks), 1) if acks else None,
            poll_p50_ms=round(median(checks), 1) if checks else None,
            warmup_ms=_ms(document["warmup_ms"]),
            failed_checks=int(document.get("check_error_count", 0)),
            samples_ms=_ms(samples),
        ),
        cost_entry(
            "telemetry_publish_to_queryable_p95_ms",
            percentile(samples, 0.95),
            of=f"{what}: 95th percentile (nearest rank) of the messages",
            **common,
        ),
    ]


def summary(document: Mapping[str, Any]) -> str:
    """The figures as lines of text."""
    samples = document["samples_ms"]
    if not samples:
        return f"no message became visible ({document['lost']} lost)"
    lines = [
        f"publish to queryable over {len(samples)} messages ({document['lost']} lost): "
        f"p50 {percentile(samples, 0.5):.0f} ms, p95 {percentile(samples, 0.95):.0f} ms, "
        f"max {max(samples):.0f} ms",
        f"broker acknowledgement p50 {median(document['ack_ms']):.1f} ms; one visibility check "
        f"(GraphQL Device) p50 {median(document['check_ms']):.1f} ms",
    ]
    if document["warmup_ms"]:
        warmup = ", ".join(f"{ms:.0f}" for ms in document["warmup_ms"])
        lines.append(f"warm-up (not counted): {warmup} ms")
    lines.append(f"samples (ms): {', '.join(f'{ms:.0f}' for ms in samples)}")
    return "\n".join(lines)


# The measurement


@dataclass
class Timings:
    """What the run measured, in milliseconds."""

    samples: list[float] = field(default_factory=list)
    warmup: list[float] = field(default_factory=list)
    acks: list[float] = field(default_factory=list)
    checks: list[float] = field(default_factory=list)
    lost: int = 0  # counted messages not visible in time
    warmup_lost: int = 0
    check_errors: list[str] = field(default_factory=list)  # GraphQL calls that failed


class Publisher:
    """Publishes on one device's MQTT link and waits for the broker's acknowledgement."""

    def __init__(self, publish: Callable[[str, bytes, Callable[[bool], None]], None]) -> None:
        self._publish = publish

    def __call__(self, topic: str, payload: bytes) -> None:
        acknowledged = threading.Event()
        outcome: list[bool] = []

        def done(ok: bool) -> None:
            outcome.append(ok)
            acknowledged.set()

        self._publish(topic, payload, done)
        if not acknowledged.wait(ACK_TIMEOUT_SECONDS):
            raise LatencySetupError(
                f"the broker did not acknowledge within {ACK_TIMEOUT_SECONDS} s"
            )
        if not outcome[0]:
            raise LatencySetupError("the broker refused a telemetry message")


def measure(
    publish: Callable[[str, bytes], None],
    view: Callable[[], Any],
    topic: str,
    *,
    messages: int,
    warmup: int,
    clock: Callable[[], float] = time.perf_counter,
    wall_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    sleep: Callable[[float], None] = time.sleep,
) -> Timings:
    """Send `warmup` then `messages` messages, one after another, each once the previous
    one is visible; stop early when the run's time is up."""
    timings = Timings()
    started = clock()
    last_ts = 0
    for number in range(warmup + messages):
        if clock() - started > RUN_TIMEOUT_SECONDS:
            break
        ts = max(wall_ms(), last_ts + 1)
        last_ts = ts
        payload = telemetry_document(ts)
        sent = clock()
        publish(topic, payload)
        timings.acks.append((clock() - sent) * 1000)
        visible: float | None = None
        while clock() - sent < MESSAGE_TIMEOUT_SECONDS:
            checked = clock()
            answer = view()
            now = clock()
            timings.checks.append((now - checked) * 1000)
            if shows(answer, ts):
                visible = now
                break
            sleep(CHECK_PAUSE_SECONDS)
        counted = number >= warmup
        if visible is None:
            if counted:
                timings.lost += 1
            else:
                timings.warmup_lost += 1
            continue
        (timings.samples if counted else timings.warmup).append((visible - sent) * 1000)
    return timings


def run(messages: int, warmup: int, out: Any = sys.stderr) -> dict[str, Any]:
    """Bring up the local cloud, set up a device, measure, tear the device down."""
    # Imported here: the suite imports this module for its figures only.
    from idnode.cli import localcloud  # noqa: PLC0415
    from idnode.cli.workspace import CommandError, Workspace  # noqa: PLC0415

    workspace = Workspace.locate()
    progress = localcloud.Progress(out)
    try:
        cloud = localcloud.bring_up(workspace, progress, env=dict(os.environ))
    except (CommandError, OSError) as error:
        raise LocalCloudUnavailable(str(error)) from error
    try:
        with progress.step(f"publish-to-queryable latency, {warmup} + {messages} messages"):
            timings, device = _measure_in(workspace, messages, warmup, progress)
    finally:
        if cloud.started:
            localcloud.stop_started(workspace, cloud)
    return {
        "endpoint": cloud.endpoint.url,
        "started_local_cloud": cloud.started,
        "device": device,
        "messages": messages,
        "samples_ms": timings.samples,
        "warmup_ms": timings.warmup,
        "ack_ms": timings.acks,
        "check_ms": timings.checks,
        "lost": timings.lost,
        "warmup_lost": timings.warmup_lost,
        "check_errors": timings.check_errors[:10],
        "check_error_count": len(timings.check_errors),
    }


def _measure_in(
    workspace: Any, messages: int, warmup: int, progress: Callable[[str], None]
) -> tuple[Timings, str]:
    from idnode.cli.simulator.counters import Counters  # noqa: PLC0415
    from idnode.cli.simulator.endpoints import (  # noqa: PLC0415
        local_broker,
        read_endpoints,
        sign_in,
    )
    from idnode.cli.simulator.keys import (  # noqa: PLC0415
        DeviceCredentials,
        certificate_request,
        new_private_key,
    )
    from idnode.cli.simulator.mqtt import MqttLink  # noqa: PLC0415
    from idnode.cli.simulator.platform import Platform, PlatformError, graphql_call  # noqa: PLC0415
    from idnode.cli.simulator.simulation import Simulation, build_sessions  # noqa: PLC0415
    from idnode.domain.devices import telemetry_topic  # noqa: PLC0415

    endpoints = read_endpoints(workspace.endpoints_file)
    if not endpoints.local or not endpoints.username or not endpoints.password:
        raise LatencySetupError(f"{workspace.endpoints_file} does not describe the local cloud")
    token = sign_in(endpoints, endpoints.username, endpoints.password)
    call = graphql_call(endpoints.graphql_url, token)
    platform = Platform(call)
    viewer = platform.viewer()
    if not viewer.enterprise or not viewer.prefixes:
        raise LatencySetupError(f"{viewer.username} belongs to no enterprise with a prefix")
    platform.ensure_profile(viewer.enterprise, PROFILE)
    suffix = f"BENCH-{uuid.uuid4().hex[:8].upper()}"
    registered = platform.register(viewer.enterprise, viewer.prefixes[0], suffix, PROFILE)
    progress(f"registered device {registered.id} ({registered.identifier})")
    try:
        key = new_private_key()
        issued = platform.provision(registered.id, certificate_request(key, registered.id))
        credentials = DeviceCredentials(
            suffix=suffix,
            device_id=registered.id,
            certificate_id=issued.certificate_id,
            certificate_pem=issued.certificate_pem.encode(),
            private_key_pem=key,
            endpoint=issued.endpoint,
        )
        broker = local_broker(endpoints)
        counters = Counters(1)
        sessions = build_sessions(
            [credentials],
            counters,
            rate=1.0,
            seed=0,
            link=lambda device, session: MqttLink(device, broker, session),
        )
        connection = Simulation(sessions, counters, out=sys.stderr)
        try:
            if connection.start() == 0:
                reason = counters.last_connection_error or "no answer"
                raise LatencySetupError(f"the device could not connect ({reason})")
            link = sessions[0].link
            assert link is not None

            def view() -> Any:
                try:
                    return call("Device", {"id": registered.id})
                except PlatformError as error:
                    # A failed check is one that did not see the reading: check again.
                    errors.append(str(error))
                    return None

            errors: list[str] = []
            timings = measure(
                Publisher(link.publish),
                view,
                telemetry_topic(registered.id),
                messages=messages,
                warmup=warmup,
            )
            timings.check_errors = errors
        finally:
            connection.stop()
    finally:
        _retire(call, registered.id, progress)
    return timings, registered.id


def _retire(call: Callable[[str, Mapping[str, Any]], Any], device: str, progress: Any) -> None:
    """Retire the run's device (its certificate with it); a failure is only reported."""
    try:
        call(
            "ChangeDeviceState",
            {"device": device, "state": "RETIRED", "reason": "latency benchmark finished"},
        )
    except Exception as error:  # the figures stand whether or not the device is retired
        progress(f"warning: device {device} not retired: {error}")


# The suite's side


def measure_latency(
    env: Mapping[str, str],
    messages: int,
    repository: Path,
    timeout: float = PROCESS_TIMEOUT_SECONDS,
) -> dict[str, Any]:
    """Run this module in a process of its own and read what it measured; raise
    LocalCloudUnavailable when the local cloud could not be brought up."""
    with tempfile.TemporaryDirectory(prefix="idnode-bench-") as scratch:
        output = Path(scratch) / "latency.json"
        command = [sys.executable, "-m", "bench.latency", str(output), f"--messages={messages}"]
        # Its progress and figures go to standard error, beside the suite's own progress.
        finished = subprocess.run(
            command, env=dict(env), cwd=repository, stdout=sys.stderr, timeout=timeout, check=False
        )
        if finished.returncode == UNAVAILABLE_EXIT:
            document = json.loads(output.read_text(encoding="utf-8"))
            raise LocalCloudUnavailable(str(document.get("unavailable")))
        finished.check_returncode()
        measured: dict[str, Any] = json.loads(output.read_text(encoding="utf-8"))
    return measured


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.latency", description=__doc__)
    parser.add_argument("output", type=Path, help="where to write what was measured")
    parser.add_argument("--messages", type=int, default=MESSAGES, help="messages counted")
    parser.add_argument("--warmup", type=int, default=WARMUP_MESSAGES, help="messages first")
    args = parser.parse_args(argv)
    try:
        document = run(args.messages, args.warmup)
    except LocalCloudUnavailable as error:
        args.output.write_text(json.dumps({"unavailable": str(error)}), encoding="utf-8")
        print(f"the local cloud could not be brought up: {error}", file=sys.stderr)
        return UNAVAILABLE_EXIT
    args.output.write_text(json.dumps(document), encoding="utf-8")
    print(summary(document))
    return 0


if __name__ == "__main__":
    sys.exit(main())
