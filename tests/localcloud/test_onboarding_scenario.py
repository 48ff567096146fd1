"""End to end against the deployed stack: a person signs up and applies, an auditor approves,
the new enterprise admin issues its admin identity's secret, an enterprise system registers
under the new prefix through the Handle REST API, the public resolves it, and statistics,
billing and the operation log show every step."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from stdnum.cn import uscc

from tests.support.local_cloud import TIMEOUT, cognito, graphql, sign_in

pytestmark = pytest.mark.localcloud
# Characters a USCC's organisation code may use (no I, O, S, V, Z).
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def _new_uscc() -> str:
    body = "".join(_USCC_ALPHABET[b % len(_USCC_ALPHABET)] for b in uuid.uuid4().bytes[:9])
    base = f"91330106{body}"
    return base + uscc.calc_check_digit(base)


def _sign_up(stack: dict[str, Any], username: str, password: str) -> None:
    """A person signs up (the local cloud sends no email: an administrator confirms them)."""
    pool = cognito(stack)
    pool.sign_up(
        ClientId=stack["userPoolClientId"],
        Username=username,
        Password=password,
        UserAttributes=[{"Name": "email", "Value": f"{username}@example.com"}],
    )
    pool.admin_confirm_sign_up(UserPoolId=stack["userPoolId"], Username=username)


def _register(stack: dict[str, Any], identity: str, secret: str, handle: str) -> None:
    """An enterprise system registers through the Handle REST API."""
    user = identity.replace(":", "%3A", 1)
    basic = base64.b64encode(f"{user}:{secret}".encode()).decode()
    url = "https://valves.example.com/0001"
    body: dict[str, Any] = {
        "values": [{"index": 1, "type": "URL", "data": {"format": "string", "value": url}}]
    }
    created = requests.put(
        f"{stack['handleApiUrl']}/api/handles/{handle}",
        json=body,
        headers={"Authorization": f"Basic {basic}"},
        timeout=TIMEOUT,
    )
    assert created.status_code == 201, created.text


def test_apply_approve_register_resolve_and_account_for_it(local_stack: dict[str, Any]) -> None:
    stack = local_stack
    demo = stack["demo"]
    username, password = f"applicant-{uuid.uuid4().hex[:8]}", "Applicant-Passw0rd!"
    _sign_up(stack, username, password)
    applicant = sign_in(stack, username, password)
    code = _new_uscc()
    profile = {
        "legalName": f"Scenario Valves {code[-6:]} Co., Ltd.",
        "uscc": code,
        "industry": "C3443",
        "contact": {
            "name": "Wang Fang",
            "email": "wang.fang@valves.example",
            "phone": "+86 10 6000 0000",
        },
        "addresses": ["47.100.20.31"],
        "domains": ["valves.example.com"],
        "hosting": "HOSTED",
    }
    applied = graphql(stack, "ApplyForEnterprise", {"input": profile}, applicant)
    assert applied["__typename"] == "Application", applied
    assert applied["status"] == "PENDING"

    # The auditor sees it in the queue and approves it: the enterprise gets the next prefix.
    auditor = sign_in(stack, demo["auditor"]["username"], demo["auditor"]["password"])
    queue = graphql(stack, "ListApplications", {"status": "PENDING", "first": 100}, auditor)
    assert applied["id"] in {edge["node"]["id"] for edge in queue["edges"]}
    approved = graphql(
        stack, "ApproveApplication", {"id": applied["id"], "reason": "documents checked"}, auditor
    )
    assert approved["__typename"] == "Application", approved
    assert approved["status"] == "APPROVED"
    prefix = approved["prefix"]
    assert prefix.startswith(stack["nodePrefix"] + ".")

    # Signed in again, the applicant is the enterprise's admin and issues its Handle secret.
    admin = sign_in(stack, username, password)
    viewer = graphql(stack, "Viewer", {}, admin)
    assert viewer["enterprise"] == code
    assert "enterprise-admin" in viewer["roles"]
    identity = f"300:{prefix}/ADMIN"
    issued = graphql(stack, "IssueAdminSecret", {"identity": identity}, admin)
    assert issued["__typename"] == "IssuedAdminSecret", issued
    secret = issued["secret"]

    # The enterprise system registers under its new prefix.
    handle = f"{prefix}/VALVE-0001"
    _register(stack, identity, secret, handle)

    # Anyone resolves it.
    resolved = requests.get(f"{stack['handleApiUrl']}/api/handles/{handle}", timeout=TIMEOUT)
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["values"][0]["data"]["value"] == "https://valves.example.com/0001"

    # Statistics and billing count the registration and the resolution.
    today = datetime.now(UTC).date().isoformat()
    series = graphql(
        stack,
        "Statistics",
        {"scope": "ENTERPRISE", "key": code, "from": today, "to": today},
        auditor,
    )
    assert series["__typename"] == "Statistics", series
    (day,) = series["days"]
    assert day["registrations"] == 1
    assert day["resolutions"] == 1
    assert day["identifiers"] == 1
    statement = graphql(stack, "BillingStatement", {"enterprise": code, "month": today[:7]}, admin)
    assert statement["__typename"] == "BillingStatement", statement
    assert (statement["registrations"], statement["resolutions"]) == (1, 1)

    # The operation log shows each step, and the enterprise admin sees them too.
    for reader in (auditor, admin):
        log = graphql(stack, "OperationLog", {"filter": {"enterprise": code}, "first": 50}, reader)
        assert log["__typename"] == "OperationLogConnection", log
        actions = [edge["node"]["action"] for edge in log["edges"]]
        steps = ("apply-for-enterprise", "approve-application", "issue-admin-secret")
        for action in (*steps, "register-identifier"):
            assert action in actions, (action, actions)
