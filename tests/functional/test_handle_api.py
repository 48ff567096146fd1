"""The Handle REST API through its Lambda handler, on moto."""

from __future__ import annotations

import base64
import json

from idnode.domain.prefixes import Prefix, PrefixStatus
from idnode.node import Node
from tests.functional.conftest import HandleApi, basic
from tests.support.node import ADMIN_HANDLE, ENTERPRISE, OTHER_ADMIN_IDENTITY, PREFIX

HANDLE = f"{PREFIX}/PUMP-0001"
PATH = f"/api/handles/{HANDLE}"
VALUES = {
    "values": [
        {
            "index": 1,
            "type": "URL",
            "data": {"format": "string", "value": "https://example.com/p1"},
        },
        {"index": 2, "type": "EMAIL", "data": "ops@example.com", "ttl": 600},
        {"index": 3, "type": "SERIAL", "data": "SN-42", "permissions": "1100"},
    ]
}


def create(api: HandleApi, path: str = PATH, body: object = VALUES) -> None:
    status, reply, _ = api.call("PUT", path, body=body, auth=basic())
    assert (status, reply["responseCode"]) == (201, 1), reply


def test_create_then_resolve_anonymously_sees_public_values_only(handle_api: HandleApi) -> None:
    create(handle_api)
    status, reply, headers = handle_api.call("GET", PATH)
    assert status == 200
    assert reply["responseCode"] == 1
    assert reply["handle"] == HANDLE
    assert [v["index"] for v in reply["values"]] == [1, 2]
    assert reply["values"][1]["data"] == {"format": "string", "value": "ops@example.com"}
    assert all("timestamp" in v for v in reply["values"])
    assert headers["Cache-Control"] == "public, max-age=600"


def test_authenticated_resolution_sees_restricted_values(handle_api: HandleApi) -> None:
    create(handle_api)
    _, reply, headers = handle_api.call("GET", PATH, query="auth=true", auth=basic())
    assert [v["index"] for v in reply["values"]] == [1, 2, 3]
    assert reply["values"][2]["permissions"] == "1100"
    assert headers["Cache-Control"] == "no-store"


def test_another_enterprise_does_not_see_restricted_values(handle_api: HandleApi) -> None:
    create(handle_api)
    _, reply, _ = handle_api.call("GET", PATH, auth=basic(OTHER_ADMIN_IDENTITY))
    assert [v["index"] for v in reply["values"]] == [1, 2]


def test_public_only_hides_restricted_values_from_the_owner(handle_api: HandleApi) -> None:
    create(handle_api)
    _, reply, _ = handle_api.call("GET", PATH, query="publicOnly=true", auth=basic())
    assert [v["index"] for v in reply["values"]] == [1, 2]


def test_resolution_is_case_insensitive_and_echoes_the_request(handle_api: HandleApi) -> None:
    create(handle_api)
    lower = HANDLE.lower()
    status, reply, _ = handle_api.call("GET", f"/api/handles/{lower}")
    assert (status, reply["handle"]) == (200, lower)


def test_filters_by_type_and_index(handle_api: HandleApi) -> None:
    create(handle_api)
    _, reply, _ = handle_api.call("GET", PATH, query="type=EMAIL")
    assert [v["index"] for v in reply["values"]] == [2]
    _, reply, _ = handle_api.call("GET", PATH, query="index=1&type=EMAIL")
    assert [v["index"] for v in reply["values"]] == [1, 2]
    status, reply, _ = handle_api.call("GET", PATH, query="type=NOPE")
    assert (status, reply) == (200, {"responseCode": 200, "handle": HANDLE})


def test_unknown_handle_is_404_with_code_100(handle_api: HandleApi) -> None:
    status, reply, _ = handle_api.call("GET", f"/api/handles/{PREFIX}/missing")
    assert (status, reply["responseCode"], reply["handle"]) == (404, 100, f"{PREFIX}/missing")


def test_create_twice_is_409_with_code_101(handle_api: HandleApi) -> None:
    create(handle_api)
    status, reply, _ = handle_api.call(
        "PUT", PATH, query="overwrite=false", body=VALUES, auth=basic()
    )
    assert (status, reply["responseCode"], reply["handle"]) == (409, 101, HANDLE)


def test_overwrite_replaces_the_whole_record(handle_api: HandleApi) -> None:
    create(handle_api)
    new = {"values": [{"index": 7, "type": "URL", "data": "https://example.com/new"}]}
    status, reply, _ = handle_api.call("PUT", PATH, query="overwrite=true", body=new, auth=basic())
    assert (status, reply["responseCode"]) == (200, 1)
    _, reply, _ = handle_api.call("GET", PATH, auth=basic())
    assert [v["index"] for v in reply["values"]] == [7]


def test_overwrite_with_index_changes_only_those_values(handle_api: HandleApi) -> None:
    create(handle_api)
    body = {
        "values": [
            {"index": "2", "type": "EMAIL", "data": "new@example.com"},
            {"index": 9, "type": "IGNORED", "data": "x"},
        ]
    }
    status, _, _ = handle_api.call(
        "PUT", PATH, query="overwrite=true&index=2", body=body, auth=basic()
    )
    assert status == 200
    _, reply, _ = handle_api.call("GET", PATH, auth=basic())
    assert [v["index"] for v in reply["values"]] == [1, 2, 3]
    assert reply["values"][1]["data"]["value"] == "new@example.com"


def test_overwrite_true_creates_when_missing(handle_api: HandleApi) -> None:
    status, reply, _ = handle_api.call(
        "PUT", PATH, query="overwrite=true", body=VALUES, auth=basic()
    )
    assert (status, reply["responseCode"]) == (201, 1)


def test_mint_new_suffix(handle_api: HandleApi) -> None:
    status, reply, _ = handle_api.call(
        "PUT", f"/api/handles/{PREFIX}", query="mintNewSuffix=true", body=VALUES, auth=basic()
    )
    assert (status, reply["responseCode"]) == (201, 1)
    assert reply["handle"].startswith(f"{PREFIX}/")
    assert handle_api.call("GET", f"/api/handles/{reply['handle']}")[0] == 200


def test_delete_values_then_record(handle_api: HandleApi) -> None:
    create(handle_api)
    status, reply, _ = handle_api.call("DELETE", PATH, query="index=2", auth=basic())
    assert (status, reply["responseCode"]) == (200, 1)
    status, reply, _ = handle_api.call("DELETE", PATH, query="index=2", auth=basic())
    assert (status, reply["responseCode"], reply["handle"]) == (400, 200, HANDLE)
    assert handle_api.call("DELETE", PATH, auth=basic())[0] == 200
    status, reply, _ = handle_api.call("DELETE", PATH, auth=basic())
    assert (status, reply["responseCode"]) == (404, 100)
    assert handle_api.call("GET", PATH)[0] == 404


def test_writes_need_authentication(handle_api: HandleApi) -> None:
    status, reply, headers = handle_api.call("PUT", PATH, body=VALUES)
    assert (status, reply["responseCode"], reply["handle"]) == (401, 402, HANDLE)
    assert "Basic" in headers["WWW-Authenticate"]
    assert handle_api.call("GET", PATH)[0] == 404


def test_wrong_secret_and_unknown_identity_are_refused_alike(handle_api: HandleApi) -> None:
    wrong = handle_api.call("PUT", PATH, body=VALUES, auth=basic(secret="not-the-secret-at-all"))
    unknown = handle_api.call("PUT", PATH, body=VALUES, auth=basic("300:88.100.1234/NOBODY"))
    assert wrong[0] == unknown[0] == 401
    assert wrong[1] == unknown[1]
    assert handle_api.call("GET", PATH)[0] == 404


def test_malformed_authorization_headers_are_refused(handle_api: HandleApi) -> None:
    for header in ("Basic !!!", "Basic " + "dXNlcg==", "Digest abc", "Bearer not-a-jwt"):
        status, reply, _ = handle_api.call("PUT", PATH, body=VALUES, auth=header)
        assert (status, reply["responseCode"]) == (401, 402), header
    # A bad header on a read is refused too, rather than silently treated as anonymous.
    assert handle_api.call("GET", PATH, auth="Basic !!!")[0] == 401


def test_another_enterprise_may_not_write_here(handle_api: HandleApi) -> None:
    status, reply, _ = handle_api.call("PUT", PATH, body=VALUES, auth=basic(OTHER_ADMIN_IDENTITY))
    assert (status, reply["responseCode"]) == (403, 400)
    create(handle_api)
    status, _, _ = handle_api.call("DELETE", PATH, auth=basic(OTHER_ADMIN_IDENTITY))
    assert status == 403
    assert handle_api.call("GET", PATH)[0] == 200


def test_hs_admin_values_bind_admin_identities(handle_api: HandleApi) -> None:
    # The record names another admin handle with full rights, and ours with read only.
    body = {
        "values": [
            {
                "index": 100,
                "type": "HS_ADMIN",
                "data": {
                    "format": "admin",
                    "value": {"handle": ADMIN_HANDLE, "index": 300, "permissions": "010000000000"},
                },
            },
            {"index": 1, "type": "URL", "data": "https://example.com"},
        ]
    }
    create(handle_api, body=body)
    change = {"values": [{"index": 1, "type": "URL", "data": "https://changed.example.com"}]}
    status, reply, _ = handle_api.call(
        "PUT", PATH, query="overwrite=true&index=1", body=change, auth=basic()
    )
    assert (status, reply["responseCode"]) == (403, 400)
    assert "modify value" in reply["message"]


def test_bad_input_is_refused_and_changes_nothing(handle_api: HandleApi) -> None:
    cases = [
        (f"/api/handles/{PREFIX}", VALUES, 102),  # no suffix
        ("/api/handles/88..100/x", VALUES, 102),  # empty prefix segment
        (f"/api/handles/{PREFIX}/ lead", VALUES, 102),  # leading space
        ("/api/handles/99.1/X", VALUES, 301),  # a prefix this node does not serve
        (PATH, {"values": [{"index": 0, "type": "URL", "data": "x"}]}, 202),
        (PATH, {"values": [{"index": 1, "type": "", "data": "x"}]}, 202),
        (
            PATH,
            {"values": [{"index": 1, "type": "URL", "data": {"format": "nope", "value": 1}}]},
            202,
        ),
        (
            PATH,
            {"values": [{"index": 1, "type": "URL", "data": {"format": "hex", "value": "xyz"}}]},
            202,
        ),
        (
            PATH,
            {
                "values": [
                    {"index": 1, "type": "URL", "data": "a"},
                    {"index": 1, "type": "B", "data": "b"},
                ]
            },
            202,
        ),
        (PATH, {"values": [{"index": "one", "type": "URL", "data": "a"}]}, 202),
        (PATH, {"values": [{"index": 1, "type": "URL", "data": "a", "ttl": -1}]}, 202),
        (PATH, {"nothing": []}, 202),
        (PATH, ["not", "an", "object"], 202),
    ]
    for path, body, code in cases:
        status, reply, _ = handle_api.call("PUT", path, body=body, auth=basic())
        assert reply["responseCode"] == code, (path, body, reply)
        assert 400 <= status < 500
        assert "handle" in reply
    status, reply, _ = handle_api.call("PUT", PATH, raw_body="{not json", auth=basic())
    assert (status, reply["responseCode"]) == (400, 202)
    assert handle_api.call("GET", PATH)[0] == 404


def test_oversized_body_is_413(handle_api: HandleApi) -> None:
    big = {"values": [{"index": 1, "type": "BLOB", "data": "x" * 300_000}]}
    status, reply, _ = handle_api.call("PUT", PATH, body=big, auth=basic())
    assert (status, reply["responseCode"]) == (413, 202)


def test_listing_pages_through_a_prefix(handle_api: HandleApi) -> None:
    for n in range(5):
        create(handle_api, path=f"/api/handles/{PREFIX}/item-{n}")
    seen: list[str] = []
    cursor = ""
    while True:
        query = f"prefix={PREFIX}&pageSize=2" + (f"&cursor={cursor}" if cursor else "")
        status, reply, _ = handle_api.call("GET", "/api/handles", query=query, auth=basic())
        assert status == 200
        seen += reply["handles"]
        cursor = reply.get("nextCursor", "")
        if not cursor:
            break
    assert sorted(seen) == [f"{PREFIX}/item-{n}" for n in range(5)]


def test_listing_needs_the_prefix_admin(handle_api: HandleApi) -> None:
    status, reply, _ = handle_api.call("GET", "/api/handles", query=f"prefix={PREFIX}")
    assert (status, reply["responseCode"]) == (401, 402)
    status, _, _ = handle_api.call(
        "GET", "/api/handles", query=f"prefix={PREFIX}", auth=basic(OTHER_ADMIN_IDENTITY)
    )
    assert status == 403
    status, reply, _ = handle_api.call(
        "GET", "/api/handles", query=f"prefix={PREFIX}&cursor=garbage", auth=basic()
    )
    assert (status, reply["responseCode"]) == (400, 202)


def test_unknown_route_is_json(handle_api: HandleApi) -> None:
    status, reply, _ = handle_api.call("GET", "/nowhere")
    assert status == 404 and "responseCode" in reply and "handle" in reply


def test_a_suspended_prefix_resolves_but_takes_no_writes(handle_api: HandleApi, node: Node) -> None:
    create(handle_api)
    node.prefixes.put(Prefix(PREFIX, ENTERPRISE, PrefixStatus.SUSPENDED))
    change = {"values": [{"index": 1, "type": "URL", "data": "https://example.com/late"}]}
    for method, query, body in (
        ("PUT", "overwrite=true", change),
        ("DELETE", "", None),
    ):
        status, reply, _ = handle_api.call(method, PATH, query=query, body=body, auth=basic())
        assert (status, reply["responseCode"]) == (404, 301), (method, reply)
    status, reply, _ = handle_api.call("PUT", f"{PATH}-2", body=VALUES, auth=basic())
    assert (status, reply["responseCode"]) == (404, 301)
    status, reply, _ = handle_api.call("GET", PATH)
    assert status == 200
    assert reply["values"][0]["data"]["value"] == "https://example.com/p1"


def test_malformed_numbers_and_page_numbers_are_refused(handle_api: HandleApi) -> None:
    create(handle_api)
    for query in ("index=²", "index=-1", "index=1.5"):
        status, reply, _ = handle_api.call("GET", PATH, query=query)
        assert (status, reply["responseCode"]) == (400, 202), query
    for query in ("pageSize=²", "page=2"):
        status, reply, _ = handle_api.call(
            "GET", "/api/handles", query=f"prefix={PREFIX}&{query}", auth=basic()
        )
        assert (status, reply["responseCode"]) == (400, 202), query


def test_forged_cursors_are_refused(handle_api: HandleApi) -> None:
    create(handle_api)
    forged = [
        {"s": PREFIX, "k": {"x": {"S": "y"}}},
        {"s": PREFIX, "k": {"handle": "x"}},
        {"s": PREFIX, "k": {"handle": {"S": "99.1/x"}, "prefix": {"S": PREFIX}}},
        {"s": PREFIX, "k": {"handle": {"N": "1"}, "prefix": {"S": PREFIX}}},
    ]
    for document in forged:
        cursor = base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")
        status, reply, _ = handle_api.call(
            "GET", "/api/handles", query=f"prefix={PREFIX}&cursor={cursor}", auth=basic()
        )
        assert (status, reply["responseCode"]) == (400, 202), document


def test_a_record_too_large_for_the_table_is_refused(handle_api: HandleApi) -> None:
    create(handle_api)
    for index in range(10, 17):
        chunk = {"values": [{"index": index, "type": "BLOB", "data": "x" * 60_000}]}
        status, reply, _ = handle_api.call(
            "PUT", PATH, query=f"overwrite=true&index={index}", body=chunk, auth=basic()
        )
        if status != 200:
            assert (status, reply["responseCode"]) == (413, 202)
            break
    else:
        raise AssertionError("seven 60 kB values must not fit one record")
    assert handle_api.call("GET", PATH)[0] == 200


def test_names_over_1024_bytes_are_refused(handle_api: HandleApi) -> None:
    name = f"{PREFIX}/" + "泵" * 400  # 412 characters, 1,212 bytes
    status, reply, _ = handle_api.call("PUT", f"/api/handles/{name}", body=VALUES, auth=basic())
    assert (status, reply["responseCode"]) == (400, 102)


def test_deeply_nested_bodies_are_refused(handle_api: HandleApi) -> None:
    deep = '{"values": ' + "[" * 100_000 + "]" * 100_000 + "}"
    status, reply, _ = handle_api.call("PUT", PATH, raw_body=deep, auth=basic())
    assert (status, reply["responseCode"]) == (400, 202)


def test_a_percent_sign_in_a_suffix_round_trips(handle_api: HandleApi) -> None:
    # API Gateway keeps only `%25` escaped in the path it hands over.
    status, reply, _ = handle_api.call(
        "PUT", f"/api/handles/{PREFIX}/50%25off", body=VALUES, auth=basic()
    )
    assert (status, reply["handle"]) == (201, f"{PREFIX}/50%off")
    status, reply, _ = handle_api.call("GET", f"/api/handles/{PREFIX}/50%25off")
    assert (status, reply["handle"]) == (200, f"{PREFIX}/50%off")


def test_errors_echo_the_handle_as_requested(handle_api: HandleApi) -> None:
    create(handle_api)
    status, reply, _ = handle_api.call("DELETE", PATH.lower(), query="index=9", auth=basic())
    assert (status, reply["handle"]) == (400, HANDLE.lower())


def test_an_admin_identity_administers_only_active_prefixes(
    handle_api: HandleApi, node: Node
) -> None:
    create(handle_api)
    node.prefixes.put(Prefix(PREFIX, ENTERPRISE, PrefixStatus.SUSPENDED))
    # A fresh node process (no cached verification) sees the suspension at once.
    from idnode.node import build_node, use_node

    use_node(build_node(node.settings))
    _, reply, _ = handle_api.call("GET", PATH, auth=basic())
    assert [v["index"] for v in reply["values"]] == [1, 2]  # no restricted value any more
    status, _, _ = handle_api.call("GET", "/api/handles", query=f"prefix={PREFIX}", auth=basic())
    assert status == 403
