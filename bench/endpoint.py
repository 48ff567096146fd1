"""A DynamoDB endpoint on loopback: moto's DynamoDB backend served over HTTP.

Every request path in the benchmark reads through this endpoint, so each pays a real HTTP
round trip (serialisation, socket, parsing), as against DynamoDB in AWS. moto's own
`ThreadedMotoServer` needs its `server` extra (Flask and more), which the project does not
install; DynamoDB needs none of it, so its request handler is served here by werkzeug,
which moto already depends on. The server is threaded, hence speaks HTTP/1.1 with
keep-alive, as botocore's connection pool expects.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from moto.core.request import Request
from moto.dynamodb.responses import DynamoHandler
from werkzeug.serving import WSGIRequestHandler, make_server

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

LOOPBACK = "127.0.0.1"


class _QuietRequestHandler(WSGIRequestHandler):
    # One log line per request would flood the benchmark's output and cost time.
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class _ServedRequest(Request):
    # Tells moto the request came over the wire, as its own server does.
    from_wsgi_server = True


def dynamodb_application(
    environ: WSGIEnvironment, start_response: StartResponse
) -> Iterable[bytes]:
    """A WSGI application answering DynamoDB API calls from moto's in-memory backend."""
    request = _ServedRequest(environ)
    try:
        result: Any = DynamoHandler.dispatch(request, request.raw_url, dict(request.headers))
    except ClientError as error:
        result = (400, {}, error.response["Error"]["Message"])
    status, headers, content = result if len(result) == 3 else (200, {}, result)
    body = content.encode() if isinstance(content, str) else bytes(content or b"")
    reply_headers = [
        (str(name), str(value))
        for name, value in dict(headers).items()
        if str(name).lower() not in {"content-length", "status"}
    ]
    reply_headers.append(("Content-Length", str(len(body))))
    start_response(f"{int(status)} {HTTPStatus(int(status)).phrase}", reply_headers)
    return [body]


@contextmanager
def dynamodb_endpoint() -> Iterator[str]:
    """Serve DynamoDB on a free loopback port for the duration; yield its URL."""
    server = make_server(
        LOOPBACK, 0, dynamodb_application, threaded=True, request_handler=_QuietRequestHandler
    )
    thread = threading.Thread(target=server.serve_forever, name="dynamodb-endpoint", daemon=True)
    thread.start()
    try:
        yield f"http://{LOOPBACK}:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
