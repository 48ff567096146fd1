"""The benchmark suite: import times, per-request and per-message costs, as ratios within
one run; and, for information, how soon telemetry is visible in the local cloud.

Absolute times depend on the machine and on whatever else it is doing; ratios of two
things measured side by side, in the same run, mostly do not. Targets are set on ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench import imports
from bench.environment import measured_environment
from bench.latency import LocalCloudUnavailable, latency_entries, measure_latency
from bench.meter_cost import measure_metering, metering_entries
from bench.report import (
    Entry,
    ImportTiming,
    PathCost,
    cost_entry,
    heaviest_modules,
    heaviest_packages,
    median,
    median_profile,
    missed,
    path_ratio_entry,
    ratio,
    ratio_entry,
    render_import_profile,
    render_table,
    to_microseconds,
    wall_details,
    write_results,
)

BENCH_DIR = Path(__file__).resolve().parent
REPOSITORY = BENCH_DIR.parent
RESULTS_FILE = BENCH_DIR / "results.json"
IMPORT_PROFILE_FILE = BENCH_DIR / "import_profile.txt"
RESOLUTION_TIMEOUT_SECONDS = 300
MICROSECONDS_PER_MILLISECOND = 1_000

# Targets: the most each path may cost relative to its baseline (see bench/README.md).
HANDLES_VS_GET_ITEM = 1.5
GRAPHQL_VS_HANDLES = 3.0
DIGITAL_LINK_VS_HANDLES = 1.3
HANDLE_PROTOCOL_VS_REST = 1.0
RECURSIVE_HIT_VS_LOCAL = 0.25
RECURSIVE_MISS_VS_DIRECT_PEER = 1.5
HANDLES_IMPORT_VS_BOTO3 = 1.2
GRAPHQL_IMPORT_VS_BOTO3 = 2.5
TELEMETRY_HANDLER_VS_PUT_ITEM = 6.5


def _referral_entries(
    document: Mapping[str, Any], cpu: Mapping[str, PathCost], wall: Mapping[str, PathCost]
) -> list[Entry]:
    """Recursive resolution at a self-hosted enterprise node (the real Handle.Net server);
    nothing where it did not run (the suite says so)."""
    if "referred_cached" not in cpu:
        return []
    return [
        path_ratio_entry(
            "resolve_recursive_cache_hit_vs_local",
            cpu["referred_cached"],
            cpu["handles"],
            of="CPU time per call of a handle under a self-hosted prefix answered from the "
            "node's cache through the Handle REST Lambda handler, over a resolution of a "
            "handle stored here (medians)",
            target=RECURSIVE_HIT_VS_LOCAL,
            wall=(wall["referred_cached"], wall["handles"]),
        ),
        path_ratio_entry(
            "resolve_recursive_miss_vs_direct_peer",
            wall["referred_miss"],
            wall["direct_peer"],
            of="wall time per call of an uncached resolution (auth=true) of a handle under a "
            "self-hosted prefix through the Handle REST Lambda handler, over asking the "
            "enterprise node (the real Handle.Net server) for it directly from the same "
            "process (medians; wall time, as the enterprise node's work is in another process)",
            target=RECURSIVE_MISS_VS_DIRECT_PEER,
        ),
        cost_entry(
            "peer_resolutions_per_second",
            float(document["peer_resolutions_per_second"]),
            of="the real Handle.Net 9.2 server's own resolutions per second, asked over UDP by "
            "its own client on one thread (resolve -n 2000), in the same run",
            unit="req/s",
        ),
    ]


def request_entries(document: Mapping[str, Any]) -> list[Entry]:
    """Figures from the per-request measurement (the output of bench.resolution)."""
    cpu = {name: PathCost.of(rounds) for name, rounds in document["cpu_ns"].items()}
    wall = {name: PathCost.of(rounds) for name, rounds in document["wall_ns"].items()}
    first_call = document.get("first_call_ns", {})
    entries = [
        path_ratio_entry(
            "resolve_handles_handler_vs_get_item",
            cpu["handles"],
            cpu["get_item"],
            of="CPU time per call of a public GET /api/handles/{handle} through the Handle "
            "REST Lambda handler, over a raw boto3 GetItem (ConsistentRead) of the same item "
            "on the same endpoint (medians)",
            target=HANDLES_VS_GET_ITEM,
            wall=(wall["handles"], wall["get_item"]),
        ),
        path_ratio_entry(
            "resolve_graphql_vs_handles_handler",
            cpu["graphql"],
            cpu["handles"],
            of="CPU time per call of the ResolveIdentifier query through the GraphQL Lambda "
            "handler (Mangum), over the same resolution through the Handle REST Lambda "
            "handler (medians)",
            target=GRAPHQL_VS_HANDLES,
            wall=(wall["graphql"], wall["handles"]),
        ),
        path_ratio_entry(
            "resolve_digital_link_vs_handles_handler",
            cpu["digital_link"],
            cpu["handles"],
            of="CPU time per call of a GS1 Digital Link request (GET /01/{gtin}/21/{serial}, "
            "walking up to the GTIN's default link, a 307) through the Handle REST Lambda "
            "handler, over a Handle REST resolution through the same handler (medians)",
            target=DIGITAL_LINK_VS_HANDLES,
            wall=(wall["digital_link"], wall["handles"]),
        ),
        path_ratio_entry(
            "resolve_handle_protocol_vs_rest",
            cpu["handle_protocol"],
            cpu["handles"],
            of="CPU time per call of a Handle protocol resolution request through the HTTP "
            "interface (POST /hdl/{handle}, application/x-hdl-message) of the Handle Lambda "
            "handler, over the same resolution through its REST API (medians)",
            target=HANDLE_PROTOCOL_VS_REST,
            wall=(wall["handle_protocol"], wall["handles"]),
        ),
    ]
    described = {
        "get_item": ("resolve_get_item_us", "raw boto3 GetItem (ConsistentRead)"),
        "handles": ("resolve_handles_handler_us", "Handle REST Lambda handler, public resolution"),
        "graphql": ("resolve_graphql_handler_us", "GraphQL Lambda handler, resolve query"),
        "handle_protocol": (
            "resolve_handle_protocol_us",
            "Handle Lambda handler, Handle protocol message over its HTTP interface",
        ),
        "digital_link": (
            "resolve_digital_link_us",
            "Handle REST Lambda handler, GS1 Digital Link redirect after walking up",
        ),
    }
    for path, (name, what) in described.items():
        extra: dict[str, Any] = {
            "p90_us": round(cpu[path].p90_us, 1),
            "wall_us": round(wall[path].median_us, 1),
            "wall_p90_us": round(wall[path].p90_us, 1),
            "samples": cpu[path].samples,
        }
        if path in first_call:
            extra["first_call_wall_us"] = round(first_call[path] / 1000, 1)
        entries.append(
            cost_entry(name, cpu[path].median_us, of=f"{what}: CPU time per call, median", **extra)
        )
    entries += _referral_entries(document, cpu, wall)
    entries.append(
        cost_entry(
            "resolve_handles_handler_overhead_us",
            cpu["handles"].median_us - cpu["get_item"].median_us,
            of="what the Handle REST handler adds to one GetItem: difference of the medians",
            wall_us=round(wall["handles"].median_us - wall["get_item"].median_us, 1),
        )
    )
    return entries


def telemetry_entries(document: Mapping[str, Any]) -> list[Entry]:
    """Figures from the telemetry measurement (the output of bench.telemetry)."""
    cpu = {name: PathCost.of(rounds) for name, rounds in document["cpu_ns"].items()}
    wall = {name: PathCost.of(rounds) for name, rounds in document["wall_ns"].items()}
    first_call = document.get("first_call_ns", {})
    handler, requests, put_item = cpu["handler"], cpu["requests"], cpu["put_item"]
    ratio_row = path_ratio_entry(
        "telemetry_handler_vs_put_item",
        handler,
        put_item,
        of="CPU time per message of a valid telemetry event (4 metrics, 2 alarm rules, values "
        "within limits, a new ts each) through the device-events Lambda handler, over a raw "
        "boto3 PutItem of the same point (the telemetry item and condition) on the same "
        "endpoint (medians)",
        target=TELEMETRY_HANDLER_VS_PUT_ITEM,
        wall=(wall["handler"], wall["put_item"]),
    )
    entries = [
        replace(
            ratio_row,
            details={
                **ratio_row.details,
                "requests_per_message": document["requests_per_message"]["handler"],
                "requests_vs_put_item": round(ratio(requests.median_us, put_item.median_us), 4),
                "handler_vs_requests": round(ratio(handler.median_us, requests.median_us), 4),
                "messages": document["messages"],
            },
        )
    ]
    described = {
        "put_item": ("telemetry_put_item_us", "raw boto3 PutItem of one telemetry point"),
        "requests": (
            "telemetry_requests_us",
            "the device-events function's requests for one message as raw boto3 calls "
            "(GetItem of the device, PutItem of the point, UpdateItem of the latest values)",
        ),
        "handler": ("telemetry_handler_us", "device-events Lambda handler, one telemetry event"),
    }
    for path, (name, what) in described.items():
        entries.append(
            cost_entry(
                name,
                cpu[path].median_us,
                of=f"{what}: CPU time per message, median",
                p90_us=round(cpu[path].p90_us, 1),
                wall_us=round(wall[path].median_us, 1),
                wall_p90_us=round(wall[path].p90_us, 1),
                samples=cpu[path].samples,
                requests_per_message=document["requests_per_message"][path],
                first_call_wall_us=round(first_call[path] / 1000, 1),
            )
        )
    entries.append(
        cost_entry(
            "telemetry_handler_overhead_us",
            handler.median_us - put_item.median_us,
            of="what the device-events handler adds to one PutItem of the point: difference of "
            "the medians (its other requests included)",
            wall_us=round(wall["handler"].median_us - wall["put_item"].median_us, 1),
            over_its_requests_us=round(handler.median_us - requests.median_us, 1),
        )
    )
    return entries


def import_entries(
    durations: imports.ImportDurations,
    profiles: Mapping[str, Sequence[ImportTiming]] | None = None,
) -> list[Entry]:
    """Figures from the import measurement, net of a bare interpreter's start-up."""

    def net(samples: Mapping[str, Sequence[int]]) -> dict[str, float]:
        costs = {name: median(to_microseconds(runs)) for name, runs in samples.items()}
        return {name: us - costs["bare"] for name, us in costs.items()} | {"bare": costs["bare"]}

    cpu, wall = net(durations.cpu_ns), net(durations.wall_ns)
    runs = min(len(samples) for samples in durations.cpu_ns.values())

    def heaviest(name: str) -> dict[str, Any]:
        timings = (profiles or {}).get(name)
        if not timings:
            return {}
        return {
            "heaviest_packages_us": dict(heaviest_packages(timings)),
            "heaviest_modules_us": dict(heaviest_modules(timings)),
        }

    def versus_boto3(name: str, module: str, target: float) -> Entry:
        return ratio_entry(
            f"import_{name}_handler_vs_boto3",
            cpu[name],
            cpu["boto3"],
            of=f"CPU time of a fresh process importing {module}, over one importing boto3, "
            "each minus a bare interpreter's (medians)",
            target=target,
            runs=runs,
            **wall_details(wall[name], wall["boto3"]),
            **heaviest(name),
        )

    def cost(name: str, what: str) -> Entry:
        return cost_entry(
            name,
            cpu[what],
            of=f"{imports.STATEMENTS[what]}: CPU time of a fresh process minus a bare one's",
            wall_us=round(wall[what], 1),
        )

    return [
        versus_boto3("handles", "idnode.handlers.handles", HANDLES_IMPORT_VS_BOTO3),
        versus_boto3("graphql", "idnode.handlers.graphql", GRAPHQL_IMPORT_VS_BOTO3),
        cost("import_boto3_us", "boto3"),
        cost("import_handles_handler_us", "handles"),
        cost("import_graphql_handler_us", "graphql"),
        cost_entry(
            "interpreter_start_us",
            cpu["bare"],
            of="python -c pass: CPU time of a bare interpreter, median (subtracted above)",
            wall_us=round(wall["bare"], 1),
        ),
    ]


def measure_process(module: str, env: Mapping[str, str], rounds: int, batch: int) -> dict[str, Any]:
    """Run a measured module (bench.resolution, bench.telemetry) in a process of its own and
    read what it measured."""
    with tempfile.TemporaryDirectory(prefix="idnode-bench-") as scratch:
        output = Path(scratch) / "measured.json"
        command = [
            sys.executable,
            "-m",
            module,
            str(output),
            f"--rounds={rounds}",
            f"--batch={batch}",
        ]
        # Standard output carries the handlers' metrics (EMF) and logs: measured, not shown.
        subprocess.run(
            command,
            env=dict(env),
            cwd=REPOSITORY,
            stdout=subprocess.DEVNULL,
            check=True,
            timeout=RESOLUTION_TIMEOUT_SECONDS,
        )
        document: dict[str, Any] = json.loads(output.read_text(encoding="utf-8"))
    return document


def measure_resolution(env: Mapping[str, str], rounds: int, batch: int) -> dict[str, Any]:
    """Run bench.resolution in a process of its own and read what it measured."""
    return measure_process("bench.resolution", env, rounds, batch)


def in_table_units(entry: Entry) -> Entry:
    """The entry as the table shows it: figures without a target in microseconds (the
    latency figures are kept in milliseconds in the results, as their names say)."""
    if entry.target is None and entry.details.get("unit") == "ms":
        return replace(entry, value=entry.value * MICROSECONDS_PER_MILLISECOND)
    return entry


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--import-runs", type=int, default=11, help="fresh processes per import")
    parser.add_argument("--profile-runs", type=int, default=3, help="-X importtime profiles")
    parser.add_argument("--rounds", type=int, default=12, help="rounds of resolution calls")
    parser.add_argument("--batch", type=int, default=40, help="calls per path per round")
    parser.add_argument(
        "--no-local-cloud",
        action="store_true",
        help="skip the publish-to-queryable latency, which brings up the local cloud",
    )
    parser.add_argument(
        "--messages", type=int, default=30, help="telemetry messages timed in the local cloud"
    )
    parser.add_argument("--output", type=Path, default=RESULTS_FILE)
    parser.add_argument("--import-profile", type=Path, default=IMPORT_PROFILE_FILE)
    return parser


def _measure_imports(
    args: argparse.Namespace, env: Mapping[str, str], failures: list[str]
) -> tuple[list[Entry], dict[str, list[ImportTiming]]]:
    _progress(f"import times: {args.import_runs} fresh processes per statement")
    try:
        durations = imports.measure(
            imports.STATEMENTS, runs=args.import_runs, env=env, cwd=REPOSITORY
        )
        profiles = {
            name: median_profile(
                imports.profile(
                    imports.STATEMENTS[name], runs=args.profile_runs, env=env, cwd=REPOSITORY
                )
            )
            for name in ("handles", "graphql")
        }
        return import_entries(durations, profiles), profiles
    except (imports.ImportFailedError, subprocess.TimeoutExpired) as error:
        failures.append(f"import times: {error}")
        return [], {}


def _measure_latency(args: argparse.Namespace, failures: list[str]) -> list[Entry]:
    _progress(f"publish-to-queryable latency in the local cloud: {args.messages} messages")
    try:
        # The caller's environment: it names the local cloud, if any, not a function's.
        return latency_entries(measure_latency(os.environ, args.messages, REPOSITORY))
    except LocalCloudUnavailable as error:
        failures.append(f"publish-to-queryable latency: no local cloud: {error}")
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, ValueError) as error:
        failures.append(f"publish-to-queryable latency: {error} (its output is above)")
    return []


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    env = measured_environment(os.environ)
    started = time.monotonic()

    failures: list[str] = []
    entries, profiles = _measure_imports(args, env, failures)

    _progress(f"per-request costs: {args.rounds} rounds of {args.batch} calls per path")
    try:
        resolution = measure_resolution(env, args.rounds, args.batch)
        entries = [*request_entries(resolution), *entries]
        if resolution.get("peer_not_run"):
            failures.append(
                "recursive resolution and the real server's own rate: the Handle.Net peer "
                f"did not run ({resolution['peer_not_run']})"
            )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        failures.append(f"per-request costs: {error} (its error output is above)")

    _progress("metering: resolution with and without the production meter")
    try:
        entries += metering_entries(measure_metering(env, args.rounds, args.batch, REPOSITORY))
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        failures.append(f"metering: {error} (its error output is above)")

    _progress("telemetry: the device-events handler and a raw PutItem of the same point")
    try:
        entries += telemetry_entries(
            measure_process("bench.telemetry", env, args.rounds, args.batch)
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        failures.append(f"telemetry: {error} (its error output is above)")

    if not args.no_local_cloud:
        entries += _measure_latency(args, failures)

    write_results(args.output, entries)
    if profiles:
        args.import_profile.write_text(
            "\n\n".join(
                render_import_profile(imports.STATEMENTS[name], timings)
                for name, timings in profiles.items()
            )
            + "\n",
            encoding="utf-8",
        )
    print(render_table([in_table_units(entry) for entry in entries]))
    print()
    for entry in missed(entries):
        print(f"TARGET MISSED: {entry.name} = {entry.value:.2f}x (target <= {entry.target:.2f}x)")
    if not missed(entries) and not failures:
        print("every target met")
    for failure in failures:
        print(f"NOT MEASURED: {failure}")
    if args.no_local_cloud:
        print("SKIPPED: publish-to-queryable latency (--no-local-cloud)")
    print(f"results: {_shown(args.output)}, import profile: {_shown(args.import_profile)}")
    print(f"took {time.monotonic() - started:.0f} s")
    # A missed target is information; a measurement that could not be made is a failure.
    return 1 if failures else 0


def _progress(message: str) -> None:
    print(f"bench: {message} ...", file=sys.stderr, flush=True)


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPOSITORY))
    except ValueError:
        return str(path)
