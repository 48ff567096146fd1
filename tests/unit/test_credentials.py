"""Admin identities and their secrets, kept only as scrypt hashes."""

from __future__ import annotations

import base64
import hashlib

import pytest

from idnode.domain.credentials import (
    MIN_SECRET_LENGTH,
    AdminCredential,
    hash_secret,
    new_secret,
    parse_identity,
    verify_secret,
)
from idnode.domain.errors import InvalidValueError

SECRET = "correct-horse-battery"


@pytest.fixture(scope="module")
def stored() -> str:
    return hash_secret(SECRET)


@pytest.mark.parametrize(
    ("identity", "parsed"),
    [
        ("300:88.100.1234/ADMIN", (300, "88.100.1234/ADMIN")),
        ("0:a/b", (0, "a/b")),
        ("300:88.100/x:y/z", (300, "88.100/x:y/z")),
    ],
)
def test_parse_identity(identity: str, parsed: tuple[int, str]) -> None:
    assert parse_identity(identity) == parsed


@pytest.mark.parametrize(
    "identity", ["", "88.100.1234/ADMIN", "300:", "300:ADMIN", "x:a/b", "-1:a/b", ":a/b", "300/a:b"]
)
def test_identities_not_of_the_form_index_handle_are_refused(identity: str) -> None:
    with pytest.raises(InvalidValueError, match="index:handle"):
        parse_identity(identity)


def test_the_hash_names_its_cost_and_salt(stored: str) -> None:
    scheme, log2_n, r, p, salt, key = stored.split("$")
    assert (scheme, log2_n, r, p) == ("scrypt", "14", "8", "1")
    assert len(base64.b64decode(salt)) == 16
    assert len(base64.b64decode(key)) == 32
    assert SECRET not in stored


def test_the_right_secret_verifies_and_others_do_not(stored: str) -> None:
    assert verify_secret(SECRET, stored)
    assert not verify_secret(SECRET + "x", stored)
    assert not verify_secret(SECRET.upper(), stored)
    assert not verify_secret("", stored)


def test_each_hash_has_its_own_salt(stored: str) -> None:
    again = hash_secret(SECRET)
    assert again != stored
    assert verify_secret(SECRET, again)


def test_a_hash_made_at_another_cost_still_verifies() -> None:
    # The cost is read from the stored hash, so raising it later keeps old hashes valid.
    salt = b"0123456789abcdef"
    key = hashlib.scrypt(SECRET.encode(), salt=salt, n=2**10, r=4, p=2, dklen=32)
    enc = base64.b64encode
    cheaper = f"scrypt$10$4$2${enc(salt).decode()}${enc(key).decode()}"
    assert verify_secret(SECRET, cheaper)
    assert not verify_secret("wrong-secret-here", cheaper)


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "plain-text-secret",
        "bcrypt$14$8$1$AAAA$AAAA",
        "scrypt$14$8$1$AAAA",
        "scrypt$x$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAA",
        "scrypt$14$8$1$not base64!$AAAA",
        "scrypt$0$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAA",
        "scrypt$-1$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAA",
        "scrypt$40$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAA",
        "scrypt$14$8$1$$",
    ],
)
def test_a_malformed_stored_hash_never_verifies(stored: str) -> None:
    assert verify_secret(SECRET, stored) is False


@pytest.mark.parametrize("length", [0, 1, MIN_SECRET_LENGTH - 1])
def test_short_secrets_are_refused(length: int) -> None:
    with pytest.raises(InvalidValueError, match=f"at least {MIN_SECRET_LENGTH} characters"):
        hash_secret("s" * length)


def test_new_secrets_are_long_random_and_hashable() -> None:
    secrets = {new_secret() for _ in range(20)}
    assert len(secrets) == 20
    assert all(len(s) >= 32 and s.isascii() and s.isprintable() for s in secrets)
    one = secrets.pop()
    assert verify_secret(one, hash_secret(one))


def test_a_credential_is_enabled_unless_said_otherwise(stored: str) -> None:
    credential = AdminCredential("300:88.100.1234/ADMIN", stored, ("88.100.1234",))
    assert credential.enabled
