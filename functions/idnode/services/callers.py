"""Who is calling: turn an Authorization header into a Principal.

- `Basic` with user `index:handle` (URL-encoded, as Handle clients send it) and a secret:
  an admin identity. Secrets are checked against a slow salted hash; a verified pair is
  remembered in this process for a few minutes (keyed by a digest, never the secret) so
  that a client sending many requests pays the slow hash once.
- `Bearer` with a Cognito ID token: a person; roles from groups, prefixes from the
  enterprise claim.
- no header: anonymous.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Protocol
from urllib.parse import unquote

from idnode.domain.access import ANONYMOUS, Principal, admin_identity, user
from idnode.domain.credentials import AdminCredential, parse_identity, verify_secret
from idnode.domain.errors import AuthenticationRequiredError, InvalidValueError
from idnode.domain.prefixes import Prefix
from idnode.services.caching import TtlCache


class Credentials(Protocol):
    def get(self, identity: str) -> AdminCredential | None: ...


class EnterprisePrefixes(Protocol):
    def get(self, prefix: str) -> Prefix | None: ...
    def prefixes_of(self, enterprise: str) -> list[str]: ...


class TokenClaims(Protocol):
    @property
    def username(self) -> str: ...
    @property
    def groups(self) -> tuple[str, ...] | list[str]: ...
    @property
    def enterprise(self) -> str | None: ...


class Tokens(Protocol):
    def verify(self, token: str) -> TokenClaims:
        """Claims of a valid token; raises AuthenticationRequiredError (or a subclass)."""
        ...


_BAD_CREDENTIALS = "the admin identity or its secret is not valid"
# Verified against when the identity is unknown, so both failures cost the same time.
_DECOY_HASH = "scrypt$14$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="


class CallerAuthenticator:
    def __init__(
        self,
        credentials: Credentials,
        prefixes: EnterprisePrefixes,
        tokens: Tokens | None,
        cache_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._credentials = credentials
        self._prefixes = prefixes
        self._tokens = tokens
        self._verified: TtlCache[AdminCredential] = TtlCache(cache_seconds, 1024, clock)
        # Refused pairs are remembered briefly, so that a client retrying a wrong secret does
        # not cost a slow hash per request.
        self._refused: TtlCache[bool] = TtlCache(min(cache_seconds, 30.0), 1024, clock)
        self._enterprise_prefixes: TtlCache[list[str]] = TtlCache(
            min(cache_seconds, 30.0), 1024, clock
        )

    def authenticate(self, authorization: str | None, source: str | None = None) -> Principal:
        """The caller named by an Authorization header value, calling from `source` (an
        address); raise if the header names one badly."""
        return replace(self._authenticate(authorization), source=source)

    def _authenticate(self, authorization: str | None) -> Principal:
        if not authorization:
            return ANONYMOUS
        scheme, _, credentials = authorization.strip().partition(" ")
        scheme = scheme.lower()
        if scheme == "basic":
            return self.admin(credentials.strip())
        if scheme == "bearer":
            return self.person(credentials.strip())
        raise AuthenticationRequiredError(f"unsupported authorization scheme {scheme!r}")

    def admin(self, basic: str) -> Principal:
        try:
            decoded = base64.b64decode(basic, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise AuthenticationRequiredError("malformed Basic credentials") from None
        user_part, colon, secret = decoded.partition(":")
        if not colon:
            raise AuthenticationRequiredError("malformed Basic credentials")
        identity = unquote(user_part)
        try:
            index, handle = parse_identity(identity)
        except InvalidValueError:
            raise AuthenticationRequiredError(
                "the Basic user must be an admin identity: index%3Aprefix/suffix"
            ) from None
        digest = hashlib.sha256(f"{identity}\0{secret}".encode()).hexdigest()
        cached = self._verified.get(digest)
        if cached is not None:
            return admin_identity(index, handle, cached.prefixes)
        if self._refused.get(digest):
            raise AuthenticationRequiredError(_BAD_CREDENTIALS)
        credential = self._credentials.get(identity)
        if credential is None or not credential.enabled:
            verify_secret(secret, _DECOY_HASH)
            self._refused.put(digest, True)
            raise AuthenticationRequiredError(_BAD_CREDENTIALS)
        if not verify_secret(secret, credential.secret_hash):
            self._refused.put(digest, True)
            raise AuthenticationRequiredError(_BAD_CREDENTIALS)
        # Only active prefixes are administered, as for people (a suspended one is not).
        active = tuple(p for p in credential.prefixes if self._active(p))
        credential = replace(credential, prefixes=active)
        self._verified.put(digest, credential)
        return admin_identity(index, handle, credential.prefixes)

    def _active(self, prefix: str) -> bool:
        found = self._prefixes.get(prefix)
        return found is not None and found.active

    def person(self, token: str) -> Principal:
        if self._tokens is None:
            raise AuthenticationRequiredError("this node accepts no bearer tokens")
        try:
            claims = self._tokens.verify(token)
        except AuthenticationRequiredError as exc:
            raise AuthenticationRequiredError(
                f"the bearer token was refused: {exc.message}"
            ) from None
        prefixes: list[str] = []
        if claims.enterprise:
            cached = self._enterprise_prefixes.get(claims.enterprise)
            if cached is not None:
                prefixes = cached
            else:
                prefixes = self._prefixes.prefixes_of(claims.enterprise)
                self._enterprise_prefixes.put(claims.enterprise, prefixes)
        return user(claims.username, claims.groups, claims.enterprise, prefixes)
