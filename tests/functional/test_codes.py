"""Private codes through the GraphQL handler, on moto: bulk mapping with per-item outcomes,
safe retries, resolution by the owner, staff and granted enterprises only, revocation,
unmapping and the lookup from an identifier back to its codes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from idnode.domain.access import user
from idnode.domain.codes import CodeMapping
from idnode.domain.values import parse_values
from idnode.node import Node
from idnode.services.operations import OperationFilter
from tests.functional.conftest import GraphQLApi
from tests.support.identity import TokenIssuer
from tests.support.node import ENTERPRISE, OTHER_ENTERPRISE, OTHER_PREFIX, PREFIX
from tests.support.operations import operation

PUMP = f"{PREFIX}/PUMP-0001"
VALVE = f"{PREFIX}/VALVE-0002"
OTHERS = f"{OTHER_PREFIX}/PUMP-9"
VALUES = [
    {"index": 1, "type": "URL", "value": "https://example.com/pump"},
    {"index": 2, "type": "SERIAL", "value": "SN-1", "restricted": True},
]
STRANGER = "ent-9999"  # an enterprise the owner never granted


def call(api: GraphQLApi, document: str, variables: dict[str, Any], token: str | None) -> Any:
    result = api.run(document, variables, token)
    assert "errors" not in result, result
    (answer,) = result["data"].values()
    return answer


def owner_admin(issuer: TokenIssuer) -> str:
    return issuer.id_token("alice", ["enterprise-admin"], ENTERPRISE)


def owner_user(issuer: TokenIssuer) -> str:
    return issuer.id_token("bob", ["enterprise-user"], ENTERPRISE)


def partner(issuer: TokenIssuer) -> str:
    return issuer.id_token("dave", ["enterprise-user"], OTHER_ENTERPRISE)


def stranger(issuer: TokenIssuer) -> str:
    return issuer.id_token("erin", ["enterprise-admin"], STRANGER)


def auditor(issuer: TokenIssuer) -> str:
    return issuer.id_token("carol", ["auditor"])


@pytest.fixture
def api(graphql_api: GraphQLApi, node: Node) -> GraphQLApi:
    """Identifiers of both enterprises registered."""
    platform = user("root", ["platform-admin"], None, [])
    for name in (PUMP, VALVE, OTHERS):
        node.registry.create(name, parse_values(_raw(VALUES), max_values=10), platform)
    return graphql_api


def _raw(values: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "index": v["index"],
            "type": v["type"],
            "data": {"format": "string", "value": v["value"]},
            "restricted": v.get("restricted", False),
        }
        for v in values
    ]


def map_codes(
    api: GraphQLApi, token: str | None, mappings: list[dict[str, str]], enterprise: str = ENTERPRISE
) -> Any:
    return call(
        api, operation("MapPrivateCodes"), {"enterprise": enterprise, "mappings": mappings}, token
    )


def resolve(api: GraphQLApi, token: str | None, code: str, enterprise: str = ENTERPRISE) -> Any:
    return call(
        api, operation("ResolvePrivateCode"), {"enterprise": enterprise, "code": code}, token
    )


def statuses(result: dict[str, Any]) -> list[tuple[str, str]]:
    return [(o["code"], o["status"]) for o in result["outcomes"]]


def test_bulk_mapping_answers_per_item(api: GraphQLApi, issuer: TokenIssuer, node: Node) -> None:
    call(
        api,
        operation("MapPrivateCodes"),
        {"enterprise": ENTERPRISE, "mappings": [{"code": "MAT-TAKEN", "identifier": VALVE}]},
        owner_admin(issuer),
    )
    mappings = [
        {"code": "MAT-001", "identifier": PUMP},
        {"code": "mat-001", "identifier": VALVE},  # codes match exactly: another code
        {"code": "MAT-002", "identifier": f"{PREFIX}/NOT-REGISTERED"},
        {"code": "MAT-003", "identifier": OTHERS},
        {"code": " MAT-004", "identifier": PUMP},
        {"code": "MAT-005", "identifier": "no slash"},
        {"code": "MAT-TAKEN", "identifier": PUMP},
        {"code": "MAT-001", "identifier": PUMP},
        {"code": "MAT-001", "identifier": VALVE},
        {"code": "x" * 129, "identifier": PUMP},
    ]
    result = map_codes(api, owner_user(issuer), mappings)
    assert result["__typename"] == "PrivateCodeOutcomes", result
    assert statuses(result) == [
        ("MAT-001", "MAPPED"),
        ("mat-001", "MAPPED"),
        ("MAT-002", "FAILED"),
        ("MAT-003", "FAILED"),
        (" MAT-004", "FAILED"),
        ("MAT-005", "FAILED"),
        ("MAT-TAKEN", "FAILED"),
        ("MAT-001", "UNCHANGED"),
        ("MAT-001", "FAILED"),
        ("x" * 129, "FAILED"),
    ]
    reasons = [o["reason"] for o in result["outcomes"]]
    assert reasons[0] is None
    assert "is not registered" in reasons[2]
    assert f"not under a prefix of enterprise {ENTERPRISE}" in reasons[3]
    assert "leading or trailing white space" in reasons[4]
    assert "prefix/suffix" in reasons[5]
    assert f"already mapped to {VALVE}" in reasons[6]
    assert "asked for 88.100.1234/PUMP-0001 earlier in this request" in reasons[8]
    assert "at most 128 characters" in reasons[9]
    assert (result["changed"], result["unchanged"], result["failed"]) == (2, 1, 7)
    # Nothing was written for the failures.
    assert resolve(api, owner_user(issuer), "MAT-002")["__typename"] == "NotFoundError"
    assert resolve(api, owner_user(issuer), "MAT-TAKEN")["identifier"]["handle"] == VALVE

    entries = node.log.query(
        user("root", ["platform-admin"], None, []),
        OperationFilter(action="map-private-codes"),
        10,
        None,
    ).items
    assert entries[0].details == {"mapped": 2, "unchanged": 1, "failed": 7}
    assert entries[0].enterprise == ENTERPRISE


def test_a_retry_is_unchanged_and_large_batches_write_in_chunks(
    api: GraphQLApi, issuer: TokenIssuer
) -> None:
    mappings = [{"code": f"PART-{i:04d}", "identifier": PUMP} for i in range(250)]
    first = map_codes(api, owner_admin(issuer), mappings)
    assert (first["changed"], first["unchanged"], first["failed"]) == (250, 0, 0)
    again = map_codes(api, owner_admin(issuer), mappings)
    assert (again["changed"], again["unchanged"], again["failed"]) == (0, 250, 0)

    too_many = [{"code": f"P-{i}", "identifier": PUMP} for i in range(1001)]
    refused = map_codes(api, owner_admin(issuer), too_many)
    assert refused["__typename"] == "InvalidInputError"
    assert "1 to 1000" in refused["message"]

    # The listing pages through all of them, in code order.
    seen: list[str] = []
    after = None
    while True:
        page = call(
            api,
            operation("PrivateCodes"),
            {"enterprise": ENTERPRISE, "first": 100, "after": after},
            owner_user(issuer),
        )
        seen.extend(edge["node"]["code"] for edge in page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == sorted(m["code"] for m in mappings)


def test_a_code_taken_between_read_and_write_is_settled(
    api: GraphQLApi, issuer: TokenIssuer, node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer maps the same codes after this request read the store."""
    store = node.codes._codes  # the race is staged at the store's seam
    real_get, real_add = store.get_many, store.add_many

    def read_then_race(enterprise: str, codes: Iterable[str]) -> dict[str, CodeMapping]:
        wanted = list(codes)
        found = real_get(enterprise, wanted)
        if "RACE-1" in wanted and not found:
            real_add([_mapping("RACE-1", VALVE), _mapping("RACE-2", PUMP)])
        return found

    monkeypatch.setattr(store, "get_many", read_then_race)
    result = map_codes(
        api,
        owner_admin(issuer),
        [
            {"code": "RACE-1", "identifier": PUMP},
            {"code": "RACE-2", "identifier": PUMP},
            {"code": "RACE-3", "identifier": PUMP},
            {"code": "RACE-1", "identifier": PUMP},
        ],
    )
    assert statuses(result) == [
        ("RACE-1", "FAILED"),
        ("RACE-2", "UNCHANGED"),
        ("RACE-3", "MAPPED"),
        ("RACE-1", "FAILED"),
    ]
    assert f"already mapped to {VALVE}" in result["outcomes"][0]["reason"]


def _mapping(code: str, identifier: str) -> CodeMapping:
    return CodeMapping(ENTERPRISE, code, identifier, 1, "someone-else")


def test_who_may_resolve(api: GraphQLApi, issuer: TokenIssuer) -> None:
    map_codes(api, owner_admin(issuer), [{"code": "MAT-001", "identifier": PUMP}])

    mine = resolve(api, owner_user(issuer), "MAT-001")
    assert mine["__typename"] == "ResolvedPrivateCode", mine
    assert mine["identifier"]["handle"] == PUMP
    assert [v["restricted"] for v in mine["identifier"]["values"]] == [False, True]

    staff = resolve(api, auditor(issuer), "MAT-001")
    assert len(staff["identifier"]["values"]) == 2

    # Not granted: refused alike whether the code exists or not.
    for token in (partner(issuer), stranger(issuer)):
        for code in ("MAT-001", "NO-SUCH-CODE"):
            refused = resolve(api, token, code)
            assert refused["__typename"] == "NotAuthorisedError", refused
            assert "NO-SUCH" not in refused["message"]
    anonymous = resolve(api, None, "MAT-001")
    assert anonymous["__typename"] == "AuthenticationError"
    assert resolve(api, owner_user(issuer), "NO-SUCH-CODE")["__typename"] == "NotFoundError"

    granted = call(
        api,
        operation("GrantCodeAccess"),
        {"enterprise": ENTERPRISE, "grantee": OTHER_ENTERPRISE},
        owner_admin(issuer),
    )
    assert granted == {
        "__typename": "CodeGrant",
        "enterprise": ENTERPRISE,
        "grantee": OTHER_ENTERPRISE,
        "grantedAt": granted["grantedAt"],
        "grantedBy": "alice",
    }
    theirs = resolve(api, partner(issuer), "MAT-001")
    assert theirs["identifier"]["handle"] == PUMP
    # A grantee reads the public values only: the restricted one is not theirs.
    assert [v["restricted"] for v in theirs["identifier"]["values"]] == [False]
    assert resolve(api, partner(issuer), "NO-SUCH-CODE")["__typename"] == "NotFoundError"
    assert resolve(api, stranger(issuer), "MAT-001")["__typename"] == "NotAuthorisedError"
    # A grant is for resolving, not for reading the whole code book.
    book = call(api, operation("PrivateCodes"), {"enterprise": ENTERPRISE}, partner(issuer))
    assert book["__typename"] == "NotAuthorisedError"

    grants = call(api, operation("CodeGrants"), {"enterprise": ENTERPRISE}, owner_user(issuer))
    assert [g["grantee"] for g in grants["grants"]] == [OTHER_ENTERPRISE]
    assert (
        call(api, operation("CodeGrants"), {"enterprise": ENTERPRISE}, partner(issuer))[
            "__typename"
        ]
        == "NotAuthorisedError"
    )

    revoked = call(
        api,
        operation("RevokeCodeAccess"),
        {"enterprise": ENTERPRISE, "grantee": OTHER_ENTERPRISE},
        owner_admin(issuer),
    )
    assert revoked["grantee"] == OTHER_ENTERPRISE
    assert resolve(api, partner(issuer), "MAT-001")["__typename"] == "NotAuthorisedError"
    again = call(
        api,
        operation("RevokeCodeAccess"),
        {"enterprise": ENTERPRISE, "grantee": OTHER_ENTERPRISE},
        owner_admin(issuer),
    )
    assert again["__typename"] == "NotFoundError"
    assert (
        call(api, operation("CodeGrants"), {"enterprise": ENTERPRISE}, owner_admin(issuer))[
            "grants"
        ]
        == []
    )


def test_grants_are_checked(api: GraphQLApi, issuer: TokenIssuer) -> None:
    def grant(grantee: str, token: str, enterprise: str = ENTERPRISE) -> Any:
        return call(
            api, operation("GrantCodeAccess"), {"enterprise": enterprise, "grantee": grantee}, token
        )

    assert grant(STRANGER, owner_admin(issuer))["__typename"] == "NotFoundError"
    assert grant(ENTERPRISE, owner_admin(issuer))["__typename"] == "InvalidInputError"
    assert grant("code#x", owner_admin(issuer))["__typename"] == "InvalidInputError"
    # Only the owner's people (or a platform admin) grant access to its codes.
    assert grant(OTHER_ENTERPRISE, partner(issuer))["__typename"] == "NotAuthorisedError"
    assert grant(OTHER_ENTERPRISE, auditor(issuer))["__typename"] == "NotAuthorisedError"
    first = grant(OTHER_ENTERPRISE, owner_admin(issuer))
    second = grant(OTHER_ENTERPRISE, owner_user(issuer))
    assert second == first  # granting twice keeps the first grant


def test_managing_codes_is_for_the_owner(api: GraphQLApi, issuer: TokenIssuer) -> None:
    mapping = [{"code": "MAT-001", "identifier": PUMP}]
    assert map_codes(api, None, mapping)["__typename"] == "AuthenticationError"
    assert map_codes(api, partner(issuer), mapping)["__typename"] == "NotAuthorisedError"
    assert map_codes(api, auditor(issuer), mapping)["__typename"] == "NotAuthorisedError"
    # Mapping under another enterprise's name cannot reach its identifiers either.
    theirs = map_codes(
        api, partner(issuer), [{"code": "X", "identifier": OTHERS}], enterprise=OTHER_ENTERPRISE
    )
    assert statuses(theirs) == [("X", "MAPPED")]
    assert map_codes(api, owner_admin(issuer), mapping, "not an id")["__typename"] == (
        "InvalidInputError"
    )
    assert map_codes(api, owner_admin(issuer), [])["__typename"] == "InvalidInputError"


def test_unmapping_and_the_lookup_back(api: GraphQLApi, issuer: TokenIssuer) -> None:
    map_codes(
        api,
        owner_admin(issuer),
        [
            {"code": "MAT-001", "identifier": PUMP},
            {"code": "ALT-001", "identifier": PUMP.lower()},
            {"code": "MAT-002", "identifier": VALVE},
        ],
    )
    back = call(api, operation("PrivateCodesOf"), {"identifier": PUMP.upper()}, owner_user(issuer))
    assert back["__typename"] == "PrivateCodeList", back
    assert [(c["code"], c["identifier"]) for c in back["codes"]] == [
        ("ALT-001", PUMP.lower()),
        ("MAT-001", PUMP),
    ]
    assert call(api, operation("PrivateCodesOf"), {"identifier": PUMP}, partner(issuer))[
        "__typename"
    ] == ("NotAuthorisedError")
    assert call(api, operation("PrivateCodesOf"), {"identifier": PUMP}, None)["__typename"] == (
        "AuthenticationError"
    )
    assert (
        call(api, operation("PrivateCodesOf"), {"identifier": "99.1/X"}, owner_user(issuer))[
            "__typename"
        ]
        == "NotFoundError"
    )
    call(
        api,
        operation("GrantCodeAccess"),
        {"enterprise": ENTERPRISE, "grantee": OTHER_ENTERPRISE},
        owner_admin(issuer),
    )
    granted = call(api, operation("PrivateCodesOf"), {"identifier": VALVE}, partner(issuer))
    assert [c["code"] for c in granted["codes"]] == ["MAT-002"]

    unmapped = call(
        api,
        operation("UnmapPrivateCodes"),
        {"enterprise": ENTERPRISE, "codes": ["MAT-001", "MAT-001", "NEVER", "", "ALT-001"]},
        owner_user(issuer),
    )
    assert statuses(unmapped) == [
        ("MAT-001", "UNMAPPED"),
        ("MAT-001", "NOT_MAPPED"),
        ("NEVER", "NOT_MAPPED"),
        ("", "FAILED"),
        ("ALT-001", "UNMAPPED"),
    ]
    assert unmapped["outcomes"][0]["identifier"] == PUMP
    assert (unmapped["changed"], unmapped["unchanged"], unmapped["failed"]) == (2, 2, 1)
    assert resolve(api, owner_user(issuer), "MAT-001")["__typename"] == "NotFoundError"
    after = call(api, operation("PrivateCodesOf"), {"identifier": PUMP}, owner_user(issuer))
    assert after["codes"] == []
    refused = call(
        api,
        operation("UnmapPrivateCodes"),
        {"enterprise": ENTERPRISE, "codes": ["MAT-002"]},
        partner(issuer),
    )
    assert refused["__typename"] == "NotAuthorisedError"
    assert resolve(api, owner_user(issuer), "MAT-002")["identifier"]["handle"] == VALVE


def test_a_code_whose_identifier_was_deleted_resolves_to_not_found(
    api: GraphQLApi, issuer: TokenIssuer, node: Node
) -> None:
    map_codes(api, owner_admin(issuer), [{"code": "MAT-001", "identifier": PUMP}])
    node.registry.delete(PUMP, user("root", ["platform-admin"], None, []))
    gone = resolve(api, owner_user(issuer), "MAT-001")
    assert gone["__typename"] == "NotFoundError"
    assert "not registered" in gone["message"]
