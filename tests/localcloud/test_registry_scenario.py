"""End to end against the deployed stack in the local cloud: a person registers through
GraphQL, an enterprise system and the public resolve and change it through the Handle REST
API, and GraphQL deletes it."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pytest
import requests

from tests.support.local_cloud import TIMEOUT, graphql, sign_in

pytestmark = pytest.mark.localcloud


def _basic(stack: dict[str, Any]) -> dict[str, str]:
    demo = stack["demo"]
    user = demo["adminIdentity"].replace(":", "%3A", 1)
    encoded = base64.b64encode(f"{user}:{demo['adminSecret']}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


def test_register_resolve_change_delete(local_stack: dict[str, Any]) -> None:
    stack = local_stack
    token = sign_in(stack, stack["demo"]["username"], stack["demo"]["password"])
    handle = f"{stack['demo']['enterprisePrefix']}/E2E-{uuid.uuid4().hex[:8].upper()}"
    url = f"{stack['handleApiUrl']}/api/handles/{handle}"

    me = graphql(stack, "Viewer", {}, token)
    assert me["authenticated"] is True
    assert stack["demo"]["enterprisePrefix"] in me["prefixes"]

    created = graphql(
        stack,
        "RegisterIdentifier",
        {
            "input": {
                "handle": handle,
                "values": [
                    {"index": 1, "type": "URL", "value": "https://example.com/e2e"},
                    {"index": 2, "type": "SERIAL", "value": "SN-E2E", "restricted": True},
                ],
            }
        },
        token,
    )
    assert created["__typename"] == "Identifier", created

    public = requests.get(url, timeout=TIMEOUT)
    assert public.status_code == 200, public.text
    body = public.json()
    assert body["responseCode"] == 1 and body["handle"] == handle
    assert [v["index"] for v in body["values"]] == [1]

    owner = requests.get(url, params={"auth": "true"}, headers=_basic(stack), timeout=TIMEOUT)
    assert [v["index"] for v in owner.json()["values"]] == [1, 2]

    change = requests.put(
        url,
        params={"overwrite": "true", "index": "1"},
        json={"values": [{"index": 1, "type": "URL", "data": "https://example.com/changed"}]},
        headers=_basic(stack),
        timeout=TIMEOUT,
    )
    assert change.status_code == 200, change.text
    resolved = graphql(stack, "ResolveIdentifier", {"handle": handle, "types": ["URL"]}, None)
    assert resolved["values"][0]["data"]["value"] == "https://example.com/changed"

    refused = requests.put(url, json={"values": []}, timeout=TIMEOUT)
    assert (refused.status_code, refused.json()["responseCode"]) == (401, 402)

    forged = graphql(stack, "DeleteIdentifier", {"handle": handle}, token[:-4] + "AAAA")
    assert forged["__typename"] == "AuthenticationError"

    deleted = graphql(stack, "DeleteIdentifier", {"handle": handle}, token)
    assert deleted == {"__typename": "DeletedIdentifier", "handle": handle}
    gone = requests.get(url, timeout=TIMEOUT)
    assert (gone.status_code, gone.json()["responseCode"]) == (404, 100)


def test_pyhandle_against_the_deployed_api(local_stack: dict[str, Any]) -> None:
    from pyhandle.handleclient import PyHandleClient

    demo = local_stack["demo"]
    client = PyHandleClient("rest").instantiate_with_username_and_password(
        local_stack["handleApiUrl"], demo["adminIdentity"], demo["adminSecret"], HTTPS_verify=False
    )
    handle = f"{demo['enterprisePrefix']}/PYH-{uuid.uuid4().hex[:8].upper()}"
    assert client.register_handle(handle, "https://example.com/pyhandle") == handle
    assert client.get_value_from_handle(handle, "URL") == "https://example.com/pyhandle"
    client.modify_handle_value(handle, URL="https://example.com/pyhandle-2")
    assert client.get_value_from_handle(handle, "URL") == "https://example.com/pyhandle-2"
    client.delete_handle(handle)
    assert client.retrieve_handle_record_json(handle) is None


def test_browsers_may_call_the_graphql_api(local_stack: dict[str, Any]) -> None:
    preflight = requests.options(
        local_stack["graphqlUrl"],
        headers={
            "Origin": "http://localhost:3000",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
        timeout=TIMEOUT,
    )
    assert preflight.status_code in (200, 204), preflight.text
    assert preflight.headers.get("Access-Control-Allow-Origin") in ("*", "http://localhost:3000")
