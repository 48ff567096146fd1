"""Cognito ID token verification: keys generated here, key set served by a fake fetcher."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from idnode.adapters.tokens import (
    Claims,
    InvalidTokenError,
    TokenVerifier,
    fetch_jwks,
)

ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TestPool"
CLIENT_ID = "3n4b5urk1ft4fl3mg5e62d9ado"
JWKS_URL = f"{ISSUER}/.well-known/jwks.json"


@pytest.fixture(scope="module")
def key_a() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def key_b() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def attacker_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwk(private_key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    entry: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(private_key.public_key()))
    entry.update(kid=kid, alg="RS256", use="sig")
    return entry


class KeySetServer:
    """Stands in for the user pool's JWKS endpoint; counts fetches and can go down."""

    def __init__(self, *keys: dict[str, Any]) -> None:
        self.keys: list[Any] = list(keys)
        self.fetches = 0
        self.down = False
        self.delay = 0.0

    def __call__(self, url: str) -> Mapping[str, Any]:
        assert url == JWKS_URL
        self.fetches += 1
        if self.delay:
            time.sleep(self.delay)
        if self.down:
            raise OSError("connection refused")
        return {"keys": list(self.keys)}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def id_token(private_key: rsa.RSAPrivateKey, kid: str = "key-a", /, **overrides: Any) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": "5f7c3b8e-1111-2222-3333-444455556666",
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "token_use": "id",
        "auth_time": now,
        "iat": now,
        "exp": now + 3600,
        "cognito:username": "alice",
        "cognito:groups": ["enterprise-admin"],
        "custom:enterprise": "88.100.1234",
        "email": "alice@example.com",
    }
    claims.update(overrides)
    claims = {name: value for name, value in claims.items() if value is not None}
    return jwt.encode(claims, private_key, algorithm="RS256", headers={"kid": kid})


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture
def server(key_a: rsa.RSAPrivateKey) -> KeySetServer:
    return KeySetServer(jwk(key_a, "key-a"))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def verifier(server: KeySetServer, clock: Clock) -> TokenVerifier:
    return TokenVerifier(
        issuer=ISSUER, audience=CLIENT_ID, jwks_url=JWKS_URL, fetch=server, clock=clock
    )


def refused(verifier: TokenVerifier, token: Any) -> str:
    with pytest.raises(InvalidTokenError) as raised:
        verifier.verify(token)
    message = str(raised.value)
    assert message == raised.value.reason
    if isinstance(token, str) and len(token) > 8:
        assert token not in message
    return message


def test_valid_id_token_yields_its_claims(
    verifier: TokenVerifier, key_a: rsa.RSAPrivateKey
) -> None:
    exp = int(time.time()) + 600
    claims = verifier.verify(id_token(key_a, exp=exp))
    assert claims == Claims(
        subject="5f7c3b8e-1111-2222-3333-444455556666",
        username="alice",
        groups=("enterprise-admin",),
        enterprise="88.100.1234",
        expires_at=datetime.fromtimestamp(exp, UTC),
    )


def test_absent_groups_and_enterprise_are_empty(
    verifier: TokenVerifier, key_a: rsa.RSAPrivateKey
) -> None:
    token = id_token(key_a, **{"cognito:groups": None, "custom:enterprise": None})
    claims = verifier.verify(token)
    assert claims.groups == ()
    assert claims.enterprise is None


def test_keys_are_fetched_once_and_cached(
    verifier: TokenVerifier, server: KeySetServer, key_a: rsa.RSAPrivateKey
) -> None:
    assert server.fetches == 0  # nothing happens before the first token
    for _ in range(5):
        verifier.verify(id_token(key_a))
    assert server.fetches == 1


def test_expired_token_is_refused(verifier: TokenVerifier, key_a: rsa.RSAPrivateKey) -> None:
    past = int(time.time()) - 3600
    assert refused(verifier, id_token(key_a, iat=past - 3600, exp=past)) == "token has expired"


def test_expiry_has_a_small_leeway(verifier: TokenVerifier, key_a: rsa.RSAPrivateKey) -> None:
    verifier.verify(id_token(key_a, exp=int(time.time()) - 5))


def test_wrong_issuer_is_refused(verifier: TokenVerifier, key_a: rsa.RSAPrivateKey) -> None:
    token = id_token(key_a, iss="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other")
    assert refused(verifier, token) == "token issuer is not trusted"


def test_wrong_audience_is_refused(verifier: TokenVerifier, key_a: rsa.RSAPrivateKey) -> None:
    assert refused(verifier, id_token(key_a, aud="another-client")) == (
        "token audience does not match"
    )


def test_access_token_is_refused(verifier: TokenVerifier, key_a: rsa.RSAPrivateKey) -> None:
    # What Cognito issues: no aud, client_id instead.
    cognito_access = id_token(key_a, aud=None, client_id=CLIENT_ID, token_use="access")
    assert refused(verifier, cognito_access) == "token is not an ID token"
    with_audience = id_token(key_a, token_use="access")
    assert refused(verifier, with_audience) == "token is not an ID token"


@pytest.mark.parametrize("audience", [None, [CLIENT_ID, "another-client"], ""])
def test_missing_or_list_audience_is_refused(
    verifier: TokenVerifier, key_a: rsa.RSAPrivateKey, audience: Any
) -> None:
    assert refused(verifier, id_token(key_a, aud=audience)) == "token audience does not match"


@pytest.mark.parametrize("claim", ["exp", "iat", "iss", "sub", "token_use"])
def test_missing_registered_claim_is_refused(
    verifier: TokenVerifier, key_a: rsa.RSAPrivateKey, claim: str
) -> None:
    assert refused(verifier, id_token(key_a, **{claim: None})) == "token is missing required claims"


def test_token_issued_in_the_future_is_refused(
    verifier: TokenVerifier, key_a: rsa.RSAPrivateKey
) -> None:
    later = int(time.time()) + 3600
    assert refused(verifier, id_token(key_a, iat=later, exp=later + 3600)) == (
        "token is not yet valid"
    )


def test_missing_username_is_refused(verifier: TokenVerifier, key_a: rsa.RSAPrivateKey) -> None:
    token = id_token(key_a, **{"cognito:username": None})
    assert refused(verifier, token) == "token is missing required claims"


def test_malformed_groups_are_refused(verifier: TokenVerifier, key_a: rsa.RSAPrivateKey) -> None:
    token = id_token(key_a, **{"cognito:groups": "platform-admin"})
    assert refused(verifier, token) == "token claims are malformed"


def test_forged_signature_is_refused(
    verifier: TokenVerifier, attacker_key: rsa.RSAPrivateKey
) -> None:
    forged = id_token(attacker_key, "key-a", **{"cognito:groups": ["platform-admin"]})
    assert refused(verifier, forged) == "token signature is invalid"


def test_tampered_payload_is_refused(verifier: TokenVerifier, key_a: rsa.RSAPrivateKey) -> None:
    header, _, signature = id_token(key_a).split(".")
    payload = jwt.decode(id_token(key_a), options={"verify_signature": False})
    payload["cognito:groups"] = ["platform-admin"]
    tampered = f"{header}.{b64url(json.dumps(payload).encode())}.{signature}"
    assert refused(verifier, tampered) == "token signature is invalid"


def test_alg_none_is_refused_without_fetching(
    verifier: TokenVerifier, server: KeySetServer
) -> None:
    header = b64url(json.dumps({"alg": "none", "kid": "key-a", "typ": "JWT"}).encode())
    payload = jwt.decode(
        jwt.encode({"sub": "x"}, "k" * 32, algorithm="HS256"), options={"verify_signature": False}
    )
    unsigned = f"{header}.{b64url(json.dumps(payload).encode())}."
    assert refused(verifier, unsigned) == "token algorithm is not allowed"
    assert server.fetches == 0


def test_hmac_with_the_public_key_as_secret_is_refused(
    verifier: TokenVerifier, key_a: rsa.RSAPrivateKey, server: KeySetServer
) -> None:
    public_pem = key_a.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    genuine = jwt.decode(id_token(key_a), options={"verify_signature": False})
    header = b64url(json.dumps({"alg": "HS256", "kid": "key-a", "typ": "JWT"}).encode())
    signing_input = f"{header}.{b64url(json.dumps(genuine).encode())}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    assert refused(verifier, f"{signing_input}.{b64url(mac)}") == "token algorithm is not allowed"
    assert server.fetches == 0


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "not-a-token",
        "a.b.c",
        "...",
        "eyJhbGciOiJSUzI1NiJ9",
        "eyJhbGciOiJSUzI1NiJ9.e30",
        "x" * 20_000,
        "Bearer abc.def.ghi",
        None,
        123,
        b"abc.def.ghi",
    ],
)
def test_garbage_is_refused(verifier: TokenVerifier, server: KeySetServer, garbage: Any) -> None:
    refused(verifier, garbage)
    assert server.fetches == 0


def test_token_without_key_id_is_refused(verifier: TokenVerifier, key_a: rsa.RSAPrivateKey) -> None:
    token = jwt.encode({"sub": "x"}, key_a, algorithm="RS256")
    assert refused(verifier, token) == "token has no key id"


def test_unknown_key_id_then_rotation(
    verifier: TokenVerifier,
    server: KeySetServer,
    clock: Clock,
    key_a: rsa.RSAPrivateKey,
    key_b: rsa.RSAPrivateKey,
) -> None:
    verifier.verify(id_token(key_a))
    assert server.fetches == 1
    # The pool starts signing with a new key that the cache has never seen.
    server.keys = [jwk(key_a, "key-a"), jwk(key_b, "key-b")]
    clock.now += 61
    claims = verifier.verify(id_token(key_b, "key-b"))
    assert claims.username == "alice"
    assert server.fetches == 2
    verifier.verify(id_token(key_a))
    verifier.verify(id_token(key_b, "key-b"))
    assert server.fetches == 2


def test_unknown_key_ids_refetch_at_most_once_per_interval(
    verifier: TokenVerifier,
    server: KeySetServer,
    clock: Clock,
    key_a: rsa.RSAPrivateKey,
    attacker_key: rsa.RSAPrivateKey,
) -> None:
    verifier.verify(id_token(key_a))
    for i in range(50):
        clock.now += 1  # 50 seconds of forged tokens, each with a new key id
        message = refused(verifier, id_token(attacker_key, f"forged-{i}"))
        assert message == "token signing key is unknown"
    assert server.fetches == 1
    clock.now += 15
    for i in range(50):
        refused(verifier, id_token(attacker_key, f"forged-again-{i}"))
    assert server.fetches == 2
    verifier.verify(id_token(key_a))
    assert server.fetches == 2


def test_outage_then_recovery(
    verifier: TokenVerifier, server: KeySetServer, key_a: rsa.RSAPrivateKey
) -> None:
    server.down = True
    assert refused(verifier, id_token(key_a)) == "signing keys unavailable"
    assert refused(verifier, id_token(key_a)) == "signing keys unavailable"
    server.down = False
    assert verifier.verify(id_token(key_a)).username == "alice"
    assert server.fetches == 3


def test_expired_cache_is_refreshed_and_survives_an_outage(
    verifier: TokenVerifier, server: KeySetServer, clock: Clock, key_a: rsa.RSAPrivateKey
) -> None:
    verifier.verify(id_token(key_a))
    clock.now += 3600
    verifier.verify(id_token(key_a))
    assert server.fetches == 2
    clock.now += 3600
    server.down = True
    # The refresh fails; the keys already known keep working meanwhile.
    verifier.verify(id_token(key_a))
    verifier.verify(id_token(key_a))
    assert server.fetches == 3


def test_key_set_without_usable_keys_counts_as_unavailable(
    server: KeySetServer, clock: Clock, key_a: rsa.RSAPrivateKey
) -> None:
    server.keys = [
        {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
        {**jwk(key_a, "enc"), "use": "enc"},
        {**jwk(key_a, "rs512"), "alg": "RS512"},
        {"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"},
        {k: v for k, v in jwk(key_a, "x").items() if k != "kid"},
        "not-a-key",
    ]
    verifier = TokenVerifier(
        issuer=ISSUER, audience=CLIENT_ID, jwks_url=JWKS_URL, fetch=server, clock=clock
    )
    for kid in ("hmac", "enc", "rs512", "broken"):
        assert refused(verifier, id_token(key_a, kid)) == "signing keys unavailable"


def test_concurrent_first_use_fetches_once(server: KeySetServer, key_a: rsa.RSAPrivateKey) -> None:
    server.delay = 0.05
    verifier = TokenVerifier(issuer=ISSUER, audience=CLIENT_ID, jwks_url=JWKS_URL, fetch=server)
    token = id_token(key_a)
    results: list[str] = []

    def verify() -> None:
        results.append(verifier.verify(token).username)

    threads = [threading.Thread(target=verify) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["alice"] * 8
    assert server.fetches == 1


def test_verifier_needs_issuer_audience_and_url() -> None:
    with pytest.raises(ValueError, match="required"):
        TokenVerifier(issuer=ISSUER, audience="", jwks_url=JWKS_URL)


def test_fetch_refuses_other_schemes() -> None:
    with pytest.raises(ValueError, match="http"):
        fetch_jwks("file:///etc/passwd")
