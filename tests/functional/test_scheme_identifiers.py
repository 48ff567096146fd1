"""Scheme identifiers end to end: a GS1 key, OID, Ecode or VAA identifier registered under an
enterprise prefix is one identifier, found as its key in any written form, as a Digital Link
URI or as the node identifier; its key is unique on the node and lives as long as it does."""

from __future__ import annotations

from typing import Any

import pytest

from idnode.domain.access import Principal, PrincipalKind, Role
from idnode.domain.errors import SchemeKeyTakenError
from idnode.domain.values import parse_values
from idnode.node import Node
from tests.functional.conftest import GraphQLApi, HandleApi, basic
from tests.support.identity import TokenIssuer
from tests.support.node import ENTERPRISE, OTHER_ENTERPRISE, OTHER_PREFIX, PREFIX
from tests.support.operations import operation

GTIN = "09506000134352"
URL = [{"index": 1, "type": "URL", "value": "https://example.com/p"}]
REST_URL = [{"index": 1, "type": "URL", "data": "https://example.com/p"}]


def token(issuer: TokenIssuer, enterprise: str = ENTERPRISE) -> str:
    return issuer.id_token("alice", ["enterprise-admin"], enterprise)


def data(result: dict[str, Any], field: str) -> dict[str, Any]:
    assert "errors" not in result, result
    answer: dict[str, Any] = result["data"][field]
    return answer


def register(
    api: GraphQLApi, who: str, scheme: str, key: str, prefix: str = PREFIX
) -> dict[str, Any]:
    variables = {"input": {"prefix": prefix, "scheme": scheme, "key": key, "values": URL}}
    return data(
        api.run(operation("RegisterSchemeIdentifier"), variables, who), "registerSchemeIdentifier"
    )


def resolve_key(api: GraphQLApi, scheme: str, key: str) -> dict[str, Any]:
    variables = {"scheme": scheme, "key": key}
    return data(api.run(operation("ResolveKey"), variables), "resolveKey")


# Each scheme: a key as written, the node suffix it maps to, and other written forms of it.
EXAMPLES = [
    (
        "GS1",
        "(01)09506000134352(21)AB-123",
        f"01/{GTIN}/21/AB-123",
        [f"https://id.gs1.org/01/{GTIN}/21/AB-123?17=261231", f"01/{GTIN}/21/AB-123"],
    ),
    (
        "GS1",
        "https://example.com/00/106141412345678908",
        "00/106141412345678908",
        ["(00)106141412345678908"],
    ),
    ("GS1", "(414)9506000134352", "414/9506000134352", ["414/9506000134352"]),
    ("OID", "1.2.156.3001.1", "oid/1.2.156.3001.1", ["urn:oid:1.2.156.3001.1"]),
    ("ECODE", "10012345678901234567", "ecode/10012345678901234567", ["10012345678901234567"]),
    (
        "VAA",
        "did:vaa:2Ue1VQh3vdwaLMnaHBJ7sHdTd6PE",
        "vaa/2Ue1VQh3vdwaLMnaHBJ7sHdTd6PE",
        ["DID:VAA:2Ue1VQh3vdwaLMnaHBJ7sHdTd6PE"],
    ),
]


@pytest.mark.parametrize("example", EXAMPLES, ids=[e[1] for e in EXAMPLES])
def test_a_key_is_found_in_every_written_form(
    graphql_api: GraphQLApi,
    handle_api: HandleApi,
    issuer: TokenIssuer,
    example: tuple[str, str, str, list[str]],
) -> None:
    scheme, written, suffix, others = example
    created = register(graphql_api, token(issuer), scheme, written)
    assert created["__typename"] == "Identifier", created
    assert created["handle"] == f"{PREFIX}/{suffix}"

    for form in [written, *others]:
        found = resolve_key(graphql_api, scheme, form)
        assert found["__typename"] == "Identifier", (form, found)
        assert found["handle"] == f"{PREFIX}/{suffix}"
    status, body, _ = handle_api.call("GET", f"/api/handles/{PREFIX}/{suffix}")
    assert status == 200, body
    assert body["values"][0]["data"]["value"] == "https://example.com/p"

    info = data(
        graphql_api.run(operation("SchemeKey"), {"scheme": scheme, "key": written}), "schemeKey"
    )
    assert info["suffix"] == suffix
    assert (info["digitalLinkPath"] is not None) == (scheme == "GS1")


def test_the_node_identifier_registered_through_handle_rest_has_its_key(
    graphql_api: GraphQLApi, handle_api: HandleApi
) -> None:
    status, body, _ = handle_api.call(
        "PUT", f"/api/handles/{PREFIX}/01/{GTIN}", body={"values": REST_URL}, auth=basic()
    )
    assert status == 201, body
    assert resolve_key(graphql_api, "GS1", f"(01){GTIN}")["handle"] == f"{PREFIX}/01/{GTIN}"


def test_a_key_is_registered_once_on_the_node(graphql_api: GraphQLApi, issuer: TokenIssuer) -> None:
    assert register(graphql_api, token(issuer), "GS1", GTIN)["__typename"] == "InvalidInputError"
    assert register(graphql_api, token(issuer), "GS1", f"01/{GTIN}")["__typename"] == "Identifier"
    again = register(graphql_api, token(issuer), "GS1", f"01/{GTIN}")
    assert again["__typename"] == "AlreadyExistsError"
    elsewhere = register(
        graphql_api, token(issuer, OTHER_ENTERPRISE), "GS1", f"01/{GTIN}", OTHER_PREFIX
    )
    assert elsewhere["__typename"] == "AlreadyExistsError"
    assert f"gs1:01/{GTIN}" in elsewhere["message"]
    assert f"{PREFIX}/01/{GTIN}" in elsewhere["message"]


def test_deleting_the_identifier_frees_its_key(
    graphql_api: GraphQLApi, issuer: TokenIssuer, node: Node
) -> None:
    register(graphql_api, token(issuer), "OID", "1.2.156.7")
    assert node.keys.get("oid:1.2.156.7") is not None
    deleted = graphql_api.run(
        operation("DeleteIdentifier"), {"handle": f"{PREFIX}/oid/1.2.156.7"}, token(issuer)
    )
    assert data(deleted, "deleteIdentifier")["__typename"] == "DeletedIdentifier"
    assert node.keys.get("oid:1.2.156.7") is None
    assert resolve_key(graphql_api, "OID", "1.2.156.7")["__typename"] == "NotFoundError"
    other = register(graphql_api, token(issuer, OTHER_ENTERPRISE), "OID", "1.2.156.7", OTHER_PREFIX)
    assert other["handle"] == f"{OTHER_PREFIX}/oid/1.2.156.7"


@pytest.mark.parametrize(
    ("suffix", "complaint"),
    [
        (f"01/{GTIN[:-1]}3", "check digit"),
        ("01/9506000134352", f"register it as {PREFIX}/01/{GTIN}"),
        (f"01/{GTIN}/17/261231", "qualifier"),
        ("oid/1.02.3", "leading zero"),
        ("oid/3.1", "first arc"),
        ("vaa/0OIl", "vaa"),
    ],
)
def test_a_suffix_in_a_scheme_namespace_must_be_a_valid_canonical_key(
    handle_api: HandleApi, node: Node, suffix: str, complaint: str
) -> None:
    status, body, _ = handle_api.call(
        "PUT", f"/api/handles/{PREFIX}/{suffix}", body={"values": REST_URL}, auth=basic()
    )
    assert status == 400, body
    assert body["responseCode"] == 102
    assert complaint in body["message"]
    assert node.identifiers.get_many([]) == []
    status, _, _ = handle_api.call("GET", f"/api/handles/{PREFIX}/{suffix}")
    assert status == 404


def test_resolving_an_unregistered_or_malformed_key(graphql_api: GraphQLApi) -> None:
    assert resolve_key(graphql_api, "GS1", f"01/{GTIN}")["__typename"] == "NotFoundError"
    bad = resolve_key(graphql_api, "GS1", "01/123")
    assert bad["__typename"] == "InvalidInputError"
    assert "gs1" in bad["message"]
    assert resolve_key(graphql_api, "OID", "banana")["__typename"] == "InvalidInputError"


def test_overwriting_under_another_prefix_does_not_take_a_registered_key(
    handle_api: HandleApi, node: Node
) -> None:
    status, _, _ = handle_api.call(
        "PUT", f"/api/handles/{PREFIX}/01/{GTIN}", body={"values": REST_URL}, auth=basic()
    )
    assert status == 201
    admin = Principal(PrincipalKind.USER, name="pat", roles=frozenset({Role.PLATFORM_ADMIN}))
    values = parse_values(REST_URL, max_values=1)
    # Create-or-replace (Handle REST's overwrite=true) must not mistake the taken key for a
    # concurrent creation of the name and retry until it gives up.
    with pytest.raises(SchemeKeyTakenError, match=f"as {PREFIX}/01/{GTIN}"):
        node.registry.put(f"{OTHER_PREFIX}/01/{GTIN}", values, admin)
