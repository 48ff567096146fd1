"""The Handle protocol and referral in the local cloud, with the real Handle.Net 9.2 client
and server (../shared/tools/handle-server).

`idnode up` publishes the node's site information (`.idnode/siteinfo.json`) and starts the
TCP/UDP service; the API's `POST /hdl` runs the Handle function in the emulator. Upstream's
HandleResolver resolves the demo node's identifiers over each transport, and by full
resolution from the node as its root (signed prefix lookups). A self-hosted enterprise whose
node is a real Handle.Net server is resolved through the node by unchanged pyhandle.
"""

from __future__ import annotations

import copy
import json
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from pyhandle.handleclient import PyHandleClient

from idnode import settings
from idnode.domain.enterprises import Enterprise
from idnode.domain.prefixes import Prefix
from idnode.domain.routing import HdlType, NodeAddress
from idnode.node import build_node
from tests.support.handle_peer import (
    RealServer,
    peer_tools,
    resolve,
    self_hosted_profile,
    start_real_server,
    write_site,
)

pytestmark = pytest.mark.localcloud


def _site(stack: dict[str, Any]) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(Path(stack["handleProtocol"]["siteInfo"]).read_text())
    return document


@pytest.mark.parametrize("transport", ["udp", "tcp", "http"])
def test_real_client_resolves_over_the_local_service(
    local_stack: dict[str, Any], transport: str
) -> None:
    peer_tools()
    site = local_stack["handleProtocol"]["siteInfo"]
    handle = local_stack["demo"]["adminHandle"]
    done = resolve("--root-site", site, "--site", site, "--protocol", transport, handle)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "type=HS_ADMIN" in done.stdout


def test_real_client_resolves_through_the_function_behind_the_api(
    local_stack: dict[str, Any], tmp_path: Path
) -> None:
    """The HTTP interface of the API (`POST /hdl/...` on the Handle function in the emulator)."""
    peer_tools()
    api = urlsplit(local_stack["handleProtocol"]["apiHttp"])
    site = copy.deepcopy(_site(local_stack))
    site["attributes"] = [a for a in site["attributes"] if a["name"] != "path"]
    site["attributes"].append({"name": "path", "value": api.path})
    for server in site["servers"]:
        for interface in server["interfaces"]:
            if interface["protocol"] == "HTTP":
                interface["port"] = api.port
    path = write_site(tmp_path / "api-site.json", site)
    handle = local_stack["demo"]["adminHandle"]
    done = resolve("--root-site", str(path), "--site", str(path), "--protocol", "http", handle)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "type=HS_ADMIN" in done.stdout


def test_real_client_full_resolution_from_the_node(local_stack: dict[str, Any]) -> None:
    peer_tools()
    site = local_stack["handleProtocol"]["siteInfo"]
    done = resolve("--root-site", site, "--trace", local_stack["demo"]["adminHandle"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"0.NA/{local_stack['demo']['enterprisePrefix']}" in done.stderr


# A fresh prefix per run: functions keep what they read about a prefix for 30 s.
PREFIX = f"88.100.{7000 + uuid.uuid4().int % 2000}"


@pytest.fixture
def enterprise_node(tmp_path: Path) -> Iterator[RealServer]:
    peer_tools()
    server = start_real_server(tmp_path / "enterprise", PREFIX)
    try:
        yield server
    finally:
        server.stop()


def _local_node(stack: dict[str, Any]) -> Any:
    env = {
        "AWS_ENDPOINT_URL": stack["endpointUrl"],
        settings.NODE_PREFIX: stack["nodePrefix"],
        **{
            variable: stack["tables"][a.removesuffix("_table")]
            for a, variable in settings.TABLES.items()
        },
    }
    saved = {key: os.environ.get(key) for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    os.environ.update({"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"})
    try:
        return build_node(settings.Settings.from_env({**os.environ, **env}))
    finally:
        for key, value in saved.items():
            if value is not None:
                os.environ[key] = value


def test_pyhandle_resolves_under_a_self_hosted_prefix(
    local_stack: dict[str, Any], enterprise_node: RealServer
) -> None:
    """A self-hosted enterprise runs its own node (the real Handle.Net server): the node
    resolves its identifiers there for pyhandle, which only reads 200 and 404."""
    prefix = PREFIX
    suffix = f"PUMP-{uuid.uuid4().hex[:6].upper()}"
    enterprise_node.put(
        f"{prefix}/{suffix}",
        [{"index": 1, "type": "URL", "data": {"format": "string", "value": "https://e.example/1"}}],
        f"300%3A{prefix}%2FADMIN",
    )
    node = _local_node(local_stack)
    at = datetime.now(UTC)
    enterprise_id = f"TEST{uuid.uuid4().hex[:14].upper()}"
    profile = self_hosted_profile(
        enterprise_id,
        NodeAddress(HdlType.HS_SITE, "127.0.0.1", 4, tcp_port=enterprise_node.hdl_port),
    )
    node.enterprises.create(Enterprise(enterprise_id, profile, prefix, at, at))
    node.prefixes.put(Prefix(prefix, enterprise_id))
    reader = PyHandleClient("rest").instantiate_for_read_access(
        handle_server_url=local_stack["handleApiUrl"]
    )
    assert reader.get_value_from_handle(f"{prefix}/{suffix}", "URL") == "https://e.example/1"
    assert reader.retrieve_handle_record_json(f"{prefix}/NOT-THERE") is None
