"""Who is calling: turn an Authorization header into a Principal.

- `Basic` with user `index:handle` (URL-encoded, as Handle clients send it) and a secret:
  an admin identity. Secrets are checked against a slow salted hash; a verified pair is
  remembered in this process for a few minutes (keyed by a digest, never the secret) so
  that a client sending many requests pays the slow hash once. So a rotated secret or a
  disabled identity is refused within that time in a warm function, at once in a new one.
- `Bearer` with a Cognito ID token: a person; roles from groups, prefixes from the
  enterprise claim. Where the node requires a second factor, a person in a role that needs
  one (platform admin, auditor) but with no TOTP enrolled acts without that role: it is put
  in `Principal.withheld`. The pool asks every enrolled person for their code at sign-in, so
  enrolled means the token was obtained with the second factor.
- no header: anonymous.

Refused credentials and tokens are recorded in the operation log (never the secret or the
token), and so is each verification of an admin identity's secret by its hash.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
from collections.abc import Callable
from dataclasses import replace
from typing import NoReturn, Protocol
from urllib.parse import unquote

from idnode.domain.access import ANONYMOUS, Principal, admin_identity, user
from idnode.domain.credentials import AdminCredential, parse_identity, verify_secret
from idnode.domain.errors import AuthenticationRequiredError, InvalidValueError
from idnode.domain.operations import OK
from idnode.domain.people import SECOND_FACTOR_ROLES
from idnode.domain.prefixes import Prefix
from idnode.observability import logger
from idnode.services.caching import TtlCache
from idnode.services.operations import OperationLog


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


class SecondFactors(Protocol):
    def mfa_enrolled(self, username: str) -> bool:
        """Whether the person has TOTP enrolled in the user pool."""
        ...


class CredentialsRefusedError(AuthenticationRequiredError):
    """Credentials were refused; says what they claimed to be, for the operation log."""

    def __init__(self, message: str, *, target: str, enterprise: str | None = None) -> None:
        super().__init__(message)
        self.target = target
        self.enterprise = enterprise


REFUSED = "authentication-refused"
VERIFIED = "admin-identity-verified"
_REFUSED_RESULT = "authentication-required"
_BAD_CREDENTIALS = "the admin identity or its secret is not valid"
_BASIC_TARGET = "basic credentials"
_BEARER_TARGET = "bearer token"
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
        *,
        log: OperationLog | None = None,
        second_factors: SecondFactors | None = None,
        require_mfa: bool = False,
        mfa_cache_seconds: float = 180.0,
    ) -> None:
        self._credentials = credentials
        self._prefixes = prefixes
        self._tokens = tokens
        self._log = log
        self._second_factors = second_factors
        self._require_mfa = require_mfa
        self._verified: TtlCache[AdminCredential] = TtlCache(cache_seconds, 1024, clock)
        # Refused pairs are remembered briefly (with the enterprise the identity belongs to,
        # "" for none), so that a client retrying a wrong secret does not cost a slow hash per
        # request.
        self._refused: TtlCache[str] = TtlCache(min(cache_seconds, 30.0), 1024, clock)
        self._enterprise_prefixes: TtlCache[list[str]] = TtlCache(
            min(cache_seconds, 30.0), 1024, clock
        )
        # Asking the pool costs a call: an enrolment (or its reset) is seen within minutes.
        self._enrolled: TtlCache[bool] = TtlCache(mfa_cache_seconds, 4096, clock)

    def authenticate(self, authorization: str | None, source: str | None = None) -> Principal:
        """The caller named by an Authorization header value, calling from `source` (an
        address); raise if the header names one badly."""
        try:
            return replace(self._authenticate(authorization, source), source=source)
        except AuthenticationRequiredError as refused:
            self._record_refusal(refused, source)
            raise

    def _authenticate(self, authorization: str | None, source: str | None) -> Principal:
        if not authorization:
            return ANONYMOUS
        scheme, _, credentials = authorization.strip().partition(" ")
        scheme = scheme.lower()
        if scheme == "basic":
            return self.admin(credentials.strip(), source)
        if scheme == "bearer":
            return self.person(credentials.strip())
        raise CredentialsRefusedError(
            f"unsupported authorization scheme {scheme!r}", target="authorization header"
        )

    def admin(self, basic: str, source: str | None = None) -> Principal:
        try:
            decoded = base64.b64decode(basic, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise CredentialsRefusedError(
                "malformed Basic credentials", target=_BASIC_TARGET
            ) from None
        user_part, colon, secret = decoded.partition(":")
        if not colon:
            raise CredentialsRefusedError("malformed Basic credentials", target=_BASIC_TARGET)
        identity = unquote(user_part)
        try:
            index, handle = parse_identity(identity)
        except InvalidValueError:
            raise CredentialsRefusedError(
                "the Basic user must be an admin identity: index%3Aprefix/suffix",
                target=_BASIC_TARGET,
            ) from None
        digest = hashlib.sha256(f"{identity}\0{secret}".encode()).hexdigest()
        cached = self._verified.get(digest)
        if cached is not None:
            return admin_identity(index, handle, cached.prefixes)
        refused_for = self._refused.get(digest)
        if refused_for is not None:
            raise CredentialsRefusedError(
                _BAD_CREDENTIALS, target=identity, enterprise=refused_for or None
            )
        credential = self._credentials.get(identity)
        if credential is None or not credential.enabled:
            verify_secret(secret, _DECOY_HASH)
            self._refuse(digest, identity, credential)
        if not verify_secret(secret, credential.secret_hash):
            self._refuse(digest, identity, credential)
        # Only active prefixes are administered, as for people (a suspended one is not).
        found = [(p, self._prefixes.get(p)) for p in credential.prefixes]
        active = tuple(p for p, prefix in found if prefix is not None and prefix.active)
        credential = replace(credential, prefixes=active)
        self._verified.put(digest, credential)
        principal = admin_identity(index, handle, credential.prefixes)
        enterprise = next((prefix.enterprise for _, prefix in found if prefix is not None), None)
        self._record(replace(principal, source=source), VERIFIED, identity, enterprise=enterprise)
        return principal

    def _refuse(self, digest: str, identity: str, credential: AdminCredential | None) -> NoReturn:
        enterprise = self._enterprise_of(credential) if credential is not None else None
        self._refused.put(digest, enterprise or "")
        raise CredentialsRefusedError(_BAD_CREDENTIALS, target=identity, enterprise=enterprise)

    def _enterprise_of(self, credential: AdminCredential) -> str | None:
        for name in credential.prefixes:
            prefix = self._prefixes.get(name)
            if prefix is not None:
                return prefix.enterprise
        return None

    def person(self, token: str) -> Principal:
        if self._tokens is None:
            raise CredentialsRefusedError(
                "this node accepts no bearer tokens", target=_BEARER_TARGET
            )
        try:
            claims = self._tokens.verify(token)
        except AuthenticationRequiredError as exc:
            raise CredentialsRefusedError(
                f"the bearer token was refused: {exc.message}", target=_BEARER_TARGET
            ) from None
        prefixes: list[str] = []
        if claims.enterprise:
            cached = self._enterprise_prefixes.get(claims.enterprise)
            if cached is not None:
                prefixes = cached
            else:
                prefixes = self._prefixes.prefixes_of(claims.enterprise)
                self._enterprise_prefixes.put(claims.enterprise, prefixes)
        return self._second_factor_checked(
            user(claims.username, claims.groups, claims.enterprise, prefixes)
        )

    def _second_factor_checked(self, principal: Principal) -> Principal:
        """Withhold the roles that need a second factor from a person without one."""
        needing = principal.roles & SECOND_FACTOR_ROLES
        if not self._require_mfa or not needing or self._mfa_enrolled(principal.name):
            return principal
        return replace(principal, roles=principal.roles - needing, withheld=needing)

    def _mfa_enrolled(self, username: str) -> bool:
        cached = self._enrolled.get(username)
        if cached is not None:
            return cached
        if self._second_factors is None:
            return False
        try:
            enrolled = self._second_factors.mfa_enrolled(username)
        except Exception:  # any failure to ask withholds the roles, and is not remembered
            logger.warning("could not read second-factor enrolment", exc_info=True)
            return False
        self._enrolled.put(username, enrolled)
        return enrolled

    def _record_refusal(self, refused: AuthenticationRequiredError, source: str | None) -> None:
        target, enterprise = _BEARER_TARGET, None
        if isinstance(refused, CredentialsRefusedError):
            target, enterprise = refused.target, refused.enterprise
        self._record(
            replace(ANONYMOUS, source=source),
            REFUSED,
            target,
            result=_REFUSED_RESULT,
            enterprise=enterprise,
            message=refused.message,
        )

    def _record(
        self,
        principal: Principal,
        action: str,
        target: str,
        *,
        result: str = OK,
        enterprise: str | None = None,
        message: str | None = None,
    ) -> None:
        if self._log is not None:
            self._log.record(
                principal, action, target, result=result, enterprise=enterprise, message=message
            )
