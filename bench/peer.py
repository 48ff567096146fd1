"""The real Handle.Net 9.2 server as the benchmark's self-hosted enterprise node.

Started from `../shared/tools/handle-server` (loopback only) when it is there, with one
handle registered; `None` where it is not (the figures that need it are reported as not run).
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

TOOLS = Path(__file__).resolve().parents[2] / "shared" / "tools" / "handle-server"
PREFIX = "88.100.5555"
HANDLE = f"{PREFIX}/BENCH-1"
URL = "https://example.com/bench/1"
START_TIMEOUT = 60
_RATE = re.compile(r"([0-9.]+) req/s")


@dataclass(frozen=True)
class Peer:
    hdl_port: int
    http_port: int
    directory: Path

    @property
    def site_file(self) -> Path:
        return self.directory / "siteinfo.json"


def available() -> str | None:
    """Why the peer cannot run here (None: it can)."""
    if not (TOOLS / "run-server").exists():
        return f"{TOOLS} is missing"
    if shutil.which("java") is None:
        return "java is not installed (make bench installs it where ../shared exists)"
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _register(http_port: int) -> None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    body = {"values": [{"index": 1, "type": "URL", "data": {"format": "string", "value": URL}}]}
    auth = base64.b64encode(f"300%3A{PREFIX}%2FADMIN:adminpass".encode()).decode()
    request = urllib.request.Request(
        f"https://127.0.0.1:{http_port}/api/handles/{HANDLE}",
        data=json.dumps(body).encode(),
        method="PUT",
        headers={"Content-Type": "application/json", "Authorization": f"Basic {auth}"},
    )
    with urllib.request.urlopen(request, context=context, timeout=10):  # noqa: S310 - loopback
        pass


@contextmanager
def running() -> Iterator[Peer]:
    """The server, started and stopped around the block, with HANDLE registered."""
    hdl_port, http_port = _free_port(), _free_port()
    with tempfile.TemporaryDirectory(prefix="bench-peer-") as scratch:
        directory = Path(scratch) / "server"
        log = (Path(scratch) / "server.log").open("wb")
        process = subprocess.Popen(
            [
                str(TOOLS / "run-server"),
                "--hdl-port",
                str(hdl_port),
                "--http-port",
                str(http_port),
                str(directory),
                PREFIX,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while True:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        "the Handle.Net server did not start: "
                        + (Path(scratch) / "server.log").read_text(errors="replace")[-2000:]
                    )
                try:
                    _register(http_port)
                    break
                except OSError:
                    time.sleep(0.3)
            yield Peer(hdl_port, http_port, directory)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
            log.close()


def own_rate(peer: Peer, requests: int = 2000) -> float:
    """The real server's own resolutions per second, asked over UDP by its own client
    (`resolve -n`, one thread): the reference the node's lean path is judged against."""
    done = subprocess.run(
        [
            str(TOOLS / "resolve"),
            "--dir",
            str(peer.directory),
            "--site",
            str(peer.site_file),
            "--protocol",
            "udp",
            "-n",
            str(requests),
            "-c",
            "1",
            HANDLE,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    found = _RATE.search(done.stdout)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"resolve -n failed: {done.stdout[-500:]} {done.stderr[-500:]}")
    return float(found.group(1))
