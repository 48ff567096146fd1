"""Calls to the deployed stack in the local cloud, shared by its end-to-end scenarios."""

from __future__ import annotations

from typing import Any

import boto3
import requests

from tests.support.operations import operation

TIMEOUT = 60  # the first call to each function starts a cold worker


def cognito(stack: dict[str, Any]) -> Any:
    return boto3.client(
        "cognito-idp", region_name=stack["region"], endpoint_url=stack["endpointUrl"]
    )


def sign_in(stack: dict[str, Any], username: str, password: str) -> str:
    """A person's ID token from the local user pool."""
    reply = cognito(stack).initiate_auth(
        ClientId=stack["userPoolClientId"],
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": password},
    )
    token: str = reply["AuthenticationResult"]["IdToken"]
    return token


def graphql(stack: dict[str, Any], name: str, variables: dict[str, Any], token: str | None) -> Any:
    """Run a published operation; its one root field's answer (there must be no errors)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    reply = requests.post(
        stack["graphqlUrl"],
        json={"query": operation(name), "variables": variables},
        headers=headers,
        timeout=TIMEOUT,
    )
    assert reply.status_code == 200, reply.text
    document = reply.json()
    assert "errors" not in document, document
    return next(iter(document["data"].values()))
