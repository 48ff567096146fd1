"""Verification of Cognito ID tokens against the user pool's published signing keys.

The signing keys (JWKS) are fetched lazily and cached by key id. A token signed with a key
the cache does not know triggers a refetch (Cognito rotates keys), but at most once per
refetch interval, so that a flood of forged tokens cannot turn into a flood of requests to
the key endpoint.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import jwt
from jwt import exceptions as jwt_errors

from idnode.domain.errors import AuthenticationRequiredError

if TYPE_CHECKING:
    from idnode.settings import Settings

logger = logging.getLogger(__name__)

JwksFetcher = Callable[[str], Mapping[str, Any]]
"""Fetches the JSON Web Key Set published at a URL and returns the parsed document."""

ALGORITHM = "RS256"
# Cognito ID tokens are 1-4 KB; anything far larger is not worth parsing.
MAX_TOKEN_CHARS = 16 * 1024
MAX_JWKS_BYTES = 64 * 1024
FETCH_TIMEOUT_SECONDS = 3.0
# Claims whose absence makes a token unusable, checked before any other claim.
_REQUIRED_CLAIMS = ["exp", "iat", "iss", "sub", "token_use"]


class InvalidTokenError(AuthenticationRequiredError):
    """A token was refused. The message is safe to show the client: it never contains the token."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Claims:
    """What a verified ID token says about the person presenting it."""

    subject: str
    username: str
    groups: tuple[str, ...]
    enterprise: str | None
    expires_at: datetime


def fetch_jwks(url: str) -> Mapping[str, Any]:
    """Fetch a JSON Web Key Set over HTTP(S) with a short timeout and a size cap."""
    if not url.startswith(("https://", "http://")):
        raise ValueError("the key set URL must use http or https")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 - scheme checked above
    with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT_SECONDS) as response:  # noqa: S310 - scheme checked above
        payload: bytes = response.read(MAX_JWKS_BYTES + 1)
    if len(payload) > MAX_JWKS_BYTES:
        raise ValueError("the key set document is too large")
    document = json.loads(payload)
    if not isinstance(document, dict):
        raise ValueError("the key set document is not a JSON object")
    return document


def _signing_keys(document: Mapping[str, Any]) -> dict[str, Any]:
    """RS256 signature keys of a key set, by key id; keys of any other kind are ignored."""
    entries = document.get("keys")
    keys: dict[str, Any] = {}
    if not isinstance(entries, list):
        return keys
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        kid = entry.get("kid")
        if (
            not isinstance(kid, str)
            or entry.get("kty") != "RSA"
            or entry.get("use", "sig") != "sig"
            or entry.get("alg", ALGORITHM) != ALGORITHM
        ):
            continue
        try:
            keys[kid] = jwt.PyJWK(entry, algorithm=ALGORITHM).key
        except (jwt_errors.PyJWTError, ValueError, TypeError):
            logger.warning("ignoring an unreadable key in the key set (kid %s)", kid)
    return keys


class TokenVerifier:
    """Verifies Cognito ID tokens (RS256) issued by one user pool for one app client.

    Safe to share between threads: reads use an immutable snapshot of the key cache, and
    only one thread at a time fetches the key set; threads that waited for that fetch use
    its outcome instead of fetching again.
    """

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        jwks_url: str,
        cache_ttl_seconds: float = 3600.0,
        refetch_interval_seconds: float = 60.0,
        leeway_seconds: float = 30.0,
        fetch: JwksFetcher = fetch_jwks,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not issuer or not audience or not jwks_url:
            raise ValueError("issuer, audience and jwks_url are all required")
        self._issuer = issuer
        self._audience = audience
        self._jwks_url = jwks_url
        self._cache_ttl = cache_ttl_seconds
        self._refetch_interval = refetch_interval_seconds
        self._leeway = leeway_seconds
        self._fetch = fetch
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, Any] | None = None
        self._loaded_at = 0.0
        self._attempted_at: float | None = None
        self._attempts = 0

    @classmethod
    def for_settings(cls, settings: Settings, **options: Any) -> TokenVerifier:
        """A verifier for the user pool and app client named in the function settings."""
        return cls(
            issuer=settings.jwt_issuer,
            audience=settings.user_pool_client_id,
            jwks_url=settings.jwks_url,
            **options,
        )

    def verify(self, token: str) -> Claims:
        """Check signature, issuer, audience, expiry and token use; return the claims."""
        kid = self._key_id(token)
        key = self._signing_key(kid)
        payload = self._decode(token, key)
        # Token use is checked before the audience: Cognito access tokens carry no `aud`,
        # and "not an ID token" is what a client that sent one needs to hear.
        if payload.get("token_use") != "id":
            raise InvalidTokenError("token is not an ID token")
        if payload.get("aud") != self._audience:
            raise InvalidTokenError("token audience does not match")
        return self._claims(payload)

    def _key_id(self, token: str) -> str:
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
            raise InvalidTokenError("token is malformed")
        try:
            header = jwt.get_unverified_header(token)
        except jwt_errors.PyJWTError:
            raise InvalidTokenError("token is malformed") from None
        # Checked before any key lookup so that `none` or HMAC tokens never reach a verifier
        # and never cost a key set fetch.
        if header.get("alg") != ALGORITHM:
            raise InvalidTokenError("token algorithm is not allowed")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidTokenError("token has no key id")
        return kid

    def _decode(self, token: str, key: Any) -> dict[str, Any]:
        try:
            payload: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": _REQUIRED_CLAIMS, "verify_aud": False},
            )
        except jwt_errors.ExpiredSignatureError:
            raise InvalidTokenError("token has expired") from None
        except jwt_errors.InvalidSignatureError:
            raise InvalidTokenError("token signature is invalid") from None
        except jwt_errors.InvalidIssuerError:
            raise InvalidTokenError("token issuer is not trusted") from None
        except jwt_errors.MissingRequiredClaimError:
            raise InvalidTokenError("token is missing required claims") from None
        except (jwt_errors.ImmatureSignatureError, jwt_errors.InvalidIssuedAtError):
            raise InvalidTokenError("token is not yet valid") from None
        except jwt_errors.PyJWTError:
            raise InvalidTokenError("token is invalid") from None
        return payload

    @staticmethod
    def _claims(payload: Mapping[str, Any]) -> Claims:
        username = payload.get("cognito:username")
        if not isinstance(username, str) or not username:
            raise InvalidTokenError("token is missing required claims")
        groups = payload.get("cognito:groups", [])
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            raise InvalidTokenError("token claims are malformed")
        enterprise = payload.get("custom:enterprise")
        exp = payload["exp"]
        if not isinstance(exp, int | float):
            raise InvalidTokenError("token claims are malformed")
        return Claims(
            subject=str(payload["sub"]),
            username=username,
            groups=tuple(groups),
            enterprise=enterprise if isinstance(enterprise, str) and enterprise else None,
            expires_at=datetime.fromtimestamp(exp, UTC),
        )

    def _signing_key(self, kid: str) -> Any:
        keys, seen_attempts = self._keys, self._attempts
        if keys is not None and kid in keys and not self._stale(self._clock()):
            return keys[kid]
        with self._lock:
            # Another thread may have fetched while this one waited for the lock: its outcome
            # stands, so a burst of requests costs one fetch, not one each.
            if self._attempts == seen_attempts and self._may_fetch(kid):
                self._refresh()
            keys = self._keys
        if keys is None:
            raise InvalidTokenError("signing keys unavailable")
        if kid not in keys:
            raise InvalidTokenError("token signing key is unknown")
        # A stale key is still served when the refresh failed: availability beats a key set
        # that Cognito rotates rarely, and the next refresh is only a refetch interval away.
        return keys[kid]

    def _stale(self, now: float) -> bool:
        return now - self._loaded_at >= self._cache_ttl

    def _may_fetch(self, kid: str) -> bool:
        now = self._clock()
        if self._keys is None or self._attempted_at is None:
            # Nothing to verify with: every call retries, which is how an outage heals.
            return True
        if kid in self._keys and not self._stale(now):
            return False
        return now - self._attempted_at >= self._refetch_interval

    def _refresh(self) -> None:
        self._attempts += 1
        self._attempted_at = self._clock()
        try:
            keys = _signing_keys(self._fetch(self._jwks_url))
        except Exception:
            logger.warning(
                "could not fetch the signing keys from %s", self._jwks_url, exc_info=True
            )
            return
        if not keys:
            logger.warning("the key set at %s holds no RS256 signing key", self._jwks_url)
            return
        self._keys = keys
        self._loaded_at = self._attempted_at
