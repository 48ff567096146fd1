"""The Handle REST API (`/api/handles/...`), compatible with Handle.Net v9 clients.

Lean on purpose: this module is the resolution hot path and imports nothing of GraphQL.
See docs/handle-rest.md for the behaviour of every route.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.metrics import MetricUnit

from idnode.api.handles.digital_link import router as digital_link_router
from idnode.api.handles.responses import (
    ERROR,
    PREFIX_REFERRAL,
    SUCCESS,
    VALUES_NOT_FOUND,
    error_reply,
    record_body,
    reply,
)
from idnode.domain.access import Principal
from idnode.domain.errors import (
    IdnodeError,
    InvalidHandleError,
    InvalidValueError,
    PayloadTooLargeError,
)
from idnode.domain.records import MAX_VALUES
from idnode.domain.values import Value, parse_decimal, parse_values, value_to_json
from idnode.node import current_node
from idnode.observability import logger, metrics
from idnode.services.registry import MAX_BATCH, BatchItem, BatchStatus

if TYPE_CHECKING:
    from idnode.services.recursion import Referred
    from idnode.services.sites import Referral

ROUTE_BASE = "/api/handles"
# The Handle protocol's HTTP interface: messages in POST bodies, at `<path>/<handle>`.
PROTOCOL_BASE = "/hdl"
app = APIGatewayHttpResolver()


def _params(name: str) -> list[str]:
    """All values of a query parameter (API Gateway joins repeats with commas)."""
    raw = app.current_event.query_string_parameters or {}
    value = raw.get(name)
    if value is None:
        return []
    return [part for part in value.split(",") if part != ""]


def _flag(name: str) -> bool:
    values = _params(name)
    return bool(values) and values[-1].lower() in {"true", "1", "yes"}


def _indexes() -> list[int]:
    return [parse_decimal(raw, "index") for raw in _params("index")]


def _handle_from_path() -> str:
    """The handle as requested: API Gateway's `{handle+}`, else the path's tail.

    API Gateway (and the local cloud) hand over paths percent-decoded except for `%25`, the
    escaped `%` itself; decoding that one escape, and nothing else, gives the name as sent."""
    event = app.current_event
    handle = (event.path_parameters or {}).get("handle")
    if handle is None:
        path = event.raw_path or event.path
        marker = path.find(ROUTE_BASE + "/")
        handle = path[marker + len(ROUTE_BASE) + 1 :] if marker >= 0 else ""
    return handle.replace("%25", "%")


def _caller() -> Principal:
    event = app.current_event
    source = event.request_context.http.source_ip or None
    return current_node().callers.authenticate(event.headers.get("authorization"), source)


def _body_document() -> Any:
    try:
        body = app.current_event.decoded_body or ""
    except (ValueError, UnicodeDecodeError):  # bad base64 or not UTF-8
        raise InvalidValueError("the request body is not UTF-8 JSON") from None
    limit = current_node().settings.max_body_bytes
    if len(body.encode()) > limit:
        raise PayloadTooLargeError(f"the request body is larger than {limit} bytes")
    try:
        return json.loads(body) if body else None
    except (ValueError, RecursionError):
        raise InvalidValueError("the request body is not JSON (or nests too deeply)") from None


def _body_values() -> list[Value]:
    document = _body_document()
    if not isinstance(document, dict) or "values" not in document:
        raise InvalidValueError('the request body must be a JSON object with "values"')
    return parse_values(document["values"], max_values=MAX_VALUES)


def _cache_headers(values: tuple[Value, ...], private: bool) -> dict[str, str]:
    # Public answers may be cached for the shortest TTL among the values returned.
    if private or not values:
        return {"Cache-Control": "no-store"}
    return {"Cache-Control": f"public, max-age={min(v.ttl for v in values)}"}


@app.get(f"{ROUTE_BASE}/.+")
def resolve() -> Response[str]:
    handle = _handle_from_path()
    caller = _caller()
    node = current_node()
    types, indexes = _params("type"), _indexes()
    located = node.sites.locate(handle, types, indexes)
    if located is not None and located.referral is None:  # a prefix or service handle
        if not located.values:
            return reply(200, {"responseCode": VALUES_NOT_FOUND, "handle": handle})
        headers = _cache_headers(located.values, private=False)
        return reply(200, record_body(handle, located.values), headers)
    metrics.add_metric(name="Resolutions", unit=MetricUnit.Count, value=1)
    if located is not None and located.referral is not None:
        return _referred(handle, located.referral, caller, types, indexes)
    result = node.registry.resolve(handle, caller, types, indexes, public_only=_flag("publicOnly"))
    private = _flag("auth") or caller.authenticated or result.includes_restricted
    headers = _cache_headers(result.values, private)
    if result.filtered and not result.values:
        return reply(200, {"responseCode": VALUES_NOT_FOUND, "handle": handle}, headers)
    return reply(200, record_body(handle, result.values), headers)


def _provenance(answer: Referred) -> str:
    """Where a referred answer came from, for the `X-Idnode-Source` header."""
    parts = [
        "referred",
        f"site={answer.site}",
        f"cached={'true' if answer.from_cache else 'false'}",
        f"age={int(answer.age)}",
    ]
    if answer.stale:
        parts.append("stale")
    return "; ".join(parts)


def _referred(
    handle: str, referral: Referral, caller: Principal, types: list[str], indexes: list[int]
) -> Response[str]:
    """A name under a self-hosted prefix: resolved at its enterprise node (the default), or,
    with `referral=true`, the prefix referral itself as Handle.Net v9 writes it (HTTP 300)."""
    if _flag("referral"):
        body = {
            "responseCode": PREFIX_REFERRAL,
            "values": [value_to_json(v) for v in referral.values],
            "handle": handle,
        }
        return reply(300, body, {"Cache-Control": "no-store"})
    fresh = _flag("auth") or caller.authenticated
    answer = current_node().resolver.resolve(
        handle, referral.sites, types, indexes, use_cache=not fresh
    )
    headers = _cache_headers(answer.values, fresh)
    headers["X-Idnode-Source"] = _provenance(answer)
    if (types or indexes) and not answer.values:
        return reply(200, {"responseCode": VALUES_NOT_FOUND, "handle": handle}, headers)
    return reply(200, record_body(handle, answer.values), headers)


@app.put(f"{ROUTE_BASE}/.+")
def put() -> Response[str]:
    handle = _handle_from_path()
    caller = _caller()
    registry = current_node().registry
    values = _body_values()
    metrics.add_metric(name="Registrations", unit=MetricUnit.Count, value=1)
    if _flag("mintNewSuffix"):
        record = registry.mint(handle.rstrip("/"), values, caller)
        return reply(201, {"responseCode": SUCCESS, "handle": record.handle.name})
    overwrite = _params("overwrite")
    if not overwrite or overwrite[-1].lower() != "true":
        registry.create(handle, values, caller)
        return reply(201, {"responseCode": SUCCESS, "handle": handle})
    indexes = _indexes()
    if indexes:
        wanted = set(indexes)
        missing = wanted - {v.index for v in values}
        if missing:
            raise InvalidValueError(
                f"the body has no value for index {', '.join(map(str, sorted(missing)))}",
                handle=handle,
            )
        registry.upsert_values(handle, [v for v in values if v.index in wanted], caller)
        return reply(200, {"responseCode": SUCCESS, "handle": handle})
    _, created = registry.put(handle, values, caller)
    return reply(201 if created else 200, {"responseCode": SUCCESS, "handle": handle})


@app.delete(f"{ROUTE_BASE}/.+")
def delete() -> Response[str]:
    handle = _handle_from_path()
    caller = _caller()
    registry = current_node().registry
    indexes = _indexes()
    if indexes:
        registry.remove_values(handle, indexes, caller)
    else:
        registry.delete(handle, caller)
    return reply(200, {"responseCode": SUCCESS, "handle": handle})


def _batch_item(raw: object) -> BatchItem:
    """One entry of a bulk body; a malformed entry fails alone."""
    name = raw.get("handle") if isinstance(raw, dict) else None
    if not isinstance(name, str):
        error = InvalidValueError('each entry must be an object with a "handle" string')
        return BatchItem("" if name is None else str(name), error=error)
    try:
        if not isinstance(raw, dict) or "values" not in raw:
            raise InvalidValueError(f'the entry for {name} has no "values"', handle=name)
        return BatchItem(name, parse_values(raw["values"], max_values=MAX_VALUES))
    except IdnodeError as error:
        error.handle = error.handle or name
        return BatchItem(name, error=error)


@app.post(ROUTE_BASE)
def register_many() -> Response[str]:
    """Bulk registration (not part of Handle.Net's API): see docs/batch.md."""
    caller = _caller()
    document = _body_document()
    entries = document.get("handles") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise InvalidValueError('the request body must be a JSON object with a "handles" list')
    if not 1 <= len(entries) <= MAX_BATCH:
        raise InvalidValueError(f"a batch holds 1 to {MAX_BATCH} identifiers, not {len(entries)}")
    result = current_node().registry.register_many([_batch_item(e) for e in entries], caller)
    created = result.count(BatchStatus.CREATED)
    metrics.add_metric(name="Registrations", unit=MetricUnit.Count, value=created)
    results: list[dict[str, Any]] = []
    for item in result.items:
        entry: dict[str, Any] = {
            "index": item.position,
            "handle": item.handle,
            "status": item.status.value,
            "responseCode": SUCCESS if item.error is None else item.error.response_code,
        }
        if item.error is not None:
            entry["message"] = item.error.message
        results.append(entry)
    body = {
        "responseCode": SUCCESS,
        "created": created,
        "existed": result.count(BatchStatus.EXISTED),
        "failed": result.count(BatchStatus.FAILED),
        "results": results,
    }
    return reply(200, body, {"Cache-Control": "no-store"})


@app.get(ROUTE_BASE)
def list_handles() -> Response[str]:
    prefixes = _params("prefix")
    if not prefixes:
        raise InvalidHandleError("name the prefix to list: ?prefix=...")
    prefix = prefixes[-1]
    if _int_param("page", 0) > 0:
        raise InvalidValueError(
            "page numbers are not supported: follow nextCursor with ?cursor= instead"
        )
    page_size = _int_param("pageSize", 100)
    cursors = _params("cursor")
    cursor = cursors[-1] if cursors else None
    page = current_node().registry.list(prefix, _caller(), page_size, cursor)
    body: dict[str, Any] = {
        "responseCode": SUCCESS,
        "prefix": prefix,
        "pageSize": page_size,
        "handles": [r.handle.name for r in page.items],
    }
    if page.next_cursor:
        body["nextCursor"] = page.next_cursor
    return reply(200, body, {"Cache-Control": "no-store"})


@app.post(PROTOCOL_BASE)
@app.post(f"{PROTOCOL_BASE}/.+")
def protocol_message() -> Response[bytes]:
    """One Handle protocol message (see docs/handle-protocol.md)."""
    # Imported on the first message: REST resolution does not pay for the protocol's codec.
    from idnode.api.handle_protocol import MIME_TYPE, protocol  # noqa: PLC0415
    from idnode.domain.protocol.wire import OC_RESOLUTION  # noqa: PLC0415

    event = app.current_event
    raw = event.body or ""
    try:
        data = base64.b64decode(raw) if event.is_base64_encoded else raw.encode("latin-1")
    except (ValueError, UnicodeEncodeError):
        data = b""
    answer = protocol.answer(data)
    if answer is None:
        return Response(400, "text/plain", b"not a Handle protocol message")
    if answer.op_code == OC_RESOLUTION:
        metrics.add_metric(name="Resolutions", unit=MetricUnit.Count, value=1)
    return Response(200, MIME_TYPE, answer.message, {"Cache-Control": "no-store"})


def _int_param(name: str, default: int) -> int:
    values = _params(name)
    return parse_decimal(values[-1], name) if values else default


@app.exception_handler(IdnodeError)
def expected_error(error: IdnodeError) -> Response[str]:
    return error_reply(error, _handle_or_none())


@app.exception_handler(Exception)
def unexpected_error(error: Exception) -> Response[str]:
    logger.exception("unexpected error in the Handle API")
    return reply(
        500, {"responseCode": ERROR, "handle": _handle_or_none() or "", "message": "internal error"}
    )


@app.not_found
def not_found(_: Exception) -> Response[str]:
    return reply(404, {"responseCode": ERROR, "handle": "", "message": "no such route"})


def _handle_or_none() -> str | None:
    return _handle_from_path() or None


app.include_router(digital_link_router)
