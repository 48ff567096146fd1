"""Import time of the Lambda handler modules in fresh processes: the cold start's own share.

Each statement runs as `python -c STATEMENT` in a new interpreter, so nothing is cached
in memory; bytecode and the file system cache are warmed first, as they would be on a
Lambda host after the first cold start. The statements take turns run by run (the order
rotates), and the cost of an import is the median of its runs minus the median of a bare
interpreter's (`pass`). Each run is measured as the child's CPU time (user + system, which
a busy machine barely disturbs) and as wall time.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.report import ImportTiming, parse_importtime

BARE = "pass"
STATEMENTS: dict[str, str] = {
    "bare": BARE,
    "boto3": "import boto3",
    "handles": "import idnode.handlers.handles",
    "graphql": "import idnode.handlers.graphql",
}
TIMEOUT_SECONDS = 120
# The function bundle carries no awscrt (only the device simulator's dependency group does),
# but botocore imports it whenever it is installed, as it is in the development environment
# (36 ms). Every statement, the bare one included, runs as if it were absent.
AS_BUNDLED = "import sys; sys.modules['awscrt'] = None\n"


class ImportFailedError(RuntimeError):
    """A statement failed in a fresh process: its timing would mean nothing."""


def _run(arguments: Sequence[str], env: Mapping[str, str], cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, *arguments],
        env=dict(env),
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    if done.returncode != 0:
        raise ImportFailedError(f"python {' '.join(arguments)} failed:\n{done.stderr.strip()}")
    return done.stderr


def _children_cpu_ns() -> int:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return round((usage.ru_utime + usage.ru_stime) * 1e9)


def time_statement(statement: str, env: Mapping[str, str], cwd: Path) -> tuple[int, int]:
    """CPU time and wall time, in nanoseconds, of a fresh interpreter running `statement`."""
    cpu, wall = _children_cpu_ns(), time.perf_counter_ns()
    _run(["-c", AS_BUNDLED + statement], env, cwd)
    wall = time.perf_counter_ns() - wall
    return _children_cpu_ns() - cpu, wall


@dataclass
class ImportDurations:
    """Per-run costs in nanoseconds of each statement, by statement name."""

    cpu_ns: dict[str, list[int]] = field(default_factory=dict)
    wall_ns: dict[str, list[int]] = field(default_factory=dict)


def measure(
    statements: Mapping[str, str], *, runs: int, env: Mapping[str, str], cwd: Path
) -> ImportDurations:
    """Each statement, `runs` times, interleaved."""
    names = list(statements)
    for name in names:
        # Writes bytecode and fills the file system cache; not timed.
        time_statement(statements[name], env, cwd)
    durations = ImportDurations({name: [] for name in names}, {name: [] for name in names})
    for number in range(runs):
        shift = number % len(names)
        for name in [*names[shift:], *names[:shift]]:
            cpu, wall = time_statement(statements[name], env, cwd)
            durations.cpu_ns[name].append(cpu)
            durations.wall_ns[name].append(wall)
    return durations


def profile(
    statement: str, *, runs: int, env: Mapping[str, str], cwd: Path
) -> list[list[ImportTiming]]:
    """`-X importtime` profiles of `statement`, one per run."""
    return [
        parse_importtime(_run(["-X", "importtime", "-c", AS_BUNDLED + statement], env, cwd))
        for _ in range(runs)
    ]
