"""The embedded AWS emulator (ministack): installed on demand, started, probed and stopped.

ministack pins botocore and graphql-core versions that clash with the product's, so it lives
in its own uv tool environment under .idnode/tools/, never in the project's virtualenv.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from idnode.cli.workspace import (
    CommandError,
    ToolError,
    Workspace,
    host_environment,
    run_logged,
    tail,
)

MINISTACK_VERSION = "1.5.33"
# Without `cryptography` ministack serves a placeholder JWKS that no JWT library can load,
# so Cognito ID tokens could not be verified. This is the version the project already locks.
CRYPTOGRAPHY_VERSION = "50.0.2"
LOCAL_PORT = 4566
LOCAL_ENDPOINT = f"http://127.0.0.1:{LOCAL_PORT}"
HEALTH_PATH = "/_localstack/health"
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0
_PROBE_TIMEOUT_SECONDS = 1.0

# Loopback only: never route a probe of the local cloud through a proxy from the environment.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class EmulatorError(CommandError):
    """The emulator could not be installed, started or reached."""


def health_url(endpoint: str) -> str:
    """Where a LocalStack-compatible endpoint reports its health."""
    return endpoint.rstrip("/") + HEALTH_PATH


def is_healthy(endpoint: str, timeout: float = _PROBE_TIMEOUT_SECONDS) -> bool:
    """Whether a LocalStack-compatible emulator answers its health check at `endpoint`."""
    url = health_url(endpoint)
    if not url.startswith(("http://", "https://")):
        return False
    try:
        # The scheme is checked above; the host is the configured local endpoint.
        with _DIRECT.open(url, timeout=timeout) as response:
            body = json.loads(response.read() or b"{}")
    except (OSError, ValueError):
        return False
    return isinstance(body, dict) and "services" in body


@dataclass(frozen=True, slots=True)
class EmulatorInstall:
    """Where the emulator's tool environment lives."""

    workspace: Workspace

    @property
    def tool_dir(self) -> Path:
        """UV_TOOL_DIR: one environment per tool."""
        return self.workspace.tools_dir / "uv"

    @property
    def bin_dir(self) -> Path:
        """UV_TOOL_BIN_DIR: the tools' entry points."""
        return self.workspace.tools_dir / "bin"

    @property
    def executable(self) -> Path:
        """The `ministack` entry point."""
        return self.bin_dir / "ministack"

    def command(self) -> list[str]:
        """`uv tool install`, pinned; uv makes it a no-op (about 0.2 s) when already satisfied."""
        python = f"{sys.version_info.major}.{sys.version_info.minor}"
        return [
            str(self.workspace.uv),
            "tool",
            "install",
            f"ministack=={MINISTACK_VERSION}",
            "--with",
            f"cryptography=={CRYPTOGRAPHY_VERSION}",
            # Functions run on the emulator's interpreter, and their bundles are built for
            # the project's Python version: both must agree.
            "--python",
            python,
        ]

    def environment(self, env: Mapping[str, str]) -> dict[str, str]:
        """uv's environment: the tool directories, and no interpreter downloads (offline)."""
        result = host_environment(env)
        result.update(
            UV_TOOL_DIR=str(self.tool_dir),
            UV_TOOL_BIN_DIR=str(self.bin_dir),
            UV_PYTHON_DOWNLOADS="never",
        )
        return result


def install(workspace: Workspace, env: Mapping[str, str]) -> Path:
    """Install the pinned emulator into its own environment if needed; return its entry point."""
    target = EmulatorInstall(workspace)
    if not workspace.uv.is_file():
        raise EmulatorError(f"uv is missing at {workspace.uv}: run `make install` first")
    try:
        run_logged(
            target.command(),
            cwd=workspace.root,
            env=target.environment(env),
            log_path=workspace.log_path("ministack-install"),
            what=f"installing ministack {MINISTACK_VERSION}",
        )
    except ToolError as exc:
        raise EmulatorError(str(exc)) from exc
    if not target.executable.is_file():
        raise EmulatorError(f"uv installed ministack but {target.executable} is missing")
    return target.executable


def emulator_environment(workspace: Workspace, env: Mapping[str, str]) -> dict[str, str]:
    """The emulator's environment. Emulated functions inherit it, so it stays minimal."""
    result = host_environment(env)
    result.update(
        # Loopback only, and no listener beyond the gateway: the MQTT mTLS and SFTP
        # listeners would bind every interface.
        BIND_HOST="127.0.0.1",
        GATEWAY_PORT=str(LOCAL_PORT),
        IOT_MTLS_ENABLED="0",
        SFTP_ENABLED="0",
        STATE_DIR=str(workspace.emulator_state_dir),
        PYTHONUNBUFFERED="1",
        # Workers' unpacked bundles go where `start` can clear them (see Workspace).
        TMPDIR=str(workspace.emulator_temp_dir),
        # Warm workers stay while the local cloud runs (`idnode up` starts some for device
        # events); the default idle eviction after 5 minutes would bring back cold bursts.
        LAMBDA_WARM_TTL_SECONDS=str(24 * 3600),
    )
    return result


def clear_temp(workspace: Workspace) -> None:
    """Remove what an emulator's workers left behind (call only with no emulator of this
    workspace running): none of it outlives the emulator."""
    shutil.rmtree(workspace.emulator_temp_dir, ignore_errors=True)


def start(
    workspace: Workspace, executable: Path, env: Mapping[str, str]
) -> subprocess.Popen[bytes]:
    """Start the emulator in its own session (Ctrl-C in the terminal is ours to handle, and a
    detached emulator must outlive this process), logging to .idnode/ministack.log."""
    workspace.state_dir.mkdir(parents=True, exist_ok=True)
    workspace.emulator_state_dir.mkdir(parents=True, exist_ok=True)
    clear_temp(workspace)
    workspace.emulator_temp_dir.mkdir(parents=True)
    with workspace.emulator_log.open("wb") as log:
        # The executable is the entry point uv installed under .idnode/tools/.
        return subprocess.Popen(  # noqa: S603
            [str(executable)],
            cwd=workspace.state_dir,
            env=emulator_environment(workspace, env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_until_healthy(
    endpoint: str,
    process: subprocess.Popen[bytes],
    log_path: Path,
    timeout: float = START_TIMEOUT_SECONDS,
) -> None:
    """Block until the emulator answers, or fail with its exit code or a timeout, and its log."""
    deadline = time.monotonic() + timeout
    while not is_healthy(endpoint):
        code = process.poll()
        if code is not None:
            raise EmulatorError(
                f"ministack exited with code {code} before answering at {health_url(endpoint)}. "
                f"Last lines of {log_path}:\n{tail(log_path)}"
            )
        if time.monotonic() > deadline:
            raise EmulatorError(
                f"ministack did not answer at {health_url(endpoint)} within {timeout:.0f} s. "
                f"Last lines of {log_path}:\n{tail(log_path)}"
            )
        time.sleep(0.1)


def _reaped(pid: int) -> bool:
    """Reap `pid` if it is our exited child; True when it was. Others' processes: False."""
    try:
        reaped, _status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return False
    return reaped == pid


def is_emulator_process(pid: int) -> bool:
    """Whether `pid` is a live ministack process (not a recycled pid of something else)."""
    if pid <= 0 or _reaped(pid):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        # Alive but not ours to signal: certainly not what `idnode up` started.
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not cmdline.parent.parent.is_dir():
        return True  # no procfs (macOS): the pid check above is the best available
    try:
        return b"ministack" in cmdline.read_bytes()
    except OSError:
        return False


def _signal_group(pid: int, signum: signal.Signals) -> None:
    # The emulator leads its own process group, which also holds its function workers.
    with contextlib.suppress(ProcessLookupError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, signum)
        else:
            os.kill(pid, signum)


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while is_emulator_process(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def stop(pid: int, timeout: float = STOP_TIMEOUT_SECONDS) -> bool:
    """Stop the emulator `pid` and its workers; True if it was running. Idempotent."""
    if not is_emulator_process(pid):
        return False
    _signal_group(pid, signal.SIGTERM)
    if _wait_gone(pid, timeout):
        return True
    _signal_group(pid, signal.SIGKILL)
    if _wait_gone(pid, timeout):
        return True
    raise EmulatorError(f"ministack (pid {pid}) is still running after SIGKILL")
