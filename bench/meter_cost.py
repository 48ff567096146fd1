"""The metering figures: resolution with the production meter over resolution without one.

`bench.metering` measures (in a process of its own); this module runs it and turns what it
measured into result entries. Nothing here measures anything, so it is unit-tested without
running the benchmark.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.report import (
    NANOSECONDS_PER_MICROSECOND,
    Entry,
    PathCost,
    cost_entry,
    median,
    path_ratio_entry,
    ratio,
    to_microseconds,
)
from idnode import settings

METERED_VS_UNMETERED = 1.05
FLUSH_SECONDS = "10"  # as deployed on AWS
TIMEOUT_SECONDS = 300
MICROSECONDS_PER_SECOND = 1_000_000


def metering_entries(document: Mapping[str, Any]) -> list[Entry]:
    """Figures from the metering measurement (the output of bench.metering)."""
    cpu = {name: PathCost.of(rounds) for name, rounds in document["cpu_ns"].items()}
    wall = {name: PathCost.of(rounds) for name, rounds in document["wall_ns"].items()}
    flush_us = median(to_microseconds(document["flush_cpu_ns"]))
    flush_wall_us = median(to_microseconds(document["flush_wall_ns"]))
    interval_s = float(document["flush_seconds"])
    # A process kept busy resolving serves this many calls per flush interval; the flush's
    # cost spread over them is what metering adds per call beyond the count itself.
    calls_per_flush = interval_s * MICROSECONDS_PER_SECOND / wall["metered"].median_us
    metered, unmetered = cpu["metered"].median_us, cpu["unmetered"].median_us
    ratio_entry = path_ratio_entry(
        "resolve_metered_vs_unmetered",
        cpu["metered"],
        cpu["unmetered"],
        of="CPU time per call of a public GET /api/handles/{handle} through the Handle REST "
        f"Lambda handler with the production meter (flushed every {interval_s:g} s), over "
        "the same handler and endpoint with a meter that does nothing (medians)",
        target=METERED_VS_UNMETERED,
        wall=(wall["metered"], wall["unmetered"]),
    )
    amortised = ratio(metered + flush_us / calls_per_flush, unmetered)
    return [
        replace(
            ratio_entry,
            details={
                **ratio_entry.details,
                "paired_ratio_median": round(
                    paired_ratio(document["cpu_ns"]["metered"], document["cpu_ns"]["unmetered"]),
                    4,
                ),
                "flush_interval_s": interval_s,
                "busy_calls_per_flush": round(calls_per_flush),
                "ratio_with_flush_when_busy": round(amortised, 4),
                "resolutions_counted": document["resolutions_counted"],
            },
        ),
        cost_entry(
            "meter_count_us",
            median(document["count_cpu_ns"]) / NANOSECONDS_PER_MICROSECOND,
            of="one count of a resolution (the meter's work on every request between "
            f"flushes): CPU time per call over {document['count_calls']:,} calls, median of "
            f"{len(document['count_cpu_ns'])} timings",
            difference_of_medians_us=round(metered - unmetered, 1),
        ),
        cost_entry(
            "meter_flush_us",
            flush_us,
            of="one flush of one prefix's counts (a counter addition for each of its scopes, "
            "here node, prefix and enterprise): CPU time, median; it runs at the end of at most "
            "one invocation per flush interval and process",
            wall_us=round(flush_wall_us, 1),
            samples=len(document["flush_cpu_ns"]),
        ),
    ]


def paired_ratio(numerator: Sequence[Sequence[int]], denominator: Sequence[Sequence[int]]) -> float:
    """The median over calls of one path's cost over the other's, call by call: the two
    paths take turns, so each pair ran moments apart and shares the machine's load then."""
    return median(
        ratio(mine, theirs)
        for mine_round, theirs_round in zip(numerator, denominator, strict=True)
        for mine, theirs in zip(mine_round, theirs_round, strict=True)
    )


def measure_metering(
    env: Mapping[str, str], rounds: int, batch: int, repository: Path
) -> dict[str, Any]:
    """Run bench.metering in a process of its own and read what it measured."""
    with tempfile.TemporaryDirectory(prefix="idnode-bench-") as scratch:
        output = Path(scratch) / "metering.json"
        command = [
            sys.executable,
            "-m",
            "bench.metering",
            str(output),
            f"--rounds={rounds}",
            f"--batch={batch}",
        ]
        subprocess.run(
            command,
            env={**env, settings.METER_FLUSH_SECONDS: FLUSH_SECONDS},
            cwd=repository,
            stdout=subprocess.DEVNULL,
            check=True,
            timeout=TIMEOUT_SECONDS,
        )
        document: dict[str, Any] = json.loads(output.read_text(encoding="utf-8"))
    return document
