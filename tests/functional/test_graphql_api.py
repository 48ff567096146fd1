"""The GraphQL API through its Lambda handler (Mangum), on moto, with the example
operations from graphql/operations/."""

from __future__ import annotations

from typing import Any

from idnode.domain.prefixes import Prefix, PrefixStatus
from idnode.node import Node
from tests.functional.conftest import GraphQLApi
from tests.support.identity import TokenIssuer
from tests.support.node import ENTERPRISE, OTHER_ENTERPRISE, PREFIX
from tests.support.operations import operation

HANDLE = f"{PREFIX}/VALVE-7"
VALUES = [
    {"index": 1, "type": "URL", "value": "https://example.com/valve-7"},
    {"index": 2, "type": "URL.mobile", "value": "https://m.example.com/valve-7", "ttl": 300},
    {"index": 3, "type": "SERIAL", "value": "SN-7", "restricted": True},
]


def ok(result: dict[str, Any], field: str) -> dict[str, Any]:
    assert "errors" not in result, result
    data: dict[str, Any] = result["data"][field]
    return data


def admin_token(issuer: TokenIssuer, enterprise: str = ENTERPRISE) -> str:
    return issuer.id_token("alice", ["enterprise-admin"], enterprise)


def register(api: GraphQLApi, token: str, handle: str = HANDLE) -> dict[str, Any]:
    return ok(
        api.run(
            operation("RegisterIdentifier"), {"input": {"handle": handle, "values": VALUES}}, token
        ),
        "registerIdentifier",
    )


def resolve(api: GraphQLApi, token: str | None = None, **variables: Any) -> dict[str, Any]:
    variables.setdefault("handle", HANDLE)
    return ok(api.run(operation("ResolveIdentifier"), variables, token), "resolve")


def test_viewer_anonymous_and_authenticated(graphql_api: GraphQLApi, issuer: TokenIssuer) -> None:
    anonymous = ok(graphql_api.run(operation("Viewer")), "viewer")
    assert anonymous["authenticated"] is False
    me = ok(graphql_api.run(operation("Viewer"), token=admin_token(issuer)), "viewer")
    assert me == {
        "__typename": "Viewer",
        "authenticated": True,
        "username": "alice",
        "roles": ["enterprise-admin"],
        "enterprise": ENTERPRISE,
        "prefixes": [PREFIX],
    }


def test_register_and_resolve(graphql_api: GraphQLApi, issuer: TokenIssuer) -> None:
    created = register(graphql_api, admin_token(issuer))
    assert created["__typename"] == "Identifier"
    assert created["version"] == 1
    assert [v["index"] for v in created["values"]] == [1, 2, 3]

    public = resolve(graphql_api)
    assert [v["index"] for v in public["values"]] == [1, 2]
    assert public["values"][0]["data"] == {
        "format": "STRING",
        "value": "https://example.com/valve-7",
    }

    owner = resolve(graphql_api, admin_token(issuer))
    assert [v["index"] for v in owner["values"]] == [1, 2, 3]
    assert owner["values"][2]["restricted"] is True

    stranger = resolve(graphql_api, admin_token(issuer, OTHER_ENTERPRISE))
    assert [v["index"] for v in stranger["values"]] == [1, 2]


def test_resolve_filters(graphql_api: GraphQLApi, issuer: TokenIssuer) -> None:
    register(graphql_api, admin_token(issuer))
    assert [v["index"] for v in resolve(graphql_api, types=["URL"])["values"]] == [1, 2]
    assert [v["index"] for v in resolve(graphql_api, indexes=[2])["values"]] == [2]


def test_resolve_unknown_and_malformed(graphql_api: GraphQLApi) -> None:
    assert resolve(graphql_api, handle=f"{PREFIX}/none")["__typename"] == "NotFoundError"
    bad = resolve(graphql_api, handle=f"{PREFIX}/bad\u0000suffix")
    assert bad["__typename"] == "InvalidInputError"
    # A name without a slash is a prefix handle (as Handle clients read it), here of a prefix
    # outside the node's.
    elsewhere = resolve(graphql_api, handle="no-slash")
    assert elsewhere["__typename"] == "PrefixNotServedError"


def test_many_resolutions_in_one_request_are_batched(
    graphql_api: GraphQLApi, issuer: TokenIssuer
) -> None:
    token = admin_token(issuer)
    for n in range(3):
        register(graphql_api, token, f"{PREFIX}/B-{n}")
    query = (
        "query { "
        + " ".join(
            f'r{n}: resolve(handle: "{PREFIX}/B-{n}") {{ ... on Identifier {{ handle }} }}'
            for n in range(3)
        )
        + "}"
    )
    result = graphql_api.run(query)
    assert "errors" not in result
    assert [result["data"][f"r{n}"]["handle"] for n in range(3)] == [
        f"{PREFIX}/B-{n}" for n in range(3)
    ]


def test_update_replace_upsert_remove(graphql_api: GraphQLApi, issuer: TokenIssuer) -> None:
    token = admin_token(issuer)
    register(graphql_api, token)
    update = operation("UpdateIdentifier")
    upserted = ok(
        graphql_api.run(
            update,
            {
                "input": {
                    "handle": HANDLE,
                    "upsertValues": [
                        {"index": 2, "type": "URL.mobile", "value": "https://m2.example.com"},
                        {"index": 4, "type": "EMAIL", "value": "a@example.com"},
                    ],
                    "removeIndexes": [3],
                }
            },
            token,
        ),
        "updateIdentifier",
    )
    assert [v["index"] for v in upserted["values"]] == [1, 2, 4]
    assert upserted["values"][1]["data"]["value"] == "https://m2.example.com"
    assert upserted["version"] == 2

    replaced = ok(
        graphql_api.run(
            update,
            {
                "input": {
                    "handle": HANDLE,
                    "replaceValues": [
                        {"index": 9, "type": "URL", "value": "https://x.example.com"}
                    ],
                }
            },
            token,
        ),
        "updateIdentifier",
    )
    assert [v["index"] for v in replaced["values"]] == [9]

    missing = ok(
        graphql_api.run(update, {"input": {"handle": HANDLE, "removeIndexes": [77]}}, token),
        "updateIdentifier",
    )
    assert missing["__typename"] == "NotFoundError"
    nothing = ok(graphql_api.run(update, {"input": {"handle": HANDLE}}, token), "updateIdentifier")
    assert nothing["__typename"] == "InvalidInputError"


def test_delete(graphql_api: GraphQLApi, issuer: TokenIssuer) -> None:
    token = admin_token(issuer)
    register(graphql_api, token)
    deleted = ok(
        graphql_api.run(operation("DeleteIdentifier"), {"handle": HANDLE}, token),
        "deleteIdentifier",
    )
    assert deleted == {"__typename": "DeletedIdentifier", "handle": HANDLE}
    assert resolve(graphql_api)["__typename"] == "NotFoundError"
    again = ok(
        graphql_api.run(operation("DeleteIdentifier"), {"handle": HANDLE}, token),
        "deleteIdentifier",
    )
    assert again["__typename"] == "NotFoundError"


def test_list_with_cursor_pagination(graphql_api: GraphQLApi, issuer: TokenIssuer) -> None:
    token = admin_token(issuer)
    names = [f"{PREFIX}/L-{n:02d}" for n in range(5)]
    for name in names:
        register(graphql_api, token, name)
    seen, after = [], None
    while True:
        page = ok(
            graphql_api.run(
                operation("ListIdentifiers"), {"prefix": PREFIX, "first": 2, "after": after}, token
            ),
            "identifiers",
        )
        assert page["__typename"] == "IdentifierConnection"
        seen += [e["node"]["handle"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
        assert after == page["edges"][-1]["cursor"]
    assert seen == names
    # Resume after any edge's cursor.
    first = ok(
        graphql_api.run(operation("ListIdentifiers"), {"prefix": PREFIX, "first": 5}, token),
        "identifiers",
    )
    resumed = ok(
        graphql_api.run(
            operation("ListIdentifiers"),
            {"prefix": PREFIX, "after": first["edges"][1]["cursor"]},
            token,
        ),
        "identifiers",
    )
    assert [e["node"]["handle"] for e in resumed["edges"]] == names[2:]


def test_authorisation_is_enforced(graphql_api: GraphQLApi, issuer: TokenIssuer) -> None:
    register_op = operation("RegisterIdentifier")
    variables = {"input": {"handle": HANDLE, "values": VALUES}}
    anonymous = ok(graphql_api.run(register_op, variables), "registerIdentifier")
    assert anonymous["__typename"] == "AuthenticationError"
    stranger = ok(
        graphql_api.run(register_op, variables, admin_token(issuer, OTHER_ENTERPRISE)),
        "registerIdentifier",
    )
    assert stranger["__typename"] == "NotAuthorisedError"
    auditor = ok(
        graphql_api.run(register_op, variables, issuer.id_token("carol", ["auditor"])),
        "registerIdentifier",
    )
    assert auditor["__typename"] == "NotAuthorisedError"
    listing = ok(
        graphql_api.run(
            operation("ListIdentifiers"), {"prefix": PREFIX}, admin_token(issuer, OTHER_ENTERPRISE)
        ),
        "identifiers",
    )
    assert listing["__typename"] == "NotAuthorisedError"
    assert resolve(graphql_api)["__typename"] == "NotFoundError"


def test_platform_admin_may_write_anywhere(graphql_api: GraphQLApi, issuer: TokenIssuer) -> None:
    created = register(graphql_api, issuer.id_token("root", ["platform-admin"]))
    assert created["__typename"] == "Identifier"


def test_forged_and_expired_tokens_are_refused(
    graphql_api: GraphQLApi, issuer: TokenIssuer
) -> None:
    forged = TokenIssuer().id_token("mallory", ["platform-admin"])
    expired = issuer.id_token("alice", ["enterprise-admin"], ENTERPRISE, exp=1)
    wrong_audience = issuer.id_token("alice", ["enterprise-admin"], ENTERPRISE, aud="other")
    for token in (forged, expired, wrong_audience, "garbage"):
        result = ok(
            graphql_api.run(
                operation("RegisterIdentifier"),
                {"input": {"handle": HANDLE, "values": VALUES}},
                token,
            ),
            "registerIdentifier",
        )
        assert result["__typename"] == "AuthenticationError", token
        assert token not in result["message"]
    assert resolve(graphql_api)["__typename"] == "NotFoundError"


def test_bad_values_are_refused_and_change_nothing(
    graphql_api: GraphQLApi, issuer: TokenIssuer
) -> None:
    token = admin_token(issuer)
    cases = [
        [{"index": 0, "type": "URL", "value": "x"}],
        [{"index": 1, "type": "URL", "value": 42}],
        [{"index": 1, "type": "URL", "value": "a"}, {"index": 1, "type": "URL", "value": "b"}],
        [{"index": 1, "type": "HS_ADMIN", "format": "ADMIN", "value": {"handle": "x"}}],
        [{"index": 1, "type": "URL", "value": "a", "ttl": -5}],
    ]
    for values in cases:
        result = ok(
            graphql_api.run(
                operation("RegisterIdentifier"),
                {"input": {"handle": HANDLE, "values": values}},
                token,
            ),
            "registerIdentifier",
        )
        assert result["__typename"] == "InvalidInputError", values
    unserved = ok(
        graphql_api.run(
            operation("RegisterIdentifier"),
            {"input": {"handle": "77.1/X", "values": VALUES}},
            issuer.id_token("root", ["platform-admin"]),
        ),
        "registerIdentifier",
    )
    assert unserved["__typename"] == "PrefixNotServedError"
    assert resolve(graphql_api)["__typename"] == "NotFoundError"


def test_limits_and_masking(graphql_api: GraphQLApi) -> None:
    deep = "query { viewer { ... on Viewer { " + "username " * 2500 + "} } }"
    result = graphql_api.run(deep)
    assert result.get("errors"), "a query over the token limit must be refused"
    aliases = "query { " + " ".join(f"a{n}: viewer {{ __typename }}" for n in range(40)) + " }"
    assert graphql_api.run(aliases).get("errors")
    unknown = graphql_api.run("query { nothing }")
    assert unknown["errors"] and "Traceback" not in str(unknown)


def test_delete_under_a_suspended_prefix_is_a_typed_error(
    graphql_api: GraphQLApi, issuer: TokenIssuer, node: Node
) -> None:
    token = admin_token(issuer)
    register(graphql_api, token)
    node.prefixes.put(Prefix(PREFIX, ENTERPRISE, PrefixStatus.SUSPENDED))
    result = ok(
        graphql_api.run(operation("DeleteIdentifier"), {"handle": HANDLE}, token),
        "deleteIdentifier",
    )
    assert result["__typename"] == "PrefixNotServedError"


def test_expected_version_guards_against_lost_updates(
    graphql_api: GraphQLApi, issuer: TokenIssuer
) -> None:
    token = admin_token(issuer)
    register(graphql_api, token)
    change = {"handle": HANDLE, "upsertValues": [{"index": 5, "type": "NOTE", "value": "a"}]}
    first = ok(
        graphql_api.run(
            operation("UpdateIdentifier"), {"input": {**change, "expectedVersion": 1}}, token
        ),
        "updateIdentifier",
    )
    assert first["version"] == 2
    stale = ok(
        graphql_api.run(
            operation("UpdateIdentifier"), {"input": {**change, "expectedVersion": 1}}, token
        ),
        "updateIdentifier",
    )
    assert stale["__typename"] == "ConflictError"
    assert "version 2" in stale["message"]


def test_client_errors_are_explained_and_suggest_nothing(graphql_api: GraphQLApi) -> None:
    unknown = graphql_api.run("query { nosuchfield }")
    assert "nosuchfield" in unknown["errors"][0]["message"]
    assert "Did you mean" not in str(unknown)
    typed = graphql_api.run("query($h: Int) { resolve(handle: $h) { __typename } }", {"h": 1})
    assert "Unexpected error" not in typed["errors"][0]["message"]
    aliases = "query { " + " ".join(f"a{n}: viewer {{ __typename }}" for n in range(40)) + " }"
    assert "alias" in graphql_api.run(aliases)["errors"][0]["message"].lower()


def test_batched_resolution_folds_ascii_case_only(
    graphql_api: GraphQLApi, issuer: TokenIssuer
) -> None:
    register(graphql_api, admin_token(issuer), f"{PREFIX}/K")
    query = (
        f'query {{ b: resolve(handle: "{PREFIX}/k") {{ __typename }} '
        f'a: resolve(handle: "{PREFIX}/\\u212a") {{ __typename }} }}'
    )
    result = graphql_api.run(query)
    assert result["data"] == {
        "b": {"__typename": "Identifier"},
        "a": {"__typename": "NotFoundError"},
    }


def test_people_without_a_role_see_public_values_only(
    graphql_api: GraphQLApi, issuer: TokenIssuer
) -> None:
    register(graphql_api, admin_token(issuer))
    roleless = issuer.id_token("bob", [], ENTERPRISE)
    assert [v["index"] for v in resolve(graphql_api, roleless)["values"]] == [1, 2]
    listing = ok(
        graphql_api.run(operation("ListIdentifiers"), {"prefix": PREFIX}, roleless), "identifiers"
    )
    assert listing["__typename"] == "NotAuthorisedError"


def test_a_deeply_nested_body_is_a_client_error(graphql_api: GraphQLApi) -> None:
    from idnode.cli.gateway import http_api_event
    from idnode.handlers import graphql
    from tests.functional.conftest import LambdaContext

    body = (
        '{"query": "{ viewer { __typename } }", "variables": ' + "[" * 100_000 + "]" * 100_000 + "}"
    )
    event = http_api_event(
        "POST", "/graphql", headers={"content-type": "application/json"}, body=body
    )
    assert graphql.handler(event, LambdaContext())["statusCode"] == 400
