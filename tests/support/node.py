"""A node on moto: the three tables, a served enterprise prefix and an admin identity."""

from __future__ import annotations

from dataclasses import dataclass, replace

from idnode.adapters.tokens import TokenVerifier
from idnode.domain.credentials import AdminCredential, hash_secret
from idnode.domain.prefixes import Prefix
from idnode.node import Node, build_node
from idnode.settings import Settings
from tests.support.identity import CLIENT_ID, ISSUER, POOL_ID, REGION, TokenIssuer

NODE_PREFIX = "88.100"
ENTERPRISE = "ent-1234"
PREFIX = "88.100.1234"
OTHER_ENTERPRISE = "ent-5678"
OTHER_PREFIX = "88.100.5678"
ADMIN_HANDLE = f"{PREFIX}/ADMIN"
ADMIN_IDENTITY = f"300:{ADMIN_HANDLE}"
ADMIN_SECRET = "correct-horse-battery"
OTHER_ADMIN_IDENTITY = f"300:{OTHER_PREFIX}/ADMIN"


@dataclass
class TestNode:
    node: Node
    issuer: TokenIssuer


def settings(**overrides: object) -> Settings:
    base = Settings(
        region=REGION,
        identifiers_table="idnode-identifiers",
        prefixes_table="idnode-prefixes",
        credentials_table="idnode-credentials",
        enterprises_table="idnode-enterprises",
        applications_table="idnode-applications",
        members_table="idnode-members",
        operations_table="idnode-operations",
        statistics_table="idnode-statistics",
        parameters_table="idnode-parameters",
        devices_table="idnode-devices",
        profiles_table="idnode-profiles",
        telemetry_table="idnode-telemetry",
        alarms_table="idnode-alarms",
        commands_table="idnode-commands",
        templates_table="idnode-templates",
        keys_table="idnode-keys",
        codes_table="idnode-codes",
        health_table="idnode-health",
        device_policy="idnode-device",
        dead_letter_queue_url="",
        meter_flush_seconds=0.0,
        node_prefix=NODE_PREFIX,
        user_pool_id=POOL_ID,
        user_pool_client_id=CLIENT_ID,
        graphiql=False,
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def build_test_node(issuer: TokenIssuer, node_settings: Settings | None = None) -> Node:
    """Create the tables (inside an active moto mock) and seed two enterprises."""
    verifier = TokenVerifier(
        issuer=ISSUER,
        audience=CLIENT_ID,
        jwks_url="https://keys.invalid/jwks.json",
        fetch=lambda _url: issuer.jwks(),
    )
    node = build_node(node_settings or settings(), tokens=verifier)
    for model in node.tables.all():
        model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
    node.prefixes.put(Prefix(PREFIX, ENTERPRISE))
    node.prefixes.put(Prefix(OTHER_PREFIX, OTHER_ENTERPRISE))
    secret_hash = hash_secret(ADMIN_SECRET)
    node.credentials.put(AdminCredential(ADMIN_IDENTITY, secret_hash, (PREFIX,)))
    node.credentials.put(AdminCredential(OTHER_ADMIN_IDENTITY, secret_hash, (OTHER_PREFIX,)))
    return node
