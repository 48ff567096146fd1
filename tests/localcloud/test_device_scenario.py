"""End to end against the deployed stack: an enterprise admin defines a device profile,
registers and provisions a device (its identifier resolves through the Handle REST API), the
device connects over MQTT and publishes, and people see its telemetry, one alarm for a
breach, a command acknowledged and a desired state reported, all through GraphQL."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from idnode.domain.devices import response_topic
from tests.support.local_cloud import TIMEOUT, graphql, sign_in
from tests.support.mqtt import DeviceSession

pytestmark = pytest.mark.localcloud

T = TypeVar("T")
# Telemetry goes broker -> rule -> function -> DynamoDB; the first message starts a cold worker.
SETTLE_SECONDS = 60.0


def _until(read: Callable[[], T], accept: Callable[[T], bool], what: str) -> T:
    """Read until `accept` takes what was read, or fail naming what never happened."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        found = read()
        if accept(found):
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {SETTLE_SECONDS} s: {what}; last read {found}")
        time.sleep(0.5)


def _csr(common_name: str) -> str:
    """A CSR made on the device: the private key stays here."""
    key = ec.generate_private_key(ec.SECP256R1())
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .sign(key, hashes.SHA256())
    )
    return request.public_bytes(serialization.Encoding.PEM).decode()


def _ok(result: dict[str, Any], typename: str) -> dict[str, Any]:
    assert result["__typename"] == typename, result
    return result


PROFILE_METRICS = [
    {"name": "temperature", "type": "NUMBER", "unit": "°C", "minimum": -40, "maximum": 150},
    {"name": "running", "type": "BOOLEAN"},
]
OVERHEATING = {
    "name": "overheating",
    "metric": "temperature",
    "comparison": "GT",
    "threshold": 90,
    "durationSeconds": 0,
    "severity": "MAJOR",
}


class Scenario:
    """An enterprise admin of the demo enterprise, and the device they set up."""

    def __init__(self, stack: dict[str, Any]) -> None:
        self.stack = stack
        self.demo = stack["demo"]
        self.token = sign_in(stack, self.demo["username"], self.demo["password"])
        self.run = uuid.uuid4().hex[:8]
        self.device_id = ""
        self.topics: dict[str, str] = {}

    def call(self, operation: str, typename: str, /, **variables: Any) -> dict[str, Any]:
        return _ok(graphql(self.stack, operation, variables, self.token), typename)

    def view(self) -> dict[str, Any]:
        return self.call("Device", "Device", id=self.device_id)

    def set_up_device(self) -> str:
        """Define a profile, register a pump under it; its identifier resolves for anyone."""
        profile = f"pump-{self.run}"
        self.call(
            "DefineDeviceProfile",
            "DeviceProfile",
            input={
                "enterprise": self.demo["enterprise"],
                "name": profile,
                "description": "Centrifugal pump",
                "metrics": PROFILE_METRICS,
                "alarmRules": [OVERHEATING],
            },
        )
        device = self.call(
            "RegisterDevice",
            "Device",
            input={
                "enterprise": self.demo["enterprise"],
                "suffix": f"PUMP-{self.run}",
                "profile": profile,
                "name": "Feed pump 1",
                "firmware": "1.4.2",
            },
        )
        self.device_id = device["id"]
        identifier = device["identifier"]
        assert identifier == f"{self.demo['enterprisePrefix']}/PUMP-{self.run}"
        resolved = requests.get(
            f"{self.stack['handleApiUrl']}/api/handles/{identifier}", timeout=TIMEOUT
        )
        assert resolved.status_code == 200, resolved.text
        values = {v["type"]: v["data"]["value"] for v in resolved.json()["values"]}
        assert values["IDNODE_DEVICE_TYPE"] == profile
        assert values["IDNODE_ENTERPRISE"] == self.demo["enterprise"]
        assert values["IDNODE_LIFECYCLE"] == "registered"
        return identifier

    def provision(self) -> str:
        """A certificate from the device's CSR; returns the IoT endpoint to connect to."""
        provisioned = self.call(
            "ProvisionDevice", "ProvisionedDevice", device=self.device_id, csr=_csr(self.device_id)
        )
        assert "BEGIN CERTIFICATE" in provisioned["certificatePem"]
        assert provisioned["device"]["state"] == "PROVISIONED"
        self.topics = provisioned["device"]["topics"]
        endpoint: str = provisioned["endpoint"]
        return endpoint

    def publish_and_alarm(self, session: DeviceSession, now: int) -> None:
        """Telemetry becomes the latest values; three breaches raise one alarm, which clears."""
        telemetry = self.topics["telemetry"]
        session.publish(telemetry, {"ts": now, "values": {"temperature": 61.5, "running": True}})
        latest = _until(self.latest, lambda values: "temperature" in values, "latest values")
        assert latest["temperature"] == 61.5
        for offset, temperature in enumerate((95.0, 97.5, 99.0), start=1):
            session.publish(
                telemetry, {"ts": now + offset * 1000, "values": {"temperature": temperature}}
            )
        # Readings of one device may be processed at once, in any order: wait for all four.
        _until(lambda: self.count(now), lambda count: count == 4, "every reading stored")
        (raised,) = _until(self.alarms, lambda found: len(found) > 0, "the alarm raised")
        assert raised["status"] == "ACTIVE"
        assert raised["raisedValue"] in (95.0, 97.5, 99.0)
        assert len(self.alarms()) == 1
        session.publish(telemetry, {"ts": now + 5000, "values": {"temperature": 70.0}})
        (cleared,) = _until(
            self.alarms, lambda found: found[0]["status"] == "CLEARED", "the alarm cleared"
        )
        assert cleared["clearedValue"] == 70.0

        # A message the node cannot take is counted against the device, never lost silently.
        session.publish(telemetry, b"not json")
        _until(self.view, lambda device: device["rejectedMessages"] >= 1, "rejection recorded")

    def latest(self) -> dict[str, Any]:
        return {value["metric"]: value["value"] for value in self.view()["latest"]}

    def alarms(self) -> list[dict[str, Any]]:
        page = self.call("Alarms", "AlarmConnection", filter={"device": self.device_id})
        return [edge["node"] for edge in page["edges"]]

    def command(self, session: DeviceSession) -> None:
        """A command reaches the device, which answers on its response topic."""
        command = self.call(
            "SendCommand", "Command", device=self.device_id, name="restart", parameters={"delay": 5}
        )
        _topic, message = session.next_message(lambda t, _m: "/commands/" in t, SETTLE_SECONDS)
        assert (message["id"], message["name"]) == (command["id"], "restart")
        session.publish(
            response_topic(self.device_id, command["id"]),
            {"status": "ok", "result": {"restarted": True}},
        )
        answered = _until(
            lambda: self.call("Command", "Command", id=command["id"]),
            lambda found: found["status"] == "ACKNOWLEDGED",
            "the command acknowledged",
        )
        assert answered["result"] == {"restarted": True}

    def desired_state(self, session: DeviceSession) -> None:
        """Desired state reaches the device as a delta; it reports it back."""
        shadow = self.call(
            "SetDesiredState", "DeviceShadow", device=self.device_id, desired={"setpoint": 42}
        )
        assert shadow["delta"] == {"setpoint": 42}
        _topic, delta = session.next_message(
            lambda t, _m: t.endswith("/shadow/update/delta"), SETTLE_SECONDS
        )
        assert delta["state"] == {"setpoint": 42}
        session.publish(
            f"$aws/things/{self.device_id}/shadow/update",
            {"state": {"reported": {"setpoint": 42}}},
        )
        reported = _until(
            lambda: self.view()["shadow"],
            lambda found: found["reported"].get("setpoint") == 42,
            "the desired state reported",
        )
        assert not reported["delta"]

    def series(self, now: int) -> dict[str, Any]:
        """The temperature over ten seconds from just before `now`, in one bucket."""
        start = datetime.fromtimestamp(now / 1000, UTC) - timedelta(seconds=1)
        return self.call(
            "Telemetry",
            "TelemetrySeries",
            device=self.device_id,
            metric="temperature",
            intervalSeconds=10,
            **{"from": start.isoformat(), "to": (start + timedelta(seconds=10)).isoformat()},
        )

    def count(self, now: int) -> int:
        (bucket,) = self.series(now)["buckets"]
        count: int = bucket["count"]
        return count

    def chart(self, now: int) -> None:
        """The telemetry is queryable as a chart's buckets."""
        (bucket,) = self.series(now)["buckets"]
        assert bucket["count"] == 5
        assert (bucket["min"], bucket["max"]) == (61.5, 99.0)


def test_provision_connect_publish_alarm_command_and_shadow(local_stack: dict[str, Any]) -> None:
    scenario = Scenario(local_stack)
    scenario.set_up_device()
    endpoint = scenario.provision()
    device_id = scenario.device_id
    session = DeviceSession(local_stack["endpointUrl"], endpoint, device_id).connect()
    try:
        session.subscribe(
            f"idnode/devices/{device_id}/commands/+",
            f"$aws/things/{device_id}/shadow/update/delta",
        )
        # The presence rule marks it connected and, the first time, active.
        _until(
            scenario.view,
            lambda found: found["connected"] and found["state"] == "ACTIVE",
            "device connected and active",
        )
        now = int(time.time() * 1000)
        scenario.publish_and_alarm(session, now)
        scenario.command(session)
        scenario.desired_state(session)
    finally:
        session.close()
    scenario.chart(now)
