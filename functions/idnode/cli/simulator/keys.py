"""A simulated device's identity on this machine: its private key, the CSR made from it, and
the credentials kept between runs."""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class DeviceCredentials:
    """What a simulated device keeps between runs."""

    suffix: str
    device_id: str
    certificate_id: str
    certificate_pem: bytes
    private_key_pem: bytes
    endpoint: str


class KeyStore:
    """The simulated devices' keys, certificates and ids, in one directory per prefix.

    Private keys are written readable by their owner only; they never leave this machine.
    """

    INDEX = "devices.json"

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()

    def credentials(self, suffix: str) -> DeviceCredentials | None:
        """The stored credentials of the device with this suffix; None if incomplete."""
        entry = self._index().get(suffix)
        if not isinstance(entry, dict):
            return None
        device_id = entry.get("device")
        if not isinstance(device_id, str) or not device_id:
            return None
        try:
            key = self._key_path(device_id).read_bytes()
            certificate = self._certificate_path(device_id).read_bytes()
        except OSError:
            return None
        return DeviceCredentials(
            suffix=suffix,
            device_id=device_id,
            certificate_id=str(entry.get("certificateId") or ""),
            certificate_pem=certificate,
            private_key_pem=key,
            endpoint=str(entry.get("endpoint") or ""),
        )

    def save(self, credentials: DeviceCredentials) -> None:
        with self._lock:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            _write(self._key_path(credentials.device_id), credentials.private_key_pem, 0o600)
            _write(
                self._certificate_path(credentials.device_id), credentials.certificate_pem, 0o644
            )
            index = self._index()
            index[credentials.suffix] = {
                "device": credentials.device_id,
                "certificateId": credentials.certificate_id,
                "endpoint": credentials.endpoint,
            }
            text = json.dumps(index, indent=2, sort_keys=True) + "\n"
            _write(self.directory / self.INDEX, text.encode(), 0o644)

    def _index(self) -> dict[str, Any]:
        try:
            document = json.loads((self.directory / self.INDEX).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return document if isinstance(document, dict) else {}

    def _key_path(self, device_id: str) -> Path:
        return self.directory / f"{device_id}.key.pem"

    def _certificate_path(self, device_id: str) -> Path:
        return self.directory / f"{device_id}.cert.pem"


def _write(path: Path, content: bytes, mode: int) -> None:
    """Replace a file at once, created with `mode` (never briefly readable by others)."""
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(content)
    os.chmod(temporary, mode)  # an existing file keeps its old mode through os.open
    os.replace(temporary, path)


def new_private_key() -> bytes:
    """A new EC P-256 private key (PEM, PKCS#8)."""
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415

    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def certificate_request(private_key_pem: bytes, device_id: str) -> str:
    """A CSR (PEM) for the device, signed with its private key."""
    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    key = serialization.load_pem_private_key(private_key_pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, device_id)])
    request = (
        x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    )
    return request.public_bytes(serialization.Encoding.PEM).decode()
