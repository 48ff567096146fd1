"""The Handle protocol edge (RFC 3652): one request message in, one response message out.

Shared by every transport: the HTTP interface (`POST /hdl/...` on the Handle function) and
the TCP/UDP service (`idnode handle-server`). Answers resolution and site-information
requests for the node's identifiers and prefix handles, with the protocol's error answers
(handle not found, values not found, server not responsible, protocol error, operation not
supported); a malformed message gets a protocol error, or nothing when not even its envelope
can be read. Never raises.

Lean on purpose, like the Handle REST API: it imports nothing of GraphQL.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from idnode.domain.access import ANONYMOUS
from idnode.domain.errors import IdnodeError, PrefixNotServedError
from idnode.domain.handles import prefix_of_handle
from idnode.domain.protocol.encoding import INT, pack_text, site_to_bytes, value_to_bytes
from idnode.domain.protocol.site import SITE_SERIAL
from idnode.domain.protocol.wire import (
    OC_GET_SITE_INFO,
    OC_RESOLUTION,
    RC_ERROR,
    RC_OPERATION_NOT_SUPPORTED,
    RC_PREFIX_REFERRAL,
    RC_PROTOCOL_ERROR,
    RC_SUCCESS,
    RC_VALUES_NOT_FOUND,
    ProtocolError,
    Request,
    decode_request,
    encode_response,
)
from idnode.domain.values import Value
from idnode.node import Node, current_node
from idnode.observability import logger

MIME_TYPE = "application/x-hdl-message"


@dataclass(frozen=True, slots=True)
class Answer:
    """A response message, with what the transports log and count."""

    message: bytes
    response_code: int
    op_code: int


class HandleProtocol:
    def __init__(
        self, node: Callable[[], Node] = current_node, clock: Callable[[], float] = time.time
    ) -> None:
        self._node = node
        self._clock = clock

    def answer(self, data: bytes) -> Answer | None:
        """The response to one request message (None: unreadable, drop it)."""
        now = int(self._clock())
        try:
            request = decode_request(data)
        except ProtocolError as exc:
            if exc.envelope is None:
                return None
            return self._error(
                None, RC_PROTOCOL_ERROR, str(exc), now, op_code=exc.op_code, cause=exc
            )
        try:
            return self._dispatch(request, now)
        except Exception:
            logger.exception("unexpected error in the Handle protocol edge")
            # Nothing of the node (nor its signer) is used again: it may be what failed.
            message = encode_response(
                request, RC_ERROR, pack_text("internal error"), now=now, site_serial=SITE_SERIAL
            )
            return Answer(message, RC_ERROR, request.op_code)

    def _dispatch(self, request: Request, now: int) -> Answer:
        operations = {OC_RESOLUTION: self._resolve, OC_GET_SITE_INFO: self._site_info}
        operation = operations.get(request.op_code)
        if operation is None:
            return self._error(
                request, RC_OPERATION_NOT_SUPPORTED, "this node answers resolution only", now
            )
        try:
            return operation(request, now)
        except IdnodeError as exc:
            return self._error(request, exc.response_code, exc.message, now)

    def _reply(self, request: Request, code: int, body: bytes, now: int) -> Answer:
        node = self._node()
        signer = node.signer if request.certify else None
        message = encode_response(
            request, code, body, now=now, signer=signer, site_serial=SITE_SERIAL
        )
        return Answer(message, code, request.op_code)

    def _error(
        self,
        request: Request | None,
        code: int,
        text: str,
        now: int,
        *,
        op_code: int = 0,
        cause: ProtocolError | None = None,
    ) -> Answer:
        if request is None:
            # The request could not be decoded: answer in the version its envelope named.
            message = encode_response(
                _stand_in(cause), code, pack_text(text), now=now, op_code=op_code
            )
            return Answer(message, code, op_code)
        return self._reply(request, code, pack_text(text), now)

    def _resolve(self, request: Request, now: int) -> Answer:
        node = self._node()
        handle, types, indexes = request.handle, request.types, request.indexes
        if prefix_of_handle(handle) is None:
            node.sites.ensure_served(handle)
        located = node.sites.locate(handle, types, indexes)
        if located is None:
            values = node.registry.resolve(
                handle, ANONYMOUS, types, indexes, public_only=True
            ).values
        elif located.referral is None:
            values = located.values
        elif not request.recursive:
            # Referred as Handle.Net v9 refers: no handle, the sites to ask instead.
            return self._reply(request, RC_PREFIX_REFERRAL, _values_body("", located.values), now)
        else:
            values = node.resolver.resolve(handle, located.referral.sites, types, indexes).values
        if (types or indexes) and not values:
            return self._reply(request, RC_VALUES_NOT_FOUND, pack_text(""), now)
        return self._reply(request, RC_SUCCESS, _values_body(handle, values), now)

    def _site_info(self, request: Request, now: int) -> Answer:
        site = self._node().sites.site
        if site is None:
            raise PrefixNotServedError("this node publishes no Handle protocol interface")
        return self._reply(request, RC_SUCCESS, site_to_bytes(site), now)


def _values_body(handle: str, values: tuple[Value, ...]) -> bytes:
    return pack_text(handle) + INT.pack(len(values)) + b"".join(value_to_bytes(v) for v in values)


def _stand_in(cause: ProtocolError | None) -> Request | None:
    """A request shell carrying the envelope of an undecodable request, to answer it."""
    if cause is None or cause.envelope is None:
        return None
    return Request(
        envelope=cause.envelope,
        op_code=cause.op_code,
        flags=0,
        site_serial=0,
        recursion_count=0,
        handle="",
    )


protocol = HandleProtocol()
