"""A local HTTP gateway that serves the Lambda handlers in-process, as API Gateway calls them.

Each HTTP request becomes an API Gateway HTTP API event (payload format 2.0), the route's
handler is called with it and a stand-in Lambda context, and the handler's result becomes
the HTTP response. Routes mirror the deployed HTTP API:

    ANY /graphql                 -> idnode.handlers.graphql.handler
    ANY /api/handles/{handle+}   -> idnode.handlers.handles.handler
    GET|POST /api/handles        -> idnode.handlers.handles.handler
    POST /hdl, /hdl/{handle+}    -> idnode.handlers.handles.handler (Handle protocol messages)
    GET|HEAD /{ai}/{key+}        -> idnode.handlers.handles.handler (GS1 Digital Link: ai is
                                    01, 00, 414, 8003 or 8004)
    GET|HEAD /.well-known/gs1resolver -> idnode.handlers.handles.handler

The path reaches the handler the way an HTTP API delivers it: `rawPath` and
`requestContext.http.path` are percent-decoded, and path parameters are taken from that
decoded path. Captured HTTP API events and the local cloud's emulator agree on this; only
REST APIs and function URLs keep the escapes. The one escape kept is `%25`, as the local
cloud does, so that a literal percent sign stays unambiguous. (AWS itself refuses some
paths containing `%25` and decodes others twice: no identifier should depend on a percent
sign arriving intact in a path.)
"""

from __future__ import annotations

import asyncio
import base64
import importlib
import json
import logging
import os
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl, quote, unquote

import anyio
import anyio.to_thread
from starlette.types import Receive, Scope, Send

from idnode import settings
from idnode.cli.workspace import Workspace
from idnode.domain.schemes import GS1_PRIMARY_AIS

logger = logging.getLogger(__name__)

LambdaHandler = Callable[[dict[str, Any], Any], Any]
"""A Lambda function's entry point: (event, context) -> result."""

LOCAL_ACCOUNT_ID: Final = "000000000000"
LOCAL_API_ID: Final = "local"
# API Gateway HTTP APIs accept request payloads up to 10 MB.
MAX_REQUEST_BYTES: Final = 10 * 1024 * 1024
# Bodies of these types arrive as text; every other body arrives base64-encoded, as in AWS.
_TEXT_CONTENT_TYPES: Final = frozenset(
    {"application/json", "application/xml", "application/javascript"}
)
# The gateway frames the response itself; a function's view of these does not apply.
_HOP_HEADERS: Final = frozenset({"content-length", "transfer-encoding", "connection"})
# Request times use English month names whatever the locale.
_MONTHS: Final = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)
_PERCENT_25: Final = re.compile("%25", re.IGNORECASE)
_PARAMETER: Final = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(\+?)\}")


class GatewayConfigError(RuntimeError):
    """The gateway cannot tell the handlers which tables and endpoint to use."""


class FunctionResponseError(ValueError):
    """A function returned something API Gateway could not turn into an HTTP response."""


@dataclass(frozen=True, slots=True)
class Route:
    """One HTTP API route and the function behind it.

    `path` is a route template: `{name}` matches one path segment, `{name+}` the rest of
    the path. `handler` is the function itself or `"module:attribute"`, imported on the
    first request that needs it.
    """

    method: str
    path: str
    handler: str | LambdaHandler
    function_name: str = "local-function"
    memory_mb: int = 1024
    timeout_seconds: float = 10.0

    @property
    def key(self) -> str:
        """The route key API Gateway puts in `routeKey`, e.g. `GET /api/handles`."""
        return f"{self.method} {self.path}"


# The GS1 Digital Link resolver's routes: one per primary key's application identifier.
DIGITAL_LINK_PATHS: Final = (
    *(f"/{ai}/{{key+}}" for ai in sorted(GS1_PRIMARY_AIS)),
    "/.well-known/gs1resolver",
)

# The Handle protocol's HTTP interface: messages POSTed to `/hdl/<handle>`.
HANDLE_PROTOCOL_PATHS: Final = ("/hdl", "/hdl/{handle+}")

DEFAULT_ROUTES: Final = (
    Route("ANY", "/graphql", "idnode.handlers.graphql:handler", "idnode-graphql"),
    Route("ANY", "/api/handles/{handle+}", "idnode.handlers.handles:handler", "idnode-handles"),
    Route("GET", "/api/handles", "idnode.handlers.handles:handler", "idnode-handles"),
    Route("POST", "/api/handles", "idnode.handlers.handles:handler", "idnode-handles"),
    *(
        Route("POST", path, "idnode.handlers.handles:handler", "idnode-handles")
        for path in HANDLE_PROTOCOL_PATHS
    ),
    *(
        Route(method, path, "idnode.handlers.handles:handler", "idnode-handles")
        for path in DIGITAL_LINK_PATHS
        for method in ("GET", "HEAD")
    ),
)


@dataclass(slots=True)
class LocalLambdaContext:
    """Stands in for the context object the Lambda runtime passes to a handler."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str
    deadline: float
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"
    identity: Any = None
    client_context: Any = None

    @classmethod
    def for_route(cls, route: Route) -> LocalLambdaContext:
        """A fresh context for one invocation of the route's function."""
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        return cls(
            function_name=route.function_name,
            memory_limit_in_mb=route.memory_mb,
            invoked_function_arn=(
                f"arn:aws:lambda:{region}:{LOCAL_ACCOUNT_ID}:function:{route.function_name}"
            ),
            aws_request_id=str(uuid.uuid4()),
            deadline=time.monotonic() + route.timeout_seconds,
            log_group_name=f"/aws/lambda/{route.function_name}",
        )

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds until the function's timeout (not enforced locally)."""
        return max(0, int((self.deadline - time.monotonic()) * 1000))


@lru_cache(maxsize=64)
def _route_pattern(template: str) -> re.Pattern[str]:
    parts: list[str] = []
    position = 0
    for match in _PARAMETER.finditer(template):
        parts.append(re.escape(template[position : match.start()]))
        name, greedy = match.groups()
        parts.append(f"(?P<{name}>.+)" if greedy else f"(?P<{name}>[^/]+)")
        position = match.end()
    parts.append(re.escape(template[position:]))
    return re.compile("".join(parts))


def find_route(
    routes: Iterable[Route], method: str, path: str
) -> tuple[Route, dict[str, str]] | None:
    """The most specific route for a decoded path, with its path parameters.

    As in API Gateway: a route without a greedy parameter beats one with, and a route for
    the request's method beats `ANY`.
    """
    best: tuple[tuple[bool, bool], Route, dict[str, str]] | None = None
    for route in routes:
        if route.method not in ("ANY", method):
            continue
        match = _route_pattern(route.path).fullmatch(path)
        if match is None:
            continue
        rank = ("+}" in route.path, route.method == "ANY")
        if best is None or rank < best[0]:
            best = (rank, route, match.groupdict())
    return None if best is None else (best[1], best[2])


def decoded_path(raw_path: str) -> str:
    """The path as an HTTP API hands it to a function: decoded, except for `%25`."""
    return "%25".join(unquote(piece) for piece in _PERCENT_25.split(raw_path))


def _is_text(content_type: str | None) -> bool:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    return media_type.startswith("text/") or media_type in _TEXT_CONTENT_TYPES


def _request_time(epoch_ms: int) -> str:
    moment = time.gmtime(epoch_ms / 1000)
    month = _MONTHS[moment.tm_mon - 1]
    return (
        f"{moment.tm_mday:02d}/{month}/{moment.tm_year}:{time.strftime('%H:%M:%S', moment)} +0000"
    )


def _header_pairs(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    return list(headers.items()) if isinstance(headers, Mapping) else list(headers)


def _merge_headers(
    pairs: Iterable[tuple[str, str]],
) -> tuple[dict[str, str], list[str]]:
    merged: dict[str, str] = {}
    cookies: list[str] = []
    for raw_name, value in pairs:
        name = raw_name.lower()
        if name == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
        elif name in merged:
            merged[name] = f"{merged[name]},{value}"
        else:
            merged[name] = value
    return merged, cookies


def _query_parameters(raw_query: str) -> dict[str, str]:
    parameters: dict[str, str] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        parameters[name] = f"{parameters[name]},{value}" if name in parameters else value
    return parameters


def http_api_event(
    method: str,
    target: str,
    *,
    headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
    body: bytes | str | None = None,
    routes: Sequence[Route] = DEFAULT_ROUTES,
    source_ip: str = "127.0.0.1",
    scheme: str = "https",
    port: int = 443,
    request_id: str | None = None,
    time_epoch_ms: int | None = None,
) -> dict[str, Any]:
    """The API Gateway HTTP API event (payload format 2.0) for one request.

    `target` is the request target as sent on the wire: the path with its escapes, then
    optionally `?` and the query string. The route, `routeKey` and `pathParameters` come
    from `routes`; a request no route matches gets the `$default` route key.
    """
    method = method.upper()
    raw_target_path, _, raw_query = target.partition("?")
    path = decoded_path(raw_target_path)
    merged, cookies = _merge_headers(_header_pairs(headers))
    merged.setdefault("host", "localhost")
    forwarded_for = merged.get("x-forwarded-for")
    merged["x-forwarded-for"] = f"{forwarded_for}, {source_ip}" if forwarded_for else source_ip
    merged["x-forwarded-port"] = str(port)
    merged["x-forwarded-proto"] = scheme
    epoch_ms = int(time.time() * 1000) if time_epoch_ms is None else time_epoch_ms
    merged.setdefault("x-amzn-trace-id", f"Root=1-{epoch_ms // 1000:08x}-{secrets.token_hex(12)}")
    payload = body.encode() if isinstance(body, str) else body
    if payload:
        merged.setdefault("content-length", str(len(payload)))

    found = find_route(routes, method, path)
    route_key = found[0].key if found else "$default"
    request_id = request_id or base64.b64encode(secrets.token_bytes(11)).decode()
    domain = merged["host"].split(":", 1)[0]
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = merged
    query = _query_parameters(raw_query)
    if query:
        event["queryStringParameters"] = query
    event["requestContext"] = {
        "accountId": LOCAL_ACCOUNT_ID,
        "apiId": LOCAL_API_ID,
        "domainName": domain,
        "domainPrefix": domain.split(".", 1)[0],
        "http": {
            "method": method,
            "path": path,
            "protocol": "HTTP/1.1",
            "sourceIp": source_ip,
            "userAgent": merged.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": route_key,
        "stage": "$default",
        "time": _request_time(epoch_ms),
        "timeEpoch": epoch_ms,
    }
    if found and found[1]:
        event["pathParameters"] = found[1]
    if payload:
        if _is_text(merged.get("content-type")):
            try:
                event["body"], event["isBase64Encoded"] = payload.decode("utf-8"), False
            except UnicodeDecodeError:
                event["body"], event["isBase64Encoded"] = base64.b64encode(payload).decode(), True
        else:
            event["body"], event["isBase64Encoded"] = base64.b64encode(payload).decode(), True
    else:
        event["isBase64Encoded"] = False
    return event


def _header_bytes(name: str, value: object) -> tuple[bytes, bytes]:
    return name.lower().encode("latin-1"), str(value).encode("latin-1", errors="replace")


def lambda_response(result: Any) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Status, headers and body of the HTTP response API Gateway makes of a function's result.

    A result without `statusCode` is taken as a JSON body with status 200, which is how an
    HTTP API reads payload format 2.0 responses.
    """
    if not (isinstance(result, dict) and "statusCode" in result):
        body = json.dumps(result).encode()
        return 200, [(b"content-type", b"application/json")], body
    status = result["statusCode"]
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:  # noqa: PLR2004 - the range of HTTP status codes
        raise FunctionResponseError(f"statusCode is not an HTTP status: {status!r}")
    single = result.get("headers") or {}
    multi = result.get("multiValueHeaders") or {}
    cookies = result.get("cookies") or []
    if not isinstance(single, dict) or not isinstance(multi, dict) or not isinstance(cookies, list):
        raise FunctionResponseError("headers, multiValueHeaders or cookies have the wrong type")
    headers: list[tuple[bytes, bytes]] = []
    multi_names = {str(name).lower() for name in multi}
    for name, value in single.items():
        if str(name).lower() not in multi_names:
            headers.append(_header_bytes(str(name), value))
    for name, values in multi.items():
        for value in values if isinstance(values, list) else [values]:
            headers.append(_header_bytes(str(name), value))
    headers.extend(_header_bytes("set-cookie", cookie) for cookie in cookies)
    headers = [(name, value) for name, value in headers if name.decode() not in _HOP_HEADERS]
    if not any(name == b"content-type" for name, _ in headers):
        headers.append((b"content-type", b"application/json"))

    raw_body = result.get("body")
    if raw_body is None:
        body = b""
    elif not isinstance(raw_body, str):
        raise FunctionResponseError("body is not a string")
    elif result.get("isBase64Encoded"):
        body = base64.b64decode(raw_body)
    else:
        body = raw_body.encode("utf-8")
    return status, headers, body


class LambdaGateway:
    """The ASGI application: routes requests to Lambda handlers the way an HTTP API does."""

    def __init__(
        self,
        routes: Sequence[Route],
        *,
        max_request_bytes: int = MAX_REQUEST_BYTES,
        concurrency_per_function: int = 1,
    ) -> None:
        self._routes = tuple(routes)
        self._by_key = {route.key: route for route in self._routes}
        self._max_request_bytes = max_request_bytes
        self._concurrency = concurrency_per_function
        self._handlers: dict[str, LambdaHandler] = {}
        self._import_lock = threading.Lock()
        # One invocation at a time per function by default, as in one Lambda execution
        # environment: handlers keep per-invocation state in module globals (log context,
        # metrics), which concurrent threads would mix up.
        self._limiters: dict[str, anyio.CapacityLimiter] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1000})

    @staticmethod
    async def _lifespan(receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        head = scope["method"] == "HEAD"
        body = await self._read_body(receive)
        if body is None:
            await _send_json(send, 413, {"message": "Request Entity Too Large"}, head=head)
            return
        raw_path: bytes = scope.get("raw_path") or quote(scope["path"]).encode()
        target = raw_path.decode("utf-8", errors="replace")
        if scope.get("query_string"):
            target += "?" + scope["query_string"].decode("utf-8", errors="replace")
        client = scope.get("client") or ("127.0.0.1", 0)
        server = scope.get("server") or ("127.0.0.1", 80)
        event = http_api_event(
            scope["method"],
            target,
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]],
            body=body,
            routes=self._routes,
            source_ip=client[0],
            scheme=scope.get("scheme", "http"),
            port=server[1] or 80,
        )
        route = self._by_key.get(event["routeKey"])
        if route is None:
            await _send_json(send, 404, {"message": "Not Found"}, head=head)
            return
        try:
            result = await anyio.to_thread.run_sync(
                self._invoke, route, event, limiter=self._limiter(route)
            )
            status, headers, payload = lambda_response(result)
        except Exception:
            logger.exception("%s failed on %s", route.function_name, event["routeKey"])
            await _send_json(send, 500, {"message": "Internal Server Error"}, head=head)
            return
        request_id = event["requestContext"]["requestId"]
        headers.append((b"apigw-requestid", request_id.encode()))
        headers.append((b"content-length", str(len(payload)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if head else payload})

    async def _read_body(self, receive: Receive) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._max_request_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    def _limiter(self, route: Route) -> anyio.CapacityLimiter:
        limiter = self._limiters.get(route.function_name)
        if limiter is None:
            limiter = self._limiters.setdefault(
                route.function_name, anyio.CapacityLimiter(self._concurrency)
            )
        return limiter

    def _invoke(self, route: Route, event: dict[str, Any]) -> Any:
        handler = self._handler(route.handler)
        # Handlers built on Mangum run their ASGI app on the calling thread's current event
        # loop. A worker thread has none, and the server's own loop must never be borrowed
        # from another thread, so each invocation gets a loop of its own.
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            return handler(event, LocalLambdaContext.for_route(route))
        finally:
            asyncio.set_event_loop(None)
            loop.close()

    def _handler(self, target: str | LambdaHandler) -> LambdaHandler:
        if not isinstance(target, str):
            return target
        handler = self._handlers.get(target)
        if handler is None:
            with self._import_lock:
                module_name, _, attribute = target.partition(":")
                found = getattr(importlib.import_module(module_name), attribute or "handler")
                if not callable(found):
                    raise TypeError(f"{target} is not callable")
                handler = self._handlers.setdefault(target, found)
        return handler


async def _send_json(send: Send, status: int, document: object, *, head: bool = False) -> None:
    body = json.dumps(document, separators=(",", ":")).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})


def build_app(
    routes: Sequence[Route] | None = None, *, concurrency_per_function: int = 1
) -> LambdaGateway:
    """The gateway's ASGI application, with the product's routes unless others are given."""
    return LambdaGateway(
        DEFAULT_ROUTES if routes is None else routes,
        concurrency_per_function=concurrency_per_function,
    )


_REQUIRED_VARIABLES: Final = (
    settings.IDENTIFIERS_TABLE,
    settings.PREFIXES_TABLE,
    settings.CREDENTIALS_TABLE,
    settings.NODE_PREFIX,
)


def endpoint_variables(endpoints: Mapping[str, Any]) -> dict[str, str]:
    """The handlers' variables named by the endpoints file that `idnode up` writes."""
    tables = endpoints.get("tables") or {}
    region = endpoints.get("region")
    candidates = {
        settings.IDENTIFIERS_TABLE: tables.get("identifiers"),
        settings.PREFIXES_TABLE: tables.get("prefixes"),
        settings.CREDENTIALS_TABLE: tables.get("credentials"),
        settings.NODE_PREFIX: endpoints.get("nodePrefix"),
        settings.USER_POOL_ID: endpoints.get("userPoolId"),
        settings.USER_POOL_CLIENT_ID: endpoints.get("userPoolClientId"),
        "AWS_ENDPOINT_URL": endpoints.get("endpointUrl"),
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
    }
    return {name: str(value) for name, value in candidates.items() if value}


def configure_environment(env: MutableMapping[str, str], endpoints_file: Path) -> list[str]:
    """Prepare `env` for the handlers; return the names of the variables it set.

    When the IDNODE_* table and prefix variables are all set, the environment is used as it
    is, and the endpoints file is not read (mixing it in could point real tables at the
    local endpoint). Otherwise every variable still unset is taken from the endpoints file,
    with test credentials when none are configured, since the local cloud accepts any.
    """
    assigned: list[str] = []

    def assign(name: str, value: str) -> None:
        if not env.get(name):
            env[name] = value
            assigned.append(name)

    if not all(env.get(name) for name in _REQUIRED_VARIABLES):
        try:
            endpoints = json.loads(endpoints_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            missing = ", ".join(name for name in _REQUIRED_VARIABLES if not env.get(name))
            raise GatewayConfigError(
                f"{endpoints_file} does not exist, and these variables are not set: {missing}. "
                "Start the local cloud with `idnode up` (`make run`), or export the IDNODE_* "
                "variables of a deployed stack"
            ) from None
        except (OSError, ValueError) as exc:
            raise GatewayConfigError(f"cannot read {endpoints_file}: {exc}") from exc
        if not isinstance(endpoints, dict):
            raise GatewayConfigError(f"{endpoints_file} does not hold a JSON object")
        for name, value in endpoint_variables(endpoints).items():
            assign(name, value)
        unnamed = [name for name in _REQUIRED_VARIABLES if not env.get(name)]
        if unnamed:
            raise GatewayConfigError(f"{endpoints_file} does not name {', '.join(unnamed)}")
        if env.get("AWS_ENDPOINT_URL") and not (
            env.get("AWS_ACCESS_KEY_ID") or env.get("AWS_PROFILE")
        ):
            assign("AWS_ACCESS_KEY_ID", "test")
            assign("AWS_SECRET_ACCESS_KEY", "test")
    # A loopback developer server: the GraphQL explorer is wanted, X-Ray is not there.
    assign(settings.GRAPHIQL, "true")
    assign("POWERTOOLS_TRACE_DISABLED", "true")
    return assigned


def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the GraphQL and Handle APIs on host:port until interrupted."""
    # uvicorn is a development dependency: Lambda bundles carry this package but not it.
    import uvicorn  # noqa: PLC0415

    endpoints_file = Workspace.locate().endpoints_file
    assigned = configure_environment(os.environ, endpoints_file)
    source = f" (from {endpoints_file})" if settings.IDENTIFIERS_TABLE in assigned else ""
    endpoint = os.environ.get("AWS_ENDPOINT_URL") or "AWS"
    print(f"idnode gateway: tables {os.environ[settings.IDENTIFIERS_TABLE]} at {endpoint}{source}")
    print(f"  GraphQL      http://{host}:{port}/graphql")
    print(f"  Handle REST  http://{host}:{port}/api/handles/{{handle}}")
    # The gateway is the edge: sourceIp is the peer, not what X-Forwarded-For claims.
    uvicorn.run(build_app(), host=host, port=port, log_level="info", proxy_headers=False)
