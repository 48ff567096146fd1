"""The `idnode` command: local cloud lifecycle, in-process serving, schema export, CDK for AWS.

Importing this module stays cheap: each subcommand imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from idnode.cli.workspace import CommandError, Workspace
from idnode.settings import SettingsError

EXIT_FAILURE = 1
EXIT_INTERRUPTED = 130


def _up(args: argparse.Namespace) -> int:
    from idnode.cli import localcloud  # noqa: PLC0415

    return localcloud.up(detach=args.detach, verbose=args.verbose)


def _down(_args: argparse.Namespace) -> int:
    from idnode.cli import localcloud  # noqa: PLC0415

    return localcloud.down()


def _status(_args: argparse.Namespace) -> int:
    from idnode.cli import localcloud  # noqa: PLC0415

    return localcloud.status()


def _serve(args: argparse.Namespace) -> int:
    from idnode.cli import gateway  # noqa: PLC0415  (loads uvicorn and the handlers)

    try:
        gateway.serve(args.host, args.port)
    except gateway.GatewayConfigError as exc:
        raise CommandError(str(exc)) from exc
    return 0


def _handle_server(args: argparse.Namespace) -> int:
    from idnode.cli import handle_server  # noqa: PLC0415

    return handle_server.serve(
        args.host or ["127.0.0.1"], args.tcp_port, args.udp_port, args.relay, args.http_port
    )


def _schema(args: argparse.Namespace) -> int:
    from idnode.cli.schema import export_schema  # noqa: PLC0415

    export_schema(args.output)
    return 0


def _cdk_for_aws(args: argparse.Namespace) -> int:
    from idnode.cli import cdk  # noqa: PLC0415

    workspace = Workspace.locate()
    cdk.ensure_cli(workspace, os.environ)
    extra = [arg for arg in args.cdk_args if arg != "--"]
    return cdk.run_for_aws(workspace, os.environ, args.command, extra)


def build_parser() -> argparse.ArgumentParser:
    """The command line, one subcommand per action."""
    parser = argparse.ArgumentParser(
        prog="idnode",
        description="Identifier resolution node: local cloud, local serving and deployment.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = commands.add_parser(
        "up",
        help="start the local cloud if needed, deploy, seed the demo node, print the endpoints",
    )
    up.add_argument(
        "--detach", action="store_true", help="return once ready instead of serving until Ctrl-C"
    )
    up.add_argument(
        "-v", "--verbose", action="store_true", help="show the CDK CLI's output as it runs"
    )
    up.set_defaults(run=_up)

    down = commands.add_parser("down", help="stop what `idnode up` started")
    down.set_defaults(run=_down)

    status = commands.add_parser("status", help="whether the local cloud is up, and its endpoints")
    status.set_defaults(run=_status)

    serve = commands.add_parser(
        "serve", help="serve the GraphQL and Handle APIs in-process (uvicorn)"
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to bind (default 8000)")
    serve.set_defaults(run=_serve)

    hdl = commands.add_parser(
        "handle-server", help="serve the Handle protocol over TCP and UDP (RFC 3652)"
    )
    hdl.add_argument(
        "--host",
        action="append",
        default=None,
        help="address to bind, repeat for IPv4 and IPv6 (default 127.0.0.1)",
    )
    hdl.add_argument("--tcp-port", type=int, default=2641, help="TCP port (default 2641)")
    hdl.add_argument("--udp-port", type=int, default=2641, help="UDP port (default 2641)")
    hdl.add_argument(
        "--http-port", type=int, default=None, help="also serve the HTTP interface on this port"
    )
    hdl.add_argument(
        "--relay",
        default=None,
        metavar="URL",
        help="answer by posting messages to this HTTP interface (e.g. http://.../hdl) "
        "instead of in process",
    )
    hdl.set_defaults(run=_handle_server)

    schema = commands.add_parser("schema", help="export the GraphQL schema (SDL)")
    schema.add_argument(
        "--output", type=Path, default=None, help="file to write (default: standard output)"
    )
    schema.set_defaults(run=_schema)

    # Imported here: the simulator's GraphQL client and MQTT wiring are for this command only.
    from idnode.cli.simulator import add_simulate_parser  # noqa: PLC0415

    add_simulate_parser(commands)

    for verb, text in (
        ("synth", "synthesise the CDK app for AWS into infra/cdk/cdk.out"),
        ("deploy", "deploy the CDK app to the AWS account in the environment"),
    ):
        cdk_command = commands.add_parser(
            verb, help=text, description=f"{text}. Extra arguments go to `cdk {verb}`."
        )
        cdk_command.set_defaults(run=_cdk_for_aws, passes_extra_arguments=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `idnode` console script; returns the exit code."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "passes_extra_arguments", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.cdk_args = extra
    try:
        code: int = args.run(args)
    except KeyboardInterrupt:
        sys.stderr.write("idnode: interrupted\n")
        return EXIT_INTERRUPTED
    except (CommandError, SettingsError) as exc:
        # Tool, emulator and deploy failures carry their own explanation and log excerpt.
        sys.stderr.write(f"idnode {args.command}: error: {exc}\n")
        return EXIT_FAILURE
    return code


if __name__ == "__main__":
    sys.exit(main())
