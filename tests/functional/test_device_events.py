"""The device-events function on moto, fed as IoT Core feeds it: a device's MQTT message goes
through the topic rules of iot_rules/ (evaluated by tests/support/iot_sql.py) and each rule
that matches invokes the real handler with its event.

Devices are defined, registered and provisioned through the device service; what the
function refuses is read back from the SQS dead-letter queue."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, cast

import boto3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from moto import mock_aws
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.iotdata.models import iotdata_backends
from pynamodb.exceptions import PutError

import idnode.node
from idnode.adapters.iot import IotCore
from idnode.domain.access import user
from idnode.domain.alarms import AlarmStatus
from idnode.domain.commands import CommandStatus
from idnode.domain.devices import (
    AlarmRule,
    Comparison,
    Device,
    LatestValue,
    LifecycleState,
    Metric,
    MetricType,
    RuleState,
    Severity,
    command_topic,
    response_topic,
    telemetry_topic,
)
from idnode.domain.telemetry import MAX_FUTURE_SKEW_MS, MAX_PAYLOAD_BYTES, Bucket
from idnode.handlers.device_events import handler
from idnode.node import Node, use_node
from idnode.services.operations import OperationFilter
from tests.functional.conftest import LambdaContext
from tests.support.identity import REGION, TokenIssuer
from tests.support.iot_sql import TopicRule, events, load_rules
from tests.support.node import ENTERPRISE, build_test_node, settings

# Events that count nothing (presence) make Powertools warn that no metrics were published.
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

T0 = 1_795_000_000_000  # the node's clock when each test starts
SECOND = 1000
PROFILE = "centrifugal-pump"
ADMIN = user("paula", ["platform-admin"], None, [])
METRICS = [
    Metric("temperature", MetricType.NUMBER, "°C", -40.0, 150.0),
    Metric("pressure", MetricType.NUMBER, "kPa", 0.0, 1000.0),
    Metric("vibration", MetricType.NUMBER, "mm/s", 0.0, 50.0),
    Metric("rpm", MetricType.INTEGER, "1/min", 0, 6000),
    Metric("running", MetricType.BOOLEAN),
]
# Raised when the temperature stays above 100 °C for a minute.
OVERHEAT = AlarmRule("overheat", "temperature", Comparison.GT, 100.0, 60, Severity.MAJOR)
STRANGER = "d-aaaaaaaaaaaaaaaaaaaa"  # a well-formed device id that no device has


class Clock:
    """The node's clock (epoch ms), moved by the tests rather than by time passing."""

    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now

    def advance(self, milliseconds: int) -> int:
        self.now += milliseconds
        return self.now


@dataclass
class Delivery:
    """One invocation of the function by one rule: the event and the handler's reply."""

    rule: TopicRule
    event: dict[str, Any]
    reply: dict[str, Any]


@dataclass
class Site:
    """The node on moto with IoT Core's rules in front of its device-events function."""

    node: Node
    clock: Clock
    rules: list[TopicRule]
    sqs: Any
    queue_url: str

    def publish(self, topic: str, payload: bytes, *, client_id: str | None) -> list[Delivery]:
        """A message published on `topic`: every rule it matches invokes the function."""
        produced = events(self.rules, topic, client_id, payload, self.clock.now)
        return [Delivery(rule, event, deliver(event)) for rule, event in produced]

    def publish_one(self, topic: str, payload: bytes, *, client_id: str | None) -> Delivery:
        (delivered,) = self.publish(topic, payload, client_id=client_id)
        return delivered

    def dead_letters(self) -> list[dict[str, Any]]:
        """Letters sent since the last look (each taken off the queue), oldest first."""
        letters: list[dict[str, Any]] = []
        while True:
            received = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=10,
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0,
            ).get("Messages", [])
            if not received:
                return letters
            for message in received:
                letter = json.loads(message["Body"])
                letter["attributes"] = {
                    name: value["StringValue"]
                    for name, value in message.get("MessageAttributes", {}).items()
                }
                letters.append(letter)
                self.sqs.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )

    def device(self, device_id: str) -> Device:
        return self.node.devices.device(ADMIN, device_id)


def deliver(event: Mapping[str, Any]) -> dict[str, Any]:
    """Invoke the function as the rule's Lambda action does."""
    answered: dict[str, Any] = handler(dict(event), cast(Any, LambdaContext()))
    return answered


def payload(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def csr_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pump")]))
        .sign(key, hashes.SHA256())
    )
    return request.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture(scope="module")
def site(issuer: TokenIssuer) -> Iterator[Site]:
    # One node for the module (building one takes over a second); each test has its devices.
    clock = Clock(T0)
    with mock_aws(), pytest.MonkeyPatch.context() as patch:
        # The clock the composition root gives the device and telemetry services.
        patch.setattr(idnode.node, "epoch_ms", clock)
        sqs = boto3.client("sqs", region_name=REGION)
        queue_url = sqs.create_queue(QueueName="idnode-dead-letters")["QueueUrl"]
        node = build_test_node(issuer, replace(settings(), dead_letter_queue_url=queue_url))
        iot = boto3.client("iot", region_name=REGION)
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"}],
        }
        iot.create_policy(policyName=node.settings.device_policy, policyDocument=json.dumps(policy))
        # moto serves iot-data at its default host, not at the one describe_endpoint names.
        data = boto3.client("iot-data", region_name=REGION)
        node.iot = IotCore(iot, lambda: data, node.settings.device_policy)
        node.devices.define_profile(
            ADMIN, ENTERPRISE, PROFILE, "Single-stage centrifugal pump", METRICS, [OVERHEAT]
        )
        use_node(node)
        try:
            yield Site(node, clock, load_rules(), sqs, queue_url)
        finally:
            use_node(None)


@pytest.fixture
def pump(site: Site) -> Device:
    """A freshly provisioned pump; the clock at T0 and the dead letters read."""
    site.clock.now = T0
    site.dead_letters()
    return provisioned(site, "PUMP-0001")


# Identifier suffixes are unique within the module's node.
_suffixes = itertools.count()


def provisioned(site: Site, suffix: str) -> Device:
    registered = site.node.devices.register(
        ADMIN,
        enterprise=ENTERPRISE,
        suffix=f"{suffix}-{next(_suffixes)}",
        profile=PROFILE,
        name=suffix,
        firmware="1.0.0",
    )
    device = site.node.devices.provision(ADMIN, registered.id, csr_pem()).device
    assert device.state is LifecycleState.PROVISIONED
    return device


def telemetry(
    site: Site, device: Device, values: Mapping[str, Any], *, ts: int | None = None
) -> Delivery:
    """The device publishes readings (taken at `ts`, else when the broker receives them)."""
    document: dict[str, Any] = {"values": dict(values)}
    if ts is not None:
        document["ts"] = ts
    return site.publish_one(telemetry_topic(device.id), payload(document), client_id=device.id)


def lifecycle(
    site: Site,
    client_id: str,
    event_type: str,
    at: int,
    reason: str = "CLIENT_INITIATED_DISCONNECT",
) -> Delivery:
    """IoT Core's own message about a client connecting or disconnecting (for `reason`)."""
    document: dict[str, Any] = {
        "clientId": client_id,
        "timestamp": at,
        "eventType": event_type,
        "sessionIdentifier": "00000000-0000-0000-0000-000000000000",
        "principalIdentifier": "12345678901234567890123456789012",
        "versionNumber": 0,
    }
    if event_type == "connected":
        document["ipAddress"] = "192.0.2.10"
    else:
        document.update(
            clientInitiatedDisconnect=reason == "CLIENT_INITIATED_DISCONNECT",
            disconnectReason=reason,
        )
    topic = f"$aws/events/presence/{event_type}/{client_id}"
    return site.publish_one(topic, payload(document), client_id=None)


def reply(outcome: str, kind: str | None, reason: str | None = None) -> dict[str, Any]:
    """The handler's reply for an event that raised no alarm."""
    return {"kind": kind, "outcome": outcome, "reason": reason, "alarms": []}


# Telemetry


def test_telemetry_is_stored_and_the_latest_values_move_forward(site: Site, pump: Device) -> None:
    assert telemetry_topic(pump.id) == f"idnode/devices/{pump.id}/telemetry"
    first = telemetry(
        site,
        pump,
        {"temperature": 71.5, "pressure": 412.0, "running": True, "vibration": 3.2},
        ts=T0,
    )
    assert first.rule.name == "idnode_telemetry"
    assert (first.event["device"], first.event["clientId"]) == (pump.id, pump.id)
    assert first.reply == reply("stored", "telemetry")

    # Without its own time a reading is taken when the broker received it.
    later = site.clock.advance(10 * SECOND)
    assert telemetry(site, pump, {"temperature": 72.0, "rpm": 1450}).reply["outcome"] == "stored"
    # A reading delivered late is kept in the series but does not become the latest.
    assert telemetry(site, pump, {"temperature": 90.0}, ts=T0 + 5 * SECOND).reply == reply(
        "stored", "telemetry"
    )

    device = site.device(pump.id)
    assert dict(device.latest) == {
        "temperature": LatestValue(72.0, later),
        "pressure": LatestValue(412.0, T0),
        "running": LatestValue(True, T0),
        "vibration": LatestValue(3.2, T0),
        "rpm": LatestValue(1450, later),
    }
    assert (device.latest_at, device.last_seen) == (later, later)
    assert (device.rejected, device.last_rejection) == (0, None)
    # Its first message is its first connection.
    assert device.state is LifecycleState.ACTIVE

    buckets, truncated = site.node.telemetry.query(
        ADMIN, pump.id, "temperature", start=T0, end=T0 + 60 * SECOND, interval_ms=60 * SECOND
    )
    assert (buckets, truncated) == ([Bucket(T0, 3, 71.5, 90.0, (71.5 + 72.0 + 90.0) / 3)], False)
    assert site.dead_letters() == []


def test_a_redelivered_event_is_a_duplicate(site: Site, pump: Device) -> None:
    delivered = telemetry(site, pump, {"temperature": 40.0}, ts=T0)
    assert delivered.reply["outcome"] == "stored"
    site.clock.advance(SECOND)
    assert deliver(delivered.event) == reply("duplicate", "telemetry")

    buckets, _ = site.node.telemetry.query(
        ADMIN, pump.id, "temperature", start=T0, end=T0 + 60 * SECOND, interval_ms=60 * SECOND
    )
    assert [b.count for b in buckets] == [1]
    assert site.device(pump.id).latest["temperature"] == LatestValue(40.0, T0)
    assert site.dead_letters() == []


OVERSIZED = {"values": {"temperature": 20.0}, "note": "x" * MAX_PAYLOAD_BYTES}
# (what the device publishes, the reason it is refused)
BAD_TELEMETRY: dict[str, tuple[bytes, str]] = {
    "not JSON": (b"temperature=71.5", "not-json"),
    "not an object": (payload([71.5]), "malformed"),
    "wrong type": (payload({"values": {"temperature": "hot"}}), "wrong-type"),
    "boolean as number": (payload({"values": {"temperature": True}}), "wrong-type"),
    "unknown metric": (payload({"values": {"humidity": 40.0}}), "unknown-metric"),
    "out of range": (payload({"values": {"temperature": 912.0}}), "out-of-range"),
    "oversized": (payload(OVERSIZED), "oversized"),
    "from the future": (
        payload({"ts": T0 + MAX_FUTURE_SKEW_MS + 1, "values": {"temperature": 20.0}}),
        "timestamp-out-of-range",
    ),
    "too old": (
        payload({"ts": T0 - 91 * 86_400_000, "values": {"temperature": 20.0}}),
        "timestamp-out-of-range",
    ),
}


@pytest.mark.parametrize("case", BAD_TELEMETRY, ids=str)
def test_bad_telemetry_is_dead_lettered_with_its_reason(
    site: Site, pump: Device, case: str
) -> None:
    raw, reason = BAD_TELEMETRY[case]
    delivered = site.publish_one(telemetry_topic(pump.id), raw, client_id=pump.id)
    assert delivered.reply == reply("rejected", "telemetry", reason)

    (letter,) = site.dead_letters()
    assert (letter["kind"], letter["reason"], letter["event"]) == (
        "telemetry",
        reason,
        delivered.event,
    )
    assert letter["attributes"] == {"kind": "telemetry", "reason": reason}
    assert letter["message"]
    device = site.device(pump.id)
    assert (device.rejected, device.last_rejection) == (1, reason)
    # Nothing of it was taken: no reading, and a refused message is no connection.
    assert (device.latest, device.latest_at, device.state) == ({}, None, LifecycleState.PROVISIONED)


def test_telemetry_on_an_unknown_device_topic_is_dead_lettered(site: Site, pump: Device) -> None:
    readings = payload({"values": {"temperature": 20.0}})
    delivered = site.publish_one(telemetry_topic(STRANGER), readings, client_id=STRANGER)
    assert delivered.reply == reply("rejected", "telemetry", "unknown-device")
    (letter,) = site.dead_letters()
    assert (letter["reason"], letter["event"]["device"]) == ("unknown-device", STRANGER)


def test_telemetry_from_another_client_is_dead_lettered_and_counted(
    site: Site, pump: Device
) -> None:
    other = provisioned(site, "PUMP-OTHER")
    readings = payload({"values": {"temperature": 20.0}})
    delivered = site.publish_one(telemetry_topic(pump.id), readings, client_id=other.id)
    assert delivered.reply == reply("rejected", "telemetry", "client-mismatch")
    (letter,) = site.dead_letters()
    assert (letter["reason"], letter["event"]["clientId"]) == ("client-mismatch", other.id)
    # Counted on the device whose topic was used; the publisher's record is untouched.
    assert (site.device(pump.id).rejected, site.device(pump.id).last_rejection) == (
        1,
        "client-mismatch",
    )
    assert site.device(other.id).rejected == 0


# Alarms


def test_a_lasting_breach_raises_one_alarm_which_clears(site: Site, pump: Device) -> None:
    raised: list[list[str]] = []
    deliveries = []
    for temperature in (120.0, 125.0, 130.0, 140.0):
        delivered = telemetry(site, pump, {"temperature": temperature}, ts=site.clock.now)
        deliveries.append(delivered)
        raised.append(delivered.reply["alarms"])
        site.clock.advance(30 * SECOND)
    # Above 100 °C since T0: the reading a minute later raises the alarm, the next none.
    alarm_id = f"{pump.id}:overheat:{T0}"
    assert raised == [[], [], [alarm_id], []]
    # The raising reading redelivered raises nothing new.
    assert deliver(deliveries[2].event) == reply("duplicate", "telemetry")

    (alarm,) = site.node.devices.alarms(
        ADMIN, enterprise=None, device=pump.id, status=None, severity=None, first=10, cursor=None
    ).items
    assert (alarm.id, alarm.status, alarm.raised_at, alarm.raised_value) == (
        alarm_id,
        AlarmStatus.ACTIVE,
        T0 + 60 * SECOND,
        130.0,
    )

    cleared_at = site.clock.now
    assert telemetry(site, pump, {"temperature": 80.0}, ts=cleared_at).reply == reply(
        "stored", "telemetry"
    )
    (alarm,) = site.node.devices.alarms(
        ADMIN, enterprise=None, device=pump.id, status=None, severity=None, first=10, cursor=None
    ).items
    assert (alarm.status, alarm.cleared_at, alarm.cleared_value) == (
        AlarmStatus.CLEARED,
        cleared_at,
        80.0,
    )
    assert site.device(pump.id).alarm_states.get("overheat", RuleState()) == RuleState()
    assert site.dead_letters() == []


# Presence


def test_presence_in_order_and_the_first_connection_activates(site: Site, pump: Device) -> None:
    connected = lifecycle(site, pump.id, "connected", T0)
    assert connected.rule.name == "idnode_presence"
    assert connected.event == {
        "kind": "presence",
        "clientId": pump.id,
        "eventType": "connected",
        "timestamp": T0,
    }
    assert connected.reply == reply("stored", "presence")
    device = site.device(pump.id)
    assert (device.connected, device.connectivity_at, device.state) == (
        True,
        T0,
        LifecycleState.ACTIVE,
    )

    assert lifecycle(site, pump.id, "disconnected", T0 + 60 * SECOND).reply == reply(
        "stored", "presence"
    )
    # A connection event from before, delivered late, changes nothing.
    assert lifecycle(site, pump.id, "connected", T0 + 30 * SECOND).reply == reply(
        "ignored", "presence", "stale"
    )
    device = site.device(pump.id)
    assert (device.connected, device.connectivity_at) == (False, T0 + 60 * SECOND)

    assert lifecycle(site, pump.id, "connected", T0 + 90 * SECOND).reply["outcome"] == "stored"
    # Reconnecting with the same client id drops the old session: its disconnection may come
    # later, even with a later time, and must not hide the new connection.
    assert lifecycle(site, pump.id, "connected", T0 + 95 * SECOND).reply["outcome"] == "stored"
    late = lifecycle(site, pump.id, "disconnected", T0 + 96 * SECOND, "DUPLICATE_CLIENTID")
    assert late.event["disconnectReason"] == "DUPLICATE_CLIENTID"
    assert late.reply == reply("ignored", "presence", "superseded")
    device = site.device(pump.id)
    assert (device.connected, device.state) == (True, LifecycleState.ACTIVE)

    # provisioned -> active once, in the operation log, done by the node for the device.
    entries = site.node.log.query(
        ADMIN, OperationFilter(target=pump.id, action="change-device-state"), 10, None
    ).items
    assert [(e.actor, e.actor_kind, e.result) for e in entries] == [
        (f"device:{pump.id}", "service", "ok")
    ]
    assert entries[0].enterprise == ENTERPRISE
    assert {k: entries[0].details[k] for k in ("from", "to", "cause")} == {
        "from": "provisioned",
        "to": "active",
        "cause": "first-connection",
    }
    assert site.dead_letters() == []


def test_presence_of_clients_that_are_not_devices_is_ignored(site: Site, pump: Device) -> None:
    for client in (STRANGER, "iotconsole-1795000000-0"):
        assert lifecycle(site, client, "connected", T0).reply == reply(
            "ignored", "presence", "unknown-device"
        )
    assert site.dead_letters() == []


# Commands


def test_a_command_answered_in_time_is_acknowledged(site: Site, pump: Device) -> None:
    command = site.node.devices.send_command(ADMIN, pump.id, "restart", {"delay": 5}, 30)
    published = iotdata_backends[DEFAULT_ACCOUNT_ID][REGION].published_payloads
    topic, message = published[-1]
    assert topic == command_topic(pump.id, command.id)
    assert json.loads(message)["id"] == command.id
    # No rule listens to the commands the platform publishes.
    assert site.publish(topic, message, client_id=None) == []

    site.clock.advance(2 * SECOND)
    answer = payload({"status": "ok", "result": {"restarted": True}})
    delivered = site.publish_one(response_topic(pump.id, command.id), answer, client_id=pump.id)
    assert delivered.rule.name == "idnode_command_responses"
    assert (delivered.event["device"], delivered.event["command"]) == (pump.id, command.id)
    assert delivered.reply == reply("stored", "response")

    answered = site.node.devices.command(ADMIN, command.id)
    assert (answered.status, answered.result, answered.error, answered.responded_at) == (
        CommandStatus.ACKNOWLEDGED,
        {"restarted": True},
        None,
        T0 + 2 * SECOND,
    )
    assert deliver(delivered.event) == reply("duplicate", "response")
    # A different answer afterwards is refused.
    failed = payload({"status": "failed", "error": "busy"})
    again = site.publish_one(response_topic(pump.id, command.id), failed, client_id=pump.id)
    assert again.reply == reply("rejected", "response", "already-answered")
    (letter,) = site.dead_letters()
    assert (letter["kind"], letter["event"]) == ("response", again.event)
    assert site.node.devices.command(ADMIN, command.id).status is CommandStatus.ACKNOWLEDGED


def test_a_late_answer_is_dead_lettered(site: Site, pump: Device) -> None:
    command = site.node.devices.send_command(ADMIN, pump.id, "restart", {}, 1)
    assert command.deadline == T0 + SECOND
    site.clock.advance(SECOND + 1)
    answer = payload({"status": "ok"})
    delivered = site.publish_one(response_topic(pump.id, command.id), answer, client_id=pump.id)
    assert delivered.reply == reply("rejected", "response", "late")

    (letter,) = site.dead_letters()
    assert (letter["kind"], letter["reason"], letter["event"]) == (
        "response",
        "late",
        delivered.event,
    )
    assert site.node.devices.command(ADMIN, command.id).status is CommandStatus.TIMED_OUT
    device = site.device(pump.id)
    assert (device.rejected, device.last_rejection) == (1, "late")


def test_answers_that_do_not_fit_a_command_are_dead_lettered(site: Site, pump: Device) -> None:
    other = provisioned(site, "PUMP-OTHER")
    command = site.node.devices.send_command(ADMIN, pump.id, "restart", {}, 30)
    cases = [
        # another device answering on its own topic for this device's command
        (other.id, command.id, payload({"status": "ok"}), "wrong-device"),
        (pump.id, "0" * 32, payload({"status": "ok"}), "unknown-command"),
        (pump.id, command.id, payload({"status": "maybe"}), "malformed"),
        (pump.id, command.id, b"ok", "not-json"),
    ]
    for device_id, command_id, answer, reason in cases:
        topic = response_topic(device_id, command_id)
        delivered = site.publish_one(topic, answer, client_id=device_id)
        assert delivered.reply == reply("rejected", "response", reason), reason
        (letter,) = site.dead_letters()
        assert (letter["reason"], letter["event"]) == (reason, delivered.event)
    assert site.node.devices.command(ADMIN, command.id).status is CommandStatus.SENT


# What no rule produces, and failures


def test_topics_no_rule_matches_produce_no_event(site: Site, pump: Device) -> None:
    readings = payload({"values": {"temperature": 20.0}})
    for topic in (
        f"idnode/devices/{pump.id}/telemetry/extra",
        f"idnode/devices/{pump.id}",
        f"idnode/devices/{pump.id}/responses",
        f"idnode/devices/{pump.id}/responses/{'0' * 32}/extra",
        f"idnode/devices/{pump.id}/commands/{'0' * 32}",
        f"idnode/{pump.id}/telemetry",
        f"$aws/things/{pump.id}/shadow/update",
        f"$aws/events/subscriptions/subscribed/{pump.id}",
    ):
        assert site.publish(topic, readings, client_id=pump.id) == [], topic
    device = site.device(pump.id)
    assert device == pump
    assert site.dead_letters() == []


@pytest.mark.parametrize(
    "event",
    [
        {"kind": "shadow", "device": "d-1", "clientId": "d-1"},
        {"device": "d-1", "payload": "e30="},
        {"kind": None},
    ],
    ids=["unknown kind", "no kind", "null kind"],
)
def test_an_event_of_no_known_kind_is_dead_lettered(site: Site, event: dict[str, Any]) -> None:
    site.dead_letters()
    answered = deliver(event)
    assert answered == reply("rejected", event.get("kind"), "unknown-kind")
    (letter,) = site.dead_letters()
    assert (letter["kind"], letter["reason"], letter["event"]) == ("unknown", "unknown-kind", event)


def test_a_store_failure_raises_so_that_lambda_retries(site: Site, pump: Device) -> None:
    readings = payload({"ts": T0, "values": {"temperature": 20.0}})
    (event,) = (e for _, e in events(site.rules, telemetry_topic(pump.id), pump.id, readings, T0))
    model = site.node.tables.telemetry
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    dynamodb.delete_table(TableName=model.Meta.table_name)
    try:
        with pytest.raises(PutError):
            deliver(event)
    finally:
        model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
    # Raised, not refused: the function's on-failure destination keeps the event, not the
    # function; and the retry goes through.
    assert site.dead_letters() == []
    assert deliver(event) == reply("stored", "telemetry")
    assert site.device(pump.id).latest["temperature"] == LatestValue(20.0, T0)
