"""The real Handle.Net 9.2 client resolves the node's identifiers over the Handle protocol.

The node runs on moto; its HTTP interface is the Handle function behind the local gateway
(`POST /hdl/...`) and its TCP/UDP interfaces are `idnode handle-server` in process. The
client is upstream's `HandleResolver` (`resolve` in ../shared/tools/handle-server), with
signature checking on, as its default is.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from moto import mock_aws

from idnode.adapters.signing import ensure_key_file
from idnode.domain.access import user
from idnode.domain.values import parse_values
from idnode.node import use_node
from tests.support.handle_peer import (
    peer_tools,
    resolve,
    serve_node,
    write_site,
)
from tests.support.identity import TokenIssuer
from tests.support.node import NODE_PREFIX, PREFIX, build_test_node, settings

HANDLE = f"{PREFIX}/PUMP-0001"
VALUES = [
    {"index": 1, "type": "URL", "data": {"format": "string", "value": "https://example.com/p1"}},
    {"index": 2, "type": "EMAIL", "data": "ops@example.com", "ttl": 3600},
    {"index": 3, "type": "SECRET", "data": "hidden", "permissions": "1100"},
]


@pytest.fixture(scope="module")
def site_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    peer_tools()
    workdir = tmp_path_factory.mktemp("hdl")
    key = ensure_key_file(workdir / "handle-key.pem")
    with mock_aws(), serve_node() as served:
        node = build_test_node(
            TokenIssuer(),
            replace(settings(), handle_interfaces=served.interfaces, handle_key_file=str(key)),
        )
        node.registry.create(
            HANDLE, parse_values(VALUES, max_values=10), user("seed", ["platform-admin"], None, [])
        )
        use_node(node)
        try:
            assert node.sites.site is not None
            yield write_site(workdir / "siteinfo.json", node.sites.site)
        finally:
            use_node(None)


@pytest.mark.parametrize("transport", ["udp", "tcp", "http"])
def test_real_client_resolves_over_each_interface(site_file: Path, transport: str) -> None:
    done = resolve(
        "--root-site", str(site_file), "--site", str(site_file), "--protocol", transport, HANDLE
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 values" not in done.stdout  # the restricted value is never served anonymously
    assert "(2 values, responseCode=1 RC_SUCCESS)" in done.stdout
    assert "index=1 type=URL ttl=86400 data=https://example.com/p1" in done.stdout
    assert "index=2 type=EMAIL ttl=3600 data=ops@example.com" in done.stdout


def test_real_client_full_resolution_checks_signatures(site_file: Path) -> None:
    """Without --site the client first asks its root (the node) for 0.NA/<prefix>, certified:
    the answer must carry a signature that verifies with the site's public key."""
    done = resolve("--root-site", str(site_file), "--trace", HANDLE)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "(2 values, responseCode=1 RC_SUCCESS)" in done.stdout
    assert f"0.NA/{PREFIX}" in done.stderr


def test_real_client_reads_errors(site_file: Path) -> None:
    done = resolve(
        "--root-site",
        str(site_file),
        "--site",
        str(site_file),
        "--protocol",
        "tcp",
        f"{PREFIX}/NOT-THERE",
        "88.200/ELSEWHERE",
    )
    assert "responseCode=100" in done.stdout, done.stdout + done.stderr
    assert "responseCode=301" in done.stdout, done.stdout + done.stderr


def test_real_client_reads_the_node_prefix_handle(site_file: Path) -> None:
    done = resolve("--root-site", str(site_file), "--site", str(site_file), f"0.NA/{NODE_PREFIX}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "type=HS_SITE" in done.stdout
    assert '"primarySite": true' in done.stdout or "primarySite" in done.stdout
