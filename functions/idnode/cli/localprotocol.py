"""The Handle protocol in the local cloud: the node's key, its interfaces, its TCP/UDP service.

`idnode up` generates the node's signing key once (`.idnode/handle-key.pem`), chooses the
ports of the protocol's interfaces (TCP and UDP on 2641, HTTP on 8641, or free ones when
those are taken), deploys them into the functions' settings (CDK context `handleInterfaces`,
`handleKeyFile`), and starts `idnode handle-server` against the local cloud's tables. The
site information clients need (`resolve --site`) is written to `.idnode/siteinfo.json`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from idnode import settings
from idnode.cli.workspace import CommandError, Workspace, tail

HANDLE_PORT = 2641
HTTP_PORT = 8641
START_TIMEOUT = 30.0
STOP_GRACE = 5.0


@dataclass(frozen=True, slots=True)
class Plan:
    """Where the local Handle protocol service listens, and the key it signs with."""

    tcp_port: int
    udp_port: int
    http_port: int
    key_file: Path

    @property
    def interfaces(self) -> str:
        return (
            f"tcp://127.0.0.1:{self.tcp_port},udp://127.0.0.1:{self.udp_port},"
            f"http://127.0.0.1:{self.http_port}/hdl"
        )

    def context(self) -> dict[str, str]:
        """The CDK context that puts these interfaces and the key into the functions."""
        return {"handleInterfaces": self.interfaces, "handleKeyFile": str(self.key_file)}


def _plan_file(workspace: Workspace) -> Path:
    return workspace.state_dir / "handle-protocol.json"


def _pid_file(workspace: Workspace) -> Path:
    return workspace.state_dir / "handle-server.pid"


def site_file(workspace: Workspace) -> Path:
    return workspace.state_dir / "siteinfo.json"


def _free(port: int, kind: int) -> bool:
    with socket.socket(socket.AF_INET, kind) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _any_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def plan(workspace: Workspace) -> Plan:
    """The ports to use: the ones used before if free, else the defaults, else free ones.
    Call with the previous service stopped (its ports count as free then)."""
    from idnode.adapters.signing import ensure_key_file  # noqa: PLC0415

    previous: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        previous = json.loads(_plan_file(workspace).read_text(encoding="utf-8"))

    def choose(name: str, default: int, kind: int) -> int:
        for port in (previous.get(name), default):
            if isinstance(port, int) and _free(port, kind):
                return port
        return _any_port(kind)

    tcp = choose("tcp", HANDLE_PORT, socket.SOCK_STREAM)
    udp = tcp if _free(tcp, socket.SOCK_DGRAM) else choose("udp", HANDLE_PORT, socket.SOCK_DGRAM)
    http = choose("http", HTTP_PORT, socket.SOCK_STREAM)
    if http == tcp:
        http = _any_port(socket.SOCK_STREAM)
    key = ensure_key_file(workspace.state_dir / "handle-key.pem")
    chosen = Plan(tcp, udp, http, key)
    _plan_file(workspace).write_text(
        json.dumps({"tcp": tcp, "udp": udp, "http": http}) + "\n", encoding="utf-8"
    )
    return chosen


def start(workspace: Workspace, chosen: Plan, environment: Mapping[str, str | None]) -> int:
    """Start `idnode handle-server` in the background; its pid once it accepts connections."""
    stop(workspace)
    env = {k: v for k, v in os.environ.items() if k not in environment}
    env.update({k: v for k, v in environment.items() if v is not None})
    env[settings.HANDLE_INTERFACES] = chosen.interfaces
    env[settings.HANDLE_KEY_FILE] = str(chosen.key_file)
    log_path = workspace.log_path("handle-server")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "idnode.cli.main",
        "handle-server",
        "--tcp-port",
        str(chosen.tcp_port),
        "--udp-port",
        str(chosen.udp_port),
        "--http-port",
        str(chosen.http_port),
    ]
    with log_path.open("ab") as log:
        process = subprocess.Popen(  # noqa: S603 - this Python, our own command
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    _pid_file(workspace).write_text(f"{process.pid}\n", encoding="utf-8")
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise CommandError(
                f"idnode handle-server exited with code {process.returncode}:\n{tail(log_path)}"
            )
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", chosen.http_port), timeout=0.5),
        ):
            return process.pid
        time.sleep(0.1)
    stop(workspace)
    raise CommandError(
        f"idnode handle-server did not start in {START_TIMEOUT:g} s:\n{tail(log_path)}"
    )


def _ours(pid: int) -> bool:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"handle-server" in command


def stop(workspace: Workspace) -> bool:
    """Stop the service a previous `start` left running; True if one was stopped."""
    try:
        pid = int(_pid_file(workspace).read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return False
    _pid_file(workspace).unlink(missing_ok=True)
    if not _ours(pid):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE
    while time.monotonic() < deadline and _ours(pid):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)
    if _ours(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return True


def publish(workspace: Workspace, chosen: Plan, api_url: str) -> dict[str, Any]:
    """Write `.idnode/siteinfo.json`; the `handleProtocol` entry of the endpoints file."""
    from idnode.adapters.signing import load_signer  # noqa: PLC0415
    from idnode.domain.protocol.site import node_site  # noqa: PLC0415

    signer = load_signer(str(chosen.key_file))
    site = node_site(chosen.interfaces, signer.public_key_bytes if signer else None)
    site_file(workspace).write_text(json.dumps(site, indent=2) + "\n", encoding="utf-8")
    return {
        "tcp": f"127.0.0.1:{chosen.tcp_port}",
        "udp": f"127.0.0.1:{chosen.udp_port}",
        "http": f"http://127.0.0.1:{chosen.http_port}/hdl",
        "apiHttp": f"{api_url.rstrip('/')}/hdl",
        "siteInfo": str(site_file(workspace)),
    }
