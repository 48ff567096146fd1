"""A Handle protocol client: asks the servers of a site, over UDP, then TCP, then HTTP.

Every attempt is bounded (a timeout per interface, and a deadline for the whole query); a
server that does not answer, or answers with something that is not a Handle message for this
request, is left for the next interface, then the next server. What it answers is returned
as it came (response code, values), for the caller to interpret.
"""

from __future__ import annotations

import http.client
import itertools
import socket
import struct
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from idnode.domain.errors import IdnodeError, UpstreamError, UpstreamUnavailableError
from idnode.domain.protocol.encoding import DecodeError, Reader, key_from_json, values_from_body
from idnode.domain.protocol.wire import (
    ENVELOPE_SIZE,
    FLAG_CERT,
    FLAG_PUBL,
    HEADER_SIZE,
    MAX_MESSAGE,
    RC_PREFIX_REFERRAL,
    RC_SUCCESS,
    Envelope,
    Response,
    decode_response,
    encode_request,
    signed_content,
)
from idnode.domain.values import Value

ATTEMPT_TIMEOUT = 1.5  # seconds for one interface
QUERY_DEADLINE = 4.0  # seconds for a whole query across servers and interfaces
_ORDER = ("UDP", "TCP", "HTTP")
_MIME = "application/x-hdl-message"
_ids = itertools.count(int(time.time()) & 0x3FFFFFFF)
_ids_lock = threading.Lock()


def _next_id() -> int:
    with _ids_lock:
        return next(_ids) & 0x7FFFFFFF or 1


@dataclass(frozen=True, slots=True)
class Reply:
    """What a server answered."""

    response_code: int
    handle: str
    values: tuple[Value, ...]
    message: str
    server: str  # address:port/protocol that answered


@dataclass(frozen=True, slots=True)
class _Target:
    address: str
    domain: str | None
    path: str
    where: str
    timeout: float
    public_key: bytes | None = None  # set: the answer must be signed with it


class _NoAnswerError(Exception):
    """This interface gave no usable answer (timeout, refused, not a Handle message)."""


def _attribute(site: Mapping[str, Any], name: str) -> str | None:
    for attribute in site.get("attributes") or ():
        if attribute.get("name") == name:
            return str(attribute.get("value"))
    return None


class HandleClient:
    def __init__(
        self,
        attempt_timeout: float = ATTEMPT_TIMEOUT,
        deadline: float = QUERY_DEADLINE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._attempt = attempt_timeout
        self._deadline = deadline
        self._clock = clock

    def query(
        self,
        sites: Sequence[Mapping[str, Any]],
        handle: str,
        types: Sequence[str] = (),
        indexes: Sequence[int] = (),
    ) -> Reply:
        """Ask each site's servers in turn until one answers; raise UpstreamUnavailableError
        when none does within the deadline, UpstreamError when all answered garbage."""
        give_up = self._clock() + self._deadline
        failures: list[str] = []
        garbage = False
        for site in sites:
            domain = _attribute(site, "domain")
            path = _attribute(site, "path") or ""
            for server in site.get("servers") or ():
                address = str(server.get("address"))
                interfaces = [i for i in server.get("interfaces") or () if i.get("query")]
                interfaces.sort(
                    key=lambda i: _ORDER.index(i["protocol"]) if i.get("protocol") in _ORDER else 9
                )
                for interface in interfaces:
                    left = give_up - self._clock()
                    if left <= 0:
                        raise UpstreamUnavailableError(
                            f"no enterprise node answered for {handle} in {self._deadline:g} s "
                            f"({'; '.join(failures) or 'no interface tried'})",
                            handle=handle,
                        )
                    where = f"{address}:{interface.get('port')}/{interface.get('protocol')}"
                    target = _Target(
                        address, domain, path, where, min(left, self._attempt), _key_of(server)
                    )
                    try:
                        return self._ask(target, interface, handle, types, indexes)
                    except _NoAnswerError as exc:
                        failures.append(f"{where}: {exc}")
                        garbage = garbage or "not a Handle" in str(exc)
        summary = "; ".join(failures) or "the site names no query interface"
        if garbage:
            raise UpstreamError(
                f"the enterprise node did not answer in the Handle protocol ({summary})",
                handle=handle,
            )
        raise UpstreamUnavailableError(
            f"no enterprise node answered for {handle} ({summary})", handle=handle
        )

    @staticmethod
    def _ask(
        target: _Target,
        interface: Mapping[str, Any],
        handle: str,
        types: Sequence[str],
        indexes: Sequence[int],
    ) -> Reply:
        request_id = _next_id()
        message = encode_request(
            handle,
            request_id=request_id,
            flags=FLAG_PUBL | (FLAG_CERT if target.public_key else 0),
            types=types,
            indexes=indexes,
            now=int(time.time()),
        )
        port = int(interface.get("port", 0))
        protocol = interface.get("protocol")
        try:
            timeout = target.timeout
            if protocol == "UDP":
                raw = _udp(target.address, port, message, timeout)
            elif protocol == "TCP":
                raw = _tcp(target.address, port, message, timeout)
            elif protocol == "HTTP":
                host = target.domain or target.address
                raw = _http(
                    host,
                    port,
                    f"{target.path.rstrip('/')}/{quote(handle, safe='')}",
                    message,
                    timeout,
                )
            else:
                raise _NoAnswerError(f"protocol {protocol} is not spoken here")
        except (OSError, http.client.HTTPException) as exc:
            raise _NoAnswerError(type(exc).__name__ if not str(exc) else str(exc)) from None
        return _reply(raw, request_id, target.where, target.public_key)


def _family(address: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def _udp(address: str, port: int, message: bytes, timeout: float) -> bytes:
    """Send the request; gather the packets of the answer to it (others are ignored)."""
    request_id = Envelope.decode(message).request_id
    with socket.socket(_family(address), socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(message, (address, port))
        first = True
        chunks: dict[int, bytes] = {}
        length = 0
        head = b""
        while first or sum(map(len, chunks.values())) < length:
            try:
                packet, _ = sock.recvfrom(65_535)
            except TimeoutError:
                raise _NoAnswerError("timed out") from None
            if len(packet) < ENVELOPE_SIZE:
                continue
            envelope = Envelope.decode(packet)
            if not _plausible(envelope, len(packet)):
                raise _NoAnswerError("not a Handle message")
            if envelope.request_id != request_id:
                continue  # a stray answer to another request
            if first:
                head, length, first = packet[:ENVELOPE_SIZE], envelope.length, False
                if length > MAX_MESSAGE:
                    raise _NoAnswerError("not a Handle message (too long)")
            chunks[envelope.message_id] = packet[ENVELOPE_SIZE:]
        body = b"".join(chunks[i] for i in sorted(chunks))[:length]
        return head + body


def _plausible(envelope: Envelope, size: int) -> bool:
    """Whether a datagram looks like a piece of a Handle message at all."""
    return (
        envelope.major in (2, 5)  # protocol 2, and the 5 some old clients sent
        and envelope.length <= MAX_MESSAGE
        and size - ENVELOPE_SIZE <= envelope.length
    )


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise _NoAnswerError("the connection closed early")
        data += chunk
    return bytes(data)


def _tcp(address: str, port: int, message: bytes, timeout: float) -> bytes:
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock:
            sock.sendall(message)
            head = _read_exactly(sock, ENVELOPE_SIZE)
            length = Envelope.decode(head).length
            if length > MAX_MESSAGE:
                raise _NoAnswerError("not a Handle message (too long)")
            return head + _read_exactly(sock, length)
    except TimeoutError:
        raise _NoAnswerError("timed out") from None


def _http(host: str, port: int, target: str, message: bytes, timeout: float) -> bytes:
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request(
            "POST", target, body=message, headers={"Content-Type": _MIME, "Accept": _MIME}
        )
        response = connection.getresponse()
        body = response.read(MAX_MESSAGE + ENVELOPE_SIZE + 1)
        if response.status != 200:  # noqa: PLR2004
            raise _NoAnswerError(f"not a Handle message (HTTP {response.status})")
        return body
    except TimeoutError:
        raise _NoAnswerError("timed out") from None
    finally:
        connection.close()


def _key_of(server: Mapping[str, Any]) -> bytes | None:
    """The server's public key from its site entry, when it names an RSA key."""
    published = server.get("publicKey")
    if not isinstance(published, Mapping) or published.get("format") != "key":
        return None
    try:
        return key_from_json(published, "publicKey")
    except IdnodeError:
        return None


def _check_signature(answer: Response, public_key: bytes) -> None:
    from idnode.adapters.signing import verify  # noqa: PLC0415 - only signed answers need it

    try:
        signed = signed_content(answer)
    except DecodeError:
        raise _NoAnswerError("not a Handle message we can trust: it is not signed") from None
    if not verify(public_key, signed.data, signed.hash_name, signed.signature):
        raise _NoAnswerError("not a Handle message we can trust: its signature does not verify")


def _reply(raw: bytes, request_id: int, where: str, public_key: bytes | None = None) -> Reply:
    try:
        envelope = Envelope.decode(raw)
        if envelope.length != len(raw) - ENVELOPE_SIZE or envelope.length < HEADER_SIZE:
            raise _NoAnswerError("not a Handle message (its length does not match)")
        answer = decode_response(raw)
        if answer.envelope.request_id != request_id:
            raise _NoAnswerError("an answer to another request id")
        if public_key is not None:
            _check_signature(answer, public_key)
        if answer.response_code in (RC_SUCCESS, RC_PREFIX_REFERRAL):
            handle, values = values_from_body(answer.body, int(time.time()))
            return Reply(answer.response_code, handle, values, "", where)
        text = ""
        if answer.body:
            try:
                text = Reader(answer.body).text()
            except DecodeError:
                text = ""
        return Reply(answer.response_code, "", (), text, where)
    except (DecodeError, ValueError, IndexError, struct.error) as exc:
        raise _NoAnswerError(f"not a Handle message ({exc})") from None
