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
ENTERPRISES_TABLE = "IDNODE_ENTERPRISES_TABLE"
APPLICATIONS_TABLE = "IDNODE_APPLICATIONS_TABLE"
MEMBERS_TABLE = "IDNODE_MEMBERS_TABLE"
OPERATIONS_TABLE = "IDNODE_OPERATIONS_TABLE"
STATISTICS_TABLE = "IDNODE_STATISTICS_TABLE"
PARAMETERS_TABLE = "IDNODE_PARAMETERS_TABLE"
DEVICES_TABLE = "IDNODE_DEVICES_TABLE"
PROFILES_TABLE = "IDNODE_PROFILES_TABLE"
TELEMETRY_TABLE = "IDNODE_TELEMETRY_TABLE"
ALARMS_TABLE = "IDNODE_ALARMS_TABLE"
COMMANDS_TABLE = "IDNODE_COMMANDS_TABLE"
TEMPLATES_TABLE = "IDNODE_TEMPLATES_TABLE"
KEYS_TABLE = "IDNODE_KEYS_TABLE"
CODES_TABLE = "IDNODE_CODES_TABLE"
HEALTH_TABLE = "IDNODE_HEALTH_TABLE"
REQUIRE_MFA = "IDNODE_REQUIRE_MFA"
METER_FLUSH_SECONDS = "IDNODE_METER_FLUSH_SECONDS"

# Every table a function may be bound to, attribute name of Settings -> environment variable.
TABLES: dict[str, str] = {
    "identifiers_table": IDENTIFIERS_TABLE,
    "prefixes_table": PREFIXES_TABLE,
    "credentials_table": CREDENTIALS_TABLE,
    "enterprises_table": ENTERPRISES_TABLE,
    "applications_table": APPLICATIONS_TABLE,
    "members_table": MEMBERS_TABLE,
    "operations_table": OPERATIONS_TABLE,
    "statistics_table": STATISTICS_TABLE,
    "parameters_table": PARAMETERS_TABLE,
    "devices_table": DEVICES_TABLE,
    "profiles_table": PROFILES_TABLE,
    "telemetry_table": TELEMETRY_TABLE,
    "alarms_table": ALARMS_TABLE,
    "commands_table": COMMANDS_TABLE,
    "templates_table": TEMPLATES_TABLE,
    "keys_table": KEYS_TABLE,
    "codes_table": CODES_TABLE,
    "health_table": HEALTH_TABLE,
}
NODE_PREFIX = "IDNODE_NODE_PREFIX"
USER_POOL_ID = "IDNODE_USER_POOL_ID"
USER_POOL_CLIENT_ID = "IDNODE_USER_POOL_CLIENT_ID"
GRAPHIQL = "IDNODE_GRAPHIQL"
MAX_BODY_BYTES = "IDNODE_MAX_BODY_BYTES"
# The IoT policy every device certificate gets, and the queue that keeps what devices sent and
# the node could not take (rejected or failed messages).
DEVICE_POLICY = "IDNODE_DEVICE_POLICY"
DEAD_LETTER_QUEUE_URL = "IDNODE_DEAD_LETTER_QUEUE_URL"
# The node's Handle protocol interfaces as published in its site information (a comma-separated
# list of URIs, see idnode.domain.protocol.site), and its signing key: a PEM file (local cloud)
# or a Secrets Manager secret (AWS).
HANDLE_INTERFACES = "IDNODE_HANDLE_INTERFACES"
HANDLE_KEY_FILE = "IDNODE_HANDLE_KEY_FILE"
HANDLE_KEY_SECRET = "IDNODE_HANDLE_KEY_SECRET"  # noqa: S105 - a variable name, not a secret

# Beyond this, a function reclaimed by Lambda could take minutes of counts with it.
MAX_METER_FLUSH_SECONDS = 300


def table_output(attribute: str) -> str:
    """The stack output naming a table: `identifiers_table` -> `IdentifiersTableName`."""
    return attribute.removesuffix("_table").capitalize() + "TableName"


class SettingsError(ValueError):
    """The environment does not describe a usable configuration."""


@dataclass(frozen=True, slots=True)
class Settings:
    """What a function needs to know about its deployment."""

    region: str
    identifiers_table: str
    prefixes_table: str
    credentials_table: str
    enterprises_table: str
    applications_table: str
    members_table: str
    operations_table: str
    statistics_table: str
    parameters_table: str
    devices_table: str
    profiles_table: str
    telemetry_table: str
    alarms_table: str
    commands_table: str
    templates_table: str
    keys_table: str
    codes_table: str
    health_table: str
    node_prefix: str
    user_pool_id: str = ""
    user_pool_client_id: str = ""
    endpoint_url: str | None = None
    graphiql: bool = False
    max_body_bytes: int = 256 * 1024
    # Platform admins and auditors must have TOTP enrolled to act in their roles (AWS only:
    # the local cloud has no second factor to offer).
    require_mfa: bool = False
    # Metering counts are buffered in the process and written at most this often (0: at the
    # end of every invocation).
    meter_flush_seconds: float = 10.0
    device_policy: str = ""
    dead_letter_queue_url: str = ""
    handle_interfaces: str = ""
    handle_key_file: str = ""
    handle_key_secret: str = ""

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
        missing = [name for name in (*TABLES.values(), NODE_PREFIX) if not env.get(name)]
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
        try:
            flush = float(env.get(METER_FLUSH_SECONDS, "10"))
        except ValueError as exc:
            raise SettingsError(f"{METER_FLUSH_SECONDS} must be a number of seconds") from exc
        if not 0 <= flush <= MAX_METER_FLUSH_SECONDS:
            raise SettingsError(
                f"{METER_FLUSH_SECONDS} must be between 0 and {MAX_METER_FLUSH_SECONDS}"
            )
        return cls(
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
            **{attribute: env[name] for attribute, name in TABLES.items()},
            node_prefix=node_prefix,
            user_pool_id=env.get(USER_POOL_ID, ""),
            user_pool_client_id=env.get(USER_POOL_CLIENT_ID, ""),
            endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
            graphiql=_flag(env.get(GRAPHIQL, "false")),
            max_body_bytes=max_body,
            require_mfa=_flag(env.get(REQUIRE_MFA, "false")),
            meter_flush_seconds=flush,
            device_policy=env.get(DEVICE_POLICY, ""),
            dead_letter_queue_url=env.get(DEAD_LETTER_QUEUE_URL, ""),
            handle_interfaces=env.get(HANDLE_INTERFACES, ""),
            handle_key_file=env.get(HANDLE_KEY_FILE, ""),
            handle_key_secret=env.get(HANDLE_KEY_SECRET, ""),
        )


def _flag(raw: str) -> bool:
    return raw.lower() in {"1", "true", "yes"}


@cache
def get_settings() -> Settings:
    """Settings of this process, read once."""
    return Settings.from_env()
