"""The Handle protocol's HTTP interface and the prefix handles, through the Handle Lambda
handler on moto (the real client's view is in tests/contract/test_handle_protocol_peer.py)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from moto import mock_aws

from idnode.cli.gateway import http_api_event
from idnode.domain.enterprises import Enterprise
from idnode.domain.prefixes import Prefix
from idnode.domain.protocol.encoding import Reader, site_from_bytes
from idnode.domain.protocol.wire import (
    FLAG_CERT,
    OC_GET_SITE_INFO,
    RC_HANDLE_NOT_FOUND,
    RC_PROTOCOL_ERROR,
    RC_SERVER_NOT_RESPONSIBLE,
    RC_SUCCESS,
    RC_VALUES_NOT_FOUND,
    decode_response,
    encode_request,
)
from idnode.domain.routing import HdlType, NodeAddress
from idnode.handlers.handles import handler
from idnode.node import Node, use_node
from tests.functional.conftest import HandleApi, LambdaContext, basic
from tests.support.handle_peer import self_hosted_profile
from tests.support.identity import TokenIssuer
from tests.support.node import NODE_PREFIX, PREFIX, build_test_node, settings

INTERFACES = (
    "tcp://192.0.2.10:2641,udp://192.0.2.10:2641,tcp://[2001:db8::10]:2641,http://192.0.2.10:80/hdl"
)
HANDLE = f"{PREFIX}/VALVE-7"


@pytest.fixture(scope="module")
def site_node(issuer: TokenIssuer) -> Iterator[Node]:
    with mock_aws():
        built = build_test_node(issuer, replace(settings(), handle_interfaces=INTERFACES))
        use_node(built)
        yield built
        use_node(None)


def post(message: bytes) -> tuple[int, bytes]:
    event = http_api_event(
        "POST",
        "/hdl/" + HANDLE.replace("/", "%2F"),
        headers={"content-type": "application/x-hdl-message"},
        body=message,
    )
    response: dict[str, Any] = handler(event, LambdaContext())
    assert response["isBase64Encoded"] or response["statusCode"] != 200
    body = base64.b64decode(response["body"]) if response["isBase64Encoded"] else b""
    return response["statusCode"], body


def register(api: HandleApi) -> None:
    body = {
        "values": [
            {"index": 1, "type": "URL", "data": "https://example.com/v7"},
            {"index": 2, "type": "SECRET", "data": "x", "permissions": "1100"},
        ]
    }
    status, reply, _ = api.call("PUT", f"/api/handles/{HANDLE}", body=body, auth=basic())
    assert status in (201, 409), reply  # registered by this test or an earlier one


def test_resolution_over_the_http_interface(site_node: Node) -> None:
    register(HandleApi())
    status, raw = post(encode_request(HANDLE, request_id=99))
    assert status == 200
    answer = decode_response(raw)
    assert (answer.response_code, answer.envelope.request_id) == (RC_SUCCESS, 99)
    reader = Reader(answer.body)
    assert reader.text() == HANDLE
    assert reader.count() == 1  # the restricted value is not served
    assert answer.signature == b""  # not asked to certify


def test_error_answers(site_node: Node) -> None:
    register(HandleApi())
    codes = {
        f"{PREFIX}/NOT-THERE": RC_HANDLE_NOT_FOUND,
        "88.200/ELSEWHERE": RC_SERVER_NOT_RESPONSIBLE,
    }
    for name, code in codes.items():
        assert decode_response(post(encode_request(name))[1]).response_code == code, name
    filtered = encode_request(HANDLE, types=["EMAIL"])
    assert decode_response(post(filtered)[1]).response_code == RC_VALUES_NOT_FOUND
    truncated = encode_request(HANDLE)[:-6]
    assert decode_response(post(truncated)[1]).response_code == RC_PROTOCOL_ERROR
    status, _ = post(b"garbage")
    assert status == 400


def test_certified_request_without_a_key_is_answered_unsigned(site_node: Node) -> None:
    answer = decode_response(post(encode_request(f"0.NA/{PREFIX}", flags=FLAG_CERT))[1])
    assert answer.response_code == RC_SUCCESS
    assert answer.signature == b""


def test_site_information_request(site_node: Node) -> None:
    answer = decode_response(post(encode_request("", OC_GET_SITE_INFO))[1])
    assert answer.response_code == RC_SUCCESS
    site = site_from_bytes(answer.body)
    assert [s["address"] for s in site["servers"]] == ["192.0.2.10", "2001:db8::10"]
    assert {"name": "path", "value": "/hdl"} in site["attributes"]
    assert site == site_node.sites.site


@pytest.mark.parametrize("name", [f"0.NA/{NODE_PREFIX}", f"0.NA/{PREFIX}", PREFIX])
def test_prefix_handles_through_the_rest_api(site_node: Node, name: str) -> None:
    status, reply, _ = HandleApi().call("GET", f"/api/handles/{name}")
    assert status == 200, reply
    (value,) = reply["values"]
    assert (value["index"], value["type"], value["data"]["format"]) == (1, "HS_SITE", "site")
    site = value["data"]["value"]
    assert list(site) == [
        "version",
        "protocolVersion",
        "serialNumber",
        "primarySite",
        "multiPrimary",
        "attributes",
        "servers",
    ]
    assert site["servers"][0]["interfaces"][0] == {
        "query": True,
        "admin": False,
        "protocol": "TCP",
        "port": 2641,
    }


def test_prefix_handles_that_are_not_here(site_node: Node) -> None:
    handle_api = HandleApi()
    status, reply, _ = handle_api.call("GET", "/api/handles/0.NA/88.100.4444")
    assert (status, reply["responseCode"]) == (404, 100)
    status, reply, _ = handle_api.call("GET", "/api/handles/0.NA/88.200")
    assert reply["responseCode"] == 301


def test_without_interfaces_no_site_is_published(issuer: TokenIssuer) -> None:
    with mock_aws():
        use_node(build_test_node(issuer, replace(settings(), node_prefix="88.300")))
        try:
            status, reply, _ = HandleApi().call("GET", "/api/handles/0.NA/88.300")
            assert (status, reply["responseCode"]) == (404, 100)
            answer = decode_response(post(encode_request("", OC_GET_SITE_INFO))[1])
            assert answer.response_code == RC_SERVER_NOT_RESPONSIBLE
        finally:
            use_node(None)


def test_an_hs_serv_node_is_named_by_a_service_handle_the_node_answers(site_node: Node) -> None:
    """HS_SERV: the prefix handle names `<node>/0.SERV.<prefix>`, answered over REST and the
    protocol alike with the node's site."""
    use_node(site_node)  # the test before this one uses a node of its own
    prefix, uscc = "88.100.4321", "SERV00000000000001"
    at = datetime.now(UTC)
    node = NodeAddress(HdlType.HS_SERV, "192.0.2.44", 4, tcp_port=2641)
    site_node.enterprises.create(Enterprise(uscc, self_hosted_profile(uscc, node), prefix, at, at))
    site_node.prefixes.put(Prefix(prefix, uscc))
    api = HandleApi()
    _, body, _ = api.call("GET", f"/api/handles/0.NA/{prefix}")
    assert [(v["type"], v["data"]["value"]) for v in body["values"]] == [
        ("HS_SERV", f"{NODE_PREFIX}/0.SERV.{prefix}"),
        ("HS_SERV.PREFIX", f"{NODE_PREFIX}/0.SERV.{prefix}"),
    ]
    service = f"{NODE_PREFIX}/0.SERV.{prefix}"
    status, body, _ = api.call("GET", f"/api/handles/{service}")
    assert status == 200, body
    ((value_type, site),) = [(v["type"], v["data"]["value"]) for v in body["values"]]
    assert value_type == "HS_SITE" and site["servers"][0]["address"] == "192.0.2.44"
    answer = decode_response(post(encode_request(service))[1])
    assert answer.response_code == RC_SUCCESS
