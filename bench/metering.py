"""What metering costs resolution, in a process of its own.

Two paths resolve the same identifier with a public `GET /api/handles/{handle}` through the
Handle REST Lambda handler, reading from the same DynamoDB endpoint (`bench.endpoint`):

- `metered`: the node as deployed, whose buffered meter counts every resolution and writes
  the counts at the end of an invocation once its flush interval (10 s, as on AWS) has
  passed since the first count it holds;
- `unmetered`: the same node built with a meter that does nothing.

Both nodes are built by `idnode.node.build_node` from the same settings; the second is built
with the meter class replaced, so that nothing else differs. The paths take turns call by
call as in `bench.resolution` (each call first makes its node the process's node), and each
call is timed in process CPU time and in wall time.

A flush happens at most once per interval and process, so per-call medians leave it out;
it is measured on its own afterwards: one count, then one flush (a counter addition for
each scope of the prefix; here node, prefix and enterprise), repeated. Last, every count
must have reached the statistics table: a meter that lost counts would be cheap for the
wrong reason.
The count alone, the only work metering adds to a resolution between flushes, is timed in a
loop, since it is far below what per-call timings of a request can resolve.

The suite runs this module as `python -m bench.metering OUTPUT` in the environment of
`bench.environment.measured_environment`, and reads the durations from OUTPUT.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any
from unittest import mock

from bench.endpoint import dynamodb_endpoint
from bench.resolution import (
    HANDLE,
    BenchmarkSetupError,
    Call,
    RequestPath,
    handles_path,
    measure,
    process_main,
    seed,
)
from idnode import node as composition
from idnode.node import Node, build_node, current_node, use_node
from idnode.services.metering import BufferedMeter
from idnode.settings import get_settings
from idnode.store.statistics import CounterRepository

FLUSHES = 30
COUNTS = 100_000  # calls per timing of the count alone
COUNT_TIMINGS = 5
ALL_DAYS = "9999-12-31"


class SilentMeter:
    """A meter that counts nothing, built with the production meter's arguments."""

    def __init__(self, *_args: object, **_options: object) -> None:
        pass

    def count(self, prefix: str, metric: str, n: int = 1) -> None:
        pass

    def flush_if_due(self) -> None:
        pass

    def flush(self) -> None:
        pass


def unmetered_node() -> Node:
    """The node `build_node` builds from this process's settings, with a silent meter."""
    with mock.patch.object(composition, "BufferedMeter", SilentMeter):
        return build_node(get_settings())


def path_through(name: str, node: Node) -> RequestPath:
    """The Handle REST resolution, answered by `node`."""
    base = handles_path()

    def prepare() -> Call:
        call = base.prepare()

        def switched() -> object:
            use_node(node)
            return call()

        return switched

    return RequestPath(name, prepare, base.check)


def measure_flushes(node: Node, times: int) -> dict[str, list[int]]:
    """CPU and wall time of flushing one count, `times` times."""
    prefix = HANDLE.split("/", 1)[0]
    cpu: list[int] = []
    wall: list[int] = []
    for _ in range(times):
        node.meter.count(prefix, "resolutions")
        started_cpu, started_wall = time.process_time_ns(), time.perf_counter_ns()
        node.meter.flush()
        wall.append(time.perf_counter_ns() - started_wall)
        cpu.append(time.process_time_ns() - started_cpu)
    return {"cpu_ns": cpu, "wall_ns": wall}


class UnusedCounters:
    """The store of a meter that is never flushed."""

    def add(self, scope: str, day: str, counts: Mapping[str, int]) -> None:
        raise BenchmarkSetupError("the meter flushed while its counting was timed")


def measure_counting(times: int, timings: int) -> list[float]:
    """CPU time in nanoseconds of one `count` (one resolution counted), averaged over
    `times` calls, `timings` times: the cost metering puts on every resolution."""
    prefix = HANDLE.split("/", 1)[0]
    per_call: list[float] = []
    for _ in range(timings):
        meter = BufferedMeter(UnusedCounters(), lambda _prefix: (), 3600.0)
        started = time.process_time_ns()
        for _ in range(times):
            meter.count(prefix, "resolutions")
        per_call.append((time.process_time_ns() - started) / times)
    return per_call


def resolutions_counted(node: Node) -> int:
    days = CounterRepository(node.tables.statistics).days("node", ALL_DAYS)
    return sum(counts["resolutions"] for counts in days.values())


def run(rounds: int, batch: int, warmup: int) -> dict[str, Any]:
    """Start the endpoint, seed it, measure both paths and the flush, stop the endpoint."""
    with dynamodb_endpoint() as endpoint_url:
        os.environ["AWS_ENDPOINT_URL"] = endpoint_url
        metered = current_node()
        seed()
        unmetered = unmetered_node()
        if not isinstance(unmetered.meter, SilentMeter):
            raise BenchmarkSetupError("the unmetered node was built with a real meter")
        paths = [path_through("metered", metered), path_through("unmetered", unmetered)]
        measured = measure(paths, rounds=rounds, batch=batch, warmup=warmup)
        flushes = measure_flushes(metered, FLUSHES)
        counting = measure_counting(COUNTS, COUNT_TIMINGS)
        metered.meter.flush()
        calls = 1 + warmup + rounds * batch
        counted = resolutions_counted(metered)
        if counted != calls + FLUSHES:
            raise BenchmarkSetupError(
                f"the meter wrote {counted} resolutions for {calls + FLUSHES} counted"
            )
    return {
        "handle": HANDLE,
        "flush_seconds": metered.settings.meter_flush_seconds,
        "rounds": rounds,
        "batch": batch,
        "warmup": warmup,
        "resolutions_counted": counted,
        **measured,
        "flush_cpu_ns": flushes["cpu_ns"],
        "flush_wall_ns": flushes["wall_ns"],
        "count_cpu_ns": counting,
        "count_calls": COUNTS,
    }


def main(argv: Sequence[str] | None = None) -> int:
    return process_main("python -m bench.metering", __doc__, run, argv)


if __name__ == "__main__":
    sys.exit(main())
