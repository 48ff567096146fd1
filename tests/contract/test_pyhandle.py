"""An unchanged Handle client (pyhandle) against the Handle REST API, served over loopback
by the local gateway that calls the real Lambda handler (stores on moto)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from moto import mock_aws
from pyhandle.handleclient import PyHandleClient
from pyhandle.handleexceptions import (
    HandleAlreadyExistsException,
    HandleAuthenticationError,
    HandleNotFoundException,
)

from idnode.cli.gateway import build_app
from idnode.domain.access import user
from idnode.domain.values import parse_values
from idnode.node import use_node
from tests.support.identity import TokenIssuer
from tests.support.node import (
    ADMIN_HANDLE,
    ADMIN_IDENTITY,
    ADMIN_SECRET,
    PREFIX,
    build_test_node,
)

HANDLE = f"{PREFIX}/PYHANDLE-1"


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with mock_aws():
        node = build_test_node(TokenIssuer())
        admin_values = parse_values(
            [
                {
                    "index": 100,
                    "type": "HS_ADMIN",
                    "data": {
                        "format": "admin",
                        "value": {
                            "handle": ADMIN_HANDLE,
                            "index": 300,
                            "permissions": "011111110011",
                        },
                    },
                }
            ],
            max_values=1,
        )
        node.registry.create(ADMIN_HANDLE, admin_values, user("seed", ["platform-admin"], None, []))
        use_node(node)
        config = uvicorn.Config(build_app(), host="127.0.0.1", port=0, log_level="warning")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "the gateway did not start"
            time.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
        server.should_exit = True
        thread.join(timeout=10)
        use_node(None)


@pytest.fixture
def client(base_url: str) -> PyHandleClient:
    return PyHandleClient("rest").instantiate_with_username_and_password(
        base_url, ADMIN_IDENTITY, ADMIN_SECRET, HTTPS_verify=False
    )


def test_create_read_modify_delete(client: PyHandleClient, base_url: str) -> None:
    created = client.register_handle(HANDLE, "https://example.com/one", EMAIL="ops@example.com")
    assert created == HANDLE
    assert client.get_value_from_handle(HANDLE, "URL") == "https://example.com/one"
    record = client.retrieve_handle_record(HANDLE)
    assert record["EMAIL"] == "ops@example.com"

    client.modify_handle_value(HANDLE, URL="https://example.com/two", CHECKSUM="abc123")
    assert client.get_value_from_handle(HANDLE, "URL") == "https://example.com/two"
    assert client.get_value_from_handle(HANDLE, "CHECKSUM") == "abc123"
    assert client.get_value_from_handle(HANDLE, "EMAIL") == "ops@example.com"

    client.delete_handle_value(HANDLE, "EMAIL")
    assert client.get_value_from_handle(HANDLE, "EMAIL") is None

    with pytest.raises(HandleAlreadyExistsException):
        client.register_handle(HANDLE, "https://example.com/again")
    client.register_handle(HANDLE, "https://example.com/three", overwrite=True)
    assert client.get_value_from_handle(HANDLE, "URL") == "https://example.com/three"

    client.delete_handle(HANDLE)
    assert client.retrieve_handle_record_json(HANDLE) is None
    with pytest.raises(HandleNotFoundException):
        client.delete_handle(HANDLE)


def test_anonymous_read_access(client: PyHandleClient, base_url: str) -> None:
    client.register_handle(f"{PREFIX}/PUBLIC-1", "https://example.com/public")
    reader = PyHandleClient("rest").instantiate_for_read_access(handle_server_url=base_url)
    assert reader.get_value_from_handle(f"{PREFIX}/PUBLIC-1", "URL") == "https://example.com/public"
    assert reader.retrieve_handle_record_json(f"{PREFIX}/NOT-THERE") is None


def test_wrong_secret_is_refused(base_url: str) -> None:
    bad = PyHandleClient("rest").instantiate_with_username_and_password(
        base_url, ADMIN_IDENTITY, "not-the-right-secret", HTTPS_verify=False
    )
    with pytest.raises(HandleAuthenticationError):
        bad.register_handle(f"{PREFIX}/NOPE-1", "https://example.com/nope")
