"""Function settings: one validated model, read once at cold start.

Every environment variable the product reads is named here and nowhere else.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from idnode.domain.errors import InvalidHandleError
from idnode.domain.handles import validate_prefix

# Environment variable names: the contract between infra/cdk, the local cloud and the code.
IDENTIFIERS_TABLE = "IDNODE_IDENTIFIERS_TABLE"
PREFIXES_TABLE = "IDNODE_PREFIXES_TABLE"
CREDENTIALS_TABLE = "IDNODE_CREDENTIALS_TABLE"
NODE_PREFIX = "IDNODE_NODE_PREFIX"
USER_POOL_ID = "IDNODE_USER_POOL_ID"
USER_POOL_CLIENT_ID = "IDNODE_USER_POOL_CLIENT_ID"
GRAPHIQL = "IDNODE_GRAPHIQL"
MAX_BODY_BYTES = "IDNODE_MAX_BODY_BYTES"


class SettingsError(ValueError):
    """The environment does not describe a usable configuration."""


@dataclass(frozen=True, slots=True)
class Settings:
    """What a function needs to know about its deployment."""

    region: str
    identifiers_table: str
    prefixes_table: str
    credentials_table: str
    node_prefix: str
    user_pool_id: str = ""
    user_pool_client_id: str = ""
    endpoint_url: str | None = None
    graphiql: bool = False
    max_body_bytes: int = 256 * 1024

    @property
    def jwt_issuer(self) -> str:
        """The `iss` claim Cognito puts in tokens of this user pool (also in the local cloud)."""
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.user_pool_id}"

    @property
    def jwks_url(self) -> str:
        """Where the pool publishes its signing keys; the local cloud serves them itself."""
        if self.endpoint_url:
            return f"{self.endpoint_url.rstrip('/')}/{self.user_pool_id}/.well-known/jwks.json"
        return f"{self.jwt_issuer}/.well-known/jwks.json"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build and validate settings from an environment mapping (default: os.environ)."""
        env = os.environ if env is None else env
        missing = [
            name
            for name in (IDENTIFIERS_TABLE, PREFIXES_TABLE, CREDENTIALS_TABLE, NODE_PREFIX)
            if not env.get(name)
        ]
        if missing:
            raise SettingsError(f"missing environment variables: {', '.join(missing)}")
        node_prefix = env[NODE_PREFIX]
        try:
            validate_prefix(node_prefix)
        except InvalidHandleError as exc:
            raise SettingsError(f"{NODE_PREFIX}: {exc.message}") from None
        try:
            max_body = int(env.get(MAX_BODY_BYTES, "262144"))
        except ValueError as exc:
            raise SettingsError(f"{MAX_BODY_BYTES} must be an integer") from exc
        if max_body <= 0:
            raise SettingsError(f"{MAX_BODY_BYTES} must be positive")
        return cls(
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
            identifiers_table=env[IDENTIFIERS_TABLE],
            prefixes_table=env[PREFIXES_TABLE],
            credentials_table=env[CREDENTIALS_TABLE],
            node_prefix=node_prefix,
            user_pool_id=env.get(USER_POOL_ID, ""),
            user_pool_client_id=env.get(USER_POOL_CLIENT_ID, ""),
            endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
            graphiql=env.get(GRAPHIQL, "false").lower() in {"1", "true", "yes"},
            max_body_bytes=max_body,
        )


@cache
def get_settings() -> Settings:
    """Settings of this process, read once."""
    return Settings.from_env()
