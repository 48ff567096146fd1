"""The node's Handle protocol signing key: RSA, SHA256withRSA (PKCS#1 v1.5), as Handle.Net
signs certified responses.

The private key is PEM (PKCS#8, unencrypted). In AWS it is kept in Secrets Manager (the
secret's SecretString); in the local cloud it is a file generated once per workspace.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from idnode.domain.protocol.encoding import rsa_public_key_bytes

KEY_BITS = 2048
HASH_NAME = b"SHA-256"


class RsaSigner:
    """Signs protocol responses; `public_key_bytes` is the key as site information holds it."""

    def __init__(self, key: rsa.RSAPrivateKey) -> None:
        self._key = key
        numbers = key.public_key().public_numbers()
        self.public_key_bytes = rsa_public_key_bytes(numbers.n, numbers.e)

    @classmethod
    def from_pem(cls, pem: bytes) -> RsaSigner:
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("the Handle signing key must be an RSA private key")
        return cls(key)

    def __call__(self, data: bytes) -> tuple[bytes, bytes]:
        return HASH_NAME, self._key.sign(data, padding.PKCS1v15(), hashes.SHA256())


_HASHES: dict[bytes, Callable[[], hashes.HashAlgorithm]] = {
    b"SHA-256": hashes.SHA256,
    b"SHA-1": hashes.SHA1,
    b"SHA1": hashes.SHA1,
}


def verify(public_key: bytes, data: bytes, hash_name: bytes, signature: bytes) -> bool:
    """Whether `signature` is an RSA PKCS#1 v1.5 signature of `data` by the key given in
    Handle's encoding (as site information holds it)."""
    from idnode.domain.protocol.encoding import rsa_numbers  # noqa: PLC0415

    algorithm = _HASHES.get(hash_name)
    numbers = rsa_numbers(public_key)
    if algorithm is None or numbers is None:
        return False
    key = rsa.RSAPublicNumbers(numbers[1], numbers[0]).public_key()
    try:
        key.verify(signature, data, padding.PKCS1v15(), algorithm())
    except InvalidSignature:
        return False
    return True


def generate_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def ensure_key_file(path: Path) -> Path:
    """The key file at `path`, generated (owner-readable only) if it does not exist yet."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_bytes(generate_pem())
    return path


def load_signer(
    key_file: str = "", secret_id: str = "", region: str = "", endpoint_url: str | None = None
) -> RsaSigner | None:
    """The configured signer, or None when the node has no signing key configured."""
    if secret_id:
        import boto3  # noqa: PLC0415  (only functions that sign read the secret)

        client = boto3.client("secretsmanager", region_name=region, endpoint_url=endpoint_url)
        pem = client.get_secret_value(SecretId=secret_id)["SecretString"].encode()
        return RsaSigner.from_pem(pem)
    if key_file:
        return RsaSigner.from_pem(Path(key_file).read_bytes())
    return None
