"""Admin identity secrets: stored only as a slow salted hash (scrypt, from the standard library).

Format: `scrypt$<log2 n>$<r>$<p>$<salt b64>$<hash b64>`, so the cost can be raised later
without invalidating stored hashes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from idnode.domain.errors import InvalidValueError

_LOG2_N, _R, _P = 14, 8, 1  # about 16 MiB and tens of milliseconds per check
_SALT_BYTES, _KEY_BYTES = 16, 32
MIN_SECRET_LENGTH = 12
_IDENTITY_RE = re.compile(r"^(\d+):(.+/.+)$")


def parse_identity(identity: str) -> tuple[int, str]:
    """`300:88.100.1234/ADMIN` -> (300, "88.100.1234/ADMIN")."""
    match = _IDENTITY_RE.match(identity)
    if not match:
        raise InvalidValueError(f"admin identity {identity!r} is not of the form index:handle")
    return int(match.group(1)), match.group(2)


def hash_secret(secret: str) -> str:
    if len(secret) < MIN_SECRET_LENGTH:
        raise InvalidValueError(f"a secret needs at least {MIN_SECRET_LENGTH} characters")
    salt = secrets.token_bytes(_SALT_BYTES)
    key = _derive(secret, salt, _LOG2_N, _R, _P)
    enc = base64.b64encode
    return f"scrypt${_LOG2_N}${_R}${_P}${enc(salt).decode()}${enc(key).decode()}"


def verify_secret(secret: str, stored: str) -> bool:
    try:
        scheme, log2_n, r, p, salt_b64, key_b64 = stored.split("$")
        if scheme != "scrypt":
            return False
        salt, expected = base64.b64decode(salt_b64), base64.b64decode(key_b64)
        key = _derive(secret, salt, int(log2_n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(key, expected)


def _derive(secret: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        secret.encode(), salt=salt, n=2**log2_n, r=r, p=p, maxmem=2**26, dklen=_KEY_BYTES
    )


def new_secret() -> str:
    """A random secret to hand out once."""
    return secrets.token_urlsafe(24)


@dataclass(frozen=True, slots=True)
class AdminCredential:
    """An admin identity with its hashed secret and the prefixes it administers."""

    identity: str  # `index:handle` as issued
    secret_hash: str
    prefixes: tuple[str, ...]
    enabled: bool = True
