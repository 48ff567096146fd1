"""The local gateway: HTTP requests in, API Gateway HTTP API events out, and back.

Requests are driven straight through the ASGI interface: no socket is opened.
"""

from __future__ import annotations

import base64
import json
import re
import sys
import threading
import time
import types
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest
from starlette.types import Message, Receive, Scope, Send

from idnode.cli.gateway import (
    DEFAULT_ROUTES,
    GatewayConfigError,
    LambdaGateway,
    Route,
    build_app,
    configure_environment,
    find_route,
    http_api_event,
)


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        values = self.all(name)
        return values[0] if values else None

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Echo:
    """A function that answers with the event and context it was called with."""

    calls: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.calls.append(event)
        seen = {
            "event": event,
            "context": {
                "function_name": context.function_name,
                "memory_limit_in_mb": context.memory_limit_in_mb,
                "invoked_function_arn": context.invoked_function_arn,
                "aws_request_id": context.aws_request_id,
                "remaining_ms": context.get_remaining_time_in_millis(),
            },
        }
        return {
            "statusCode": 200,
            "headers": {"content-type": "application/json"},
            "body": json.dumps(seen),
        }


def scope_for(
    method: str, target: str, headers: Sequence[tuple[str, str]], client: tuple[str, int]
) -> Scope:
    """The scope uvicorn builds: raw_path keeps the escapes, path is decoded."""
    from urllib.parse import unquote

    raw_path, _, query = target.partition("?")
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": unquote(raw_path),
        "raw_path": raw_path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers],
        "client": client,
        "server": ("127.0.0.1", 8000),
    }


async def exchange(
    app: LambdaGateway,
    method: str,
    target: str,
    *,
    headers: Sequence[tuple[str, str]] = (),
    chunks: Sequence[bytes] = (b"",),
    client: tuple[str, int] = ("203.0.113.9", 50123),
) -> Reply:
    incoming: list[Message] = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope_for(method, target, headers, client), receive, send)
    start, *bodies = sent
    assert start["type"] == "http.response.start"
    return Reply(
        status=start["status"],
        headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in start["headers"]],
        body=b"".join(message.get("body", b"") for message in bodies),
    )


def request(app: LambdaGateway, method: str, target: str, **options: Any) -> Reply:
    async def run() -> Reply:
        return await exchange(app, method, target, **options)

    return anyio.run(run)


@pytest.fixture
def echo() -> Echo:
    return Echo()


@pytest.fixture
def app(echo: Echo) -> LambdaGateway:
    return build_app(
        routes=[
            Route("ANY", "/graphql", echo, "echo-graphql", memory_mb=512),
            Route("ANY", "/api/handles/{handle+}", echo, "echo-handles"),
            Route("GET", "/api/handles", echo, "echo-handles"),
        ]
    )


def echoed(reply: Reply) -> dict[str, Any]:
    assert reply.status == 200, reply.body
    seen: dict[str, Any] = reply.json()
    return seen


def test_get_with_repeated_query_parameters(app: LambdaGateway) -> None:
    reply = request(
        app,
        "GET",
        "/api/handles?prefix=88.100.1234&type=URL&type=EMAIL&empty=&q=a+b%2Bc%26d",
        headers=[
            ("Host", "127.0.0.1:8000"),
            ("User-Agent", "hs-client/1.0"),
            ("X-Probe", "first"),
            ("x-probe", "second"),
            ("Cookie", "session=abc; theme=dark"),
            ("Accept", "application/json"),
        ],
    )
    seen = echoed(reply)
    event, context = seen["event"], seen["context"]
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /api/handles"
    assert event["rawPath"] == "/api/handles"
    assert event["rawQueryString"] == "prefix=88.100.1234&type=URL&type=EMAIL&empty=&q=a+b%2Bc%26d"
    assert event["queryStringParameters"] == {
        "prefix": "88.100.1234",
        "type": "URL,EMAIL",
        "empty": "",
        "q": "a b+c&d",
    }
    assert "pathParameters" not in event
    assert "body" not in event
    assert event["isBase64Encoded"] is False
    assert event["cookies"] == ["session=abc", "theme=dark"]
    headers = event["headers"]
    assert all(name == name.lower() for name in headers)
    assert "cookie" not in headers
    assert headers["x-probe"] == "first,second"
    assert headers["user-agent"] == "hs-client/1.0"
    assert headers["x-forwarded-for"] == "203.0.113.9"
    assert headers["x-forwarded-proto"] == "http"
    assert headers["x-forwarded-port"] == "8000"
    assert headers["x-amzn-trace-id"].startswith("Root=1-")

    http_context = event["requestContext"]
    assert http_context["http"] == {
        "method": "GET",
        "path": "/api/handles",
        "protocol": "HTTP/1.1",
        "sourceIp": "203.0.113.9",
        "userAgent": "hs-client/1.0",
    }
    assert http_context["routeKey"] == "GET /api/handles"
    assert http_context["stage"] == "$default"
    assert http_context["domainName"] == "127.0.0.1"
    assert len(http_context["requestId"]) == 16
    assert abs(http_context["timeEpoch"] - time.time() * 1000) < 60_000
    assert re.fullmatch(r"\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000", http_context["time"])
    assert reply.header("apigw-requestid") == http_context["requestId"]

    assert context["function_name"] == "echo-handles"
    assert context["memory_limit_in_mb"] == 1024
    assert context["invoked_function_arn"].endswith(":function:echo-handles")
    assert re.fullmatch(r"[0-9a-f-]{36}", context["aws_request_id"])
    assert 0 < context["remaining_ms"] <= 10_000


def test_greedy_handle_path_is_decoded(app: LambdaGateway) -> None:
    event = echoed(request(app, "GET", "/api/handles/88.100.1234/PUMP%200001%2Fv2%3Fa"))["event"]
    assert event["routeKey"] == "ANY /api/handles/{handle+}"
    assert event["rawPath"] == "/api/handles/88.100.1234/PUMP 0001/v2?a"
    assert event["requestContext"]["http"]["path"] == event["rawPath"]
    assert event["pathParameters"] == {"handle": "88.100.1234/PUMP 0001/v2?a"}
    assert event["rawQueryString"] == ""
    assert "queryStringParameters" not in event


def test_greedy_handle_path_with_unicode_and_percent(app: LambdaGateway) -> None:
    event = echoed(request(app, "DELETE", "/api/handles/88.100.1234/%E6%B3%B5/100%25"))["event"]
    assert event["requestContext"]["http"]["method"] == "DELETE"
    # Only %25 stays escaped, so that a literal percent sign remains unambiguous.
    assert event["pathParameters"] == {"handle": "88.100.1234/泵/100%25"}
    assert event["rawPath"] == "/api/handles/88.100.1234/泵/100%25"


def test_put_with_json_body(app: LambdaGateway) -> None:
    document = {"values": [{"index": 1, "type": "URL", "data": {"value": "https://例.cn"}}]}
    body = json.dumps(document, ensure_ascii=False).encode()
    event = echoed(
        request(
            app,
            "PUT",
            "/api/handles/88.100.1234/PUMP-0001?overwrite=true",
            headers=[("Content-Type", "application/json; charset=utf-8")],
            chunks=[body[:10], body[10:]],
        )
    )["event"]
    assert event["requestContext"]["http"]["method"] == "PUT"
    assert event["pathParameters"] == {"handle": "88.100.1234/PUMP-0001"}
    assert event["queryStringParameters"] == {"overwrite": "true"}
    assert event["isBase64Encoded"] is False
    assert json.loads(event["body"]) == document
    assert event["headers"]["content-type"] == "application/json; charset=utf-8"


@pytest.mark.parametrize(
    ("content_type", "payload"),
    [
        ("application/octet-stream", bytes(range(256))),
        (None, b'{"query": "{ node }"}'),
        ("application/x-www-form-urlencoded", b"a=1&b=2"),
        ("application/json", b"\xff\xfe not utf-8"),
    ],
)
def test_non_text_body_arrives_base64(
    app: LambdaGateway, content_type: str | None, payload: bytes
) -> None:
    headers = [("Content-Type", content_type)] if content_type else []
    event = echoed(request(app, "POST", "/graphql", headers=headers, chunks=[payload]))["event"]
    assert event["routeKey"] == "ANY /graphql"
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == payload


def test_response_status_headers_cookies_and_binary_body() -> None:
    payload = b"\x89PNG\r\n\x1a\n\x00\xff"

    def respond(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {
            "statusCode": 201,
            "headers": {
                "Content-Type": "image/png",
                "Cache-Control": "max-age=60",
                "X-Count": 3,
                "Content-Length": "999",
            },
            "multiValueHeaders": {"X-Multi": ["a", "b"]},
            "cookies": ["session=abc; HttpOnly", "theme=dark; Path=/"],
            "body": base64.b64encode(payload).decode(),
            "isBase64Encoded": True,
        }

    app = build_app(routes=[Route("ANY", "/graphql", respond)])
    reply = request(app, "GET", "/graphql")
    assert reply.status == 201
    assert reply.body == payload
    assert reply.header("content-type") == "image/png"
    assert reply.header("cache-control") == "max-age=60"
    assert reply.header("x-count") == "3"
    assert reply.all("x-multi") == ["a", "b"]
    assert reply.all("set-cookie") == ["session=abc; HttpOnly", "theme=dark; Path=/"]
    assert reply.all("content-length") == [str(len(payload))]
    assert reply.header("apigw-requestid")


def test_text_response_defaults_to_json_content_type() -> None:
    app = build_app(routes=[Route("ANY", "/graphql", lambda e, c: {"statusCode": 204})])
    reply = request(app, "POST", "/graphql")
    assert reply.status == 204
    assert reply.body == b""
    assert reply.header("content-type") == "application/json"


def test_result_without_status_code_is_a_json_body() -> None:
    app = build_app(routes=[Route("ANY", "/graphql", lambda e, c: {"answer": 42})])
    reply = request(app, "GET", "/graphql")
    assert (reply.status, reply.json()) == (200, {"answer": 42})


@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("GET", "/"),
        ("GET", "/nothing/here"),
        ("GET", "/graphql/"),
        ("GET", "/api/handles/"),
        ("POST", "/api/handles"),
        ("GET", "/api/handlesX"),
    ],
)
def test_unknown_routes_are_404(app: LambdaGateway, echo: Echo, method: str, target: str) -> None:
    reply = request(app, method, target)
    assert reply.status == 404
    assert reply.json() == {"message": "Not Found"}
    assert reply.header("content-type") == "application/json"
    assert echo.calls == []


def test_failing_function_is_a_500_without_details(caplog: pytest.LogCaptureFixture) -> None:
    def broken(event: dict[str, Any], context: Any) -> dict[str, Any]:
        raise RuntimeError("secret table name in a stack trace")

    app = build_app(routes=[Route("ANY", "/graphql", broken, "broken")])
    reply = request(app, "POST", "/graphql")
    assert reply.status == 500
    assert reply.json() == {"message": "Internal Server Error"}
    assert "broken failed" in caplog.text


@pytest.mark.parametrize(
    "result",
    [
        {"statusCode": "200"},
        {"statusCode": 700},
        {"statusCode": 200, "body": {"not": "a string"}},
        {"statusCode": 200, "headers": ["x"]},
    ],
)
def test_malformed_function_result_is_a_500(result: dict[str, Any]) -> None:
    app = build_app(routes=[Route("ANY", "/graphql", lambda e, c: result)])
    assert request(app, "GET", "/graphql").status == 500


def test_oversized_request_is_413(echo: Echo) -> None:
    app = LambdaGateway([Route("ANY", "/graphql", echo)], max_request_bytes=16)
    reply = request(app, "POST", "/graphql", chunks=[b"x" * 10, b"y" * 10])
    assert reply.status == 413
    assert echo.calls == []


def test_head_has_headers_but_no_body(app: LambdaGateway) -> None:
    reply = request(app, "HEAD", "/graphql")
    assert reply.status == 200
    assert reply.body == b""
    assert int(reply.header("content-length") or 0) > 0


@pytest.fixture
def probe_module() -> Iterator[types.ModuleType]:
    module = types.ModuleType("gateway_probe_handlers")
    module.imported = True  # type: ignore[attr-defined]
    module.handler = Echo()  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    yield module
    del sys.modules[module.__name__]


def test_handlers_named_by_module_path(probe_module: types.ModuleType) -> None:
    app = build_app(routes=[Route("ANY", "/graphql", "gateway_probe_handlers:handler")])
    assert request(app, "GET", "/graphql").status == 200
    assert request(app, "GET", "/graphql").status == 200
    assert len(probe_module.handler.calls) == 2


def test_unimportable_handler_is_a_500() -> None:
    app = build_app(routes=[Route("ANY", "/graphql", "idnode_no_such_module:handler")])
    assert request(app, "GET", "/graphql").status == 500


def test_product_handlers_are_imported_on_first_use_only() -> None:
    before = {name for name in sys.modules if name.startswith("idnode.handlers.")}
    build_app()
    after = {name for name in sys.modules if name.startswith("idnode.handlers.")}
    assert after == before


def test_a_slow_function_does_not_block_the_gateway() -> None:
    fast_done = threading.Event()

    def slow(event: dict[str, Any], context: Any) -> dict[str, Any]:
        # Finishes only once the other request has been served alongside it.
        assert fast_done.wait(timeout=5)
        return {"statusCode": 200, "body": "slow"}

    def fast(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"statusCode": 200, "body": "fast"}

    app = build_app(
        routes=[Route("ANY", "/graphql", slow, "slow"), Route("GET", "/api/handles", fast, "fast")]
    )
    bodies: list[bytes] = []

    async def run() -> None:
        async def slow_request() -> None:
            bodies.append((await exchange(app, "POST", "/graphql")).body)

        async with anyio.create_task_group() as group:
            group.start_soon(slow_request)
            await anyio.sleep(0.05)
            bodies.append((await exchange(app, "GET", "/api/handles")).body)
            fast_done.set()

    anyio.run(run)
    assert bodies == [b"fast", b"slow"]


def test_lifespan_is_acknowledged(app: LambdaGateway) -> None:
    incoming: list[Message] = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    async def run() -> None:
        await app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)

    anyio.run(run)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


def test_mangum_handler_runs_in_worker_threads() -> None:
    from mangum import Mangum

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        reply = json.dumps(
            {
                "path": scope["path"],
                "query": scope["query_string"].decode(),
                "body": message.get("body", b"").decode(),
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": reply})

    adapters: list[Mangum] = []

    def handler(event: dict[str, Any], context: Any) -> Any:
        # Built on first invocation, as the product's GraphQL function does.
        if not adapters:
            adapters.append(Mangum(asgi, lifespan="off"))
        return adapters[0](event, context)

    app = build_app(routes=[Route("ANY", "/graphql", handler)])
    for i in range(3):
        reply = request(
            app,
            "POST",
            f"/graphql?round={i}",
            headers=[("Content-Type", "application/json")],
            chunks=[b'{"query":"{ ping }"}'],
        )
        assert reply.json() == {
            "path": "/graphql",
            "query": f"round={i}",
            "body": '{"query":"{ ping }"}',
        }


def test_powertools_http_resolver_reads_the_events() -> None:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

    resolver = APIGatewayHttpResolver()

    @resolver.get("/api/handles/.+")
    def resolve() -> dict[str, Any]:
        event = resolver.current_event
        return {
            "handle": event.path_parameters["handle"],
            "type": event.get_query_string_value("type"),
        }

    app = build_app(routes=[Route("ANY", "/api/handles/{handle+}", resolver.resolve)])
    reply = request(app, "GET", "/api/handles/88.100.1234/PUMP-0001?type=URL")
    assert reply.json() == {"handle": "88.100.1234/PUMP-0001", "type": "URL"}


def test_event_builder_uses_the_product_routes() -> None:
    event = http_api_event("get", "/api/handles/88.100.1234/PUMP-0001?index=1&index=2")
    assert event["routeKey"] == "ANY /api/handles/{handle+}"
    assert event["pathParameters"] == {"handle": "88.100.1234/PUMP-0001"}
    assert event["queryStringParameters"] == {"index": "1,2"}
    assert event["headers"]["x-forwarded-proto"] == "https"
    graphql = http_api_event(
        "POST", "/graphql", headers={"Content-Type": "application/json"}, body='{"query":"{a}"}'
    )
    assert graphql["routeKey"] == "ANY /graphql"
    assert graphql["body"] == '{"query":"{a}"}'
    assert graphql["headers"]["content-length"] == "15"
    assert http_api_event("GET", "/elsewhere")["routeKey"] == "$default"


def test_specific_routes_win_over_greedy_and_any() -> None:
    routes = [
        Route("ANY", "/api/{rest+}", "x:any_greedy"),
        Route("ANY", "/api/handles", "x:any_exact"),
        Route("GET", "/api/handles", "x:get_exact"),
        Route("GET", "/api/{section}/{item}", "x:two_segments"),
    ]

    def chosen(method: str, path: str) -> object:
        found = find_route(routes, method, path)
        return found[0].handler if found else None

    assert chosen("GET", "/api/handles") == "x:get_exact"
    assert chosen("POST", "/api/handles") == "x:any_exact"
    assert chosen("GET", "/api/a/b") == "x:two_segments"
    assert chosen("GET", "/api/a/b/c") == "x:any_greedy"
    assert chosen("GET", "/other") is None
    # The GS1 Digital Link paths are specific enough never to meet the Handle routes.
    assert chosen("GET", "/01/09506000134352") is None
    assert find_route(DEFAULT_ROUTES, "GET", "/01/09506000134352/21/A1") is not None
    assert find_route(DEFAULT_ROUTES, "HEAD", "/.well-known/gs1resolver") is not None
    assert find_route(DEFAULT_ROUTES, "POST", "/01/09506000134352") is None
    assert [route.key for route in DEFAULT_ROUTES][:7] == [
        "ANY /graphql",
        "ANY /api/handles/{handle+}",
        "GET /api/handles",
        "POST /api/handles",
        "POST /hdl",
        "POST /hdl/{handle+}",
        "GET /00/{key+}",
    ]


ENDPOINTS = {
    "graphqlUrl": "http://127.0.0.1:4566/_aws/execute-api/abc123/$default/graphql",
    "handleApiUrl": "http://127.0.0.1:4566/_aws/execute-api/abc123/$default",
    "region": "us-east-1",
    "userPoolId": "us-east-1_Local",
    "userPoolClientId": "client123",
    "endpointUrl": "http://127.0.0.1:4566",
    "tables": {"identifiers": "ids-t", "prefixes": "prefixes-t", "credentials": "creds-t"},
    "nodePrefix": "88.100",
    "demo": {},
}


def test_environment_from_the_endpoints_file(tmp_path: Path) -> None:
    endpoints_file = tmp_path / "endpoints.json"
    endpoints_file.write_text(json.dumps(ENDPOINTS))
    env = {"PATH": "/usr/bin", "IDNODE_NODE_PREFIX": "88.200"}
    assigned = configure_environment(env, endpoints_file)
    assert env["IDNODE_IDENTIFIERS_TABLE"] == "ids-t"
    assert env["IDNODE_PREFIXES_TABLE"] == "prefixes-t"
    assert env["IDNODE_CREDENTIALS_TABLE"] == "creds-t"
    assert env["IDNODE_NODE_PREFIX"] == "88.200"  # already set: kept
    assert env["IDNODE_USER_POOL_ID"] == "us-east-1_Local"
    assert env["IDNODE_USER_POOL_CLIENT_ID"] == "client123"
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["AWS_ACCESS_KEY_ID"] == env["AWS_SECRET_ACCESS_KEY"] == "test"
    assert env["IDNODE_GRAPHIQL"] == "true"
    assert "IDNODE_NODE_PREFIX" not in assigned
    assert "IDNODE_IDENTIFIERS_TABLE" in assigned


def test_existing_credentials_are_kept(tmp_path: Path) -> None:
    endpoints_file = tmp_path / "endpoints.json"
    endpoints_file.write_text(json.dumps(ENDPOINTS))
    env = {"AWS_PROFILE": "dev"}
    configure_environment(env, endpoints_file)
    assert "AWS_ACCESS_KEY_ID" not in env


def test_configured_environment_ignores_the_endpoints_file(tmp_path: Path) -> None:
    endpoints_file = tmp_path / "endpoints.json"
    endpoints_file.write_text(json.dumps(ENDPOINTS))
    env = {
        "IDNODE_IDENTIFIERS_TABLE": "prod-ids",
        "IDNODE_PREFIXES_TABLE": "prod-prefixes",
        "IDNODE_CREDENTIALS_TABLE": "prod-creds",
        "IDNODE_NODE_PREFIX": "88.100",
    }
    configure_environment(env, endpoints_file)
    assert "AWS_ENDPOINT_URL" not in env
    assert "AWS_ACCESS_KEY_ID" not in env
    assert env["IDNODE_IDENTIFIERS_TABLE"] == "prod-ids"


def test_missing_configuration_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(GatewayConfigError, match="idnode up"):
        configure_environment({}, tmp_path / "endpoints.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(GatewayConfigError, match="cannot read"):
        configure_environment({}, broken)
    incomplete = tmp_path / "incomplete.json"
    incomplete.write_text(json.dumps({"region": "us-east-1"}))
    with pytest.raises(GatewayConfigError, match="IDNODE_IDENTIFIERS_TABLE"):
        configure_environment({}, incomplete)
