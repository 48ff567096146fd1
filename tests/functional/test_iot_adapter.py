"""The AWS IoT Core and dead-letter adapters on moto (iot, iot-data, sqs): things, certificates
issued from CSRs, publishing, shadows, and refused messages kept in a queue.

moto differs from AWS in two places these tests work around: it rejects a malformed CSR with
a Python error instead of InvalidRequestException, and creating an existing thing replaces it
instead of failing with ResourceAlreadyExistsException. Both AWS answers are pinned with
botocore's Stubber instead.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.iotdata.models import iotdata_backends

from idnode.adapters.dead_letters import MAX_BODY_BYTES, DeadLetters
from idnode.adapters.iot import IotCore, Shadow, shadow_from_document
from idnode.domain.errors import InvalidStateError, InvalidValueError, NotFoundError

REGION = "us-east-1"
POLICY = "idnode-devices"
DEVICE = "d-0001"
ATTRIBUTES = {"enterprise": "ent-1", "identifier": "88.100.1/PUMP-0001", "profile": "pump"}


@dataclass
class Aws:
    iot: Any
    data: Any
    core: IotCore


def csr_pem(key: Any = None, name: str = DEVICE) -> str:
    key = key or ec.generate_private_key(ec.SECP256R1())
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .sign(key, hashes.SHA256())
    )
    return request.public_bytes(serialization.Encoding.PEM).decode()


def tampered_csr_pem() -> str:
    """A well-formed CSR whose signature does not match its key."""
    request = x509.load_pem_x509_csr(csr_pem().encode())
    der = request.public_bytes(serialization.Encoding.DER)
    der = der[:-1] + bytes([der[-1] ^ 0x01])
    body = base64.encodebytes(der).decode()
    return f"-----BEGIN CERTIFICATE REQUEST-----\n{body}-----END CERTIFICATE REQUEST-----\n"


def no_data_plane() -> Any:
    raise AssertionError("the data plane is not needed here")


@pytest.fixture
def aws() -> Iterator[Aws]:
    with mock_aws():
        iot = boto3.client("iot", region_name=REGION)
        data = boto3.client("iot-data", region_name=REGION)
        iot.create_policy(
            policyName=POLICY,
            policyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"}],
                }
            ),
        )
        yield Aws(iot, data, IotCore(iot, lambda: data, POLICY))


def published() -> list[tuple[str, bytes]]:
    return list(iotdata_backends[DEFAULT_ACCOUNT_ID][REGION].published_payloads)


# Things


def test_a_thing_is_registered_with_its_attributes(aws: Aws) -> None:
    aws.core.ensure_thing(DEVICE, ATTRIBUTES)
    assert aws.iot.describe_thing(thingName=DEVICE)["attributes"] == ATTRIBUTES


def test_an_existing_thing_gets_its_attributes_merged() -> None:
    # AWS refuses to create a thing that exists with other attributes; moto replaces it.
    client = boto3.client("iot", region_name=REGION)
    with Stubber(client) as stub:
        stub.add_client_error(
            "create_thing",
            "ResourceAlreadyExistsException",
            expected_params={"thingName": DEVICE, "attributePayload": {"attributes": ATTRIBUTES}},
        )
        stub.add_response(
            "update_thing",
            {},
            expected_params={
                "thingName": DEVICE,
                "attributePayload": {"attributes": ATTRIBUTES, "merge": True},
            },
        )
        IotCore(client, no_data_plane, POLICY).ensure_thing(DEVICE, ATTRIBUTES)
        stub.assert_no_pending_responses()


def test_attributes_the_registry_refuses_are_invalid_values() -> None:
    client = boto3.client("iot", region_name=REGION)
    with Stubber(client) as stub:
        stub.add_client_error("create_thing", "InvalidRequestException", "bad attribute value")
        with pytest.raises(InvalidValueError, match="thing attributes: bad attribute value"):
            IotCore(client, no_data_plane, POLICY).ensure_thing(DEVICE, {"a": "b c"})


# Certificates


def test_a_certificate_is_issued_from_a_csr_with_the_policy_and_the_thing(aws: Aws) -> None:
    aws.core.ensure_thing(DEVICE, ATTRIBUTES)
    issued = aws.core.issue_certificate(DEVICE, csr_pem())
    assert issued.pem.startswith("-----BEGIN CERTIFICATE-----")
    described = aws.iot.describe_certificate(certificateId=issued.id)["certificateDescription"]
    assert (described["status"], described["certificateArn"]) == ("ACTIVE", issued.arn)
    policies = aws.iot.list_attached_policies(target=issued.arn)["policies"]
    assert [p["policyName"] for p in policies] == [POLICY]
    assert aws.iot.list_thing_principals(thingName=DEVICE)["principals"] == [issued.arn]
    # The certificate is for the CSR's subject. (AWS also certifies the CSR's key; moto
    # makes up a key of its own, so that part cannot be checked here.)
    certificate = x509.load_pem_x509_certificate(issued.pem.encode())
    assert certificate.subject.rfc4514_string() == f"CN={DEVICE}"


def test_a_certificate_that_cannot_be_attached_is_deleted_again(aws: Aws) -> None:
    # No thing: attaching it fails after the certificate exists.
    with pytest.raises(ClientError) as failure:
        aws.core.issue_certificate("d-missing", csr_pem())
    assert failure.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert aws.iot.list_certificates()["certificates"] == []


def test_without_the_device_policy_the_certificate_is_deleted_again(aws: Aws) -> None:
    aws.core.ensure_thing(DEVICE, ATTRIBUTES)
    core = IotCore(aws.iot, lambda: aws.data, "no-such-policy")
    with pytest.raises(ClientError):
        core.issue_certificate(DEVICE, csr_pem())
    assert aws.iot.list_certificates()["certificates"] == []
    assert aws.iot.list_thing_principals(thingName=DEVICE)["principals"] == []


@pytest.mark.parametrize(
    ("csr", "message"),
    [
        ("", "required"),
        ("garbage", "not a PEM certificate signing request"),
        (
            "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
            "not a PEM",
        ),
        # A key too weak for AWS IoT, on purpose.
        (csr_pem(rsa.generate_private_key(65537, 1024)), "at least 2048"),  # noqa: S505
        (csr_pem(ec.generate_private_key(ec.SECP256K1())), "secp256k1 is not accepted"),
        ("x" * 20_000, "longer than"),
        (tampered_csr_pem(), "signature does not match"),
    ],
)
def test_a_bad_csr_is_an_invalid_value(aws: Aws, csr: str, message: str) -> None:
    aws.core.ensure_thing(DEVICE, ATTRIBUTES)
    with pytest.raises(InvalidValueError, match=f"csr: .*{message}"):
        aws.core.issue_certificate(DEVICE, csr)
    assert aws.iot.list_certificates()["certificates"] == []


def test_a_csr_the_service_refuses_is_an_invalid_value() -> None:
    client = boto3.client("iot", region_name=REGION)
    with Stubber(client) as stub:
        stub.add_client_error(
            "create_certificate_from_csr", "InvalidRequestException", "unsupported subject"
        )
        core = IotCore(client, no_data_plane, POLICY)
        with pytest.raises(InvalidValueError, match="csr: unsupported subject"):
            core.issue_certificate(DEVICE, csr_pem())


def test_a_node_without_a_device_policy_cannot_provision(aws: Aws) -> None:
    core = IotCore(aws.iot, lambda: aws.data, "")
    with pytest.raises(InvalidStateError, match="no device policy"):
        core.issue_certificate(DEVICE, csr_pem())


@pytest.mark.parametrize(("revoke", "status"), [(False, "INACTIVE"), (True, "REVOKED")])
def test_a_certificate_is_deactivated_and_detached(aws: Aws, revoke: bool, status: str) -> None:
    aws.core.ensure_thing(DEVICE, ATTRIBUTES)
    issued = aws.core.issue_certificate(DEVICE, csr_pem())
    aws.core.deactivate_certificate(DEVICE, issued.id, revoke=revoke)
    described = aws.iot.describe_certificate(certificateId=issued.id)["certificateDescription"]
    assert described["status"] == status
    assert aws.iot.list_thing_principals(thingName=DEVICE)["principals"] == []
    # Again, and for a certificate that does not exist: nothing left to do, no error.
    aws.core.deactivate_certificate(DEVICE, issued.id, revoke=True)
    aws.core.deactivate_certificate(DEVICE, "0" * 64, revoke=True)


def test_the_endpoint_is_asked_for_once(aws: Aws) -> None:
    endpoint = aws.core.endpoint()
    assert endpoint.endswith(f"-ats.iot.{REGION}.amazonaws.com")
    # moto makes up a new address on every call: the same one back means it was kept.
    assert aws.core.endpoint() == endpoint


# Publishing and shadows


def test_the_data_plane_client_is_built_on_first_use(aws: Aws) -> None:
    built: list[int] = []

    def factory() -> Any:
        built.append(1)
        return aws.data

    core = IotCore(aws.iot, factory, POLICY)
    core.ensure_thing(DEVICE, ATTRIBUTES)
    core.issue_certificate(DEVICE, csr_pem())
    assert built == []
    core.publish("idnode/devices/d-0001/commands/c1", {"id": "c1"})
    core.shadow(DEVICE)
    assert built == [1]


def test_a_message_is_published_as_json(aws: Aws) -> None:
    topic = f"idnode/devices/{DEVICE}/commands/c1"
    aws.core.publish(topic, {"id": "c1", "name": "reboot", "parameters": {"delay": 5}})
    assert published() == [(topic, b'{"id":"c1","name":"reboot","parameters":{"delay":5}}')]
    with pytest.raises(ValueError):
        aws.core.publish(topic, {"value": float("nan")})
    assert len(published()) == 1


def test_a_device_without_a_shadow_has_an_empty_one(aws: Aws) -> None:
    aws.core.ensure_thing(DEVICE, ATTRIBUTES)
    assert aws.core.shadow(DEVICE) == Shadow()
    assert aws.core.shadow("d-unknown") == Shadow()


def test_desired_state_and_reported_state_make_the_delta(aws: Aws) -> None:
    aws.core.ensure_thing(DEVICE, ATTRIBUTES)
    shadow = aws.core.update_desired(DEVICE, {"setpoint": 70, "mode": "eco"})
    assert (shadow.desired, shadow.reported, shadow.version) == (
        {"setpoint": 70, "mode": "eco"},
        {},
        1,
    )
    assert shadow.delta == {"setpoint": 70, "mode": "eco"}
    assert shadow.updated_at is not None
    assert shadow.updated_at % 1000 == 0  # the service's seconds, as milliseconds
    # The device reports its state on its shadow topic; here through the same service.
    aws.data.update_thing_shadow(
        thingName=DEVICE,
        payload=json.dumps({"state": {"reported": {"setpoint": 65, "mode": "eco"}}}),
    )
    shadow = aws.core.shadow(DEVICE)
    assert shadow.reported == {"setpoint": 65, "mode": "eco"}
    assert shadow.delta == {"setpoint": 70}
    assert shadow.version == 2
    # Desired keys merge; None removes one.
    shadow = aws.core.update_desired(DEVICE, {"setpoint": 65, "mode": None})
    assert shadow.desired == {"setpoint": 65}
    assert shadow.delta == {}
    assert shadow.version == 3


def test_desired_state_of_a_device_without_a_thing_is_not_found(aws: Aws) -> None:
    with pytest.raises(NotFoundError, match="d-unknown"):
        aws.core.update_desired("d-unknown", {"setpoint": 1})


def test_the_delta_is_computed_when_the_service_leaves_it_out() -> None:
    shadow = shadow_from_document(
        {
            "state": {"desired": {"a": 1, "b": {"x": 1}, "c": 3}, "reported": {"a": 1, "b": {}}},
            "version": 7,
            "timestamp": 1_700_000_000,
        }
    )
    assert shadow.delta == {"b": {"x": 1}, "c": 3}
    assert (shadow.version, shadow.updated_at) == (7, 1_700_000_000_000)
    assert shadow_from_document({"state": {"desired": {"a": 1}, "delta": {"a": 1}}}).delta == {
        "a": 1
    }
    assert shadow_from_document({}) == Shadow()


# Dead letters


@pytest.fixture
def queue() -> Iterator[tuple[Any, str]]:
    with mock_aws():
        sqs = boto3.client("sqs", region_name=REGION)
        yield sqs, sqs.create_queue(QueueName="idnode-dead-letters")["QueueUrl"]


def received(sqs: Any, url: str) -> list[dict[str, Any]]:
    found = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
    return list(found.get("Messages", []))


def test_a_dead_letter_keeps_the_event_and_the_reason(queue: tuple[Any, str]) -> None:
    sqs, url = queue
    event = {"payload": "bm90IGpzb24=", "device": DEVICE, "clientId": DEVICE, "receivedAt": 5}
    letters = DeadLetters(sqs, url, clock=lambda: 1_700_000_000_123)
    letters.send(kind="telemetry", reason="not-json", message="payload: not JSON", event=event)
    [message] = received(sqs, url)
    assert json.loads(message["Body"]) == {
        "kind": "telemetry",
        "reason": "not-json",
        "message": "payload: not JSON",
        "event": event,
        "at": 1_700_000_000_123,
    }
    attributes = message["MessageAttributes"]
    assert attributes["kind"] == {"DataType": "String", "StringValue": "telemetry"}
    assert attributes["reason"] == {"DataType": "String", "StringValue": "not-json"}


def test_an_event_too_large_for_the_queue_is_cut(queue: tuple[Any, str]) -> None:
    sqs, url = queue
    event = {"payload": "A" * (MAX_BODY_BYTES + 10), "device": DEVICE}
    DeadLetters(sqs, url).send(kind="telemetry", reason="oversized", message="m", event=event)
    [message] = received(sqs, url)
    assert len(message["Body"].encode()) <= MAX_BODY_BYTES
    body = json.loads(message["Body"])
    assert body["reason"] == "oversized"
    assert body["event"]["truncated"] is True
    assert body["event"]["head"].startswith('{"payload":"AAAA')


def test_without_a_queue_a_dead_letter_goes_to_the_log(queue: tuple[Any, str]) -> None:
    sqs, url = queue
    DeadLetters(sqs, "").send(kind="presence", reason="unknown-device", message="m", event={})
    assert received(sqs, url) == []
