"""The `idnode simulate` command: its options, and a run from signing in to the summary."""

from __future__ import annotations

import argparse
import getpass
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from idnode.cli.simulator.behaviour import MAX_RATE
from idnode.cli.simulator.counters import Counters, summary
from idnode.cli.simulator.endpoints import (
    PlatformEndpoints,
    local_broker,
    read_endpoints,
    sign_in,
)
from idnode.cli.simulator.keys import KeyStore
from idnode.cli.simulator.mqtt import AwsBroker, Broker, MqttLink
from idnode.cli.simulator.platform import Platform, graphql_call
from idnode.cli.simulator.provisioning import provision_fleet
from idnode.cli.simulator.simulation import Simulation, build_sessions
from idnode.cli.workspace import CommandError, Workspace

DEFAULT_PROFILE = "sim-sensor"
EXIT_NO_CONNECTION = 1


def add_simulate_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `idnode simulate` to the command line."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "simulate",
        help="provision simulated sensors and run them over MQTT",
        description="Provision N simulated pump sensors (SIM-0001..) on the platform, or reuse "
        "the ones provisioned before, and run them: telemetry at R messages/s each, answers to "
        "commands, desired state applied from their shadows. Ctrl-C stops.",
    )
    parser.add_argument("--devices", type=_positive_int, required=True, help="how many devices")
    parser.add_argument(
        "--rate",
        type=_rate,
        required=True,
        help=f"telemetry messages per second per device (at most {MAX_RATE:g})",
    )
    parser.add_argument(
        "--duration",
        type=_positive_float,
        default=None,
        help="seconds to run (default: until Ctrl-C)",
    )
    parser.add_argument(
        "--endpoints",
        type=Path,
        default=None,
        help="endpoints file (default: .idnode/endpoints.json written by `idnode up`)",
    )
    parser.add_argument(
        "--profile", default=DEFAULT_PROFILE, help=f"device profile (default {DEFAULT_PROFILE})"
    )
    parser.add_argument("--username", default=None, help="who signs in (local default: demo)")
    parser.add_argument("--password", default=None, help="asked for when a username is given")
    parser.add_argument("--seed", type=int, default=None, help="seed of the simulated readings")
    parser.set_defaults(run=run_simulate)
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive number: {text}")
    return value


def _rate(text: str) -> float:
    value = _positive_float(text)
    if value > MAX_RATE:
        raise argparse.ArgumentTypeError(f"at most {MAX_RATE:g} messages/s per device: {text}")
    return value


def _credentials(args: argparse.Namespace, endpoints: PlatformEndpoints) -> tuple[str, str]:
    username = args.username or endpoints.username
    if not username:
        raise CommandError("--username is required outside the local cloud")
    password = args.password
    if password is None:
        password = endpoints.password if username == endpoints.username else None
    if password is None:
        password = getpass.getpass(f"Password for {username}: ")
    return username, password


def run_simulate(
    args: argparse.Namespace,
    out: TextIO = sys.stdout,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """`idnode simulate`: provision, connect, run, report. Exit code 1 when no device could
    connect."""
    workspace = Workspace.locate()
    endpoints = read_endpoints(args.endpoints or workspace.endpoints_file)
    username, password = _credentials(args, endpoints)
    token = sign_in(endpoints, username, password)
    platform = Platform(graphql_call(endpoints.graphql_url, token))
    viewer = platform.viewer()
    if not viewer.enterprise or not viewer.prefixes:
        raise CommandError(f"{username} belongs to no enterprise with a prefix")
    enterprise, prefix = viewer.enterprise, viewer.prefixes[0]
    if platform.ensure_profile(enterprise, args.profile):
        out.write(f"Defined device profile {args.profile} for {enterprise}\n")
    store = KeyStore(workspace.state_dir / "simulator" / prefix)
    out.write(f"Preparing {args.devices} device(s) under {prefix} (keys in {store.directory})\n")
    out.flush()
    fleet = provision_fleet(
        platform,
        store,
        enterprise=enterprise,
        prefix=prefix,
        profile=args.profile,
        count=args.devices,
    )
    for problem in fleet.problems:
        out.write(f"  not simulated: {problem}\n")
    done = ", ".join(f"{count} {action}" for action, count in sorted(fleet.actions.items()))
    out.write(f"{len(fleet.devices)} device(s) ready ({done or 'nothing to do'})\n")
    if not fleet.devices:
        raise CommandError("no device could be provisioned")
    broker: Broker = local_broker(endpoints) if endpoints.local else AwsBroker()
    counters = Counters(len(fleet.devices))
    sessions = build_sessions(
        fleet.devices,
        counters,
        rate=args.rate,
        seed=args.seed,
        link=lambda credentials, session: MqttLink(credentials, broker, session),
    )
    simulation = Simulation(sessions, counters, out=out, clock=clock, sleep=sleep)
    try:
        connected = simulation.start()
        if connected == 0:
            simulation.stop()
            reason = counters.last_connection_error or "no answer"
            out.write(f"No device could connect ({reason})\n")
            return EXIT_NO_CONNECTION
        out.write(f"{connected}/{len(sessions)} device(s) connected; publishing (Ctrl-C stops)\n")
        out.flush()
        simulation.run(args.duration)
    except KeyboardInterrupt:
        out.write("\nStopping\n")
    final = simulation.stop()
    # Shadows may have changed some devices' rates during the run.
    target = sum(session.device.generator.rate for session in sessions)
    out.write(summary(final, target) + "\n")
    return 0 if counters.ever_connected else EXIT_NO_CONNECTION
