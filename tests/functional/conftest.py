"""Functional tier: handlers driven with API Gateway events, services on moto."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from idnode.cli.gateway import http_api_event
from idnode.node import Node, use_node
from tests.support.identity import TokenIssuer
from tests.support.node import ADMIN_IDENTITY, ADMIN_SECRET, build_test_node


@pytest.fixture(scope="session")
def issuer() -> TokenIssuer:
    return TokenIssuer()


@pytest.fixture
def node(issuer: TokenIssuer) -> Iterator[Node]:
    with mock_aws():
        built = build_test_node(issuer)
        use_node(built)
        yield built
        use_node(None)


class LambdaContext:
    function_name = "idnode-test"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:idnode-test"
    aws_request_id = "test-request"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 10_000


def basic(identity: str = ADMIN_IDENTITY, secret: str = ADMIN_SECRET) -> str:
    user = identity.replace(":", "%3A", 1)
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()


class HandleApi:
    """Calls the Handle REST Lambda handler with API Gateway HTTP API events."""

    def __init__(self) -> None:
        from idnode.handlers.handles import handler

        self._handler = handler

    def call(
        self,
        method: str,
        path: str,
        *,
        query: str = "",
        body: Any = None,
        auth: str | None = None,
        raw_body: str | None = None,
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        headers = {"content-type": "application/json"}
        if auth:
            headers["authorization"] = auth
        payload = raw_body if raw_body is not None else (None if body is None else json.dumps(body))
        target = f"{path}?{query}" if query else path
        event = http_api_event(method, target, headers=headers, body=payload)
        result = self._handler(event, LambdaContext())
        return result["statusCode"], json.loads(result["body"]), result.get("headers", {})


@pytest.fixture
def handle_api(node: Node) -> HandleApi:
    return HandleApi()


class GraphQLApi:
    """Calls the GraphQL Lambda handler (Mangum) with API Gateway HTTP API events."""

    def __init__(self) -> None:
        from idnode.handlers import graphql

        graphql._asgi = None  # rebuild against this test's node
        self._handler = graphql.handler

    def run(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        headers = {"content-type": "application/json"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        event = http_api_event("POST", "/graphql", headers=headers, body=body)
        result = self._handler(event, LambdaContext())
        assert result["statusCode"] == 200, result
        document: dict[str, Any] = json.loads(result["body"])
        return document


@pytest.fixture
def graphql_api(node: Node) -> GraphQLApi:
    return GraphQLApi()
