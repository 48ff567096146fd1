"""`idnode handle-server`: the Handle protocol over TCP and UDP (RFC 3652, port 2641).

A long-running service for resolvers that speak the native protocol (and, with
`--http-port`, its HTTP interface too: messages in POST bodies, as on the API's `/hdl`).
Each message is answered by the same edge the Lambda function's HTTP interface uses
(`idnode.api.handle_protocol`), either in this process against the node's tables (the
environment names them, as for a function) or, with `--relay URL`, by posting the message to
a deployed HTTP interface (`.../hdl`), so that the service needs no access of its own.

TCP: one request per connection, as Handle.Net clients use it; a connection that sends no
whole message within the read timeout is answered with a protocol error and closed. UDP:
requests of several packets are reassembled (bounded in size and time); answers longer than
one packet are split as the protocol prescribes.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import cast

from idnode.domain.protocol.encoding import DecodeError
from idnode.domain.protocol.wire import (
    ENVELOPE_SIZE,
    MAX_MESSAGE,
    Envelope,
    udp_packets,
)

DEFAULT_PORT = 2641
READ_TIMEOUT = 30.0
RELAY_TIMEOUT = 10.0
UDP_REASSEMBLY_SECONDS = 5.0
MAX_PENDING_UDP = 1024
WORKERS = 8

Answerer = Callable[[bytes], bytes | None]


def in_process_answerer() -> Answerer:
    from idnode.api.handle_protocol import protocol  # noqa: PLC0415 (loads the node)

    def answer(message: bytes) -> bytes | None:
        reply = protocol.answer(message)
        return None if reply is None else reply.message

    return answer


def relay_answerer(url: str, timeout: float = RELAY_TIMEOUT) -> Answerer:
    """Answers by POSTing each message to a deployed HTTP interface at `url`."""
    from idnode.api.handle_protocol import MIME_TYPE  # noqa: PLC0415

    if not url.startswith(("http://", "https://")):
        raise ValueError(f"--relay needs an http:// or https:// URL, not {url!r}")

    def answer(message: bytes) -> bytes | None:
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
            url.rstrip("/") + "/", data=message, method="POST", headers={"Content-Type": MIME_TYPE}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as reply:  # noqa: S310
                return bytes(reply.read())
        except OSError:
            return None

    return answer


@dataclass
class _Partial:
    started: float
    length: int
    chunks: dict[int, bytes] = field(default_factory=dict)


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, server: HandleServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None
        self.partial: dict[tuple[object, int], _Partial] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        message = self._assemble(data, addr)
        if message is not None:
            asyncio.get_running_loop().create_task(self._answer(message, addr))

    def _assemble(self, data: bytes, addr: tuple[str | object, ...]) -> bytes | None:
        try:
            envelope = Envelope.decode(data)
        except DecodeError:
            return None
        if envelope.length + ENVELOPE_SIZE == len(data):
            return data
        if envelope.length > MAX_MESSAGE:
            return None
        now = time.monotonic()
        for key in [k for k, p in self.partial.items() if now - p.started > UDP_REASSEMBLY_SECONDS]:
            del self.partial[key]
        if len(self.partial) >= MAX_PENDING_UDP:
            return None
        key = (addr, envelope.request_id)
        part = self.partial.setdefault(key, _Partial(now, envelope.length))
        part.chunks[envelope.message_id] = data[ENVELOPE_SIZE:]
        body = b"".join(part.chunks[i] for i in sorted(part.chunks))
        if len(body) < part.length:
            return None
        del self.partial[key]
        head = Envelope(
            envelope.major,
            envelope.minor,
            envelope.suggest_major,
            envelope.suggest_minor,
            0,
            envelope.session_id,
            envelope.request_id,
            0,
            part.length,
        )
        return head.encode() + body[: part.length]

    async def _answer(self, message: bytes, addr: tuple[str | object, ...]) -> None:
        reply = await self.server.answer(message)
        if reply is not None and self.transport is not None:
            for packet in udp_packets(reply):
                self.transport.sendto(packet, addr)


class HandleServer:
    def __init__(self, answerer: Answerer, workers: int = WORKERS) -> None:
        self._answerer = answerer
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="hdl")
        self._servers: list[asyncio.base_events.Server] = []
        self._transports: list[asyncio.DatagramTransport] = []
        self.tcp_addresses: list[tuple[str, int]] = []
        self.udp_addresses: list[tuple[str, int]] = []
        self.http_addresses: list[tuple[str, int]] = []

    async def answer(self, message: bytes) -> bytes | None:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._answerer, message)

    async def _tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readexactly(ENVELOPE_SIZE), READ_TIMEOUT)
            envelope = Envelope.decode(head)
            if envelope.length > MAX_MESSAGE:
                return
            rest = await asyncio.wait_for(reader.readexactly(envelope.length), READ_TIMEOUT)
            reply = await self.answer(head + rest)
            if reply is not None:
                writer.write(reply)
                await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError, DecodeError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _http(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """The protocol's HTTP interface: a message in a POST body, its answer in the reply."""
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT)
            request_line, *header_lines = head.decode("latin-1").split("\r\n")
            method = request_line.split(" ", 1)[0]
            headers = dict(
                (name.strip().lower(), value.strip())
                for name, _, value in (line.partition(":") for line in header_lines if line)
            )
            length = int(headers.get("content-length", "0") or "0")
            if method != "POST" or not 0 < length <= MAX_MESSAGE + ENVELOPE_SIZE:
                writer.write(_http_reply(405 if method != "POST" else 400, b"", "text/plain"))
                return
            body = await asyncio.wait_for(reader.readexactly(length), READ_TIMEOUT)
            reply = await self.answer(body)
            if reply is None:
                writer.write(_http_reply(400, b"not a Handle protocol message", "text/plain"))
            else:
                writer.write(_http_reply(200, reply, "application/x-hdl-message"))
            await writer.drain()
        except (
            TimeoutError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ConnectionError,
            ValueError,
        ):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def start(
        self, hosts: list[str], tcp_port: int, udp_port: int, http_port: int | None = None
    ) -> None:
        loop = asyncio.get_running_loop()
        for host in hosts:
            if http_port is not None:
                web = await asyncio.start_server(self._http, host, http_port)
                self._servers.append(web)
                self.http_addresses += [s.getsockname()[:2] for s in web.sockets]
            server = await asyncio.start_server(self._tcp, host, tcp_port)
            self._servers.append(server)
            self.tcp_addresses += [s.getsockname()[:2] for s in server.sockets]
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Udp(self), local_addr=(host, udp_port)
            )
            self._transports.append(transport)
            self.udp_addresses.append(transport.get_extra_info("sockname")[:2])

    async def close(self) -> None:
        for server in self._servers:
            server.close()
            await server.wait_closed()
        for transport in self._transports:
            transport.close()
        self._pool.shutdown(wait=False, cancel_futures=True)


def _http_reply(status: int, body: bytes, content_type: str) -> bytes:
    reason = {200: "OK", 400: "Bad Request", 405: "Method Not Allowed"}[status]
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


def serve(
    hosts: list[str], tcp_port: int, udp_port: int, relay: str | None, http_port: int | None = None
) -> int:
    """Run until interrupted; prints where it listens."""
    answerer = relay_answerer(relay) if relay else in_process_answerer()

    async def main() -> None:
        server = HandleServer(answerer)
        await server.start(hosts, tcp_port, udp_port, http_port)
        for host, port in server.tcp_addresses:
            print(f"  Handle protocol TCP  {host}:{port}")
        for host, port in server.udp_addresses:
            print(f"  Handle protocol UDP  {host}:{port}")
        for host, port in server.http_addresses:
            print(f"  Handle protocol HTTP http://{host}:{port}/hdl")
        print(f"  answered {'by ' + relay if relay else 'in process'}; Ctrl-C stops", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await server.close()

    asyncio.run(main())
    sys.stdout.write("idnode handle-server: stopped\n")
    return 0
