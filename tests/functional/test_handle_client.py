"""HandleClient against real servers on the loopback interface, started by each test.

A correct server is `idnode handle-server`'s HandleServer (TCP and UDP) or a small
http.server (HTTP) answering with the product's own encoder; misbehaving servers (silent,
hanging, garbage, another request id, packets out of order) are plain sockets on threads.
Every server binds 127.0.0.1 on a free port and is closed when its test ends; timeouts are
small, so that each test takes well under two seconds."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import unquote

import pytest

from idnode.adapters.handle_client import HandleClient, Reply
from idnode.cli.handle_server import HandleServer
from idnode.domain.errors import UpstreamError, UpstreamUnavailableError
from idnode.domain.protocol.encoding import INT, pack_text, value_to_bytes
from idnode.domain.protocol.wire import (
    ENVELOPE_SIZE,
    FLAG_PUBL,
    MAX_UDP_DATA,
    RC_HANDLE_NOT_FOUND,
    RC_PREFIX_REFERRAL,
    RC_SUCCESS,
    Envelope,
    Request,
    decode_request,
    encode_response,
    udp_packets,
)
from idnode.domain.routing import HdlType, NodeAddress
from idnode.domain.values import DataFormat, Value, ValueData, parse_values

HOST = "127.0.0.1"
HANDLE = "88.100.1234/PUMP-1"
MIME = "application/x-hdl-message"
ATTEMPT = 0.3
DEADLINE = 2.0
MARGIN = 1.0  # seconds allowed beyond a timeout for the loopback, threads and the scheduler
VALUES = tuple(
    parse_values(
        [
            {"index": 1, "type": "URL", "data": "https://example.com/p1"},
            {"index": 2, "type": "EMAIL", "data": "ops@example.com", "ttl": 3_600},
        ],
        max_values=10,
    )
)
Answerer = Callable[[bytes], bytes | None]
T = TypeVar("T")


# ---- what a correct server answers -----------------------------------------------------------


def body(handle: str, values: Sequence[Value]) -> bytes:
    return pack_text(handle) + INT.pack(len(values)) + b"".join(value_to_bytes(v) for v in values)


def response(request: Request, code: int = RC_SUCCESS, values: Sequence[Value] = VALUES) -> bytes:
    return encode_response(request, code, body(request.handle, values), now=int(time.time()))


def answerer(
    values: Sequence[Value] = VALUES, requests: list[Request] | None = None
) -> Callable[[bytes], bytes]:
    """Answers a resolution request with `values`, recording what it was asked."""

    def answer(message: bytes) -> bytes:
        request = decode_request(message)
        if requests is not None:
            requests.append(request)
        return response(request, values=values)

    return answer


def another_id(request: Request) -> Request:
    """The request as if it had another request id (its answer is for someone else)."""
    envelope = request.envelope
    return replace(request, envelope=replace(envelope, request_id=envelope.request_id + 1))


def site(
    *,
    tcp: int | None = None,
    udp: int | None = None,
    http: int | None = None,
    path: str | None = None,
) -> dict[str, Any]:
    """Site information (v9 JSON) of one server at 127.0.0.1 with the given interfaces."""
    info = NodeAddress(HdlType.HS_SITE, HOST, 4, tcp_port=tcp, udp_port=udp, http_port=http).site()
    if path is not None:
        info["attributes"].append({"name": "path", "value": path})
    return info


def client() -> HandleClient:
    return HandleClient(attempt_timeout=ATTEMPT, deadline=DEADLINE)


# ---- servers ---------------------------------------------------------------------------------


class _Loop:
    """An asyncio loop on a thread, for HandleServer."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=5)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()


@contextmanager
def handle_server(answer: Answerer) -> Iterator[tuple[int, int]]:
    """HandleServer on 127.0.0.1 (TCP and UDP, free ports); yields (tcp port, udp port)."""
    loop = _Loop()
    server = HandleServer(answer, workers=2)
    try:
        loop.run(server.start([HOST], 0, 0))
        yield server.tcp_addresses[0][1], server.udp_addresses[0][1]
    finally:
        loop.run(server.close())
        loop.stop()


class _Peer:
    """A socket served on a thread until the `with` block ends."""

    def __init__(self, kind: socket.SocketKind) -> None:
        self.sock = socket.socket(socket.AF_INET, kind)
        self.sock.bind((HOST, 0))
        self.sock.settimeout(0.05)
        self.port: int = self.sock.getsockname()[1]
        self.received: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                self._once()
            except TimeoutError:
                continue
            except OSError:
                return

    def _once(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


class UdpPeer(_Peer):
    """Answers each datagram with the packets `respond` gives (none: drops it)."""

    def __init__(self, respond: Callable[[bytes], Sequence[bytes]]) -> None:
        super().__init__(socket.SOCK_DGRAM)
        self.respond = respond

    def _once(self) -> None:
        data, address = self.sock.recvfrom(65_535)
        self.received.append(data)
        for packet in self.respond(data):
            self.sock.sendto(packet, address)


class TcpPeer(_Peer):
    """Accepts connections, reads one request from each and writes what `respond` gives
    (None: writes nothing and holds the connection open until the block ends)."""

    def __init__(self, respond: Callable[[bytes], bytes | None]) -> None:
        super().__init__(socket.SOCK_STREAM)
        self.sock.listen(8)
        self.respond = respond
        self.held: list[socket.socket] = []

    def _once(self) -> None:
        connection, _ = self.sock.accept()
        connection.settimeout(1.0)
        try:
            head = _read(connection, ENVELOPE_SIZE)
            request = head + _read(connection, Envelope.decode(head).length)
        except OSError:
            connection.close()
            return
        self.received.append(request)
        answer = self.respond(request)
        if answer is None:
            self.held.append(connection)
            return
        try:
            connection.sendall(answer)
        finally:
            connection.close()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        super().__exit__(kind, error, trace)
        for connection in self.held:
            connection.close()


def _read(connection: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            raise ConnectionError("closed early")
        data += chunk
    return data


class HttpPeer:
    """A tiny HTTP interface: POSTed messages answered by `answer`, requests recorded."""

    def __init__(self, answer: Answerer, content_type: str = MIME) -> None:
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                message = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                peer.requests.append((self.command, self.path, dict(self.headers), message))
                reply = answer(message) or b""
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((HOST, 0), Handler)
        self.port: int = self.server.server_address[1]
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=2)


def timed(call: Callable[[], T]) -> tuple[T, float]:
    start = time.monotonic()
    result = call()
    return result, time.monotonic() - start


def data_of(reply: Reply) -> list[tuple[int, str, object, int]]:
    return [(v.index, v.type, v.data.value, v.ttl) for v in reply.values]


EXPECTED = [
    (1, "URL", "https://example.com/p1", 86_400),
    (2, "EMAIL", "ops@example.com", 3_600),
]


# ---- a correct server, over each protocol ----------------------------------------------------


def test_answered_over_udp() -> None:
    requests: list[Request] = []
    with handle_server(answerer(requests=requests)) as (_tcp, udp):
        reply = client().query([site(udp=udp)], HANDLE, ["URL", "EMAIL"], [1, 2])

    assert reply.response_code == RC_SUCCESS
    assert reply.handle == HANDLE
    assert data_of(reply) == EXPECTED
    assert reply.message == ""
    assert reply.server == f"{HOST}:{udp}/UDP"
    (request,) = requests
    assert (request.handle, request.types, request.indexes) == (HANDLE, ("URL", "EMAIL"), (1, 2))
    assert request.flags & FLAG_PUBL  # an anonymous client asks for public values only


def test_answered_over_tcp_when_the_site_lists_only_tcp() -> None:
    requests: list[Request] = []
    with handle_server(answerer(requests=requests)) as (tcp, _udp):
        reply = client().query([site(tcp=tcp)], HANDLE)

    assert reply.response_code == RC_SUCCESS
    assert reply.handle == HANDLE
    assert data_of(reply) == EXPECTED
    assert reply.server == f"{HOST}:{tcp}/TCP"
    assert [(r.handle, r.types, r.indexes) for r in requests] == [(HANDLE, (), ())]


def test_udp_is_asked_before_tcp() -> None:
    with handle_server(answerer()) as (tcp, udp):
        reply = client().query([site(tcp=tcp, udp=udp)], HANDLE)

    assert reply.server == f"{HOST}:{udp}/UDP"


def test_answered_over_http_at_the_site_path() -> None:
    with HttpPeer(answerer()) as peer:
        reply = client().query([site(http=peer.port, path="/hdl")], HANDLE, ["URL"])

    assert reply.response_code == RC_SUCCESS
    assert reply.handle == HANDLE
    assert data_of(reply) == EXPECTED
    assert reply.server == f"{HOST}:{peer.port}/HTTP"
    ((method, target, headers, message),) = peer.requests
    assert method == "POST"
    assert target.startswith("/hdl/")
    assert unquote(target) == f"/hdl/{HANDLE}"
    assert headers["Content-Type"] == MIME
    request = decode_request(message)
    assert (request.handle, request.types) == (HANDLE, ("URL",))


def test_http_without_a_path_attribute_posts_at_the_root() -> None:
    with HttpPeer(answerer()) as peer:
        reply = client().query([site(http=peer.port)], HANDLE)

    assert reply.response_code == RC_SUCCESS
    ((_method, target, _headers, _message),) = peer.requests
    assert unquote(target) == f"/{HANDLE}"


def test_not_found_is_returned_as_a_reply() -> None:
    def not_found(message: bytes) -> bytes:
        request = decode_request(message)
        return encode_response(
            request, RC_HANDLE_NOT_FOUND, pack_text("no such handle"), now=int(time.time())
        )

    with handle_server(not_found) as (tcp, udp):
        over_udp = client().query([site(udp=udp)], HANDLE)
        over_tcp = client().query([site(tcp=tcp)], HANDLE)

    for reply, where in ((over_udp, f"{udp}/UDP"), (over_tcp, f"{tcp}/TCP")):
        assert reply.response_code == RC_HANDLE_NOT_FOUND
        assert reply.values == ()
        assert reply.message == "no such handle"
        assert reply.server == f"{HOST}:{where}"


def test_a_referral_is_returned_with_its_sites() -> None:
    target = site(tcp=2641, udp=2641)
    referral = Value(1, "HS_SITE.PREFIX", ValueData(DataFormat.SITE, target), 86_400)

    def refer(message: bytes) -> bytes:
        return response(decode_request(message), RC_PREFIX_REFERRAL, (referral,))

    with handle_server(refer) as (tcp, _udp):
        reply = client().query([site(tcp=tcp)], HANDLE)

    assert reply.response_code == RC_PREFIX_REFERRAL
    assert [(v.type, v.data.format, v.data.value) for v in reply.values] == [
        ("HS_SITE.PREFIX", DataFormat.SITE, target)
    ]


# ---- fallback, timeouts, the deadline ---------------------------------------------------------


def test_a_silent_udp_port_falls_back_to_tcp_within_the_attempt_timeout() -> None:
    with UdpPeer(lambda _data: ()) as silent, handle_server(answerer()) as (tcp, _udp):
        reply, elapsed = timed(lambda: client().query([site(udp=silent.port, tcp=tcp)], HANDLE))

    assert len(silent.received) == 1  # UDP was asked first
    assert reply.response_code == RC_SUCCESS
    assert reply.server == f"{HOST}:{tcp}/TCP"
    assert data_of(reply) == EXPECTED
    assert elapsed < ATTEMPT + MARGIN


def test_the_next_server_is_asked_when_one_is_silent() -> None:
    with UdpPeer(lambda _data: ()) as silent, handle_server(answerer()) as (_tcp, udp):
        first = site(udp=silent.port)
        second = site(udp=udp)
        reply, elapsed = timed(lambda: client().query([first, second], HANDLE))

    assert reply.server == f"{HOST}:{udp}/UDP"
    assert elapsed < ATTEMPT + MARGIN


def test_a_hanging_server_is_unavailable_within_the_attempt_timeout() -> None:
    with TcpPeer(lambda _request: None) as hanging:
        start = time.monotonic()
        with pytest.raises(UpstreamUnavailableError) as raised:
            client().query([site(tcp=hanging.port)], HANDLE)
        elapsed = time.monotonic() - start

    assert len(hanging.received) == 1  # it accepted and read the request
    assert raised.value.handle == HANDLE
    assert f"{HOST}:{hanging.port}/TCP" in raised.value.message
    assert ATTEMPT - 0.05 <= elapsed < ATTEMPT + MARGIN


def test_hanging_servers_are_given_up_at_the_deadline() -> None:
    """The last attempt gets only what is left of the deadline (0.1 s here, not 0.9 s)."""
    attempt, deadline = 0.9, 1.0
    with TcpPeer(lambda _request: None) as hanging:
        sites = [site(tcp=hanging.port) for _ in range(4)]  # 4 x 0.9 s would exceed 1 s
        start = time.monotonic()
        with pytest.raises(UpstreamUnavailableError) as raised:
            HandleClient(attempt_timeout=attempt, deadline=deadline).query(sites, HANDLE)
        elapsed = time.monotonic() - start

    assert deadline - 0.05 <= elapsed < deadline + 1.0
    assert elapsed < deadline + attempt / 2  # the deadline, not a whole second attempt
    assert len(hanging.received) < len(sites)  # the deadline cut the attempts short
    assert raised.value.handle == HANDLE
    assert "1 s" in raised.value.message


def test_a_refused_port_is_unavailable_at_once() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as unused:
        unused.bind((HOST, 0))  # bound, not listening: connections are refused
        port = unused.getsockname()[1]
        start = time.monotonic()
        with pytest.raises(UpstreamUnavailableError):
            client().query([site(tcp=port)], HANDLE)
        elapsed = time.monotonic() - start

    assert elapsed < ATTEMPT


def test_no_query_interface_is_unavailable() -> None:
    info = site(tcp=2641)
    info["servers"][0]["interfaces"][0]["query"] = False
    with pytest.raises(UpstreamUnavailableError, match="no query interface"):
        client().query([info], HANDLE)


# ---- garbage and answers for someone else -----------------------------------------------------

HTTP_ERROR = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
GARBAGE = b"garbage! " * 8


def test_garbage_over_tcp_is_an_upstream_error() -> None:
    with TcpPeer(lambda _request: HTTP_ERROR) as peer, pytest.raises(UpstreamError) as raised:
        client().query([site(tcp=peer.port)], HANDLE)

    assert type(raised.value) is UpstreamError
    assert "Handle protocol" in raised.value.message
    assert len(peer.received) == 1


def test_garbage_over_udp_is_an_upstream_error() -> None:
    with UdpPeer(lambda _data: [GARBAGE]) as peer, pytest.raises(UpstreamError) as raised:
        client().query([site(udp=peer.port)], HANDLE)

    assert type(raised.value) is UpstreamError
    assert len(peer.received) == 1


def test_garbage_over_http_is_an_upstream_error() -> None:
    page = b"<html><body>not a handle server</body></html>"
    with HttpPeer(lambda _m: page, "text/html") as peer, pytest.raises(UpstreamError) as raised:
        client().query([site(http=peer.port, path="/hdl")], HANDLE)

    assert type(raised.value) is UpstreamError


def test_garbage_is_left_for_the_next_interface() -> None:
    with UdpPeer(lambda _data: [GARBAGE]) as peer, handle_server(answerer()) as (tcp, _udp):
        reply = client().query([site(udp=peer.port, tcp=tcp)], HANDLE)

    assert len(peer.received) == 1
    assert reply.server == f"{HOST}:{tcp}/TCP"
    assert data_of(reply) == EXPECTED


def _for_someone_else(message: bytes) -> bytes:
    return response(another_id(decode_request(message)))


def test_an_answer_with_another_request_id_is_not_taken() -> None:
    with (
        UdpPeer(lambda data: [_for_someone_else(data)]) as peer,
        handle_server(answerer()) as (
            tcp,
            _udp,
        ),
    ):
        reply = client().query([site(udp=peer.port, tcp=tcp)], HANDLE)

    assert len(peer.received) == 1
    assert reply.server == f"{HOST}:{tcp}/TCP"
    assert data_of(reply) == EXPECTED


def test_only_answers_with_another_request_id_count_as_no_answer() -> None:
    """An answer for another request is no answer to this one: when nothing else answers,
    the node is unavailable (as for silence), not a node that speaks garbage."""
    with TcpPeer(_for_someone_else) as peer, pytest.raises(UpstreamUnavailableError) as raised:
        client().query([site(tcp=peer.port)], HANDLE)

    assert len(peer.received) == 1
    assert "another request id" in raised.value.message


def test_a_stray_udp_answer_for_another_request_is_skipped() -> None:
    """A datagram for another request (a late answer, a spoof) is not the answer; the client
    keeps listening for its own within the attempt."""

    def stray_then_answer(data: bytes) -> list[bytes]:
        request = decode_request(data)
        return [response(another_id(request)), response(request)]

    with UdpPeer(stray_then_answer) as peer:
        reply = client().query([site(udp=peer.port)], HANDLE)

    assert reply.server == f"{HOST}:{peer.port}/UDP"
    assert data_of(reply) == EXPECTED


# ---- answers of several UDP packets ---------------------------------------------------------

LONG = tuple(
    parse_values(
        [
            {"index": i, "type": "URL", "data": "https://example.com/" + "x" * 300}
            for i in (1, 2, 3)
        ],
        max_values=10,
    )
)


def test_a_multi_packet_udp_answer_is_reassembled() -> None:
    sizes: list[int] = []
    answer_long = answerer(LONG)

    def record(message: bytes) -> bytes | None:
        reply = answer_long(message)
        sizes.append(len(reply))
        return reply

    with handle_server(record) as (_tcp, udp):
        reply = client().query([site(udp=udp)], HANDLE)

    (size,) = sizes
    assert size - ENVELOPE_SIZE > 2 * MAX_UDP_DATA  # three packets at least
    assert reply.response_code == RC_SUCCESS
    assert reply.server == f"{HOST}:{udp}/UDP"
    assert [(v.index, v.data.value) for v in reply.values] == [
        (v.index, v.data.value) for v in LONG
    ]


def test_udp_packets_arriving_out_of_order_are_reassembled() -> None:
    def reversed_packets(data: bytes) -> list[bytes]:
        packets = udp_packets(response(decode_request(data), values=LONG))
        assert len(packets) >= 3
        return packets[::-1]

    with UdpPeer(reversed_packets) as peer:
        reply = client().query([site(udp=peer.port)], HANDLE)

    assert reply.response_code == RC_SUCCESS
    assert reply.handle == HANDLE
    assert [(v.index, v.data.value) for v in reply.values] == [
        (v.index, v.data.value) for v in LONG
    ]
