"""The GS1-Conformant resolver through the Handle REST function's handler, on moto: links set
through GraphQL (the example operations) and through the service, redirects, linksets, the
walk up from a serial to its GTIN, suspension, HEAD, the resolver description and errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from idnode.cli.gateway import http_api_event
from idnode.domain.access import Principal, PrincipalKind, Role
from idnode.domain.errors import ConcurrentUpdateError, InvalidValueError
from idnode.domain.prefixes import Prefix, PrefixStatus
from idnode.node import Node, build_node, use_node
from idnode.services.operations import OperationFilter
from tests.functional.conftest import GraphQLApi, HandleApi, LambdaContext, basic
from tests.support.identity import TokenIssuer
from tests.support.node import ENTERPRISE, OTHER_ENTERPRISE, PREFIX
from tests.support.operations import operation

GTIN = "09506000134352"
KEY = f"01/{GTIN}"
SERIAL_KEY = f"{KEY}/10/LOT7/21/SN-42"
HOST = "id.example.com"
ROOT = f"https://{HOST}"
PIP_EN = {
    "linkType": "gs1:pip",
    "href": "https://brand.example.com/en/rice",
    "title": "Product information",
    "hreflang": ["en"],
    "type": "text/html",
    "default": True,
}
PIP_ZH = {
    "linkType": "gs1:pip",
    "href": "https://brand.example.com/zh/rice",
    "title": "产品信息",
    "hreflang": ["zh-CN"],
    "type": "text/html",
}
SAFETY = {
    "linkType": "https://gs1.org/voc/safetyInfo",
    "href": "https://brand.example.com/safety?doc=7",
    "title": "Safety data sheet",
    "type": "application/pdf",
}


class Reply:
    def __init__(self, result: dict[str, Any]) -> None:
        self.status: int = result["statusCode"]
        self.headers: dict[str, str] = result.get("headers") or {}
        self.body: str = result.get("body") or ""

    def json(self) -> Any:
        return json.loads(self.body)


def request(method: str, target: str, headers: dict[str, str] | None = None) -> Reply:
    from idnode.handlers.handles import handler

    event = http_api_event(method, target, headers={"host": HOST, **(headers or {})})
    return Reply(handler(event, LambdaContext()))


def register(api: HandleApi, suffix: str) -> None:
    body = {"values": [{"index": 1, "type": "URL", "data": "https://brand.example.com"}]}
    status, reply, _ = api.call("PUT", f"/api/handles/{PREFIX}/{suffix}", body=body, auth=basic())
    assert status == 201, reply


def admin_of(enterprise: str = ENTERPRISE) -> Principal:
    return Principal(
        PrincipalKind.USER,
        name="alice",
        roles=frozenset({Role.ENTERPRISE_ADMIN}),
        enterprise=enterprise,
    )


def set_links(node: Node, key: str, links: list[dict[str, Any]]) -> None:
    node.digital_links.set_links(admin_of(), key, links)


@pytest.fixture
def gtin(handle_api: HandleApi, node: Node) -> Node:
    """A registered GTIN with an English and a Chinese product page and a safety sheet."""
    register(handle_api, KEY)
    set_links(node, KEY, [PIP_EN, PIP_ZH, SAFETY])
    return node


# Setting links


def test_links_are_set_and_read_through_graphql(
    graphql_api: GraphQLApi, handle_api: HandleApi, issuer: TokenIssuer
) -> None:
    register(handle_api, KEY)
    token = issuer.id_token("bob", ["enterprise-user"], ENTERPRISE)
    variables = {
        "input": {
            "key": f"https://any.example.org/01/{GTIN}",
            "links": [{**PIP_EN}, {**PIP_ZH}],
            "expectedVersion": 0,
        }
    }
    result = graphql_api.run(operation("SetDigitalLinks"), variables, token)
    answer = result["data"]["setDigitalLinks"]
    assert answer["__typename"] == "DigitalLinks", answer
    assert answer["key"] == f"gs1:{KEY}"
    assert answer["path"] == f"/{KEY}"
    assert answer["identifier"] == f"{PREFIX}/{KEY}"
    assert answer["version"] == 1
    assert [link["compactLinkType"] for link in answer["links"]] == ["gs1:pip", "gs1:pip"]
    assert answer["links"][0]["linkType"] == "https://gs1.org/voc/pip"
    assert [link["default"] for link in answer["links"]] == [True, False]

    read = graphql_api.run(operation("DigitalLinks"), {"key": f"(01){GTIN}"}, token)
    found = read["data"]["digitalLinks"]
    assert found["version"] == 1
    assert found["links"] == answer["links"]

    # The version read is the one to pass: a stale one is refused, nothing changes.
    stale = graphql_api.run(operation("SetDigitalLinks"), variables, token)
    assert stale["data"]["setDigitalLinks"]["__typename"] == "ConflictError"
    again = graphql_api.run(operation("DigitalLinks"), {"key": KEY}, token)
    assert again["data"]["digitalLinks"]["version"] == 1


def test_graphql_says_what_is_wrong(
    graphql_api: GraphQLApi, handle_api: HandleApi, issuer: TokenIssuer
) -> None:
    register(handle_api, KEY)
    token = issuer.id_token("alice", ["enterprise-admin"], ENTERPRISE)

    def set_(key: str, links: list[dict[str, Any]]) -> dict[str, Any]:
        result = graphql_api.run(
            operation("SetDigitalLinks"), {"input": {"key": key, "links": links}}, token
        )
        answer: dict[str, Any] = result["data"]["setDigitalLinks"]
        return answer

    unregistered = set_("01/09506000134369", [PIP_EN])
    assert unregistered["__typename"] == "NotFoundError"
    assert "not registered" in unregistered["message"]
    bad_href = set_(KEY, [{**PIP_EN, "href": "ftp://brand.example.com"}])
    assert bad_href["__typename"] == "InvalidInputError"
    assert "links[0].href" in bad_href["message"]
    bad_key = set_("01/09506000134353", [PIP_EN])
    assert bad_key["__typename"] == "InvalidInputError"
    assert "check digit" in bad_key["message"]
    other = graphql_api.run(
        operation("SetDigitalLinks"),
        {"input": {"key": KEY, "links": [PIP_EN]}},
        issuer.id_token("mallory", ["enterprise-admin"], OTHER_ENTERPRISE),
    )
    assert other["data"]["setDigitalLinks"]["__typename"] == "NotAuthorisedError"
    anonymous = graphql_api.run(operation("DigitalLinks"), {"key": KEY})
    assert anonymous["data"]["digitalLinks"]["__typename"] == "AuthenticationError"
    read = graphql_api.run(operation("DigitalLinks"), {"key": KEY}, token)
    assert read["data"]["digitalLinks"]["version"] == 0  # nothing was changed


def test_setting_links_is_logged_and_version_checked(gtin: Node) -> None:
    with pytest.raises(ConcurrentUpdateError):
        gtin.digital_links.set_links(admin_of(), KEY, [PIP_EN], expected_version=0)
    with pytest.raises(InvalidValueError, match="exactly one link must be the default"):
        gtin.digital_links.set_links(admin_of(), KEY, [PIP_EN, {**PIP_ZH, "default": True}])
    found = gtin.digital_links.links(admin_of(), KEY)
    assert found.version == 1
    assert len(found.links) == 3
    reader = Principal(PrincipalKind.USER, name="pat", roles=frozenset({Role.PLATFORM_ADMIN}))
    page = gtin.log.query(reader, OperationFilter(action="set-digital-links"), 10, None)
    outcomes = sorted((e.result, e.target, e.enterprise) for e in page.items)
    assert outcomes == [
        ("concurrent-update", f"gs1:{KEY}", ENTERPRISE),
        ("invalid-value", f"gs1:{KEY}", ENTERPRISE),
        ("ok", f"gs1:{KEY}", ENTERPRISE),
    ]


# Resolution


def test_a_request_without_link_type_goes_to_the_default_link(gtin: Node) -> None:
    reply = request("GET", f"/{KEY}")
    assert reply.status == 307
    assert reply.headers["Location"] == PIP_EN["href"]
    assert reply.headers["Link"] == (
        f'<{ROOT}/{KEY}?linkType=linkset>; rel="linkset"; type="application/linkset+json"'
    )
    assert reply.headers["Vary"] == "Accept, Accept-Language"
    assert reply.headers["Access-Control-Allow-Origin"] == "*"


def test_a_short_gtin_resolves_as_its_gtin_14(gtin: Node) -> None:
    reply = request("GET", "/01/9506000134352")
    assert (reply.status, reply.headers["Location"]) == (307, PIP_EN["href"])


def test_link_type_selects_by_type_then_language(gtin: Node) -> None:
    reply = request("GET", f"/{KEY}?linkType=gs1:pip", {"accept-language": "zh-CN,en;q=0.5"})
    assert reply.headers["Location"] == PIP_ZH["href"]
    reply = request("GET", f"/{KEY}?linkType=https://gs1.org/voc/pip", {"accept-language": "fr"})
    assert reply.headers["Location"] == PIP_EN["href"]  # no match: the first of the type
    reply = request("GET", f"/{KEY}?linkType=gs1:safetyInfo")
    assert (reply.status, reply.headers["Location"]) == (307, SAFETY["href"])


def test_an_unavailable_link_type_goes_to_the_default_link(gtin: Node) -> None:
    reply = request("GET", f"/{KEY}?linkType=gs1:recipeInfo")
    assert (reply.status, reply.headers["Location"]) == (307, PIP_EN["href"])


def test_an_unknown_gs1_link_type_is_a_bad_request(gtin: Node) -> None:
    reply = request("GET", f"/{KEY}?linkType=gs1:noSuchThing")
    assert reply.status == 400
    assert "GS1 web vocabulary" in reply.json()["detail"]


@pytest.mark.parametrize(
    ("query", "headers"),
    [
        ("?linkType=linkset", {}),
        ("?linkType=all", {}),
        ("", {"accept": "text/html;q=0.5, application/linkset+json"}),
    ],
)
def test_the_linkset_is_served_as_rfc_9264_json(
    gtin: Node, query: str, headers: dict[str, str]
) -> None:
    reply = request("GET", f"/{KEY}{query}", headers)
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "application/linkset+json"
    (context,) = reply.json()["linkset"]
    assert context["anchor"] == f"{ROOT}/{KEY}"
    assert context["https://gs1.org/voc/defaultLink"] == [
        {
            "href": PIP_EN["href"],
            "title": "Product information",
            "type": "text/html",
            "hreflang": ["en"],
        }
    ]
    assert [t["href"] for t in context["https://gs1.org/voc/pip"]] == [
        PIP_EN["href"],
        PIP_ZH["href"],
    ]
    assert context["https://gs1.org/voc/safetyInfo"][0]["type"] == "application/pdf"


def test_the_query_string_is_passed_on(gtin: Node) -> None:
    reply = request("GET", f"/{KEY}?17=251231&linkType=gs1:safetyInfo&lang=en")
    assert reply.headers["Location"] == "https://brand.example.com/safety?doc=7&17=251231&lang=en"


def test_a_serial_without_links_answers_with_its_gtin(gtin: Node, handle_api: HandleApi) -> None:
    register(handle_api, SERIAL_KEY)
    reply = request("GET", f"/{SERIAL_KEY}")
    assert (reply.status, reply.headers["Location"]) == (307, PIP_EN["href"])
    # Not even registered: the GTIN still answers, with the item's own URI as the anchor.
    reply = request("GET", f"/{KEY}/10/LOT8?linkType=linkset")
    assert reply.json()["linkset"][0]["anchor"] == f"{ROOT}/{KEY}/10/LOT8"
    # Links of its own win.
    own = {**PIP_EN, "href": "https://brand.example.com/items/SN-42"}
    set_links(gtin, SERIAL_KEY, [own])
    reply = request("GET", f"/{SERIAL_KEY}")
    assert reply.headers["Location"] == own["href"]


def test_resolutions_are_counted(gtin: Node) -> None:
    counted: list[tuple[str, str]] = []
    original = gtin.meter.count
    gtin.meter.count = lambda prefix, metric, n=1: counted.append((prefix, metric))  # type: ignore[method-assign]
    try:
        request("GET", f"/{KEY}")
        request("GET", f"/{KEY}?linkType=linkset")
        request("GET", "/01/09506000134369")
    finally:
        gtin.meter.count = original  # type: ignore[method-assign]
    assert counted == [(PREFIX, "resolutions")] * 2


def test_head_is_get_without_a_body(gtin: Node) -> None:
    reply = request("HEAD", f"/{KEY}?linkType=linkset")
    assert (reply.status, reply.body) == (200, "")
    assert reply.headers["Content-Type"] == "application/linkset+json"
    reply = request("HEAD", f"/{KEY}")
    assert (reply.status, reply.headers["Location"], reply.body) == (307, PIP_EN["href"], "")


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        ("/01/09506000134353", "check digit"),
        (f"/{KEY}/21/SN/10/LOT", "in this order"),
        (f"/{KEY}/21", "odd number of segments"),
        ("/00/123", "digits"),
    ],
)
def test_a_malformed_path_is_a_bad_request(gtin: Node, path: str, detail: str) -> None:
    reply = request("GET", path)
    assert reply.status == 400
    assert reply.headers["Content-Type"] == "application/problem+json"
    problem = reply.json()
    assert problem["status"] == 400
    assert detail in problem["detail"]


def test_unknown_keys_and_keys_without_links_are_not_found(
    gtin: Node, handle_api: HandleApi
) -> None:
    reply = request("GET", "/01/09506000134369")
    assert reply.status == 404
    assert "not registered" in reply.json()["detail"]
    register(handle_api, "414/9506000000008")  # a GLN without links
    reply = request("GET", "/414/9506000000008")
    assert reply.status == 404
    assert "no links" in reply.json()["detail"]
    reply = request("HEAD", "/01/09506000134369")
    assert (reply.status, reply.body) == (404, "")


def test_a_prefix_withdrawn_from_resolution_resolves_nothing(gtin: Node) -> None:
    gtin.prefixes.put(Prefix(PREFIX, ENTERPRISE, PrefixStatus.SUSPENDED, resolvable=False))
    use_node(build_node(gtin.settings))  # a fresh process: no cached prefix facts
    reply = request("GET", f"/{KEY}")
    assert reply.status == 404
    reply = request("GET", f"/{KEY}?linkType=linkset")
    assert reply.status == 404


def test_a_suspended_prefix_that_stays_resolvable_still_resolves(gtin: Node) -> None:
    gtin.prefixes.put(Prefix(PREFIX, ENTERPRISE, PrefixStatus.SUSPENDED))
    use_node(build_node(gtin.settings))
    assert request("GET", f"/{KEY}").status == 307


def test_the_resolver_describes_itself(node: Node) -> None:
    reply = request("GET", "/.well-known/gs1resolver")
    assert reply.status == 200
    description = reply.json()
    assert description["resolverRoot"] == ROOT
    assert description["supportedPrimaryKeys"] == ["00", "01", "414", "8003", "8004"]
    assert description["supportedLinkType"] == [
        {"namespace": "https://gs1.org/voc/", "prefix": "gs1:"}
    ]
    assert "pip" in description["linkTypes"]
    head = request("HEAD", "/.well-known/gs1resolver")
    assert head.status == 200
    assert head.body == ""
