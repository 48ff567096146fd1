"""The IoT management GraphQL API through its Lambda handler, on moto (DynamoDB, iot, iot-data):
profiles, registration, provisioning from a CSR, certificates, lifecycle, telemetry, alarms,
shadows and commands, with the example operations from graphql/operations/.

Device events (presence, telemetry, command responses) enter through the node's telemetry
service, as the device-events function would call it with the topic rules' output."""

from __future__ import annotations

import base64
import contextlib
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from moto.core import DEFAULT_ACCOUNT_ID
from moto.iotdata.models import iotdata_backends

from idnode.adapters.iot import IotCore
from idnode.node import Node
from tests.functional.conftest import GraphQLApi
from tests.support.identity import REGION, TokenIssuer
from tests.support.node import ENTERPRISE, OTHER_ENTERPRISE, PREFIX
from tests.support.operations import operation

PROFILE = "centrifugal-pump"
PROFILE_INPUT: dict[str, Any] = {
    "enterprise": ENTERPRISE,
    "name": PROFILE,
    "description": "Single-stage centrifugal pump",
    "metrics": [
        {"name": "temperature", "type": "NUMBER", "unit": "°C", "minimum": -40, "maximum": 150},
        {"name": "rpm", "type": "INTEGER", "unit": "rpm", "minimum": 0, "maximum": 6000},
        {"name": "running", "type": "BOOLEAN"},
    ],
    "alarmRules": [
        {
            "name": "overheat",
            "metric": "temperature",
            "comparison": "GT",
            "threshold": 100,
            "severity": "MAJOR",
        }
    ],
}


def csr_pem(common_name: str = "pump") -> str:
    """A CSR as a device makes it: the private key stays with the caller."""
    key = ec.generate_private_key(ec.SECP256R1())
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .sign(key, hashes.SHA256())
    )
    return request.public_bytes(serialization.Encoding.PEM).decode()


def call(api: GraphQLApi, document: str, variables: dict[str, Any], token: str | None) -> Any:
    """Run an example operation and answer its one root field."""
    result = api.run(document, variables, token)
    assert "errors" not in result, result
    (answer,) = result["data"].values()
    return answer


def admin(issuer: TokenIssuer, enterprise: str = ENTERPRISE) -> str:
    return issuer.id_token("alice", ["enterprise-admin"], enterprise)


def member(issuer: TokenIssuer) -> str:
    return issuer.id_token("bob", ["enterprise-user"], ENTERPRISE)


def auditor(issuer: TokenIssuer) -> str:
    return issuer.id_token("carol", ["auditor"])


@pytest.fixture
def iot(node: Node) -> Any:
    """moto's IoT control plane, with the policy every device certificate gets.

    The node's IoT adapter talks to moto's iot and iot-data; only the data plane's address
    differs from the deployed wiring: moto serves iot-data at the default data-ats host, not
    at the account-specific host `describe_endpoint` names."""
    client = boto3.client("iot", region_name=REGION)
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"}],
    }
    with contextlib.suppress(client.exceptions.ResourceAlreadyExistsException):
        client.create_policy(
            policyName=node.settings.device_policy, policyDocument=json.dumps(policy)
        )
    data = boto3.client("iot-data", region_name=REGION)
    node.iot = IotCore(client, lambda: data, node.settings.device_policy)
    return client


@pytest.fixture
def api(graphql_api: GraphQLApi, issuer: TokenIssuer, iot: Any) -> GraphQLApi:
    """The API with the enterprise's pump profile defined."""
    defined = call(
        graphql_api, operation("DefineDeviceProfile"), {"input": PROFILE_INPUT}, admin(issuer)
    )
    assert defined["__typename"] == "DeviceProfile", defined
    return graphql_api


def register(api: GraphQLApi, token: str, suffix: str = "PUMP-0001") -> dict[str, Any]:
    device: dict[str, Any] = call(
        api,
        operation("RegisterDevice"),
        {"input": {"enterprise": ENTERPRISE, "suffix": suffix, "profile": PROFILE, "name": suffix}},
        token,
    )
    assert device["__typename"] == "Device", device
    return device


def provision(api: GraphQLApi, token: str, device_id: str) -> dict[str, Any]:
    provisioned: dict[str, Any] = call(
        api, operation("ProvisionDevice"), {"device": device_id, "csr": csr_pem()}, token
    )
    assert provisioned["__typename"] == "ProvisionedDevice", provisioned
    return provisioned


def read_device(api: GraphQLApi, token: str, device_id: str) -> dict[str, Any]:
    device: dict[str, Any] = call(api, operation("Device"), {"id": device_id}, token)
    return device


def encoded(document: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(document).encode()).decode()


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def minute_ago(minutes: int) -> int:
    """A whole minute `minutes` before now: telemetry must be recent (retention, clock skew)."""
    return (now_ms() // 60_000 - minutes) * 60_000


def iso(epoch_ms: int) -> str:
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=epoch_ms)).isoformat()


def send_telemetry(node: Node, device_id: str, at: int, values: dict[str, Any]) -> str:
    outcome = node.telemetry.ingest(
        {
            "kind": "telemetry",
            "payload": encoded({"ts": at, "values": values}),
            "device": device_id,
            "clientId": device_id,
            "receivedAt": at,
        }
    )
    return str(outcome.kind)


def connect(node: Node, device_id: str) -> None:
    node.telemetry.presence(
        {
            "kind": "presence",
            "clientId": device_id,
            "eventType": "connected",
            "timestamp": now_ms(),
        }
    )


# Profiles


def test_profiles_defined_read_listed_and_updated(api: GraphQLApi, issuer: TokenIssuer) -> None:
    token = admin(issuer)
    profile = call(
        api, operation("DeviceProfile"), {"enterprise": ENTERPRISE, "name": PROFILE}, token
    )
    assert profile["__typename"] == "DeviceProfile"
    assert profile["version"] == 1
    assert profile["metrics"][0] == {
        "name": "temperature",
        "type": "NUMBER",
        "unit": "°C",
        "minimum": -40.0,
        "maximum": 150.0,
    }
    assert profile["metrics"][2] == {
        "name": "running",
        "type": "BOOLEAN",
        "unit": "",
        "minimum": None,
        "maximum": None,
    }
    assert profile["alarmRules"] == [
        {
            "name": "overheat",
            "metric": "temperature",
            "comparison": "GT",
            "threshold": 100.0,
            "durationSeconds": 0,
            "severity": "MAJOR",
        }
    ]

    changed = {**PROFILE_INPUT, "description": "Two-stage", "alarmRules": []}
    updated = call(api, operation("UpdateDeviceProfile"), {"input": changed, "version": 1}, token)
    assert updated["__typename"] == "DeviceProfile", updated
    assert (updated["version"], updated["description"], updated["alarmRules"]) == (
        2,
        "Two-stage",
        [],
    )
    stale = call(api, operation("UpdateDeviceProfile"), {"input": changed, "version": 1}, token)
    assert stale["__typename"] == "ConflictError"

    second = {**PROFILE_INPUT, "name": "air-compressor", "alarmRules": []}
    assert call(api, operation("DefineDeviceProfile"), {"input": second}, token)["version"] == 1
    again = call(api, operation("DefineDeviceProfile"), {"input": second}, token)
    assert again["__typename"] == "InvalidStateError"

    first_page = call(
        api, operation("DeviceProfiles"), {"enterprise": ENTERPRISE, "first": 1}, member(issuer)
    )
    assert [e["node"]["name"] for e in first_page["edges"]] == ["air-compressor"]
    assert first_page["pageInfo"]["hasNextPage"]
    rest = call(
        api,
        operation("DeviceProfiles"),
        {"enterprise": ENTERPRISE, "after": first_page["pageInfo"]["endCursor"]},
        member(issuer),
    )
    assert [e["node"]["name"] for e in rest["edges"]] == [PROFILE]
    assert not rest["pageInfo"]["hasNextPage"]


INVALID_PROFILES: list[tuple[dict[str, Any], str]] = [
    (
        {"alarmRules": [{**PROFILE_INPUT["alarmRules"][0], "metric": "pressure"}]},
        "alarmRules[0].metric",
    ),
    (
        {"alarmRules": [{**PROFILE_INPUT["alarmRules"][0], "metric": "running"}]},
        "alarmRules[0].metric",
    ),
    (
        {"metrics": [{"name": "temperature", "type": "NUMBER", "minimum": 5, "maximum": 1}]},
        "metrics[0].minimum",
    ),
    ({"metrics": [{"name": "running", "type": "BOOLEAN", "maximum": 1}]}, "metrics[0]"),
    (
        {"metrics": [*PROFILE_INPUT["metrics"], {"name": "2nd", "type": "NUMBER"}]},
        "metrics[3].name",
    ),
    ({"name": "Pump"}, "name"),
    ({"metrics": []}, "metrics"),
]


def test_an_invalid_profile_is_refused_naming_the_field(
    graphql_api: GraphQLApi, issuer: TokenIssuer
) -> None:
    for change, field in INVALID_PROFILES:
        invalid = {**PROFILE_INPUT, "name": "bad-pump", **change}
        refused = call(
            graphql_api, operation("DefineDeviceProfile"), {"input": invalid}, admin(issuer)
        )
        assert refused["__typename"] == "InvalidInputError", (change, refused)
        assert refused["message"].startswith(f"{field}:"), refused["message"]
    missing = call(
        graphql_api,
        operation("DeviceProfile"),
        {"enterprise": ENTERPRISE, "name": "bad-pump"},
        admin(issuer),
    )
    assert missing["__typename"] == "NotFoundError"


# Registration, provisioning, certificates and lifecycle


def test_register_provision_connect_rotate_and_revoke(
    api: GraphQLApi, issuer: TokenIssuer, node: Node, iot: Any
) -> None:
    token = admin(issuer)
    device = register(api, token)
    device_id = device["id"]
    assert device["identifier"] == f"{PREFIX}/PUMP-0001"
    assert (device["state"], device["enterprise"], device["profile"]) == (
        "REGISTERED",
        ENTERPRISE,
        PROFILE,
    )
    assert device["topics"] == {
        "telemetry": f"idnode/devices/{device_id}/telemetry",
        "commands": f"idnode/devices/{device_id}/commands/+",
        "responses": f"idnode/devices/{device_id}/responses/+",
    }

    # The identifier resolves to what the device is.
    resolved = call(api, operation("ResolveIdentifier"), {"handle": device["identifier"]}, None)
    values = {v["type"]: v["data"]["value"] for v in resolved["values"]}
    assert values["IDNODE_DEVICE_ID"] == device_id
    assert values["IDNODE_DEVICE_TYPE"] == PROFILE
    assert values["IDNODE_LIFECYCLE"] == "registered"

    provisioned = provision(api, token, device_id)
    first_certificate = provisioned["certificateId"]
    assert provisioned["certificatePem"].startswith("-----BEGIN CERTIFICATE-----")
    assert provisioned["endpoint"]
    assert provisioned["device"]["state"] == "PROVISIONED"
    assert provisioned["device"]["certificateId"] == first_certificate
    principals = iot.list_thing_principals(thingName=device_id)["principals"]
    assert [p.rsplit("/", 1)[-1] for p in principals] == [first_certificate]
    again = call(api, operation("ProvisionDevice"), {"device": device_id, "csr": csr_pem()}, token)
    assert again["__typename"] == "InvalidStateError"

    connect(node, device_id)
    connected = read_device(api, member(issuer), device_id)
    assert (connected["state"], connected["connected"]) == ("ACTIVE", True)
    assert connected["connectivityChangedAt"] is not None
    resolved = call(api, operation("ResolveIdentifier"), {"handle": device["identifier"]}, None)
    assert {v["type"]: v["data"]["value"] for v in resolved["values"]}["IDNODE_LIFECYCLE"] == (
        "active"
    )

    rotated = call(
        api, operation("RotateDeviceCertificate"), {"device": device_id, "csr": csr_pem()}, token
    )
    assert rotated["__typename"] == "ProvisionedDevice", rotated
    second_certificate = rotated["certificateId"]
    assert second_certificate != first_certificate
    assert rotated["device"]["certificateId"] == second_certificate
    old = iot.describe_certificate(certificateId=first_certificate)["certificateDescription"]
    assert old["status"] == "INACTIVE"

    revoked = call(api, operation("RevokeDeviceCertificate"), {"device": device_id}, token)
    assert revoked["__typename"] == "Device", revoked
    assert revoked["certificateId"] is None
    gone = iot.describe_certificate(certificateId=second_certificate)["certificateDescription"]
    assert gone["status"] == "REVOKED"


def test_a_device_is_renamed_and_its_firmware_recorded_at_the_version_read(
    api: GraphQLApi, issuer: TokenIssuer
) -> None:
    token = admin(issuer)
    device = register(api, token)
    updated = call(
        api,
        operation("UpdateDevice"),
        {"device": device["id"], "version": device["version"], "firmware": "2.0.1"},
        token,
    )
    assert updated["__typename"] == "Device", updated
    assert (updated["name"], updated["firmware"]) == (device["name"], "2.0.1")
    assert updated["version"] == device["version"] + 1

    stale = call(
        api,
        operation("UpdateDevice"),
        {"device": device["id"], "version": device["version"], "name": "Feed pump 2"},
        token,
    )
    assert stale["__typename"] == "ConflictError", stale
    too_long = call(
        api,
        operation("UpdateDevice"),
        {"device": device["id"], "version": updated["version"], "firmware": "x" * 65},
        token,
    )
    assert too_long["__typename"] == "InvalidInputError", too_long
    assert too_long["message"].startswith("firmware")
    refused = call(
        api,
        operation("UpdateDevice"),
        {"device": device["id"], "version": updated["version"], "name": "Mine now"},
        member(issuer),
    )
    assert refused["__typename"] == "NotAuthorisedError", refused


def test_lifecycle_transitions(api: GraphQLApi, issuer: TokenIssuer, iot: Any) -> None:
    token = admin(issuer)
    device_id = register(api, token)["id"]

    skipped = call(
        api, operation("ChangeDeviceState"), {"device": device_id, "state": "ACTIVE"}, token
    )
    assert skipped["__typename"] == "InvalidStateError"
    assert "registered" in skipped["message"] and "active" in skipped["message"]

    certificate = provision(api, token, device_id)["certificateId"]
    maintained = call(
        api,
        operation("ChangeDeviceState"),
        {"device": device_id, "state": "MAINTENANCE", "reason": "bearing replacement"},
        token,
    )
    assert maintained["__typename"] == "Device", maintained
    assert maintained["state"] == "MAINTENANCE"

    retired = call(
        api, operation("ChangeDeviceState"), {"device": device_id, "state": "RETIRED"}, token
    )
    assert retired["state"] == "RETIRED"
    status = iot.describe_certificate(certificateId=certificate)["certificateDescription"]
    assert status["status"] == "INACTIVE"

    final = call(
        api, operation("ChangeDeviceState"), {"device": device_id, "state": "ACTIVE"}, token
    )
    assert final["__typename"] == "InvalidStateError"
    unrotatable = call(
        api, operation("RotateDeviceCertificate"), {"device": device_id, "csr": csr_pem()}, token
    )
    assert unrotatable["__typename"] == "InvalidStateError"
    asked_registered = call(
        api, operation("ChangeDeviceState"), {"device": device_id, "state": "REGISTERED"}, token
    )
    assert asked_registered["__typename"] == "InvalidInputError"
    assert asked_registered["message"].startswith("state:")


def test_a_bad_csr_is_refused_and_the_device_stays_registered(
    api: GraphQLApi, issuer: TokenIssuer
) -> None:
    token = admin(issuer)
    device_id = register(api, token)["id"]
    for bad in ("not a certificate signing request", csr_pem().replace("A", "B", 5)):
        refused = call(api, operation("ProvisionDevice"), {"device": device_id, "csr": bad}, token)
        assert refused["__typename"] == "InvalidInputError", refused
        assert refused["message"].startswith("csr"), refused["message"]
    device = read_device(api, token, device_id)
    assert (device["state"], device["certificateId"]) == ("REGISTERED", None)


def test_unknown_devices(api: GraphQLApi, issuer: TokenIssuer) -> None:
    token = admin(issuer)
    unknown = "d-unknown"
    assert read_device(api, token, unknown)["__typename"] == "NotFoundError"
    provisioned = call(
        api, operation("ProvisionDevice"), {"device": unknown, "csr": csr_pem()}, token
    )
    assert provisioned["__typename"] == "NotFoundError"
    series = call(
        api,
        operation("Telemetry"),
        {
            "device": unknown,
            "metric": "temperature",
            "from": iso(minute_ago(10)),
            "to": iso(minute_ago(0)),
            "intervalSeconds": 60,
        },
        token,
    )
    assert series["__typename"] == "NotFoundError"
    assert call(api, operation("Command"), {"id": "0" * 32}, token)["__typename"] == "NotFoundError"
    assert call(api, operation("AcknowledgeAlarm"), {"id": "d-x:overheat:1"}, token)[
        "__typename"
    ] == ("NotFoundError")
    unregistered = call(
        api,
        operation("RegisterDevice"),
        {"input": {"enterprise": ENTERPRISE, "suffix": "X-1", "profile": "no-such", "name": "X"}},
        token,
    )
    assert unregistered["__typename"] == "NotFoundError"


def test_who_may_do_what(api: GraphQLApi, issuer: TokenIssuer) -> None:
    device_id = register(api, admin(issuer))["id"]
    outsider = admin(issuer, OTHER_ENTERPRISE)

    assert read_device(api, outsider, device_id)["__typename"] == "NotAuthorisedError"
    assert read_device(api, auditor(issuer), device_id)["__typename"] == "Device"
    assert read_device(api, None, device_id)["__typename"] == "AuthenticationError"
    foreign_profile = call(
        api, operation("DefineDeviceProfile"), {"input": PROFILE_INPUT}, outsider
    )
    assert foreign_profile["__typename"] == "NotAuthorisedError"
    # Registering, provisioning and lifecycle are for enterprise admins; users operate.
    by_member = register_refused(api, member(issuer))
    assert by_member == "NotAuthorisedError"
    provisioned = call(
        api, operation("ProvisionDevice"), {"device": device_id, "csr": csr_pem()}, outsider
    )
    assert provisioned["__typename"] == "NotAuthorisedError"
    # Auditors watch and never act.
    command = call(
        api, operation("SendCommand"), {"device": device_id, "name": "reboot"}, auditor(issuer)
    )
    assert command["__typename"] == "NotAuthorisedError"
    desired = {"device": device_id, "desired": {"interval": 5}}
    assert (
        call(api, operation("SetDesiredState"), desired, outsider)["__typename"]
        == "NotAuthorisedError"
    )
    # Enterprise people list their own enterprise's devices only.
    theirs = call(api, operation("Devices"), {"filter": {"enterprise": ENTERPRISE}}, outsider)
    assert theirs["__typename"] == "NotAuthorisedError"
    own = call(api, operation("Devices"), {}, outsider)
    assert (own["__typename"], own["edges"]) == ("DeviceConnection", [])
    assert call(api, operation("Devices"), {}, None)["__typename"] == "AuthenticationError"


def register_refused(api: GraphQLApi, token: str) -> str:
    refused = call(
        api,
        operation("RegisterDevice"),
        {"input": {"enterprise": ENTERPRISE, "suffix": "P-9", "profile": PROFILE, "name": "P"}},
        token,
    )
    return str(refused["__typename"])


def test_listing_and_counting_devices(api: GraphQLApi, issuer: TokenIssuer) -> None:
    token = admin(issuer)
    ids = [register(api, token, f"PUMP-{n}")["id"] for n in range(3)]
    provision(api, token, ids[0])

    registered = call(
        api, operation("Devices"), {"filter": {"state": "REGISTERED"}}, member(issuer)
    )
    assert registered["__typename"] == "DeviceConnection"
    assert sorted(e["node"]["id"] for e in registered["edges"]) == sorted(ids[1:])

    seen: list[str] = []
    after = None
    for _ in range(10):
        page = call(api, operation("Devices"), {"first": 1, "after": after}, token)
        assert len(page["edges"]) <= 1
        seen += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert sorted(seen) == sorted(ids)

    counts = call(api, operation("DeviceCounts"), {"enterprise": ENTERPRISE}, token)
    assert counts["__typename"] == "DeviceCounts"
    assert counts["total"] == 3
    by_state = {c["state"]: c["count"] for c in counts["counts"]}
    assert by_state == {
        "REGISTERED": 2,
        "PROVISIONED": 1,
        "ACTIVE": 0,
        "MAINTENANCE": 0,
        "RETIRED": 0,
    }
    everyone = call(api, operation("DeviceCounts"), {}, auditor(issuer))
    assert everyone["total"] == 3
    # Enterprise people count their own enterprise's devices without naming it.
    assert call(api, operation("DeviceCounts"), {}, member(issuer))["total"] == 3
    outsider = admin(issuer, OTHER_ENTERPRISE)
    assert call(api, operation("DeviceCounts"), {}, outsider)["total"] == 0
    refused = call(
        api, operation("DeviceCounts"), {"enterprise": ENTERPRISE}, admin(issuer, OTHER_ENTERPRISE)
    )
    assert refused["__typename"] == "NotAuthorisedError"


# Telemetry and alarms


def test_telemetry_latest_values_and_series(
    api: GraphQLApi, issuer: TokenIssuer, node: Node
) -> None:
    token = admin(issuer)
    device_id = register(api, token)["id"]
    provision(api, token, device_id)
    start = minute_ago(30)
    readings = [(0, 20.0), (10_000, 30.0), (60_000, 40.0), (180_000, 50.5)]
    for offset, temperature in readings:
        values = {"temperature": temperature, "rpm": 1450, "running": True}
        assert send_telemetry(node, device_id, start + offset, values) == "stored"
    assert send_telemetry(node, device_id, start, {"temperature": 20.0}) == "duplicate"
    assert send_telemetry(node, device_id, start + 1, {"temperature": 912.0}) == "rejected"

    device = read_device(api, member(issuer), device_id)
    assert device["state"] == "ACTIVE"  # its first message counts as connecting
    assert device["latest"] == [
        {"metric": "rpm", "value": 1450.0, "boolean": None, "at": iso(start + 180_000)},
        {"metric": "running", "value": 1.0, "boolean": True, "at": iso(start + 180_000)},
        {"metric": "temperature", "value": 50.5, "boolean": None, "at": iso(start + 180_000)},
    ]
    assert device["rejectedMessages"] == 1
    assert "out-of-range" in device["lastRejection"]

    variables = {
        "device": device_id,
        "metric": "temperature",
        "from": iso(start),
        "to": iso(start + 240_000),
        "intervalSeconds": 60,
    }
    series = call(api, operation("Telemetry"), variables, member(issuer))
    assert series["__typename"] == "TelemetrySeries", series
    assert (series["unit"], series["truncated"], series["intervalSeconds"]) == ("°C", False, 60)
    assert series["from"] == iso(start)
    assert [(b["start"], b["count"], b["min"], b["max"], b["avg"]) for b in series["buckets"]] == [
        (iso(start), 2, 20.0, 30.0, 25.0),
        (iso(start + 60_000), 1, 40.0, 40.0, 40.0),
        (iso(start + 120_000), 0, None, None, None),
        (iso(start + 180_000), 1, 50.5, 50.5, 50.5),
    ]
    running = call(api, operation("Telemetry"), {**variables, "metric": "running"}, token)
    assert [b["avg"] for b in running["buckets"]] == [1.0, 1.0, None, 1.0]

    for bad in (
        {"metric": "pressure"},
        {"intervalSeconds": 0},
        {"to": variables["from"]},
    ):
        refused = call(api, operation("Telemetry"), {**variables, **bad}, token)
        assert refused["__typename"] == "InvalidInputError", (bad, refused)
    outsider = call(api, operation("Telemetry"), variables, admin(issuer, OTHER_ENTERPRISE))
    assert outsider["__typename"] == "NotAuthorisedError"


def test_alarms_raised_acknowledged_and_cleared(
    api: GraphQLApi, issuer: TokenIssuer, node: Node
) -> None:
    token = admin(issuer)
    device_id = register(api, token)["id"]
    provision(api, token, device_id)
    start = minute_ago(20)
    send_telemetry(node, device_id, start, {"temperature": 90.0})
    send_telemetry(node, device_id, start + 1000, {"temperature": 120.0})

    listed = call(api, operation("Alarms"), {"filter": {"device": device_id}}, member(issuer))
    assert listed["__typename"] == "AlarmConnection"
    (alarm,) = [e["node"] for e in listed["edges"]]
    assert (alarm["rule"], alarm["metric"], alarm["severity"], alarm["status"]) == (
        "overheat",
        "temperature",
        "MAJOR",
        "ACTIVE",
    )
    assert (alarm["comparison"], alarm["threshold"], alarm["raisedValue"]) == ("GT", 100.0, 120.0)
    assert alarm["raisedAt"] == iso(start + 1000)
    active = read_device(api, token, device_id)["alarms"]
    assert [e["node"]["id"] for e in active["edges"]] == [alarm["id"]]
    assert call(api, operation("Alarms"), {}, admin(issuer, OTHER_ENTERPRISE))["edges"] == []

    watched = call(api, operation("AcknowledgeAlarm"), {"id": alarm["id"]}, auditor(issuer))
    assert watched["__typename"] == "NotAuthorisedError"
    acknowledged = call(api, operation("AcknowledgeAlarm"), {"id": alarm["id"]}, member(issuer))
    assert acknowledged["__typename"] == "Alarm", acknowledged
    assert (acknowledged["status"], acknowledged["acknowledgedBy"]) == ("ACKNOWLEDGED", "bob")
    twice = call(api, operation("AcknowledgeAlarm"), {"id": alarm["id"]}, member(issuer))
    assert twice["__typename"] == "InvalidStateError"

    send_telemetry(node, device_id, start + 2000, {"temperature": 80.0})
    cleared = call(api, operation("Alarms"), {"filter": {"status": "CLEARED"}}, token)
    (after,) = [e["node"] for e in cleared["edges"]]
    assert (after["id"], after["clearedValue"], after["acknowledgedBy"]) == (
        alarm["id"],
        80.0,
        "bob",
    )
    assert call(api, operation("Alarms"), {"filter": {"status": "ACTIVE"}}, token)["edges"] == []
    assert read_device(api, token, device_id)["alarms"]["edges"] == []


# Shadows and commands


def test_desired_state_and_commands(api: GraphQLApi, issuer: TokenIssuer, node: Node) -> None:
    token = admin(issuer)
    device_id = register(api, token)["id"]
    provision(api, token, device_id)

    shadow = read_device(api, token, device_id)["shadow"]
    assert shadow["__typename"] == "DeviceShadow"
    assert (shadow["desired"], shadow["version"]) == ({}, None)

    desired = call(
        api,
        operation("SetDesiredState"),
        {"device": device_id, "desired": {"interval": 10}},
        member(issuer),
    )
    assert desired["__typename"] == "DeviceShadow", desired
    assert desired["desired"] == {"interval": 10}
    assert desired["delta"] == {"interval": 10}
    assert desired["version"] is not None
    assert read_device(api, token, device_id)["shadow"]["desired"] == {"interval": 10}
    not_an_object = call(
        api, operation("SetDesiredState"), {"device": device_id, "desired": [1]}, token
    )
    assert not_an_object["__typename"] == "InvalidInputError"

    sent = call(
        api,
        operation("SendCommand"),
        {"device": device_id, "name": "reboot", "parameters": {"delay": 5}},
        member(issuer),
    )
    assert sent["__typename"] == "Command", sent
    assert (sent["status"], sent["parameters"], sent["sentBy"]) == ("SENT", {"delay": 5}, "bob")
    published = iotdata_backends[DEFAULT_ACCOUNT_ID][REGION].published_payloads
    topic, payload = published[-1]
    assert topic == f"idnode/devices/{device_id}/commands/{sent['id']}"
    assert json.loads(payload)["id"] == sent["id"]

    node.telemetry.respond(
        {
            "kind": "response",
            "payload": encoded({"status": "ok", "result": {"uptime": 0}}),
            "device": device_id,
            "command": sent["id"],
            "clientId": device_id,
            "receivedAt": now_ms(),
        }
    )
    answered = call(api, operation("Command"), {"id": sent["id"]}, token)
    assert (answered["status"], answered["result"], answered["error"]) == (
        "ACKNOWLEDGED",
        {"uptime": 0},
        None,
    )
    assert answered["respondedAt"] is not None
    listed = read_device(api, token, device_id)["commands"]
    assert [e["node"]["id"] for e in listed["edges"]] == [sent["id"]]

    for bad in ({"timeoutSeconds": 0}, {"name": "no spaces"}, {"parameters": [1]}):
        refused = call(
            api, operation("SendCommand"), {"device": device_id, "name": "reboot", **bad}, token
        )
        assert refused["__typename"] == "InvalidInputError", (bad, refused)
    registered = register(api, token, "PUMP-NEW")["id"]
    early = call(api, operation("SendCommand"), {"device": registered, "name": "reboot"}, token)
    assert early["__typename"] == "InvalidStateError"
