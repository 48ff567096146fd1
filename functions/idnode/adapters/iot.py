"""AWS IoT Core: things, device certificates from CSRs, MQTT publishing and device shadows.

The control plane ("iot") registers a device as a thing and issues its certificate; the data
plane ("iot-data") publishes commands and reads and writes shadows. The data plane client is
built on first use: on AWS its endpoint is the account's own (`describe_endpoint`), which
costs a call that functions never publishing should not pay.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.config import Config
from botocore.exceptions import ClientError

from idnode.domain.errors import InvalidStateError, InvalidValueError, NotFoundError

if TYPE_CHECKING:
    from mypy_boto3_iot import IoTClient
    from mypy_boto3_iot.type_defs import AttributePayloadTypeDef
    from mypy_boto3_iot_data import IoTDataPlaneClient

    from idnode.settings import Settings

DATA_ENDPOINT_TYPE = "iot:Data-ATS"
MAX_CSR_BYTES = 16 * 1024
# What AWS IoT accepts in a certificate signing request.
MIN_RSA_BITS = 2048
EC_CURVES = frozenset({"secp256r1", "secp384r1", "secp521r1"})

_CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3},
    connect_timeout=3,
    read_timeout=10,
)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _message(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message", "")) or _code(exc)


@dataclass(frozen=True)
class IssuedCertificate:
    """A device certificate AWS IoT issued from the device's CSR (the key never left it)."""

    id: str
    arn: str
    pem: str


@dataclass(frozen=True)
class Shadow:
    """A device's classic shadow: what it should be (desired), what it says it is
    (reported), and where they differ (delta). Times are epoch milliseconds."""

    desired: dict[str, Any] = field(default_factory=dict)
    reported: dict[str, Any] = field(default_factory=dict)
    delta: dict[str, Any] = field(default_factory=dict)
    version: int | None = None
    updated_at: int | None = None


def shadow_from_document(document: Mapping[str, Any]) -> Shadow:
    """A shadow from the document the Device Shadow service returns. It leaves the delta
    out when there is none; computed here then: desired keys whose value differs."""
    state = document.get("state") or {}
    desired = dict(state.get("desired") or {})
    reported = dict(state.get("reported") or {})
    delta = state.get("delta")
    if delta is None:
        delta = {k: v for k, v in desired.items() if reported.get(k) != v}
    timestamp = document.get("timestamp")
    version = document.get("version")
    return Shadow(
        desired=desired,
        reported=reported,
        delta=dict(delta),
        version=int(version) if version is not None else None,
        updated_at=int(timestamp) * 1000 if timestamp is not None else None,
    )


def check_csr(csr_pem: str) -> None:
    """InvalidValueError unless `csr_pem` is a signed PEM CSR with a key AWS IoT accepts.
    Checked here so the caller gets a clear reason rather than the service's refusal."""
    # Imported here: only provisioning needs it, and it is heavy.
    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec, rsa  # noqa: PLC0415

    if not isinstance(csr_pem, str) or not csr_pem.strip():
        raise InvalidValueError("csr: a PEM certificate signing request is required")
    if len(csr_pem.encode()) > MAX_CSR_BYTES:
        raise InvalidValueError(f"csr: longer than {MAX_CSR_BYTES} bytes")
    try:
        csr = x509.load_pem_x509_csr(csr_pem.encode())
    except ValueError:
        raise InvalidValueError("csr: not a PEM certificate signing request") from None
    if not csr.is_signature_valid:
        raise InvalidValueError("csr: its signature does not match its public key")
    key = csr.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise InvalidValueError(
                f"csr: an RSA key of {key.key_size} bits; at least {MIN_RSA_BITS} are required"
            )
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in EC_CURVES:
            raise InvalidValueError(
                f"csr: the curve {key.curve.name} is not accepted (use P-256, P-384 or P-521)"
            )
    else:
        raise InvalidValueError("csr: the key must be RSA or elliptic-curve (P-256/384/521)")


class IotCore:
    """The node's AWS IoT Core account: things, certificates, publishing and shadows."""

    def __init__(
        self,
        iot_client: IoTClient,
        data_client_factory: Callable[[], IoTDataPlaneClient],
        policy_name: str,
    ) -> None:
        self._iot = iot_client
        self._data_client_factory = data_client_factory
        self._data: IoTDataPlaneClient | None = None
        self._policy_name = policy_name
        self._endpoint: str | None = None
        self._lock = threading.Lock()

    @classmethod
    def for_settings(cls, settings: Settings) -> IotCore:
        """Clients for the settings' region; the local cloud's endpoint when one is set,
        else the account's own data endpoint for the data plane."""
        import boto3  # noqa: PLC0415 - the GraphQL function builds this only when it is used

        iot = boto3.client(
            "iot",
            region_name=settings.region,
            endpoint_url=settings.endpoint_url,
            config=_CLIENT_CONFIG,
        )

        def data_client() -> IoTDataPlaneClient:
            endpoint = settings.endpoint_url or f"https://{core.endpoint()}"
            return boto3.client(
                "iot-data",
                region_name=settings.region,
                endpoint_url=endpoint,
                config=_CLIENT_CONFIG,
            )

        core = cls(iot, data_client, settings.device_policy)
        return core

    @property
    def data(self) -> IoTDataPlaneClient:
        if self._data is None:
            with self._lock:
                if self._data is None:
                    self._data = self._data_client_factory()
        return self._data

    def endpoint(self) -> str:
        """The MQTT endpoint devices connect to (ATS-signed server certificate)."""
        if self._endpoint is None:
            found = self._iot.describe_endpoint(endpointType=DATA_ENDPOINT_TYPE)
            self._endpoint = found["endpointAddress"]
        return self._endpoint

    def ensure_thing(self, device_id: str, attributes: Mapping[str, str]) -> None:
        """Register the device as a thing with these attributes, or update the attributes of
        the thing registered already."""
        payload: AttributePayloadTypeDef = {"attributes": dict(attributes)}
        merged: AttributePayloadTypeDef = {"attributes": dict(attributes), "merge": True}
        try:
            try:
                self._iot.create_thing(thingName=device_id, attributePayload=payload)
            except ClientError as exc:
                if _code(exc) != "ResourceAlreadyExistsException":
                    raise
                self._iot.update_thing(thingName=device_id, attributePayload=merged)
        except ClientError as exc:
            if _code(exc) == "InvalidRequestException":
                raise InvalidValueError(f"thing attributes: {_message(exc)}") from None
            raise

    def issue_certificate(self, device_id: str, csr_pem: str) -> IssuedCertificate:
        """An active certificate for the CSR, with the device policy, attached to the thing.
        If anything fails once the certificate exists, it is deactivated and deleted again."""
        if not self._policy_name:
            raise InvalidStateError("this node has no device policy: devices cannot be provisioned")
        check_csr(csr_pem)
        try:
            created = self._iot.create_certificate_from_csr(
                certificateSigningRequest=csr_pem, setAsActive=True
            )
        except ClientError as exc:
            if _code(exc) == "InvalidRequestException":
                raise InvalidValueError(f"csr: {_message(exc)}") from None
            raise
        issued = IssuedCertificate(
            id=created["certificateId"],
            arn=created["certificateArn"],
            pem=created["certificatePem"],
        )
        try:
            self._iot.attach_policy(policyName=self._policy_name, target=issued.arn)
            self._iot.attach_thing_principal(thingName=device_id, principal=issued.arn)
        except BaseException:
            self._discard(issued)
            raise
        return issued

    def _discard(self, issued: IssuedCertificate) -> None:
        # Best effort: the original failure is what the caller must see.
        with suppress(ClientError):
            self._iot.update_certificate(certificateId=issued.id, newStatus="INACTIVE")
        with suppress(ClientError):
            # forceDelete: a policy may have been attached before the failure.
            self._iot.delete_certificate(certificateId=issued.id, forceDelete=True)

    def deactivate_certificate(self, device_id: str, certificate_id: str, *, revoke: bool) -> None:
        """Stop a certificate from connecting (INACTIVE, or REVOKED for good) and detach it
        from the thing. A certificate or thing that is gone already is not an error."""
        try:
            described = self._iot.describe_certificate(certificateId=certificate_id)
            arn = described["certificateDescription"]["certificateArn"]
            self._iot.update_certificate(
                certificateId=certificate_id, newStatus="REVOKED" if revoke else "INACTIVE"
            )
            self._iot.detach_thing_principal(thingName=device_id, principal=arn)
        except ClientError as exc:
            if _code(exc) != "ResourceNotFoundException":
                raise

    def publish(self, topic: str, message: Mapping[str, Any]) -> None:
        """Publish a JSON message at QoS 1."""
        payload = json.dumps(message, separators=(",", ":"), allow_nan=False).encode()
        self.data.publish(topic=topic, qos=1, payload=payload)

    def update_desired(self, device_id: str, desired: Mapping[str, Any]) -> Shadow:
        """Merge `desired` into the shadow's desired state (a None value removes a key) and
        return the whole shadow as it is now."""
        document = {"state": {"desired": dict(desired)}}
        payload = json.dumps(document, separators=(",", ":"), allow_nan=False).encode()
        try:
            self.data.update_thing_shadow(thingName=device_id, payload=payload)
        except ClientError as exc:
            code = _code(exc)
            if code == "ResourceNotFoundException":
                raise NotFoundError(f"device {device_id} has no thing to hold a shadow") from None
            if code in {"InvalidRequestException", "RequestEntityTooLargeException"}:
                raise InvalidValueError(f"desired: {_message(exc)}") from None
            raise
        # The update's answer holds only the part that changed; the service keeps the rest.
        return self.shadow(device_id)

    def shadow(self, device_id: str) -> Shadow:
        """The device's classic shadow; an empty one if it has none yet."""
        try:
            found = self.data.get_thing_shadow(thingName=device_id)
        except ClientError as exc:
            if _code(exc) == "ResourceNotFoundException":
                return Shadow()
            raise
        document: dict[str, Any] = json.loads(found["payload"].read())
        return shadow_from_document(document)
