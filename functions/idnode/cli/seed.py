"""Seed the local cloud with a demo node: an enterprise prefix, its admin identity (with a
resolvable admin handle) and a demo person. Local only: the credentials are fixed so that
seeding is idempotent and the endpoints file can hand them out."""

from __future__ import annotations

import contextlib
import os
from typing import Any

import boto3

from idnode.domain.access import user
from idnode.domain.credentials import AdminCredential, hash_secret, verify_secret
from idnode.domain.errors import HandleAlreadyExistsError
from idnode.domain.prefixes import Prefix
from idnode.domain.values import parse_values
from idnode.node import Node, build_node
from idnode.settings import (
    NODE_PREFIX,
    TABLES,
    USER_POOL_CLIENT_ID,
    USER_POOL_ID,
    Settings,
    table_output,
)

DEMO_ENTERPRISE = "demo-enterprise"
DEMO_SUFFIX = "1000"
ADMIN_INDEX = 300
ADMIN_SECRET = "demo-admin-secret"  # noqa: S105 - local cloud only
DEMO_USER = "demo"
DEMO_PASSWORD = "Demo-Passw0rd!"  # local cloud only # noqa: S105
ENTERPRISE_ADMIN_GROUP = "enterprise-admin"
NODE_OPERATOR = "node-operator"


def settings_from_outputs(outputs: dict[str, str], endpoint_url: str | None) -> Settings:
    env = {variable: outputs[table_output(attribute)] for attribute, variable in TABLES.items()}
    env.update(
        {
            "AWS_REGION": outputs.get("Region", "us-east-1"),
            NODE_PREFIX: outputs["NodePrefix"],
            USER_POOL_ID: outputs["UserPoolId"],
            USER_POOL_CLIENT_ID: outputs["UserPoolClientId"],
        }
    )
    if endpoint_url:
        env["AWS_ENDPOINT_URL"] = endpoint_url
    return Settings.from_env(env)


def seed_demo(outputs: dict[str, str], endpoint_url: str | None = None) -> dict[str, Any]:
    """Create (or keep) the demo data; returns the `demo` object of the endpoints file."""
    endpoint_url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
    settings = settings_from_outputs(outputs, endpoint_url)
    node = build_node(settings)
    enterprise_prefix = f"{settings.node_prefix}.{DEMO_SUFFIX}"
    admin_handle = f"{enterprise_prefix}/ADMIN"
    identity = f"{ADMIN_INDEX}:{admin_handle}"

    node.prefixes.put(Prefix(settings.node_prefix, NODE_OPERATOR))
    node.prefixes.put(Prefix(enterprise_prefix, DEMO_ENTERPRISE))
    _ensure_credential(node, identity, enterprise_prefix)
    _ensure_admin_handle(node, admin_handle)
    _ensure_person(settings, endpoint_url)
    return {
        "enterprise": DEMO_ENTERPRISE,
        "enterprisePrefix": enterprise_prefix,
        "adminHandle": admin_handle,
        "adminIndex": ADMIN_INDEX,
        "adminIdentity": identity,
        "adminSecret": ADMIN_SECRET,
        "username": DEMO_USER,
        "password": DEMO_PASSWORD,
    }


def _ensure_credential(node: Node, identity: str, prefix: str) -> None:
    existing = node.credentials.get(identity)
    if existing and existing.enabled and verify_secret(ADMIN_SECRET, existing.secret_hash):
        return
    node.credentials.put(AdminCredential(identity, hash_secret(ADMIN_SECRET), (prefix,)))


def _ensure_admin_handle(node: Node, admin_handle: str) -> None:
    # Handle clients check at start-up that their own admin handle resolves.
    values = parse_values(
        [
            {
                "index": 100,
                "type": "HS_ADMIN",
                "data": {
                    "format": "admin",
                    "value": {
                        "handle": admin_handle,
                        "index": ADMIN_INDEX,
                        "permissions": "011111110011",
                    },
                },
            },
            {"index": 1, "type": "DESC", "data": "Admin identity of the demo enterprise"},
        ],
        max_values=10,
    )
    seeder = user("seed", ["platform-admin"], None, [])
    with contextlib.suppress(HandleAlreadyExistsError):
        node.registry.create(admin_handle, values, seeder)


def _ensure_person(settings: Settings, endpoint_url: str | None) -> None:
    cognito = boto3.client("cognito-idp", region_name=settings.region, endpoint_url=endpoint_url)
    pool = settings.user_pool_id
    try:
        cognito.admin_get_user(UserPoolId=pool, Username=DEMO_USER)
    except cognito.exceptions.UserNotFoundException:
        cognito.admin_create_user(
            UserPoolId=pool,
            Username=DEMO_USER,
            UserAttributes=[
                {"Name": "custom:enterprise", "Value": DEMO_ENTERPRISE},
                {"Name": "email", "Value": "demo@example.com"},
                {"Name": "email_verified", "Value": "true"},
            ],
            MessageAction="SUPPRESS",
        )
    cognito.admin_set_user_password(
        UserPoolId=pool, Username=DEMO_USER, Password=DEMO_PASSWORD, Permanent=True
    )
    cognito.admin_add_user_to_group(
        UserPoolId=pool, Username=DEMO_USER, GroupName=ENTERPRISE_ADMIN_GROUP
    )
