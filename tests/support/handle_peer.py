"""The real Handle.Net 9.2 server and client (`../shared/tools/handle-server`) as a test peer.

Tests that need it call `peer_tools()`. Where `../shared` is absent the test is reported as
NOT RUN, loudly, in the session summary (a skip is never a pass); `IDNODE_REQUIRE_PEER=1`
turns that into a failure.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvicorn

from idnode.domain.enterprises import Contact, Hosting, Profile
from idnode.domain.industries import parse_industry
from idnode.domain.routing import NodeAddress

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT.parent / "shared" / "tools" / "handle-server"
NOT_RUN: list[str] = []
RESOLVE_TIMEOUT = 60
START_TIMEOUT = 60
T = TypeVar("T")


def peer_tools() -> Path:
    """The handle-server directory; skips the test, recorded as NOT RUN, where it is missing."""
    problem = None
    if not (TOOLS / "resolve").exists():
        problem = f"{TOOLS} is missing"
    elif shutil.which("java") is None:
        problem = "java is not installed (make test installs it where ../shared exists)"
    if problem is None:
        return TOOLS
    if os.environ.get("IDNODE_REQUIRE_PEER") == "1":
        pytest.fail(f"the Handle.Net peer is required: {problem}")
    NOT_RUN.append(problem)
    pytest.skip(f"NOT RUN - the real Handle.Net peer is unavailable: {problem}")


def write_site(path: Path, site: dict[str, Any]) -> Path:
    path.write_text(json.dumps(site))
    return path


def resolve(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the real client's `resolve` tool (see its --help); output as text."""
    return subprocess.run(  # noqa: S603 - the peer's own script, arguments from the tests
        [str(peer_tools() / "resolve"), *args],
        capture_output=True,
        text=True,
        timeout=RESOLVE_TIMEOUT,
        check=False,
    )


class EventLoopThread:
    """An asyncio loop on a thread of its own (for the TCP/UDP service in tests)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=10)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


@dataclass(frozen=True)
class Served:
    base_url: str  # the local gateway: REST, GraphQL, POST /hdl
    interfaces: str  # the node's Handle protocol interfaces, for IDNODE_HANDLE_INTERFACES


@contextlib.contextmanager
def serve_node() -> Iterator[Served]:
    """The local gateway and `idnode handle-server` (TCP, UDP) on loopback, in this process,
    answering with whatever node `use_node` sets."""
    from idnode.cli.gateway import build_app
    from idnode.cli.handle_server import HandleServer, in_process_answerer

    loop = EventLoopThread()
    hdl = HandleServer(in_process_answerer())
    loop.run(hdl.start(["127.0.0.1"], 0, 0))
    gateway = uvicorn.Server(
        uvicorn.Config(build_app(), host="127.0.0.1", port=0, log_level="warning")
    )
    thread = threading.Thread(target=gateway.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not gateway.started:
            assert time.monotonic() < deadline, "the gateway did not start"
            time.sleep(0.05)
        http_port = gateway.servers[0].sockets[0].getsockname()[1]
        tcp, udp = hdl.tcp_addresses[0][1], hdl.udp_addresses[0][1]
        yield Served(
            f"http://127.0.0.1:{http_port}",
            f"tcp://127.0.0.1:{tcp},udp://127.0.0.1:{udp},http://127.0.0.1:{http_port}/hdl",
        )
    finally:
        gateway.should_exit = True
        thread.join(timeout=10)
        loop.run(hdl.close())
        loop.stop()


def self_hosted_profile(uscc: str, *nodes: NodeAddress) -> Profile:
    """A self-hosted enterprise's profile whose identifiers live at `nodes`."""
    return Profile(
        legal_name="Self Hosted Pumps Ltd",
        uscc=uscc,
        industry=parse_industry("C3411"),
        contact=Contact("Li Lei", "li@example.com", "+86 591 1234 5678"),
        domains=("example.com",),
        hosting=Hosting.SELF_HOSTED,
        service_nodes=nodes,
    )


@dataclass
class RealServer:
    directory: Path
    hdl_port: int
    http_port: int
    process: subprocess.Popen[bytes]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def put(self, handle: str, values: list[dict[str, Any]], admin: str) -> None:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        request = urllib.request.Request(
            f"https://127.0.0.1:{self.http_port}/api/handles/{handle}",
            data=json.dumps({"values": values}).encode(),
            method="PUT",
            headers={
                "Content-Type": "application/json",
                "Authorization": "Basic " + _basic(admin),
            },
        )
        with urllib.request.urlopen(request, context=context, timeout=10) as reply:  # noqa: S310
            assert json.load(reply)["responseCode"] == 1

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.base + path, timeout=10) as reply:  # noqa: S310
                return reply.status, reply.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _basic(admin: str) -> str:
    return base64.b64encode(f"{admin}:adminpass".encode()).decode()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_real_server(directory: Path, prefix: str) -> RealServer:
    tools = peer_tools()
    hdl_port, http_port = _free_port(), _free_port()
    log = (directory.parent / f"{directory.name}.log").open("wb")
    process = subprocess.Popen(  # noqa: S603 - the peer's own script
        [
            str(tools / "run-server"),
            "--hdl-port",
            str(hdl_port),
            "--http-port",
            str(http_port),
            str(directory),
            prefix,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = RealServer(directory, hdl_port, http_port, process)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        assert process.poll() is None, (directory.parent / f"{directory.name}.log").read_text()
        try:
            if server.get("/api/site")[0] == 200:
                return server
        except OSError:
            pass
        time.sleep(0.2)
    server.stop()
    raise AssertionError(f"the Handle.Net server in {directory} did not start")
