"""A self-hosted enterprise node that is the real Handle.Net 9.2 server.

The node (on moto, behind the local gateway, with its TCP/UDP service) holds an enterprise
whose prefix 88.100.1234 is self-hosted at a real Handle.Net server on loopback. Unchanged
clients resolve a handle registered only there through the node: pyhandle over the REST API
(resolved at the enterprise node), and upstream's HandleResolver by full resolution from the
node as its root (which refers it to the enterprise node). The node's referral answer is the
one a Handle.Net v9 server gives in the same position, byte for byte but for the timestamps
each server stamps.
"""

from __future__ import annotations

import base64
import json
import re
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws
from pyhandle.handleclient import PyHandleClient

from idnode.adapters.handle_client import HandleClient
from idnode.adapters.signing import ensure_key_file
from idnode.domain.enterprises import Enterprise
from idnode.domain.errors import UpstreamError
from idnode.domain.routing import HdlType, NodeAddress
from idnode.node import Node, use_node
from tests.support.handle_peer import (
    RealServer,
    peer_tools,
    resolve,
    self_hosted_profile,
    serve_node,
    start_real_server,
    write_site,
)
from tests.support.identity import TokenIssuer
from tests.support.node import ENTERPRISE, PREFIX, build_test_node, settings

HANDLE = f"{PREFIX}/DEVICE-1"
URL = "https://example.com/devices/1"
ADMIN = f"300%3A{PREFIX}%2FADMIN"


@dataclass
class World:
    node: Node
    base_url: str
    site_file: Path
    enterprise_node: RealServer
    v9_root: RealServer
    issuer: TokenIssuer


def _self_hosted(node: Node, server: RealServer) -> None:
    at = datetime.now(UTC)
    profile = self_hosted_profile(
        ENTERPRISE,
        NodeAddress(
            HdlType.HS_SITE,
            "127.0.0.1",
            4,
            tcp_port=server.hdl_port,
            udp_port=server.hdl_port,
            http_port=server.http_port,
            # Its answers must then be signed with its own key (pubkey.bin, Handle's encoding).
            public_key=base64.b64encode((server.directory / "pubkey.bin").read_bytes()).decode(),
        ),
    )
    node.enterprises.create(Enterprise(ENTERPRISE, profile, PREFIX, at, at))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    peer_tools()
    workdir = tmp_path_factory.mktemp("enterprise")
    enterprise_node = start_real_server(workdir / "enterprise", PREFIX)
    v9_root = start_real_server(workdir / "v9-root", "88.100")
    try:
        enterprise_node.put(
            HANDLE,
            [{"index": 1, "type": "URL", "data": {"format": "string", "value": URL}}],
            ADMIN,
        )
        with mock_aws(), serve_node() as served:
            key = ensure_key_file(workdir / "handle-key.pem")
            issuer = TokenIssuer()
            node = build_test_node(
                issuer,
                replace(settings(), handle_interfaces=served.interfaces, handle_key_file=str(key)),
            )
            _self_hosted(node, enterprise_node)
            use_node(node)
            try:
                assert node.sites.site is not None
                site_file = write_site(workdir / "siteinfo.json", node.sites.site)
                yield World(node, served.base_url, site_file, enterprise_node, v9_root, issuer)
            finally:
                use_node(None)
    finally:
        enterprise_node.stop()
        v9_root.stop()


def _get(world: World, path: str) -> tuple[int, dict[str, Any], Message]:
    """Status, JSON body and headers (looked up case-insensitively) of a GET."""
    try:
        with urllib.request.urlopen(world.base_url + path, timeout=20) as reply:  # noqa: S310
            return reply.status, json.load(reply), reply.headers
    except urllib.error.HTTPError as error:
        return error.code, json.load(error), error.headers


def test_pyhandle_resolves_a_handle_of_the_self_hosted_node(world: World) -> None:
    reader = PyHandleClient("rest").instantiate_for_read_access(handle_server_url=world.base_url)
    assert reader.get_value_from_handle(HANDLE, "URL") == URL
    assert reader.retrieve_handle_record_json(f"{PREFIX}/NOT-THERE") is None


def test_the_rest_answer_says_where_it_came_from_and_is_cached(world: World) -> None:
    status, body, _ = _get(world, f"/api/handles/{PREFIX}/DEVICE-1")
    assert (status, body["responseCode"], body["values"][0]["data"]["value"]) == (200, 1, URL)
    again = _get(world, f"/api/handles/{PREFIX}/DEVICE-1")[2]["X-Idnode-Source"]
    assert re.fullmatch(r"referred; site=127\.0\.0\.1:\d+/UDP; cached=true; age=\d+", again)
    fresh = _get(world, f"/api/handles/{PREFIX}/DEVICE-1?auth=true")[2]["X-Idnode-Source"]
    assert "cached=false" in fresh  # auth=true never comes from the cache


def test_the_prefix_handle_names_the_enterprise_node(world: World) -> None:
    for name in (f"0.NA/{PREFIX}", PREFIX):
        status, body, _ = _get(world, f"/api/handles/{name}")
        assert status == 200, body
        assert [v["type"] for v in body["values"]] == ["HS_SITE", "HS_SITE.PREFIX"]
        site = body["values"][0]["data"]["value"]
        interfaces = site["servers"][0]["interfaces"]
        assert {(i["protocol"], i["port"]) for i in interfaces} == {
            ("TCP", world.enterprise_node.hdl_port),
            ("UDP", world.enterprise_node.hdl_port),
            ("HTTP", world.enterprise_node.http_port),
        }


def test_real_client_resolves_through_the_node_to_the_enterprise_node(world: World) -> None:
    """Full resolution with the node as root: 0.NA/88.100.1234 (certified, signed by the
    node) names the enterprise node's site, which the client then asks itself."""
    done = resolve("--root-site", str(world.site_file), "--trace", HANDLE)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"index=1 type=URL ttl=86400 data={URL}" in done.stdout
    assert str(world.enterprise_node.hdl_port) in done.stderr  # it went there itself


def _without_timestamps(raw: bytes) -> str:
    return re.sub(rb'"timestamp":"[^"]+"', b'"timestamp":"-"', raw).decode()


def test_a_referral_is_what_handle_net_v9_answers(world: World) -> None:
    """A v9 server homing 88.100 whose 0.NA/88.100.1234 holds the node's values refers a
    derived prefix (0.NA/88.100.1234.5) with HTTP 300; the node answers the same."""
    values = _get(world, f"/api/handles/0.NA/{PREFIX}")[1]["values"]
    world.v9_root.put(
        f"0.NA/{PREFIX}",
        [{k: v for k, v in value.items() if k != "timestamp"} for value in values],
        "300%3A88.100%2FADMIN",
    )
    derived = f"/api/handles/0.NA/{PREFIX}.5"
    v9_status, v9_body = world.v9_root.get(derived)
    try:
        urllib.request.urlopen(world.base_url + derived + "?referral=true", timeout=10)  # noqa: S310
        raise AssertionError("a referral is answered with HTTP 300")
    except urllib.error.HTTPError as error:
        our_status, our_body = error.code, error.read()
    assert (our_status, v9_status) == (300, 300)
    assert _without_timestamps(our_body) == _without_timestamps(v9_body)


def test_a_name_under_the_self_hosted_prefix_is_referred_on_request(world: World) -> None:
    status, body, _ = _get(world, f"/api/handles/{HANDLE}?referral=true")
    assert (status, body["responseCode"], body["handle"]) == (300, 303, HANDLE)
    assert list(body) == ["responseCode", "values", "handle"]
    assert [v["type"] for v in body["values"]] == ["HS_SITE"]


def test_graphql_says_the_answer_was_referred(world: World) -> None:
    query = {
        "query": "query($h: String!) { resolve(handle: $h) { __typename "
        "... on ResolvedIdentifier { handle values { type } provenance "
        "{ source site fromCache ageSeconds stale } } } }",
        "variables": {"h": HANDLE},
    }
    request = urllib.request.Request(  # noqa: S310 - loopback http
        world.base_url + "/graphql",
        data=json.dumps(query).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=20) as reply:  # noqa: S310
        answer = json.load(reply)["data"]["resolve"]
    assert answer["__typename"] == "ResolvedIdentifier", answer
    assert answer["values"] == [{"type": "URL"}]
    provenance = answer["provenance"]
    assert provenance["source"] == "REFERRED"
    assert provenance["site"].startswith("127.0.0.1:")
    assert provenance["stale"] is False


def test_answers_signed_with_another_key_are_refused(world: World) -> None:
    """The enterprise node's answers are checked against the key registered for it: the
    node's own key in its place makes every answer untrustworthy, a clear 502-class error."""
    assert world.node.signer is not None
    impostor = NodeAddress(
        HdlType.HS_SITE,
        "127.0.0.1",
        4,
        tcp_port=world.enterprise_node.hdl_port,
        public_key=base64.b64encode(world.node.signer.public_key_bytes).decode(),
    )
    with pytest.raises(UpstreamError, match="signature does not verify"):
        HandleClient().query([impostor.site()], HANDLE)
    trusted = NodeAddress(
        HdlType.HS_SITE,
        "127.0.0.1",
        4,
        tcp_port=world.enterprise_node.hdl_port,
        public_key=base64.b64encode(
            (world.enterprise_node.directory / "pubkey.bin").read_bytes()
        ).decode(),
    )
    assert HandleClient().query([trusted.site()], HANDLE).response_code == 1


def test_an_unreachable_enterprise_node_is_a_clear_bounded_error(world: World) -> None:
    """A handle never resolved before, while the enterprise node is stopped: a typed error
    within the client's deadline, and no 5xx without an explanation."""
    assert (world.node.health.probe_all().up, world.node.health.probe_all().down) == (1, 0)
    world.enterprise_node.stop()
    started = time.monotonic()
    status, body, _ = _get(world, f"/api/handles/{PREFIX}/NEVER-ASKED")
    assert time.monotonic() - started < 10
    assert status == 504, body
    assert "no enterprise node answered" in body["message"]
    # What was asked before is still answered, from the cache.
    status, body, _ = _get(world, f"/api/handles/{HANDLE}")
    assert (status, body["values"][0]["data"]["value"]) == (200, URL)


def test_the_stopped_enterprise_node_is_seen_down_with_its_outage(world: World) -> None:
    """After the previous test stopped it: two failed probes make an outage."""
    world.node.health.probe_all()
    run = world.node.health.probe_all()
    assert (run.up, run.down) == (0, 1)
    query = {
        "query": "{ enterpriseNodeHealth { __typename ... on EnterpriseNodeHealthConnection "
        "{ edges { node { prefix state checks availability rttMs lastFailure "
        "events { kind reason } } } } } }"
    }
    token = world.issuer.id_token("pat", ["platform-admin"])
    request = urllib.request.Request(  # noqa: S310 - loopback http
        world.base_url + "/graphql",
        data=json.dumps(query).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=20) as reply:  # noqa: S310
        answer = json.load(reply)["data"]["enterpriseNodeHealth"]
    (edge,) = answer["edges"]
    health = edge["node"]
    assert (health["prefix"], health["state"]) == (PREFIX, "DOWN")
    assert health["checks"] >= 4
    assert 0 < health["availability"] < 1
    assert "no enterprise node answered" in health["lastFailure"]
    assert [e["kind"] for e in health["events"]] == ["OUTAGE"]
