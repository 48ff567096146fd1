"""Where the command keeps its files, and how it runs the external tools it drives.

Paths are anchored at the repository root, found from this file's location, so the command
behaves the same from any working directory. External tools (uv, npm, the CDK CLI, the
emulator) get environments built explicitly from a short allowlist of the caller's variables:
a stray AWS_PROFILE or PYTHONPATH must never leak into a deploy or into emulated functions.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

# Variables any tool may need to find programs, write caches and reach a registry.
_HOST_VARIABLES = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TERM",
    "TMPDIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "NODE_EXTRA_CA_CERTS",
    "UV_CACHE_DIR",
    "UV_INDEX_URL",
    "UV_EXTRA_INDEX_URL",
    "UV_FIND_LINKS",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_FIND_LINKS",
    "XDG_CACHE_HOME",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
)
_HOST_PREFIXES = ("npm_config_", "NPM_CONFIG_")
FAILURE_TAIL_LINES = 40


class CommandError(RuntimeError):
    """A failure the message fully explains: reported without a traceback."""


class ToolError(CommandError):
    """An external tool failed; the message says which, how, and where its full log is."""


@dataclass(frozen=True, slots=True)
class Workspace:
    """The repository checkout and the files the command keeps in it."""

    root: Path

    @classmethod
    def locate(cls) -> Workspace:
        """The checkout this package lives in (functions/idnode/cli/ is three levels down)."""
        return cls(Path(__file__).resolve().parents[3])

    @property
    def state_dir(self) -> Path:
        """Everything the command generates at run time (ignored by git)."""
        return self.root / ".idnode"

    @property
    def state_file(self) -> Path:
        """What `idnode up` started, so that `idnode down` can stop exactly that."""
        return self.state_dir / "state.json"

    @property
    def endpoints_file(self) -> Path:
        """The local cloud's endpoints, for people, tests and `idnode serve`."""
        return self.state_dir / "endpoints.json"

    @property
    def outputs_file(self) -> Path:
        """Stack outputs as written by `cdklocal deploy --outputs-file`."""
        return self.state_dir / "cdk-outputs.json"

    @property
    def tools_dir(self) -> Path:
        """Tool environments installed on demand (the emulator)."""
        return self.state_dir / "tools"

    @property
    def emulator_log(self) -> Path:
        """The embedded emulator's output."""
        return self.state_dir / "ministack.log"

    @property
    def emulator_state_dir(self) -> Path:
        """The emulator's own files (its Cognito signing keys among them)."""
        return self.state_dir / "ministack-state"

    @property
    def emulator_temp_dir(self) -> Path:
        """The emulator's temporary files: each function worker unpacks its bundle (about
        140 MB) there and the emulator does not remove it when it ends the worker."""
        return self.state_dir / "ministack-tmp"

    @property
    def cdk_dir(self) -> Path:
        """The CDK app and the pinned CDK CLI (package.json, package-lock.json)."""
        return self.root / "infra" / "cdk"

    @property
    def local_assembly_dir(self) -> Path:
        """Cloud assembly of local deploys, apart from the one synthesised for AWS."""
        return self.state_dir / "cdk.out"

    @property
    def aws_assembly_dir(self) -> Path:
        """Cloud assembly synthesised for AWS."""
        return self.cdk_dir / "cdk.out"

    @property
    def jsii_cache_dir(self) -> Path:
        """jsii unpacks aws-cdk-lib here (about 200 MB) instead of into the home directory."""
        return self.state_dir / "jsii-cache"

    @property
    def uv(self) -> Path:
        """The repository's pinned uv (installed by `make install`)."""
        return self.root / ".tools" / "bin" / "uv"

    def log_path(self, name: str) -> Path:
        """Where the output of one tool run is kept."""
        return self.state_dir / "logs" / f"{name}.log"


def host_environment(env: Mapping[str, str]) -> dict[str, str]:
    """The caller's variables that any tool may legitimately need, and nothing else."""
    selected = {name: env[name] for name in _HOST_VARIABLES if name in env}
    selected.update((name, value) for name, value in env.items() if name.startswith(_HOST_PREFIXES))
    return selected


def python_first_path(env: Mapping[str, str], workspace: Workspace) -> str:
    """PATH with this interpreter's directory and the pinned uv first, so that a CDK app and
    its local bundling find the project's Python and uv rather than whatever the shell has."""
    front = [str(Path(sys.executable).parent), str(workspace.uv.parent)]
    rest = [entry for entry in env.get("PATH", "").split(":") if entry and entry not in front]
    return ":".join(front + rest)


def tail(path: Path, lines: int = FAILURE_TAIL_LINES) -> str:
    """The last lines of a log file (empty when there is none)."""
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            return "".join(deque(handle, maxlen=lines))
    except FileNotFoundError:
        return ""


def _terminate(process: subprocess.Popen[str], grace: float = 5.0) -> None:
    # The tool leads its own process group: the CDK CLI's synth child goes with it.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def run_logged(
    command: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    log_path: Path,
    echo: TextIO | None = None,
    what: str,
) -> None:
    """Run a tool to completion with its output in `log_path` (and copied to `echo`).

    Raises ToolError with the end of the log when it fails, so the reason is on screen
    without scrolling through a deploy's worth of output.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w", encoding="utf-8") as log:
        log.write(f"$ {' '.join(command)}\n")
        log.flush()
        try:
            # Commands are built by this package from fixed options and repository paths.
            process = subprocess.Popen(  # noqa: S603
                list(command),
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
                start_new_session=True,
            )
        except OSError as exc:
            raise ToolError(f"{what}: cannot run {command[0]}: {exc}") from exc
        assert process.stdout is not None
        try:
            for line in process.stdout:
                log.write(line)
                if echo is not None:
                    echo.write(line)
                    echo.flush()
            code = process.wait()
        except BaseException:
            # Interrupted: a deploy left running would race the emulator's shutdown.
            _terminate(process)
            raise
        finally:
            process.stdout.close()
    if code != 0:
        raise ToolError(
            f"{what} failed with exit code {code}. Last lines of {log_path}:\n{tail(log_path)}"
        )
