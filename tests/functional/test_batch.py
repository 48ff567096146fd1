"""Batch registration through the real GraphQL and Handle REST handlers, on moto."""

from __future__ import annotations

from typing import Any

import pytest

from idnode.domain.access import user
from idnode.domain.handles import Handle
from idnode.node import Node
from idnode.services.operations import OperationFilter
from idnode.services.registry import MAX_LOGGED_FAILURES
from tests.functional.conftest import GraphQLApi, HandleApi, basic
from tests.support.identity import TokenIssuer
from tests.support.node import ENTERPRISE, OTHER_ADMIN_IDENTITY, OTHER_PREFIX, PREFIX
from tests.support.operations import operation

BULK = "/api/handles"


def gtin(n: int, company: str = "950600") -> str:
    """A valid GTIN-14 (with its check digit) for item number `n`."""
    body = f"0{company}{n:06d}"
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return body + str((10 - total % 10) % 10)


def gql_item(handle: str, url: str = "https://example.com/x") -> dict[str, Any]:
    return {"handle": handle, "values": [{"index": 1, "type": "URL", "value": url}]}


def rest_item(handle: str, url: str = "https://example.com/x") -> dict[str, Any]:
    return {"handle": handle, "values": [{"index": 1, "type": "URL", "data": url}]}


def admin_token(issuer: TokenIssuer) -> str:
    return issuer.id_token("alice", ["enterprise-admin"], ENTERPRISE)


def register(api: GraphQLApi, token: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    result = api.run(operation("RegisterIdentifiers"), {"input": {"items": items}}, token)
    assert "errors" not in result, result
    data: dict[str, Any] = result["data"]["registerIdentifiers"]
    return data


def statuses(result: dict[str, Any]) -> list[str]:
    return [item["status"] for item in result["items"]]


def test_two_thousand_items_then_a_retry_after_a_timeout(
    graphql_api: GraphQLApi, issuer: TokenIssuer, node: Node
) -> None:
    token = admin_token(issuer)
    items = [gql_item(f"{PREFIX}/B-{i:04d}", f"https://example.com/{i}") for i in range(2000)]
    # The first attempt "timed out" after writing the first half.
    first = register(graphql_api, token, items[:1000])
    assert (first["created"], first["existed"], first["failed"]) == (1000, 0, 0)

    items[10] = gql_item(f"{PREFIX}/B-0010", "https://example.com/changed")
    retry = register(graphql_api, token, items)
    assert (retry["created"], retry["existed"], retry["failed"]) == (1000, 999, 1)
    assert [i["index"] for i in retry["items"]] == list(range(2000))
    assert [i["handle"] for i in retry["items"]] == [i["handle"] for i in items]
    assert retry["items"][10]["status"] == "FAILED"
    assert retry["items"][10]["error"]["code"] == "handle-already-exists"
    assert "other values" in retry["items"][10]["error"]["message"]
    assert set(statuses(retry)[:10]) == {"EXISTED"}
    assert set(statuses(retry)[1000:]) == {"CREATED"}

    stored = node.registry.find_many([f"{PREFIX}/B-0010", f"{PREFIX}/B-1999"])
    assert stored[0] is not None and stored[0].values[0].data.value == "https://example.com/10"
    assert stored[1] is not None and stored[1].values[0].data.value == "https://example.com/1999"
    again = register(graphql_api, token, items)
    assert (again["created"], again["existed"], again["failed"]) == (0, 1999, 1)


def test_mixed_valid_and_invalid_items_fail_alone(
    graphql_api: GraphQLApi, issuer: TokenIssuer, node: Node
) -> None:
    items = [
        gql_item(f"{PREFIX}/OK-1"),
        gql_item("not a handle"),
        {"handle": f"{PREFIX}/BAD-VALUE", "values": [{"index": 0, "type": "URL", "value": "x"}]},
        gql_item(f"{OTHER_PREFIX}/NOT-MINE"),
        gql_item("88.100.9999/UNSERVED"),
        gql_item(f"{PREFIX}/ok-1"),  # the same name as item 0, in another case
        gql_item(f"{PREFIX}/01/{gtin(1)[:-1]}0" if gtin(1)[-1] != "0" else f"{PREFIX}/01/1"),
        gql_item(f"{PREFIX}/OK-2"),
    ]
    result = register(graphql_api, admin_token(issuer), items)
    assert statuses(result) == ["CREATED", *["FAILED"] * 6, "CREATED"]
    codes = [i["error"]["code"] for i in result["items"][1:7]]
    assert codes == [
        "invalid-handle",
        "invalid-value",
        "not-authorised",
        "prefix-not-served",
        "duplicate-in-batch",
        "invalid-handle",
    ]
    assert all(i["error"]["message"] for i in result["items"][1:7])
    assert [r is not None for r in node.registry.find_many([f"{PREFIX}/OK-1", f"{PREFIX}/OK-2"])]
    assert node.registry.find_many([f"{PREFIX}/BAD-VALUE"]) == [None]


def test_the_batch_is_logged_once_with_its_failures(
    graphql_api: GraphQLApi, issuer: TokenIssuer, node: Node
) -> None:
    items = [gql_item(f"{PREFIX}/L-1"), *[gql_item(f"bad {i}") for i in range(30)]]
    register(graphql_api, admin_token(issuer), items)
    reader = user("pat", ["platform-admin"], None, [])
    page = node.log.query(reader, OperationFilter(action="register-identifiers"), 10, None)
    assert len(page.items) == 1
    entry = page.items[0]
    assert (entry.result, entry.enterprise, entry.target) == (
        "ok",
        ENTERPRISE,
        f"31 identifiers under {PREFIX}",
    )
    details = entry.details
    assert (details["items"], details["created"], details["existed"], details["failed"]) == (
        31,
        1,
        0,
        30,
    )
    assert len(details["failures"]) == MAX_LOGGED_FAILURES
    assert details["failures"][0]["item"] == 1
    assert details["failures"][0]["result"] == "invalid-handle"


def test_gs1_identifiers_get_their_keys_and_a_gtin_is_registered_once(
    graphql_api: GraphQLApi, issuer: TokenIssuer, node: Node
) -> None:
    platform = issuer.id_token("pat", ["platform-admin"])
    taken = f"{OTHER_PREFIX}/01/{gtin(7)}"
    assert register(graphql_api, platform, [gql_item(taken)])["created"] == 1

    items = [gql_item(f"{PREFIX}/01/{gtin(n)}") for n in range(1, 6)]
    items.append(gql_item(f"{PREFIX}/01/{gtin(7)}"))  # taken under the other prefix
    items.append(gql_item(f"{OTHER_PREFIX}/01/{gtin(1)}"))  # item 0's GTIN again
    result = register(graphql_api, platform, items)
    assert statuses(result) == [*["CREATED"] * 5, "FAILED", "FAILED"]
    assert result["items"][5]["error"]["code"] == "scheme-key-taken"
    assert taken in result["items"][5]["error"]["message"]
    assert result["items"][6]["error"]["code"] == "duplicate-in-batch"

    for n in range(1, 6):
        assert node.registry.identifier_of("gs1", f"01/{gtin(n)}") == f"{PREFIX}/01/{gtin(n)}"
    assert node.registry.identifier_of("gs1", f"01/{gtin(7)}") == taken
    assert node.registry.find_many([f"{PREFIX}/01/{gtin(7)}"]) == [None]

    retry = register(graphql_api, platform, items[:5])
    assert statuses(retry) == ["EXISTED"] * 5


def test_anonymous_and_oversized_batches_are_refused_whole(
    graphql_api: GraphQLApi, issuer: TokenIssuer, node: Node
) -> None:
    result = graphql_api.run(
        operation("RegisterIdentifiers"), {"input": {"items": [gql_item(f"{PREFIX}/A")]}}
    )
    assert result["data"]["registerIdentifiers"]["__typename"] == "AuthenticationError"
    items = [gql_item(f"{PREFIX}/X-{i}") for i in range(2001)]
    refused = register(graphql_api, admin_token(issuer), items)
    assert refused["__typename"] == "InvalidInputError"
    assert "2000" in refused["message"]
    assert register(graphql_api, admin_token(issuer), [])["__typename"] == "InvalidInputError"
    assert node.registry.find_many([f"{PREFIX}/A", f"{PREFIX}/X-0"]) == [None, None]


# Handle REST


def test_rest_bulk_registration_reports_each_item(handle_api: HandleApi, node: Node) -> None:
    body = {
        "handles": [
            rest_item(f"{PREFIX}/R-1"),
            rest_item(f"{OTHER_PREFIX}/R-2"),
            {"handle": f"{PREFIX}/R-3", "values": "nope"},
            {"values": []},
            rest_item("bad name"),
            rest_item(f"{PREFIX}/01/{gtin(42)}"),
        ]
    }
    status, reply, headers = handle_api.call("POST", BULK, body=body, auth=basic())
    assert status == 200, reply
    assert (reply["responseCode"], reply["created"], reply["existed"], reply["failed"]) == (
        1,
        2,
        0,
        4,
    )
    assert [(r["index"], r["status"], r["responseCode"]) for r in reply["results"]] == [
        (0, "created", 1),
        (1, "failed", 400),
        (2, "failed", 202),
        (3, "failed", 202),
        (4, "failed", 102),
        (5, "created", 1),
    ]
    assert "message" not in reply["results"][0]
    assert all(r["message"] for r in reply["results"][1:5])
    assert headers["Cache-Control"] == "no-store"

    status, reply, _ = handle_api.call("GET", f"{BULK}/{PREFIX}/R-1")
    assert (status, reply["values"][0]["data"]["value"]) == (200, "https://example.com/x")
    assert node.registry.identifier_of("gs1", f"01/{gtin(42)}") == f"{PREFIX}/01/{gtin(42)}"

    # The same body again: nothing is duplicated, what was created is reported as existing.
    status, reply, _ = handle_api.call("POST", BULK, body=body, auth=basic())
    assert (status, reply["created"], reply["existed"], reply["failed"]) == (200, 0, 2, 4)
    assert [r["responseCode"] for r in reply["results"]][:2] == [1, 400]
    changed = {"handles": [rest_item(f"{PREFIX}/R-1", "https://example.com/other")]}
    _, reply, _ = handle_api.call("POST", BULK, body=changed, auth=basic())
    assert reply["results"][0] | {"message": ""} == {
        "index": 0,
        "handle": f"{PREFIX}/R-1",
        "status": "failed",
        "responseCode": 101,
        "message": "",
    }


def test_rest_bulk_spans_several_transactions(handle_api: HandleApi, node: Node) -> None:
    # 60 GS1 identifiers (two actions each) and 90 others: more than one transaction's worth.
    names = [f"{PREFIX}/01/{gtin(n)}" for n in range(60)] + [f"{PREFIX}/{i}" for i in range(90)]
    body = {"handles": [{"handle": name, "values": []} for name in names]}
    status, reply, _ = handle_api.call("POST", BULK, body=body, auth=basic())
    assert (status, reply["created"], len(reply["results"])) == (200, 150, 150)
    assert all(r is not None for r in node.registry.find_many(names))
    assert node.registry.identifier_of("gs1", f"01/{gtin(59)}") == names[59]


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        ("not json", 400, 202),
        ('{"handles": {"a": 1}}', 400, 202),
        ("[]", 400, 202),
        ('{"handles": []}', 400, 202),
        ('{"handles": [' + ",".join(['{"handle":"x","values":[]}'] * 2001) + "]}", 400, 202),
        ('{"handles": [{"handle": "' + "x" * 300_000 + '", "values": []}]}', 413, 202),
    ],
)
def test_rest_bulk_refuses_what_is_not_a_batch(
    handle_api: HandleApi, node: Node, raw: str, status: int, code: int
) -> None:
    got, reply, _ = handle_api.call("POST", BULK, raw_body=raw, auth=basic())
    assert (got, reply["responseCode"]) == (status, code), reply
    page = node.registry.list(PREFIX, node.callers.authenticate(basic(), None), 10, None)
    assert page.items == []


def test_rest_bulk_needs_credentials_and_checks_them_per_item(
    handle_api: HandleApi, node: Node
) -> None:
    body = {"handles": [rest_item(f"{PREFIX}/C-1"), rest_item(f"{OTHER_PREFIX}/C-2")]}
    status, reply, _ = handle_api.call("POST", BULK, body=body)
    assert (status, reply["responseCode"]) == (401, 402)
    status, reply, _ = handle_api.call("POST", BULK, body=body, auth=basic(OTHER_ADMIN_IDENTITY))
    assert [r["status"] for r in reply["results"]] == ["failed", "created"]
    assert reply["results"][0]["responseCode"] == 400
    assert node.registry.find_many([f"{PREFIX}/C-1"]) == [None]
    assert Handle.parse(f"{OTHER_PREFIX}/C-2")
