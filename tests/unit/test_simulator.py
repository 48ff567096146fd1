"""The device simulator without a broker: telemetry generation, command and shadow handling,
counters and progress, the publishing schedule, key storage and provisioning over the
published GraphQL operations (answered in memory)."""

from __future__ import annotations

import argparse
import io
import json
import random
import re
import stat
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import graphql
import pytest
import strawberry
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from graphql.execution.values import get_variable_values

from idnode.api.graphql.devices import DevicesMutation, DevicesQuery
from idnode.cli import simulator
from idnode.cli.simulator import command as simulate_command
from idnode.cli.simulator import platform as platform_client
from idnode.cli.simulator.behaviour import MessageKind, SimulatedDevice
from idnode.cli.simulator.counters import Counters, Snapshot, progress_line, summary
from idnode.cli.simulator.endpoints import read_endpoints
from idnode.cli.simulator.keys import (
    DeviceCredentials,
    KeyStore,
    certificate_request,
    new_private_key,
)
from idnode.cli.simulator.mqtt import LocalBroker
from idnode.cli.simulator.platform import Platform, PlatformError
from idnode.cli.simulator.provisioning import Fleet, provision_fleet
from idnode.cli.simulator.sensor import (
    EXCURSION_SHARE,
    FAULT_SHARE,
    SENSOR_ALARMS,
    SENSOR_METRICS,
    Reading,
    TelemetryGenerator,
)
from idnode.cli.simulator.simulation import DeviceSession, Simulation
from idnode.cli.workspace import CommandError, Workspace
from idnode.domain.commands import CommandStatus, read_response

DEVICE = "d-abcdefghijklmnopqrst"
METRICS = {metric.name: metric for metric in SENSOR_METRICS}


def readings(count: int, *, rate: float = 1.0, seed: int = 7) -> list[Reading]:
    generator = TelemetryGenerator(random.Random(seed), rate)
    step = round(1000 / rate)
    return [generator.next(1_700_000_000_000 + k * step) for k in range(count)]


def beyond_threshold(reading: Reading) -> bool:
    return any(
        not isinstance(reading.values[rule.metric], bool)
        and rule.breached(float(reading.values[rule.metric]))
        for rule in SENSOR_ALARMS
        if rule.metric != reading.fault
    )


# Telemetry


def test_readings_stay_in_their_valid_ranges_except_the_injected_faults() -> None:
    for reading in readings(20_000):
        assert set(reading.values) == set(METRICS)
        invalid = {name for name, value in reading.values.items() if not METRICS[name].valid(value)}
        assert invalid == ({reading.fault} if reading.fault else set())


def test_faults_and_excursions_come_at_about_the_designed_rates() -> None:
    batch = readings(50_000)
    faults = sum(1 for reading in batch if reading.fault) / len(batch)
    beyond = sum(1 for reading in batch if beyond_threshold(reading)) / len(batch)
    assert (FAULT_SHARE, EXCURSION_SHARE) == (1 / 500, 1 / 50)  # as the design has it
    assert FAULT_SHARE * 0.6 < faults < FAULT_SHARE * 1.4
    assert EXCURSION_SHARE * 0.6 < beyond < EXCURSION_SHARE * 1.4


def test_only_excursions_cross_an_alarm_threshold_and_they_outlast_the_rules_hold() -> None:
    runs: list[list[Reading]] = []
    previous: Reading | None = None
    for reading in readings(20_000, rate=2.0):
        if reading.fault is None or reading.fault != reading.excursion:
            assert beyond_threshold(reading) == (reading.excursion is not None)
        if reading.excursion is not None:
            if previous is not None and previous.excursion == reading.excursion:
                runs[-1].append(reading)
            else:
                runs.append([reading])
        previous = reading
    assert len(runs) > 10
    hold = next(rule for rule in SENSOR_ALARMS if rule.metric == "temperature").duration_seconds
    temperature_runs = [run for run in runs[:-1] if run[0].excursion == "temperature"]
    assert temperature_runs
    for run in temperature_runs:  # (the last run may be cut short by the end of the batch)
        assert run[-1].ts - run[0].ts >= hold * 1000


@pytest.mark.parametrize("rate", [0.25, 3.0])
def test_the_excursion_share_does_not_depend_on_the_rate(rate: float) -> None:
    batch = readings(40_000, rate=rate, seed=11)
    beyond = sum(1 for reading in batch if beyond_threshold(reading)) / len(batch)
    assert EXCURSION_SHARE * 0.6 < beyond < EXCURSION_SHARE * 1.4


def test_the_same_seed_gives_the_same_readings() -> None:
    assert readings(300, seed=3) == readings(300, seed=3)
    assert readings(300, seed=3) != readings(300, seed=4)


def test_timestamps_strictly_increase_even_when_the_clock_does_not() -> None:
    generator = TelemetryGenerator(random.Random(1), 10.0)
    stamps = [generator.next(1_000).ts for _ in range(5)]
    assert stamps == [1_000, 1_001, 1_002, 1_003, 1_004]


def test_telemetry_message_is_the_documented_payload_on_the_device_topic() -> None:
    device = SimulatedDevice(DEVICE, TelemetryGenerator(random.Random(2), 1.0))
    outgoing = device.telemetry(1_700_000_000_123)
    document = json.loads(outgoing.payload)
    assert outgoing.topic == f"idnode/devices/{DEVICE}/telemetry"
    assert outgoing.kind is MessageKind.TELEMETRY
    assert document["ts"] == 1_700_000_000_123
    assert set(document["values"]) == {"temperature", "pressure", "running", "vibration"}
    assert document["values"]["running"] is True


def test_a_stopped_pump_settles_at_ambient_without_vibration() -> None:
    generator = TelemetryGenerator(random.Random(5), 1.0)
    generator.running = False
    last = [generator.next(k * 60_000) for k in range(1, 60)][-1]
    assert last.values["running"] is False
    if last.excursion is None and last.fault is None:
        assert float(last.values["vibration"]) < 1.0
        assert float(last.values["temperature"]) < 40.0


# Commands


def command(name: str, command_id: str = "c0ffee") -> bytes:
    return json.dumps(
        {"id": command_id, "name": name, "parameters": {"x": 1}, "deadline": 1}
    ).encode()


def answer_of(outgoing: Sequence[Any]) -> tuple[str, dict[str, Any]]:
    [message] = outgoing
    assert message.kind is MessageKind.RESPONSE
    return message.topic, json.loads(message.payload)


def test_a_command_is_answered_ok_on_the_response_topic_of_its_id() -> None:
    device = SimulatedDevice(DEVICE, TelemetryGenerator(random.Random(1), 1.0))
    topic, answer = answer_of(
        device.receive(f"idnode/devices/{DEVICE}/commands/reboot", command("reboot"))
    )
    assert topic == f"idnode/devices/{DEVICE}/responses/c0ffee"
    assert answer["status"] == "ok"
    assert answer["result"]["command"] == "reboot"
    assert read_response(answer).status is CommandStatus.ACKNOWLEDGED


def test_a_command_named_fail_is_answered_failed() -> None:
    device = SimulatedDevice(DEVICE, TelemetryGenerator(random.Random(1), 1.0))
    _, answer = answer_of(device.receive(f"idnode/devices/{DEVICE}/commands/fail", command("fail")))
    response = read_response(answer)
    assert response.status is CommandStatus.FAILED
    assert response.error


def test_a_command_that_is_not_json_is_answered_failed_on_its_topic_segment() -> None:
    device = SimulatedDevice(DEVICE, TelemetryGenerator(random.Random(1), 1.0))
    topic, answer = answer_of(device.receive(f"idnode/devices/{DEVICE}/commands/abc", b"{oops"))
    assert topic == f"idnode/devices/{DEVICE}/responses/abc"
    assert read_response(answer).status is CommandStatus.FAILED


def test_a_command_id_that_cannot_be_a_topic_level_is_answered_on_the_topic_segment() -> None:
    device = SimulatedDevice(DEVICE, TelemetryGenerator(random.Random(1), 1.0))
    topic, _ = answer_of(
        device.receive(f"idnode/devices/{DEVICE}/commands/c1", command("reboot", "a/#"))
    )
    assert topic == f"idnode/devices/{DEVICE}/responses/c1"


def test_stop_and_start_commands_drive_the_pump() -> None:
    device = SimulatedDevice(DEVICE, TelemetryGenerator(random.Random(1), 1.0))
    _, answer = answer_of(device.receive(f"idnode/devices/{DEVICE}/commands/stop", command("stop")))
    assert answer["result"]["running"] is False
    assert json.loads(device.telemetry(5_000).payload)["values"]["running"] is False
    device.receive(f"idnode/devices/{DEVICE}/commands/start", command("start"))
    assert json.loads(device.telemetry(6_000).payload)["values"]["running"] is True


# Shadow


def delta(state: Mapping[str, Any]) -> bytes:
    return json.dumps({"version": 3, "timestamp": 1, "state": state}).encode()


def report_of(outgoing: Sequence[Any]) -> dict[str, Any]:
    [message] = outgoing
    assert message.kind is MessageKind.SHADOW_REPORT
    assert message.topic == f"$aws/things/{DEVICE}/shadow/update"
    document: dict[str, Any] = json.loads(message.payload)
    return document


def test_a_shadow_delta_is_applied_and_reported() -> None:
    device = SimulatedDevice(DEVICE, TelemetryGenerator(random.Random(1), 1.0))
    delta_topic = f"$aws/things/{DEVICE}/shadow/update/delta"
    report = report_of(
        device.receive(delta_topic, delta({"running": False, "rate": 4, "setpoint": 70}))
    )
    assert report == {"state": {"reported": {"running": False, "rate": 4, "setpoint": 70}}}
    assert device.generator.running is False
    assert device.period == 0.25
    assert device.reported == {"running": False, "rate": 4, "setpoint": 70}


def test_desired_values_the_device_cannot_take_are_not_reported() -> None:
    device = SimulatedDevice(DEVICE, TelemetryGenerator(random.Random(1), 1.0))
    delta_topic = f"$aws/things/{DEVICE}/shadow/update/delta"
    assert device.receive(delta_topic, delta({"rate": 0, "running": "yes"})) == []
    report = report_of(device.receive(delta_topic, delta({"rate": 1000, "mode": "eco"})))
    assert report == {"state": {"reported": {"mode": "eco"}}}
    assert device.period == 1.0


def test_at_connection_the_desired_state_is_taken_and_what_differs_reported() -> None:
    device = SimulatedDevice(DEVICE, TelemetryGenerator(random.Random(1), 1.0))
    accepted = f"$aws/things/{DEVICE}/shadow/get/accepted"
    document = {
        "state": {
            "desired": {"mode": "eco", "rate": 3},
            "reported": {"rate": 3, "running": False},
            "delta": {"mode": "eco"},
        },
        "version": 2,
    }
    assert report_of(device.receive(accepted, json.dumps(document).encode())) == {
        "state": {"reported": {"running": True, "mode": "eco"}}
    }
    assert device.period == 1 / 3  # taken again after a restart, though reported already


def test_a_device_in_step_with_its_shadow_reports_nothing_at_connection() -> None:
    device = SimulatedDevice(DEVICE, TelemetryGenerator(random.Random(1), 1.0))
    accepted = f"$aws/things/{DEVICE}/shadow/get/accepted"
    in_step = {"desired": {"mode": "eco"}, "reported": {"mode": "eco", "running": True, "rate": 1}}
    assert device.receive(accepted, json.dumps({"state": in_step}).encode()) == []
    assert device.receive(accepted, b"not json") == []


def test_a_device_without_a_shadow_reports_how_it_runs() -> None:
    device = SimulatedDevice(DEVICE, TelemetryGenerator(random.Random(1), 2.0))
    rejected = f"$aws/things/{DEVICE}/shadow/get/rejected"
    missing = json.dumps({"code": 404, "message": "No shadow exists"}).encode()
    assert report_of(device.receive(rejected, missing)) == {
        "state": {"reported": {"running": True, "rate": 2.0}}
    }
    throttled = json.dumps({"code": 429, "message": "Too many requests"}).encode()
    assert device.receive(rejected, throttled) == []


def test_nested_desired_state_merges_and_null_removes() -> None:
    device = SimulatedDevice(DEVICE, TelemetryGenerator(random.Random(1), 1.0))
    delta_topic = f"$aws/things/{DEVICE}/shadow/update/delta"
    device.receive(delta_topic, delta({"limits": {"low": 1, "high": 9}, "mode": "eco"}))
    device.receive(delta_topic, delta({"limits": {"high": 8}, "mode": None}))
    assert device.reported == {"limits": {"low": 1, "high": 8}}


# Progress


def snapshot(at: float, acknowledged: int, **changes: int) -> Snapshot:
    fields: dict[str, Any] = {
        "devices": 10,
        "connected": 9,
        "published": acknowledged + 2,
        "failed": 1,
        "commands": 3,
        "shadow_updates": 4,
        "connection_failures": 0,
        "in_flight": 1,
    }
    fields.update(changes)
    return Snapshot(at=at, acknowledged=acknowledged, **fields)


def test_progress_line_shows_the_counters_and_the_acknowledged_rate() -> None:
    line = progress_line(snapshot(2.0, 250), snapshot(1.0, 150))
    assert line == (
        "    2.0s  connected 9/10  published 252  acked 250  failed 1  commands 3"
        "  shadow 4  100.0 msg/s"
    )


def test_summary_reports_the_average_rate_against_the_target() -> None:
    text = summary(snapshot(10.0, 995, connection_failures=2), 100.0)
    assert "Simulated 10 device(s) for 10.0 s" in text
    assert "997 telemetry messages, 995 acknowledged by the broker, 1 failed" in text
    assert "3 command(s) answered, 4 shadow update(s)" in text
    assert "Achieved 99.5 messages/s (target 100.0)." in text
    assert "Connection attempts that failed: 2." in text


# Sessions and the schedule, on fake links and a fake clock


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        # Sleeping always takes some time, however little was asked for.
        self.now += max(seconds, 1e-6)


class FakeLink:
    def __init__(self, session: DeviceSession, *, connects: bool = True, acks: bool = True):
        self.session = session
        self.connects = connects
        self.acks = acks
        self.subscribed: list[str] = []
        self.published: list[tuple[str, bytes]] = []
        self.started = False

    def start(self) -> None:
        self.started = True
        if self.connects:
            self.session.on_connected()
        else:
            self.session.on_connection_failure("connection refused")

    def stop(self) -> None:
        self.session.on_stopped()

    def subscribe(self, topics: Sequence[str], done: Callable[[bool], None]) -> None:
        self.subscribed.extend(topics)
        done(True)

    def publish(self, topic: str, payload: bytes, done: Callable[[bool], None]) -> None:
        self.published.append((topic, payload))
        done(self.acks)


def fleet(
    count: int, counters: Counters, rate: float = 2.0, **link: bool
) -> tuple[list[DeviceSession], list[FakeLink]]:
    sessions, links = [], []
    for index in range(count):
        device = SimulatedDevice(f"d-{index}", TelemetryGenerator(random.Random(index), rate))
        session = DeviceSession(device, counters, lambda: 1_700_000_000_000)
        fake = FakeLink(session, **link)
        session.attach(fake)
        sessions.append(session)
        links.append(fake)
    return sessions, links


def test_a_connected_session_subscribes_and_reads_its_shadow() -> None:
    counters = Counters(1)
    _, [link] = fleet(1, counters)
    link.start()
    assert link.subscribed == [
        "idnode/devices/d-0/commands/+",
        "$aws/things/d-0/shadow/update/delta",
        "$aws/things/d-0/shadow/get/accepted",
        "$aws/things/d-0/shadow/get/rejected",
    ]
    assert link.published == [("$aws/things/d-0/shadow/get", b"{}")]
    assert counters.snapshot(0).connected == 1


def test_answers_are_counted_once_the_broker_acknowledges_them() -> None:
    counters = Counters(1)
    [session], [link] = fleet(1, counters)
    link.start()
    session.on_message("idnode/devices/d-0/commands/ping", command("ping"))
    session.on_message("$aws/things/d-0/shadow/update/delta", delta({"mode": "eco"}))
    final = counters.snapshot(1.0)
    assert (final.commands, final.shadow_updates, final.published, final.in_flight) == (1, 1, 0, 0)


def test_telemetry_is_published_only_while_connected() -> None:
    counters = Counters(1)
    [session], [link] = fleet(1, counters)
    assert session.publish_telemetry() is False
    link.start()
    assert session.publish_telemetry() is True
    session.on_disconnected()
    assert session.publish_telemetry() is False
    assert counters.snapshot(0).connected == 0


def test_the_simulation_publishes_each_device_at_its_rate_and_prints_progress() -> None:
    counters, fake, out = Counters(3), FakeTime(), io.StringIO()
    sessions, links = fleet(3, counters, rate=2.0)
    simulation = Simulation(sessions, counters, out=out, clock=fake.clock, sleep=fake.sleep)
    assert simulation.start() == 3
    simulation.run(duration=3.0)
    final = simulation.stop()
    telemetry = [
        [topic for topic, _ in link.published if topic.endswith("/telemetry")] for link in links
    ]
    assert [len(topics) for topics in telemetry] == [6, 6, 6]
    assert (final.published, final.acknowledged, final.failed) == (18, 18, 0)
    assert final.connected == 0
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("    1.0s  connected 3/3")


def test_failed_publishes_are_counted_as_failed() -> None:
    counters, fake = Counters(1), FakeTime()
    sessions, _ = fleet(1, counters, rate=1.0, acks=False)
    simulation = Simulation(
        sessions, counters, out=io.StringIO(), clock=fake.clock, sleep=fake.sleep
    )
    simulation.start()
    simulation.run(duration=2.0)
    final = simulation.stop()
    assert (final.published, final.acknowledged) == (2, 0)
    assert final.failed == 3  # two readings and the shadow read


def test_a_device_whose_rate_changes_follows_its_new_period() -> None:
    counters, fake = Counters(1), FakeTime()
    sessions, _ = fleet(1, counters, rate=1.0)
    generator = sessions[0].device.generator

    def sleep(seconds: float) -> None:
        fake.sleep(seconds)
        if fake.now >= 1.0:
            generator.rate = 4.0  # as a shadow delta would set it

    simulation = Simulation(sessions, counters, out=io.StringIO(), clock=fake.clock, sleep=sleep)
    simulation.start()
    simulation.run(duration=2.0)
    assert counters.snapshot(0).published == 1 + 4  # at 0 s, then every 0.25 s from 1 s


def test_start_reports_no_connection_when_no_device_connects() -> None:
    counters, fake = Counters(2), FakeTime()
    sessions, _ = fleet(2, counters, connects=False)
    simulation = Simulation(
        sessions, counters, out=io.StringIO(), clock=fake.clock, sleep=fake.sleep
    )
    assert simulation.start(timeout=1.0) == 0
    assert counters.connection_failures == 2
    assert counters.last_connection_error == "connection refused"


# Keys and certificates


def credentials(suffix: str = "SIM-0001", device_id: str = DEVICE) -> DeviceCredentials:
    return DeviceCredentials(
        suffix=suffix,
        device_id=device_id,
        certificate_id="cert-1",
        certificate_pem=b"-----BEGIN CERTIFICATE-----\n...\n",
        private_key_pem=new_private_key(),
        endpoint="abc-ats.iot.us-east-1.amazonaws.com",
    )


def test_stored_credentials_are_found_again_with_the_key_readable_by_its_owner_only(
    tmp_path: Path,
) -> None:
    saved = credentials()
    KeyStore(tmp_path / "88.100.1000").save(saved)
    again = KeyStore(tmp_path / "88.100.1000")
    assert again.credentials("SIM-0001") == saved
    assert again.credentials("SIM-0002") is None
    key_file = tmp_path / "88.100.1000" / f"{DEVICE}.key.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "88.100.1000").stat().st_mode) == 0o700


def test_a_device_whose_files_are_missing_has_no_credentials(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    store.save(credentials())
    (tmp_path / f"{DEVICE}.cert.pem").unlink()
    assert store.credentials("SIM-0001") is None


def test_the_csr_names_the_device_and_is_signed_by_its_key() -> None:
    key = new_private_key()
    request = x509.load_pem_x509_csr(certificate_request(key, DEVICE).encode())
    assert request.is_signature_valid
    assert request.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == DEVICE
    public = serialization.load_pem_private_key(key, None).public_key()
    assert request.public_key() == public


# Provisioning over the published operations, against the schema's types


_SCHEMA = strawberry.Schema(query=DevicesQuery, mutation=DevicesMutation)._schema


def check_operation(name: str, variables: Mapping[str, Any]) -> None:
    """The published document of `name` is valid for the device schema and accepts these
    variables (input field names, enum values, required arguments)."""
    document = graphql.parse(platform_client.operation_document(name))
    [definition] = document.definitions
    assert isinstance(definition, graphql.OperationDefinitionNode)
    if name == "Viewer":  # another capability's query, without variables
        assert variables == {}
        return
    assert graphql.validate(_SCHEMA, document) == []
    coerced = get_variable_values(_SCHEMA, definition.variable_definitions, dict(variables))
    assert not isinstance(coerced, list), coerced  # a list of errors


SNAKE = re.compile(r"(?<!^)(?=[A-Z])")


class FakePlatform:
    """The platform's operations as the simulator uses them, in memory."""

    def __init__(self) -> None:
        self.profiles: dict[tuple[str, str], dict[str, Any]] = {}
        self.devices: dict[str, dict[str, Any]] = {}
        self.calls: list[str] = []
        self.issued = 0

    def __call__(self, name: str, variables: Mapping[str, Any]) -> Any:
        check_operation(name, variables)
        self.calls.append(name)
        handler: Callable[[Mapping[str, Any]], Any] = getattr(
            self, "answer_" + SNAKE.sub("_", name).lower()
        )
        return handler(variables)

    def answer_viewer(self, _variables: Mapping[str, Any]) -> Any:
        return {
            "__typename": "Viewer",
            "authenticated": True,
            "username": "demo",
            "roles": ["enterprise-admin"],
            "enterprise": "demo-enterprise",
            "prefixes": ["88.100.1000"],
        }

    def answer_device_profile(self, variables: Mapping[str, Any]) -> Any:
        profile = self.profiles.get((variables["enterprise"], variables["name"]))
        if profile is None:
            return {"__typename": "NotFoundError", "message": "no such profile"}
        return {"__typename": "DeviceProfile", **profile}

    def answer_define_device_profile(self, variables: Mapping[str, Any]) -> Any:
        profile = dict(variables["input"])
        self.profiles[(profile["enterprise"], profile["name"])] = profile
        return {"__typename": "DeviceProfile", **profile}

    def answer_devices(self, variables: Mapping[str, Any]) -> Any:
        wanted = variables["filter"]
        matching = [
            device
            for device in self.devices.values()
            if device["enterprise"] == wanted["enterprise"]
            and device["profile"] == wanted["profile"]
        ]
        start = int(variables["after"] or 0)
        page = matching[start : start + 2]  # small pages: the simulator must follow them
        end = start + len(page)
        return {
            "__typename": "DeviceConnection",
            "edges": [{"cursor": str(start + k + 1), "node": dict(d)} for k, d in enumerate(page)],
            "pageInfo": {"hasNextPage": end < len(matching), "endCursor": str(end)},
        }

    def answer_device(self, variables: Mapping[str, Any]) -> Any:
        device = self.devices.get(variables["id"])
        if device is None:
            return {"__typename": "NotFoundError", "message": "no such device"}
        return {"__typename": "Device", **device}

    def answer_register_device(self, variables: Mapping[str, Any]) -> Any:
        given = variables["input"]
        identifier = f"{given['prefix']}/{given['suffix']}"
        if any(device["identifier"] == identifier for device in self.devices.values()):
            return {"__typename": "AlreadyExistsError", "message": f"{identifier} exists"}
        device = {
            "id": f"d-{len(self.devices):020d}",
            "identifier": identifier,
            "enterprise": given["enterprise"],
            "profile": given["profile"],
            "state": "REGISTERED",
            "certificateId": None,
        }
        self.devices[device["id"]] = device
        return {"__typename": "Device", **device}

    def answer_provision_device(self, variables: Mapping[str, Any]) -> Any:
        device = self.devices[variables["device"]]
        if device["state"] != "REGISTERED":
            return {"__typename": "InvalidStateError", "message": "use rotate"}
        return self._issue(device, variables["csr"])

    def answer_rotate_device_certificate(self, variables: Mapping[str, Any]) -> Any:
        device = self.devices[variables["device"]]
        if device["state"] in ("REGISTERED", "RETIRED"):
            return {"__typename": "InvalidStateError", "message": "cannot rotate"}
        return self._issue(device, variables["csr"])

    def _issue(self, device: dict[str, Any], csr: str) -> Any:
        request = x509.load_pem_x509_csr(csr.encode())
        assert request.is_signature_valid
        assert request.subject.rfc4514_string() == f"CN={device['id']}"
        self.issued += 1
        device["certificateId"] = f"cert-{self.issued}"
        if device["state"] == "REGISTERED":
            device["state"] = "PROVISIONED"
        return {
            "__typename": "ProvisionedDevice",
            "certificateId": device["certificateId"],
            "certificatePem": f"-----BEGIN CERTIFICATE-----\n{self.issued}\n",
            "endpoint": "abc-ats.iot.us-east-1.amazonaws.com",
            "device": dict(device),
        }


def provision(platform: FakePlatform, store: KeyStore, count: int) -> Fleet:
    return provision_fleet(
        Platform(platform),
        store,
        enterprise="demo-enterprise",
        prefix="88.100.1000",
        profile="sim-sensor",
        count=count,
    )


def test_the_profile_is_defined_once_with_the_simulated_metrics_and_rules() -> None:
    platform = FakePlatform()
    client = Platform(platform)
    assert client.ensure_profile("demo-enterprise", "sim-sensor") is True
    assert client.ensure_profile("demo-enterprise", "sim-sensor") is False
    defined = platform.profiles[("demo-enterprise", "sim-sensor")]
    assert [m["name"] for m in defined["metrics"]] == [
        "temperature",
        "pressure",
        "running",
        "vibration",
    ]
    assert {
        (r["metric"], r["comparison"], r["threshold"], r["durationSeconds"])
        for r in defined["alarmRules"]
    } == {("temperature", "GT", 90.0, 5), ("vibration", "GE", 20.0, 0)}


def test_a_profile_of_that_name_without_the_metrics_is_refused() -> None:
    platform = FakePlatform()
    platform.profiles[("demo-enterprise", "sim-sensor")] = {"metrics": [{"name": "flow"}]}
    with pytest.raises(PlatformError, match="without the simulated metrics"):
        Platform(platform).ensure_profile("demo-enterprise", "sim-sensor")


def test_a_typed_error_is_raised_with_its_type_and_message() -> None:
    def refuse(_name: str, _variables: Mapping[str, Any]) -> Any:
        return {"__typename": "NotAuthorisedError", "message": "no", "handle": None}

    with pytest.raises(PlatformError, match="Viewer: NotAuthorisedError: no") as raised:
        Platform(refuse).viewer()
    assert raised.value.kind == "NotAuthorisedError"


def test_devices_are_registered_and_provisioned_then_reused(tmp_path: Path) -> None:
    platform, store = FakePlatform(), KeyStore(tmp_path)
    first = provision(platform, store, 3)
    assert first.actions == {"registered": 3, "provisioned": 3}
    assert first.problems == []
    assert sorted(c.suffix for c in first.devices) == ["SIM-0001", "SIM-0002", "SIM-0003"]
    for device in platform.devices.values():
        device["state"] = "ACTIVE"

    platform.calls.clear()
    second = provision(platform, store, 3)
    assert second.actions == {"reused": 3}
    assert sorted(c.device_id for c in second.devices) == sorted(c.device_id for c in first.devices)
    assert "ProvisionDevice" not in platform.calls
    assert "RotateDeviceCertificate" not in platform.calls


def test_more_devices_than_last_time_adds_only_the_new_ones(tmp_path: Path) -> None:
    platform, store = FakePlatform(), KeyStore(tmp_path)
    provision(platform, store, 2)
    assert provision(platform, store, 5).actions == {
        "registered": 3,
        "provisioned": 3,
        "reused": 2,
    }


def test_a_device_whose_certificate_is_not_stored_here_gets_a_new_one(tmp_path: Path) -> None:
    platform = FakePlatform()
    provision(platform, KeyStore(tmp_path / "elsewhere"), 1)
    fleet_here = provision(platform, KeyStore(tmp_path / "here"), 1)
    assert fleet_here.actions == {"rotated": 1}
    [device] = platform.devices.values()
    assert fleet_here.devices[0].certificate_id == device["certificateId"] == "cert-2"


def test_a_platform_that_lost_its_devices_gets_them_registered_again(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    provision(FakePlatform(), store, 2)
    assert provision(FakePlatform(), store, 2).actions == {"registered": 2, "provisioned": 2}


def test_a_retired_device_is_reported_and_not_simulated(tmp_path: Path) -> None:
    platform, store = FakePlatform(), KeyStore(tmp_path)
    provision(platform, store, 2)
    retired = next(d for d in platform.devices.values() if d["identifier"].endswith("0002"))
    retired["state"] = "RETIRED"
    again = provision(platform, store, 2)
    assert [c.suffix for c in again.devices] == ["SIM-0001"]
    assert again.problems == [f"88.100.1000/SIM-0002: the device {retired['id']} is retired"]


def test_an_identifier_taken_by_another_profile_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    platform = FakePlatform()
    platform.devices["d-other"] = {
        "id": "d-other",
        "identifier": "88.100.1000/SIM-0001",
        "enterprise": "demo-enterprise",
        "profile": "other",
        "state": "ACTIVE",
        "certificateId": "x",
    }
    result = provision(platform, KeyStore(tmp_path), 1)
    assert result.devices == []
    assert "AlreadyExistsError" in result.problems[0]


# Endpoints and the command line


def test_local_endpoints_default_to_the_demo_person(tmp_path: Path) -> None:
    path = tmp_path / "endpoints.json"
    path.write_text(
        json.dumps(
            {
                "endpointUrl": "http://127.0.0.1:4566/",
                "region": "us-east-1",
                "graphqlUrl": "http://127.0.0.1:4566/graphql",
                "userPoolClientId": "client",
                "demo": {"username": "demo", "password": "pw"},
            }
        )
    )
    endpoints = read_endpoints(path)
    assert endpoints.local
    assert endpoints.endpoint_url == "http://127.0.0.1:4566"
    assert (endpoints.username, endpoints.password) == ("demo", "pw")


def test_endpoints_of_a_stack_in_aws_name_no_person(tmp_path: Path) -> None:
    path = tmp_path / "aws.json"
    path.write_text(
        json.dumps(
            {"region": "eu-west-1", "graphqlUrl": "https://x/graphql", "userPoolClientId": "c"}
        )
    )
    endpoints = read_endpoints(path)
    assert not endpoints.local
    assert endpoints.username is None
    with pytest.raises(CommandError, match="--username is required"):
        simulate_command._credentials(argparse.Namespace(username=None, password=None), endpoints)


def test_missing_endpoints_file_says_how_to_get_one(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="idnode up"):
        read_endpoints(tmp_path / "absent.json")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="idnode")
    simulator.add_simulate_parser(root.add_subparsers(dest="command"))
    return root


def test_the_command_line_takes_the_documented_options() -> None:
    args = parser().parse_args(
        ["simulate", "--devices", "5", "--rate", "2.5", "--duration", "30", "--profile", "p"]
    )
    assert (args.devices, args.rate, args.duration, args.profile) == (5, 2.5, 30.0, "p")
    assert args.run is simulator.run_simulate is simulate_command.run_simulate
    defaults = parser().parse_args(["simulate", "--devices", "1", "--rate", "1"])
    assert (defaults.duration, defaults.profile, defaults.endpoints) == (None, "sim-sensor", None)


@pytest.mark.parametrize(
    "option", [["--devices", "0"], ["--rate", "0"], ["--rate", "101"], ["--duration", "-1"]]
)
def test_the_command_line_refuses_impossible_values(option: list[str]) -> None:
    arguments = {"--devices": "1", "--rate": "1"}
    arguments.update(dict([option]))
    with pytest.raises(SystemExit):
        parser().parse_args(["simulate", *[x for pair in arguments.items() for x in pair]])


def simulate_locally(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *, connects: bool
) -> tuple[int, str]:
    """`run_simulate` with the platform, the user pool and the broker replaced by fakes."""
    workspace = Workspace(tmp_path)
    monkeypatch.setattr(Workspace, "locate", classmethod(lambda _cls: workspace))
    workspace.state_dir.mkdir()
    workspace.endpoints_file.write_text(
        json.dumps(
            {
                "endpointUrl": "http://127.0.0.1:4566",
                "region": "us-east-1",
                "graphqlUrl": "http://127.0.0.1:4566/graphql",
                "userPoolClientId": "client",
                "demo": {"username": "demo", "password": "pw"},
            }
        )
    )
    platform = FakePlatform()
    documents = Path(__file__).resolve().parents[2] / "graphql" / "operations"
    real_document = platform_client.operation_document
    monkeypatch.setattr(
        platform_client,
        "operation_document",
        lambda name, _directory=None: real_document(name, documents),
    )
    monkeypatch.setattr(simulate_command, "sign_in", lambda _endpoints, _user, _password: "token")
    monkeypatch.setattr(simulate_command, "graphql_call", lambda _url, _token: platform)
    monkeypatch.setattr(
        simulate_command, "local_broker", lambda _e: LocalBroker("127.0.0.1", 4566, "x")
    )
    monkeypatch.setattr(
        simulate_command,
        "MqttLink",
        lambda _credentials, _broker, session: FakeLink(session, connects=connects),
    )
    args = parser().parse_args(
        ["simulate", "--devices", "2", "--rate", "1", "--duration", "2", "--seed", "1"]
    )
    fake, out = FakeTime(), io.StringIO()
    code = simulate_command.run_simulate(args, out, clock=fake.clock, sleep=fake.sleep)
    return code, out.getvalue()


def test_a_local_run_provisions_publishes_and_summarises(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    code, output = simulate_locally(monkeypatch, tmp_path, connects=True)
    assert code == 0
    assert "Defined device profile sim-sensor for demo-enterprise" in output
    assert "2 device(s) ready (2 provisioned, 2 registered)" in output
    assert "published 4 telemetry messages, 4 acknowledged by the broker, 0 failed" in output
    assert len(list((tmp_path / ".idnode" / "simulator" / "88.100.1000").glob("*.key.pem"))) == 2


def test_a_run_where_no_device_connects_exits_non_zero(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    code, output = simulate_locally(monkeypatch, tmp_path, connects=False)
    assert code == simulate_command.EXIT_NO_CONNECTION
    assert "No device could connect (connection refused)" in output
