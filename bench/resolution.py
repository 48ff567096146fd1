"""Per-request cost of resolving one identifier, in a process of its own.

Three paths read the same item from the same DynamoDB endpoint (moto's backend served over
HTTP on loopback, `bench.endpoint`), so that each pays one network round trip per request,
as in AWS:

- `get_item`: a raw boto3 `GetItem` with a strongly consistent read, the floor;
- `handles`: a public `GET /api/handles/{handle}` through the Handle REST Lambda handler;
- `graphql`: the published `ResolveIdentifier` operation through the GraphQL Lambda handler;
- `handle_protocol`: a resolution request in the Handle protocol (RFC 3652) POSTed to the
  HTTP interface, `POST /hdl/{handle}`, through the same Handle REST handler;
- with the real Handle.Net server beside the repository as a self-hosted enterprise node:
  `referred_cached` (a handle under its prefix through the Handle REST handler, from the
  cache), `referred_miss` (the same with `auth=true`, resolved at the enterprise node on every
  call) and `direct_peer` (the same handle asked of the enterprise node by the node's own
  client); and the real server's own resolutions per second (`resolve -n`, UDP);
- `digital_link`: a GS1 Digital Link request for a serialised GTIN whose serial has no links
  of its own, `GET /01/{gtin}/21/{serial}`, answered by the GTIN's default link (a 307) through
  the same Handle REST handler: one batch read of the key and the keys it walks up to.

After a warm-up, the paths take turns call by call (the order rotates with every turn),
in rounds of `batch` calls per path, so that drift in the machine's load reaches every
path alike. Every call is timed on its own, in process CPU time and in wall time; its
inputs (event, context) are built before the clocks start. The endpoint runs in this
process, so its CPU time (standing for DynamoDB's) is counted on every path alike, while
time the process spent waiting for a core, which a busy machine adds at random, is not.

The suite runs this module as `python -m bench.resolution OUTPUT` in the environment of
`bench.environment.measured_environment`, and reads the per-call durations from OUTPUT.
"""

from __future__ import annotations

import argparse
import base64
import gc
import json
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from bench import peer
from bench.endpoint import dynamodb_endpoint
from bench.peer import HANDLE as PEER_HANDLE
from bench.peer import PREFIX as PEER_PREFIX
from bench.peer import URL as PEER_URL
from bench.peer import Peer
from idnode.api.handle_protocol import MIME_TYPE
from idnode.cli.gateway import DEFAULT_ROUTES, LocalLambdaContext, Route, http_api_event
from idnode.domain.handles import Handle
from idnode.domain.links import build_links
from idnode.domain.prefixes import Prefix
from idnode.domain.protocol.wire import FLAG_PUBL, RC_SUCCESS, decode_response, encode_request
from idnode.domain.records import MAX_VALUES, new_record
from idnode.domain.values import parse_values
from idnode.handlers import graphql as graphql_function
from idnode.handlers import handles as handles_function
from idnode.node import current_node
from idnode.settings import Settings, get_settings

HANDLE = "88.100.1234/PUMP-0001"
GTIN_HANDLE = "88.100.1234/01/09506000134352"
DIGITAL_LINK_PATH = "/01/09506000134352/21/SN-0001"
LINKS: list[dict[str, Any]] = [
    {
        "linkType": "gs1:pip",
        "href": "https://example.com/products/cp-200",
        "title": "CP-200",
        "hreflang": ["en"],
        "default": True,
    },
    {
        "linkType": "gs1:pip",
        "href": "https://example.com/zh/products/cp-200",
        "title": "CP-200",
        "hreflang": ["zh"],
    },
    {
        "linkType": "gs1:instructions",
        "href": "https://example.com/manuals/cp-200.pdf",
        "title": "Manual",
        "type": "application/pdf",
    },
]
ENTERPRISE = "ent-1234"
# A typical industrial record: public links and attributes, one restricted value.
VALUES: list[dict[str, Any]] = [
    {"index": 1, "type": "URL", "data": "https://example.com/products/pump-0001"},
    {"index": 2, "type": "URL.mobile", "data": "https://m.example.com/p/pump-0001", "ttl": 300},
    {"index": 3, "type": "EMAIL", "data": "service@example.com"},
    {"index": 4, "type": "PRODUCT.model", "data": "CP-200"},
    {"index": 5, "type": "PRODUCT.batch", "data": "2024-W17"},
    {"index": 6, "type": "SERIAL", "data": "SN-0001", "restricted": True},
]
PUBLIC_VALUES = sum(1 for value in VALUES if not value.get("restricted"))
RESOLVE_OPERATION = (
    Path(__file__).resolve().parents[1] / "graphql" / "operations" / "ResolveIdentifier.graphql"
)

Call = Callable[[], object]


class BenchmarkSetupError(RuntimeError):
    """A path did not answer as a successful resolution: its timing would mean nothing."""


@dataclass(frozen=True)
class RequestPath:
    """A way to resolve the identifier: `prepare` builds one call's inputs, untimed."""

    name: str
    prepare: Callable[[], Call]
    check: Callable[[object], None]


def _route(function_name: str) -> Route:
    return next(route for route in DEFAULT_ROUTES if route.function_name == function_name)


def seed() -> None:
    """Create the tables on the endpoint and register the identifier."""
    node = current_node()
    for model in node.tables.all():
        model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
    node.prefixes.put(Prefix(HANDLE.split("/", 1)[0], ENTERPRISE))
    record = new_record(
        Handle.parse(HANDLE), parse_values(VALUES, max_values=MAX_VALUES), datetime.now(UTC)
    )
    node.identifiers.create(record)
    gtin = new_record(
        Handle.parse(GTIN_HANDLE), parse_values(VALUES, max_values=MAX_VALUES), datetime.now(UTC)
    )
    node.identifiers.create(gtin)  # with its key, gs1:01/09506000134352
    stored = [link.to_json() for link in build_links(LINKS)]
    node.keys.set_links(f"gs1:{GTIN_HANDLE.split('/', 1)[1]}", stored, at=0, expected=0)


def get_item_path(node_settings: Settings) -> RequestPath:
    client = boto3.client(
        "dynamodb", region_name=node_settings.region, endpoint_url=node_settings.endpoint_url
    )
    table = node_settings.identifiers_table
    key = {"handle": {"S": Handle.parse(HANDLE).key}}

    def call() -> object:
        return client.get_item(TableName=table, Key=key, ConsistentRead=True)

    def check(response: object) -> None:
        if not (isinstance(response, dict) and "Item" in response):
            raise BenchmarkSetupError(f"GetItem found nothing: {response!r}")

    return RequestPath("get_item", lambda: call, check)


def handles_path() -> RequestPath:
    route = _route("idnode-handles")
    handler = handles_function.handler

    def prepare() -> Call:
        event = http_api_event("GET", f"/api/handles/{HANDLE}")
        context = LocalLambdaContext.for_route(route)
        return lambda: handler(event, context)

    def check(response: object) -> None:
        body = _body(response)
        if body.get("handle") != HANDLE or len(body.get("values", [])) != PUBLIC_VALUES:
            raise BenchmarkSetupError(f"the Handle API did not resolve {HANDLE}: {response!r}")

    return RequestPath("handles", prepare, check)


def digital_link_path() -> RequestPath:
    route = _route("idnode-handles")
    handler = handles_function.handler
    default = LINKS[0]["href"]

    def prepare() -> Call:
        event = http_api_event("GET", DIGITAL_LINK_PATH)
        context = LocalLambdaContext.for_route(route)
        return lambda: handler(event, context)

    def check(response: object) -> None:
        if not (
            isinstance(response, dict)
            and response.get("statusCode") == 307
            and response.get("headers", {}).get("Location") == default
        ):
            raise BenchmarkSetupError(f"the resolver did not redirect to {default}: {response!r}")

    return RequestPath("digital_link", prepare, check)


def handle_protocol_path() -> RequestPath:
    """A resolution request in the Handle protocol, POSTed to the HTTP interface (`/hdl`)."""
    route = _route("idnode-handles")
    handler = handles_function.handler
    message = encode_request(HANDLE, request_id=7, flags=FLAG_PUBL, now=int(time.time()))

    def prepare() -> Call:
        event = http_api_event(
            "POST",
            "/hdl/" + HANDLE.replace("/", "%2F"),
            headers={"content-type": MIME_TYPE},
            body=message,
        )
        context = LocalLambdaContext.for_route(route)
        return lambda: handler(event, context)

    def check(response: object) -> None:
        if not (isinstance(response, dict) and response.get("statusCode") == 200):
            raise BenchmarkSetupError(f"the HTTP interface did not answer: {response!r}")
        answer = decode_response(base64.b64decode(response["body"]))
        if answer.response_code != RC_SUCCESS:
            raise BenchmarkSetupError(f"the HTTP interface did not resolve {HANDLE}: {answer!r}")
        if int.from_bytes(answer.body[4 + len(HANDLE) : 8 + len(HANDLE)]) != PUBLIC_VALUES:
            raise BenchmarkSetupError(f"the HTTP interface returned other values: {answer!r}")

    return RequestPath("handle_protocol", prepare, check)


def _self_hosted(peer: Peer) -> None:
    """The enterprise of peer.PREFIX runs its own node: the real server."""
    from idnode.domain.enterprises import Contact, Enterprise, Hosting, Profile  # noqa: PLC0415
    from idnode.domain.industries import parse_industry  # noqa: PLC0415
    from idnode.domain.routing import HdlType, NodeAddress  # noqa: PLC0415

    node = current_node()
    at = datetime.now(UTC)
    nodes = (NodeAddress(HdlType.HS_SITE, "127.0.0.1", 4, peer.hdl_port, peer.hdl_port),)
    profile = Profile(
        legal_name="Bench Valves Ltd",
        uscc="BENCH0000000000001",
        industry=parse_industry("C3443"),
        contact=Contact("Wang", "wang@example.com", "+86 591 8765 4321"),
        domains=("example.com",),
        hosting=Hosting.SELF_HOSTED,
        service_nodes=nodes,
    )
    node.enterprises.create(Enterprise(profile.uscc, profile, PEER_PREFIX, at, at))
    node.prefixes.put(Prefix(PEER_PREFIX, profile.uscc))


def referred_path(name: str, query: str) -> RequestPath:
    """A handle under the self-hosted prefix through the Handle REST handler: answered from
    the cache (`referred_cached`), or resolved at the enterprise node on every call
    (`referred_miss`: `auth=true` never comes from the cache)."""
    route = _route("idnode-handles")
    handler = handles_function.handler

    def prepare() -> Call:
        event = http_api_event("GET", f"/api/handles/{PEER_HANDLE}{query}")
        context = LocalLambdaContext.for_route(route)
        return lambda: handler(event, context)

    def check(response: object) -> None:
        body = _body(response)
        if [v["data"]["value"] for v in body.get("values", [])] != [PEER_URL]:
            raise BenchmarkSetupError(f"{name} did not resolve {PEER_HANDLE}: {response!r}")

    return RequestPath(name, prepare, check)


def direct_peer_path(peer: Peer) -> RequestPath:
    """The same handle asked of the enterprise node directly, by the node's own client."""
    from idnode.adapters.handle_client import HandleClient  # noqa: PLC0415
    from idnode.domain.routing import HdlType, NodeAddress  # noqa: PLC0415

    site = NodeAddress(HdlType.HS_SITE, "127.0.0.1", 4, peer.hdl_port, peer.hdl_port).site()
    client = HandleClient()

    def call() -> object:
        return client.query([site], PEER_HANDLE)

    def check(reply: object) -> None:
        if getattr(reply, "response_code", None) != RC_SUCCESS:
            raise BenchmarkSetupError(f"the enterprise node did not resolve {PEER_HANDLE}")

    return RequestPath("direct_peer", lambda: call, check)


def graphql_path() -> RequestPath:
    route = _route("idnode-graphql")
    handler = graphql_function.handler
    document = json.dumps(
        {"query": RESOLVE_OPERATION.read_text(encoding="utf-8"), "variables": {"handle": HANDLE}}
    )

    def prepare() -> Call:
        event = http_api_event(
            "POST", "/graphql", headers={"content-type": "application/json"}, body=document
        )
        context = LocalLambdaContext.for_route(route)
        return lambda: handler(event, context)

    def check(response: object) -> None:
        resolved = _body(response).get("data", {}).get("resolve") or {}
        if resolved.get("__typename") != "Identifier":
            raise BenchmarkSetupError(f"GraphQL did not resolve {HANDLE}: {response!r}")
        if len(resolved.get("values", [])) != PUBLIC_VALUES:
            raise BenchmarkSetupError(f"GraphQL returned other values: {response!r}")

    return RequestPath("graphql", prepare, check)


def _body(response: object) -> dict[str, Any]:
    if not (isinstance(response, dict) and response.get("statusCode") == 200):
        raise BenchmarkSetupError(f"not a 200 response: {response!r}")
    body: dict[str, Any] = json.loads(response["body"])
    return body


def measure(
    paths: Sequence[RequestPath], *, rounds: int, batch: int, warmup: int
) -> dict[str, Any]:
    """Per-call costs in nanoseconds, per path and round, as process CPU time and as wall
    time; and each path's first call (wall time).

    Within a round the paths take turns call by call, in an order that rotates with every
    turn, so that a burst of load from elsewhere on the machine reaches all of them alike.
    """
    first_call: dict[str, int] = {}
    for path in paths:
        call = path.prepare()
        start = time.perf_counter_ns()
        response = call()
        first_call[path.name] = time.perf_counter_ns() - start
        path.check(response)
    for _ in range(warmup):
        for path in paths:
            path.prepare()()
    cpu: dict[str, list[list[int]]] = {path.name: [] for path in paths}
    wall: dict[str, list[list[int]]] = {path.name: [] for path in paths}
    for _ in range(rounds):
        turns = []
        for number in range(batch):
            shift = number % len(paths)
            turns += [(path.name, path.prepare()) for path in [*paths[shift:], *paths[:shift]]]
        round_cpu: dict[str, list[int]] = {path.name: [] for path in paths}
        round_wall: dict[str, list[int]] = {path.name: [] for path in paths}
        # Collect now so that one round's garbage is not charged to the next.
        gc.collect()
        for name, call in turns:
            # Process CPU time counts the endpoint's thread too: it stands for DynamoDB.
            started_cpu, started_wall = time.process_time_ns(), time.perf_counter_ns()
            call()
            round_wall[name].append(time.perf_counter_ns() - started_wall)
            round_cpu[name].append(time.process_time_ns() - started_cpu)
        for path in paths:
            cpu[path.name].append(round_cpu[path.name])
            wall[path.name].append(round_wall[path.name])
    return {"cpu_ns": cpu, "wall_ns": wall, "first_call_ns": first_call}


def run(rounds: int, batch: int, warmup: int) -> dict[str, Any]:
    """Start the endpoint (and the real Handle.Net server where it is available), seed them,
    measure every path, stop them."""
    not_run = peer.available()
    with ExitStack() as stack:
        enterprise_node = None if not_run else stack.enter_context(peer.running())
        document = _run(rounds, batch, warmup, enterprise_node)
    if enterprise_node is None:
        document["peer_not_run"] = not_run
    return document


def _run(rounds: int, batch: int, warmup: int, enterprise_node: Peer | None) -> dict[str, Any]:
    with dynamodb_endpoint() as endpoint_url:
        # Read by botocore and by the node's settings, which are built at first use.
        os.environ["AWS_ENDPOINT_URL"] = endpoint_url
        node_settings = get_settings()
        seed()
        paths = [
            get_item_path(node_settings),
            handles_path(),
            graphql_path(),
            digital_link_path(),
            handle_protocol_path(),
        ]
        if enterprise_node is not None:
            _self_hosted(enterprise_node)
            paths += [
                referred_path("referred_cached", ""),
                referred_path("referred_miss", "?auth=true"),
                direct_peer_path(enterprise_node),
            ]
        measured = measure(paths, rounds=rounds, batch=batch, warmup=warmup)
        if enterprise_node is not None:
            measured["peer_resolutions_per_second"] = peer.own_rate(enterprise_node)
    return {
        "handle": HANDLE,
        "endpoint": "moto's DynamoDB backend over HTTP on loopback, served in this process",
        "rounds": rounds,
        "batch": batch,
        "warmup": warmup,
        **measured,
    }


def process_main(
    prog: str,
    description: str | None,
    run_measurements: Callable[[int, int, int], dict[str, Any]],
    argv: Sequence[str] | None,
) -> int:
    """The command line of a measured process: measure, write the durations to OUTPUT."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("output", type=Path, help="where to write the per-call durations")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--batch", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args(argv)
    # The GraphQL function records no metric of its own; Powertools warns about it per call.
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    document = run_measurements(args.rounds, args.batch, args.warmup)
    args.output.write_text(json.dumps(document), encoding="utf-8")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return process_main("python -m bench.resolution", __doc__, run, argv)


if __name__ == "__main__":
    sys.exit(main())
