"""Templates and master data through the GraphQL and Handle REST handlers, on moto: import
idempotency and conflicts, who may do what, extensions, and master data checked on every
write whichever API it comes through."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from idnode.node import Node
from tests.functional.conftest import GraphQLApi, HandleApi, basic
from tests.support.identity import TokenIssuer
from tests.support.node import ENTERPRISE, OTHER_PREFIX, PREFIX
from tests.support.operations import operation
from tests.support.templates import PUMP

HANDLE = f"{PREFIX}/PUMP-0001"
PUMP_2: dict[str, Any] = {
    **copy.deepcopy(PUMP),
    "version": "2.0",
    "items": [
        *copy.deepcopy(PUMP["items"]),
        {
            "name": "stages",
            "idType": "STAGES",
            "idIndex": 2002,
            "required": True,
            "metadata": {"type": "integer"},
        },
    ],
}


def root(issuer: TokenIssuer) -> str:
    return issuer.id_token("root", ["platform-admin"])


def admin(issuer: TokenIssuer, enterprise: str = ENTERPRISE) -> str:
    return issuer.id_token("alice", ["enterprise-admin"], enterprise)


def member(issuer: TokenIssuer) -> str:
    return issuer.id_token("bob", ["enterprise-user"], ENTERPRISE)


def call(api: GraphQLApi, document: str, variables: dict[str, Any], token: str | None) -> Any:
    result = api.run(document, variables, token)
    assert "errors" not in result, result
    (answer,) = result["data"].values()
    return answer


def import_(api: GraphQLApi, templates: object, token: str) -> Any:
    return call(api, operation("ImportTemplates"), {"templates": templates}, token)


def register(api: GraphQLApi, token: str, handle: str = HANDLE) -> None:
    values = [{"index": 1, "type": "URL", "value": "https://example.com/pump"}]
    created = call(
        api, operation("RegisterIdentifier"), {"input": {"handle": handle, "values": values}}, token
    )
    assert created["__typename"] == "Identifier", created


@pytest.fixture
def api(graphql_api: GraphQLApi, issuer: TokenIssuer) -> GraphQLApi:
    """The API with the pump template imported and the pump's identifier registered."""
    imported = import_(graphql_api, PUMP, root(issuer))
    assert imported["__typename"] == "TemplateImport", imported
    register(graphql_api, admin(issuer))
    return graphql_api


def set_data(api: GraphQLApi, token: str, data: Any, version: str | None = "1.0") -> Any:
    variables: dict[str, Any] = {"handle": HANDLE, "data": data}
    if version is not None:
        variables["template"] = {"code": "C34-pump", "version": version}
    return call(api, operation("SetMasterData"), {"input": variables}, token)


def values_of(node: Node, handle: str = HANDLE) -> dict[int, Any]:
    (record,) = node.registry.find_many([handle])
    assert record is not None
    return {v.index: v.data.value for v in record.values}


# Import


def test_import_is_idempotent_and_versions_are_immutable(
    api: GraphQLApi, issuer: TokenIssuer
) -> None:
    again = import_(api, [PUMP], root(issuer))
    assert [t["outcome"] for t in again["templates"]] == ["UNCHANGED"]
    changed = copy.deepcopy(PUMP)
    changed["items"][0]["metadata"]["maxLength"] = 32
    refused = import_(api, [PUMP_2, changed], root(issuer))
    assert refused["__typename"] == "InvalidStateError"
    assert "C34-pump@1.0 exists with other content" in refused["message"]
    # Nothing of a refused import is stored, not even its new version.
    latest = call(api, operation("Template"), {"code": "C34-pump"}, None)
    assert latest["version"] == "1.0"
    both = import_(api, [PUMP, PUMP_2], root(issuer))
    assert [t["outcome"] for t in both["templates"]] == ["UNCHANGED", "CREATED"]


def test_an_invalid_import_names_the_item(api: GraphQLApi, issuer: TokenIssuer) -> None:
    bad = copy.deepcopy(PUMP_2)
    bad["items"][2]["idIndex"] = 2001
    refused = import_(api, [PUMP, bad], root(issuer))
    assert refused["__typename"] == "InvalidInputError"
    assert refused["message"].startswith("templates[1].items[2].idIndex: 2001 is used by")


@pytest.mark.parametrize("role", ["enterprise-admin", "enterprise-user", "auditor"])
def test_only_platform_admins_import(api: GraphQLApi, issuer: TokenIssuer, role: str) -> None:
    token = issuer.id_token("someone", [role], ENTERPRISE)
    assert import_(api, PUMP_2, token)["__typename"] == "NotAuthorisedError"
    anonymous = api.run(operation("ImportTemplates"), {"templates": PUMP_2}, None)
    assert anonymous["data"]["importTemplates"]["__typename"] == "AuthenticationError"


def test_a_template_reads_back_with_schema_and_export(api: GraphQLApi, issuer: TokenIssuer) -> None:
    import_(api, PUMP_2, root(issuer))
    latest = call(api, operation("Template"), {"code": "C34-pump"}, None)
    assert latest["version"] == "2.0"
    first = call(api, operation("Template"), {"code": "C34-pump", "version": "1.0"}, None)
    assert first["export"] == PUMP
    assert first["jsonSchema"]["required"] == ["model", "ratedFlow"]
    assert first["createdBy"] == "root"
    assert [f["name"] for f in first["fields"]] == ["model", "ratedFlow"]
    missing = call(api, operation("Template"), {"code": "C34-pump", "version": "9.0"}, None)
    assert missing["__typename"] == "InvalidInputError"


def test_templates_are_listed_by_filter(api: GraphQLApi, issuer: TokenIssuer) -> None:
    core = {**copy.deepcopy(PUMP), "code": "core-product", "kind": "core", "industryCodes": []}
    other = {**copy.deepcopy(PUMP), "code": "A01-crop", "industryCodes": ["A01"]}
    import_(api, [core, other, PUMP_2], root(issuer))

    def codes(filter: dict[str, Any], first: int = 50) -> list[str]:
        page = call(api, operation("Templates"), {"filter": filter, "first": first}, None)
        return sorted(f"{e['node']['code']}@{e['node']['version']}" for e in page["edges"])

    assert codes({"industryCode": "C3441"}) == ["C34-pump@1.0", "C34-pump@2.0"]
    assert codes({"industryCode": "A011"}) == ["A01-crop@1.0"]
    assert codes({"kind": "CORE"}) == ["core-product@1.0"]
    assert codes({"objectType": "DEVICE"}) == []
    seen: list[str] = []
    after = None
    while True:
        page = call(api, operation("Templates"), {"first": 1, "after": after}, None)
        seen += [e["node"]["code"] + "@" + e["node"]["version"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen)) == 4
    bad = call(api, operation("Templates"), {"filter": {"industryCode": "Z9"}}, None)
    assert bad["__typename"] == "InvalidInputError"


# Extensions


def extend(api: GraphQLApi, token: str, **changes: Any) -> Any:
    own = [{"name": "colour", "idType": "COLOUR", "idIndex": 3000, "metadata": {"type": "string"}}]
    payload = {
        "base": {"code": "C34-pump", "version": "1.0"},
        "code": f"{PREFIX}/pump-ext",
        "version": "1.0",
        "name": "Our pump",
        "items": own,
        **changes,
    }
    return call(api, operation("ExtendTemplate"), {"input": payload}, token)


def test_enterprise_admins_extend_under_their_prefix(api: GraphQLApi, issuer: TokenIssuer) -> None:
    made = extend(api, admin(issuer))
    assert made["outcome"] == "CREATED", made
    template = made["template"]
    assert (template["kind"], template["owner"]) == ("ENTERPRISE", ENTERPRISE)
    assert [(f["name"], f["inherited"]) for f in template["fields"]] == [
        ("model", True),
        ("ratedFlow", True),
        ("colour", False),
    ]
    assert extend(api, admin(issuer))["outcome"] == "UNCHANGED"
    other = extend(api, admin(issuer), code=f"{OTHER_PREFIX}/pump-ext")
    assert other["__typename"] == "NotAuthorisedError"
    assert extend(api, member(issuer), code=f"{PREFIX}/x")["__typename"] == "NotAuthorisedError"
    clash = [{"name": "flow", "idType": "FLOW", "idIndex": 2001, "metadata": {"type": "number"}}]
    refused = extend(api, admin(issuer), version="1.1", items=clash)
    assert refused["message"].startswith("items[0].idIndex: 2001 is used by base field ratedFlow")
    listed = call(api, operation("Templates"), {"filter": {"owner": ENTERPRISE}}, None)
    assert [e["node"]["code"] for e in listed["edges"]] == [f"{PREFIX}/pump-ext"]


def test_only_the_owner_s_identifiers_use_an_extension(
    api: GraphQLApi, issuer: TokenIssuer
) -> None:
    extend(api, admin(issuer))
    other_handle = f"{OTHER_PREFIX}/PUMP-9"
    register(api, admin(issuer, "ent-5678"), other_handle)
    refused = call(
        api,
        operation("SetMasterData"),
        {
            "input": {
                "handle": other_handle,
                "template": {"code": f"{PREFIX}/pump-ext", "version": "1.0"},
                "data": {"model": "CP", "ratedFlow": 1},
            }
        },
        admin(issuer, "ent-5678"),
    )
    assert refused["__typename"] == "InvalidInputError"
    assert "is not its prefix" in refused["message"]
    mine = call(
        api,
        operation("SetMasterData"),
        {
            "input": {
                "handle": HANDLE,
                "template": {"code": f"{PREFIX}/pump-ext", "version": "1.0"},
                "data": {"model": "CP", "ratedFlow": 1, "colour": "blue"},
            }
        },
        admin(issuer),
    )
    assert mine["data"]["colour"] == "blue", mine


# Master data


def test_master_data_is_written_and_read_as_typed_json(
    api: GraphQLApi, issuer: TokenIssuer, node: Node
) -> None:
    written = set_data(api, member(issuer), {"model": "CP-100", "ratedFlow": 12.5})
    assert written["__typename"] == "MasterData", written
    assert written["template"] == {"code": "C34-pump", "version": "1.0"}
    stored = values_of(node)
    assert (stored[1001], stored[2000], stored[2001]) == ("C34-pump@1.0", "CP-100", "12.5")
    read = call(api, operation("MasterData"), {"handle": HANDLE}, None)
    assert read["data"] == {"model": "CP-100", "ratedFlow": 12.5}
    assert read["version"] == written["version"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"model": "CP-100"}, "master data: ratedFlow: required"),
        ({"model": "", "ratedFlow": 1}, "master data: model: "),
        ({"model": "CP", "ratedFlow": "fast"}, "master data: ratedFlow: "),
        ({"model": "CP", "ratedFlow": 1, "colour": "x"}, "master data: colour: not a field"),
        ([1, 2], "data: a JSON object"),
    ],
)
def test_invalid_master_data_changes_nothing(
    api: GraphQLApi, issuer: TokenIssuer, node: Node, data: Any, message: str
) -> None:
    before = values_of(node)
    refused = set_data(api, member(issuer), data)
    assert refused["__typename"] == "InvalidInputError"
    assert refused["message"].startswith(message), refused
    assert values_of(node) == before


def test_unknown_templates_and_strangers_are_refused(
    api: GraphQLApi, issuer: TokenIssuer, node: Node
) -> None:
    unknown = set_data(api, admin(issuer), {"model": "a", "ratedFlow": 1}, version="7.0")
    assert unknown["message"] == "value 1001: template C34-pump@7.0 does not exist"
    stranger = set_data(api, admin(issuer, "ent-5678"), {"model": "a", "ratedFlow": 1})
    assert stranger["__typename"] == "NotAuthorisedError"
    assert 1001 not in values_of(node)


def test_handle_rest_writes_are_checked_too(
    api: GraphQLApi, handle_api: HandleApi, node: Node
) -> None:
    path = f"/api/handles/{HANDLE}"
    before = values_of(node)

    def put(flow: str) -> tuple[int, dict[str, Any]]:
        body = {
            "values": [
                {"index": 1001, "type": "IDNODE_TEMPLATE", "data": "C34-pump@1.0"},
                {"index": 2000, "type": "MODEL", "data": "CP-100"},
                {"index": 2001, "type": "RATED_FLOW", "data": flow},
            ]
        }
        status, reply, _ = handle_api.call(
            "PUT", path, query="overwrite=true", body=body, auth=basic()
        )
        return status, reply

    status, reply = put("fast")
    assert (status, reply["responseCode"]) == (400, 202), reply
    assert "master data: ratedFlow" in reply["message"]
    assert values_of(node) == before
    status, reply = put("12")
    assert status in {200, 201}, reply
    assert values_of(node)[2001] == "12"
    # Without the template reference, a record is an ordinary one again.
    status, _reply, _ = handle_api.call("DELETE", path, query="index=1001", auth=basic())
    assert status == 200


def test_old_versions_keep_validating_until_upgraded(
    api: GraphQLApi, issuer: TokenIssuer, node: Node
) -> None:
    set_data(api, member(issuer), {"model": "CP-100", "ratedFlow": 3})
    import_(api, PUMP_2, root(issuer))
    # Version 1.0 still applies to the record: a write valid for it passes.
    kept = set_data(api, member(issuer), {"model": "CP-200", "ratedFlow": 4}, version=None)
    assert kept["template"]["version"] == "1.0", kept
    missing = call(
        api, operation("UpgradeMasterData"), {"handle": HANDLE, "version": "2.0"}, member(issuer)
    )
    assert missing["message"].startswith("master data: stages: required"), missing
    upgraded = call(
        api,
        operation("UpgradeMasterData"),
        {
            "handle": HANDLE,
            "version": "2.0",
            "data": {"model": "CP-200", "ratedFlow": 4, "stages": 2},
        },
        member(issuer),
    )
    assert upgraded["template"]["version"] == "2.0", upgraded
    assert values_of(node)[1001] == "C34-pump@2.0"
    assert call(api, operation("MasterData"), {"handle": HANDLE}, None)["data"]["stages"] == 2
