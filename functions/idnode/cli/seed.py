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
    DEAD_LETTER_QUEUE_URL,
    DEVICE_POLICY,
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
# Staff and an applicant, so that the onboarding flow can be tried by hand (local only).
STAFF = (
    ("admin", "Admin-Passw0rd!", "platform-admin"),
    ("auditor", "Auditor-Passw0rd!", "auditor"),
)
APPLICANT = ("applicant", "Applicant-Passw0rd!")
APPLICATION = {
    "legalName": "Demo Pump Works Co., Ltd.",
    "uscc": "91330106MA2DEMQ00D",  # synthetic, with a valid check character
    "industry": "C3441",
    "contact": {"name": "Li Ming", "email": "li.ming@pumps.example", "phone": "+86 571 8888 0000"},
    "addresses": ["47.100.20.30", "240e:3a1:1::30"],
    "domains": ["pumps.example.com"],
    "hosting": "hosted",
}


def settings_from_outputs(outputs: dict[str, str], endpoint_url: str | None) -> Settings:
    env = {variable: outputs[table_output(attribute)] for attribute, variable in TABLES.items()}
    env.update(
        {
            "AWS_REGION": outputs.get("Region", "us-east-1"),
            NODE_PREFIX: outputs["NodePrefix"],
            USER_POOL_ID: outputs["UserPoolId"],
            USER_POOL_CLIENT_ID: outputs["UserPoolClientId"],
            DEVICE_POLICY: outputs.get("DevicePolicyName", ""),
            DEAD_LETTER_QUEUE_URL: outputs.get("DeadLetterQueueUrl", ""),
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
    cognito = boto3.client("cognito-idp", region_name=settings.region, endpoint_url=endpoint_url)
    _ensure_person(cognito, settings, DEMO_USER, DEMO_PASSWORD, ENTERPRISE_ADMIN_GROUP)
    for username, password, group in STAFF:
        _ensure_person(cognito, settings, username, password, group)
    _ensure_person(cognito, settings, APPLICANT[0], APPLICANT[1], None)
    application = _ensure_application(node)
    return {
        "enterprise": DEMO_ENTERPRISE,
        "enterprisePrefix": enterprise_prefix,
        "adminHandle": admin_handle,
        "adminIndex": ADMIN_INDEX,
        "adminIdentity": identity,
        "adminSecret": ADMIN_SECRET,
        "username": DEMO_USER,
        "password": DEMO_PASSWORD,
        "platformAdmin": {"username": STAFF[0][0], "password": STAFF[0][1]},
        "auditor": {"username": STAFF[1][0], "password": STAFF[1][1]},
        "applicant": {"username": APPLICANT[0], "password": APPLICANT[1]},
        "pendingApplication": application,
    }


def _ensure_application(node: Node) -> str:
    """The applicant's application: the pending one if there is one, else a new one."""
    applicant = user(APPLICANT[0], [], None, [])
    for existing in node.onboarding.list(applicant, None, 20, None).items:
        if existing.enterprise == APPLICATION["uscc"] and existing.pending:
            return existing.id
    if node.enterprises.get(str(APPLICATION["uscc"])) is not None:
        return ""  # approved already, by hand
    return node.onboarding.apply(applicant, APPLICATION).id


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


def _ensure_person(
    cognito: Any, settings: Settings, username: str, password: str, group: str | None
) -> None:
    pool = settings.user_pool_id
    try:
        cognito.admin_get_user(UserPoolId=pool, Username=username)
    except cognito.exceptions.UserNotFoundException:
        attributes = [
            {"Name": "email", "Value": f"{username}@example.com"},
            {"Name": "email_verified", "Value": "true"},
        ]
        if group == ENTERPRISE_ADMIN_GROUP:
            attributes.append({"Name": "custom:enterprise", "Value": DEMO_ENTERPRISE})
        cognito.admin_create_user(
            UserPoolId=pool, Username=username, UserAttributes=attributes, MessageAction="SUPPRESS"
        )
    cognito.admin_set_user_password(
        UserPoolId=pool, Username=username, Password=password, Permanent=True
    )
    if group is not None:
        cognito.admin_add_user_to_group(UserPoolId=pool, Username=username, GroupName=group)
