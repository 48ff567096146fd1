"""Handle REST JSON bodies. Every body carries `responseCode` and, where one is known,
`handle`: Handle clients read both before they look at the HTTP status."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response

from idnode.domain.errors import IdnodeError
from idnode.domain.values import Value, value_to_json

SUCCESS = 1
ERROR = 2
VALUES_NOT_FOUND = 200
PREFIX_REFERRAL = 303
JSON = "application/json"


def reply(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Response[str]:
    return Response(
        status_code=status,
        content_type=JSON,
        body=json.dumps(body, separators=(",", ":"), ensure_ascii=False),
        headers=headers,
    )


def record_body(handle: str, values: tuple[Value, ...]) -> dict[str, Any]:
    return {"responseCode": SUCCESS, "handle": handle, "values": [value_to_json(v) for v in values]}


def error_reply(error: IdnodeError, handle: str | None) -> Response[str]:
    body: dict[str, Any] = {"responseCode": error.response_code, "message": error.message}
    body["handle"] = handle or error.handle or ""  # as requested, as clients expect
    headers = {"Cache-Control": "no-store"}
    if error.http_status == HTTPStatus.UNAUTHORIZED:
        headers["WWW-Authenticate"] = 'Basic realm="idnode"'
    return reply(error.http_status, body, headers)
