"""Search on DynamoDB (moto): what each role finds, case-insensitive matching, pages bounded
by what they read, cursors, and the GraphQL queries."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
import strawberry
from moto import mock_aws
from strawberry.tools import merge_types

from idnode.api.graphql.search import SearchQuery
from idnode.domain.access import ANONYMOUS, Principal, user
from idnode.domain.enterprises import Contact, Enterprise, EnterpriseStatus, Hosting, Profile
from idnode.domain.errors import InvalidValueError, NotAuthorisedError
from idnode.domain.handles import Handle
from idnode.domain.industries import parse_industry
from idnode.domain.prefixes import Prefix
from idnode.domain.records import Record, new_record
from idnode.domain.routing import HdlType, NodeAddress
from idnode.domain.search import IdentifierMatch, NameMatch
from idnode.domain.values import parse_values
from idnode.node import Node
from idnode.services.search import SearchService
from idnode.store.enterprises import EnterpriseRepository, name_key
from idnode.store.identifiers import IdentifierRepository
from idnode.store.keys import KeyRepository
from idnode.store.metadata_models import KeyModel
from idnode.store.models import EnterpriseModel, IdentifierModel, PrefixModel, bind
from idnode.store.pages import encode_cursor
from idnode.store.prefixes import PrefixRepository
from idnode.store.search import EnterpriseDirectory, IdentifierSearch, SearchPage, listing_scope
from tests.functional.conftest import GraphQLApi
from tests.support.identity import REGION, TokenIssuer
from tests.support.node import ENTERPRISE, OTHER_PREFIX, PREFIX
from tests.support.operations import operation

NODE_PREFIX = "88.100"
MINE, ALSO_MINE, THEIRS = "88.100.2001", "88.100.2003", "88.100.2002"
ACME, GLOBEX, INITECH = "91350100M000100Y43", "91110000600037341L", "91440300708461136T"
AT = datetime(2026, 3, 1, tzinfo=UTC)

MEMBER = user("enu", ["enterprise-user"], ACME, [MINE, ALSO_MINE])
ADMIN = user("ena", ["enterprise-admin"], ACME, [MINE])
AUDITOR = user("aud", ["auditor"], None, [])
PLATFORM_ADMIN = user("pat", ["platform-admin"], None, [])
OUTSIDER = user("feu", ["enterprise-admin"], GLOBEX, [THEIRS])

SUFFIXES = {
    MINE: ["PUMP-0001", "pump-0002", "Pump-0003", "Valve-PUMP-7", "VALVE-1", "泵-PUMP"],
    ALSO_MINE: ["PUMP-X"],
    THEIRS: ["PUMP-0001", "Motor-1"],
}


@dataclass(frozen=True)
class Tables:
    identifiers: type[IdentifierModel]
    enterprises: type[EnterpriseModel]
    prefixes: type[PrefixModel]


NODE = NodeAddress(HdlType.HS_SITE, "192.0.2.7", 4, tcp_port=2641, udp_port=2641)


def enterprise(
    uscc: str, name: str, prefix: str, status: EnterpriseStatus, hosting: Hosting
) -> Enterprise:
    profile = Profile(
        legal_name=name,
        uscc=uscc,
        industry=parse_industry("C3411"),
        contact=Contact("Li Lei", "li@example.com", "+86 591 1234 5678"),
        domains=("example.com",),
        hosting=hosting,
        service_nodes=(NODE,) if hosting is Hosting.SELF_HOSTED else (),
    )
    return Enterprise(uscc, profile, prefix, AT, AT, status)


ENTERPRISES = [
    enterprise(ACME, "ACME Pumps Ltd", MINE, EnterpriseStatus.ACTIVE, Hosting.HOSTED),
    enterprise(GLOBEX, "Globex Valves", THEIRS, EnterpriseStatus.ACTIVE, Hosting.SELF_HOSTED),
    enterprise(INITECH, "Acme Holdings", "88.100.2004", EnterpriseStatus.SUSPENDED, Hosting.HOSTED),
]


@pytest.fixture(scope="module")
def tables() -> Iterator[Tables]:
    """Identifiers, enterprises and prefixes tables of their own (not the node fixture's),
    seeded once: searches only read them."""
    with mock_aws():
        bound = Tables(
            bind(IdentifierModel, "search-identifiers", REGION, None),
            bind(EnterpriseModel, "search-enterprises", REGION, None),
            bind(PrefixModel, "search-prefixes", REGION, None),
        )
        for model in (bound.identifiers, bound.enterprises, bound.prefixes):
            model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
        keys = bind(KeyModel, "search-keys", REGION, None)
        keys.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
        identifiers = IdentifierRepository(bound.identifiers, KeyRepository(keys))
        values = parse_values(
            [{"index": 1, "type": "URL", "data": "https://x.example"}], max_values=9
        )
        for prefix, suffixes in SUFFIXES.items():
            for suffix in suffixes:
                identifiers.create(new_record(Handle.of(prefix, suffix), values, AT))
        prefixes = PrefixRepository(bound.prefixes)
        for item in ENTERPRISES:
            # Written as the enterprise repository writes them.
            bound.enterprises(
                item.id,
                name=item.name,
                name_key=name_key(item),
                profile=item.profile.to_json(),
                status=item.status.value,
                prefix=item.prefix,
                industry=item.industry,
                created=item.created,
                updated=item.updated,
            ).save()
            prefixes.put(Prefix(item.prefix, item.id))
        yield bound


def service(tables: Tables, read_limit: int = 1000) -> SearchService:
    return SearchService(
        IdentifierSearch(tables.identifiers),
        EnterpriseDirectory(tables.enterprises, tables.prefixes),
        NODE_PREFIX,
        read_limit=read_limit,
    )


@pytest.fixture(scope="module")
def search(tables: Tables) -> SearchService:
    return service(tables)


def names(records: list[Record]) -> list[str]:
    return [r.handle.name for r in records]


def every_identifier(
    search: SearchService, principal: Principal, query: str, **options: Any
) -> tuple[list[str], list[SearchPage[Record]]]:
    found: list[str] = []
    pages: list[SearchPage[Record]] = []
    after = None
    for _ in range(50):
        page = search.identifiers(principal, query, after=after, **options)
        pages.append(page)
        found += names(page.items)
        if page.next_cursor is None:
            assert page.scanned_all
            return found, pages
        after = page.next_cursor
    raise AssertionError("the search did not end")


# Identifiers


def test_enterprise_people_find_identifiers_in_their_prefixes_ignoring_case(
    search: SearchService,
) -> None:
    found, _ = every_identifier(search, MEMBER, "PuMp")
    assert found == [
        f"{MINE}/PUMP-0001",
        f"{MINE}/pump-0002",
        f"{MINE}/Pump-0003",
        f"{MINE}/Valve-PUMP-7",
        f"{MINE}/泵-PUMP",
        f"{ALSO_MINE}/PUMP-X",
    ]
    found, _ = every_identifier(search, ADMIN, "pump")
    assert all(name.startswith(f"{MINE}/") for name in found)


def test_the_prefix_part_of_a_name_does_not_match(search: SearchService) -> None:
    # Every key under 88.100.2001 contains "2001"; only suffixes are searched.
    found, _ = every_identifier(search, ADMIN, "2001")
    assert found == []
    found, _ = every_identifier(search, ADMIN, "0001")
    assert found == [f"{MINE}/PUMP-0001"]


def test_a_suffix_start_is_a_key_range_that_reads_only_what_matches(
    search: SearchService,
) -> None:
    found, pages = every_identifier(search, ADMIN, "pump-000", match=IdentifierMatch.STARTS_WITH)
    assert found == [f"{MINE}/PUMP-0001", f"{MINE}/pump-0002", f"{MINE}/Pump-0003"]
    assert sum(p.items_read for p in pages) == 3


def test_non_ascii_letters_match_as_written(search: SearchService) -> None:
    found, _ = every_identifier(search, ADMIN, "泵", match=IdentifierMatch.STARTS_WITH)
    assert found == [f"{MINE}/泵-PUMP"]


def test_staff_search_the_whole_registry(search: SearchService) -> None:
    for staff in (AUDITOR, PLATFORM_ADMIN):
        found, _ = every_identifier(search, staff, "pump-0001")
        assert sorted(found) == [f"{MINE}/PUMP-0001", f"{THEIRS}/PUMP-0001"]
        found, _ = every_identifier(search, staff, "MOTOR", match=IdentifierMatch.STARTS_WITH)
        assert found == [f"{THEIRS}/Motor-1"]
        # The prefix's own digits do not match in a scan either.
        assert every_identifier(search, staff, "2002")[0] == []
    found, _ = every_identifier(search, AUDITOR, "pump", prefix=THEIRS)
    assert found == [f"{THEIRS}/PUMP-0001"]


def test_nobody_else_searches_identifiers_elsewhere(search: SearchService) -> None:
    with pytest.raises(NotAuthorisedError):
        search.identifiers(MEMBER, "pump", prefix=THEIRS)
    assert every_identifier(search, OUTSIDER, "valve")[0] == []


def test_pages_follow_cursors_without_gaps_or_repeats(search: SearchService) -> None:
    everything, _ = every_identifier(search, MEMBER, "p", first=100)
    paged, pages = every_identifier(search, MEMBER, "p", first=2)
    assert paged == everything
    assert len(everything) == 6
    assert all(len(p.items) == 2 for p in pages[:-1])


def test_a_page_reads_at_most_its_limit_and_says_so(tables: Tables) -> None:
    bounded = service(tables, read_limit=2)
    found, pages = every_identifier(bounded, MEMBER, "valve", first=5)
    assert found == [f"{MINE}/VALVE-1", f"{MINE}/Valve-PUMP-7"]
    assert all(p.items_read <= 2 for p in pages)
    assert len(pages) > 2
    # Pages that stopped at their limit say there is more to read, found or not.
    assert any(p.items == [] and not p.scanned_all for p in pages)
    assert pages[-1].scanned_all
    # The whole-table scan is bounded the same way.
    found, pages = every_identifier(bounded, AUDITOR, "motor", first=5)
    assert found == [f"{THEIRS}/Motor-1"]
    assert all(p.items_read <= 2 for p in pages)


def test_an_exact_name_is_found_ignoring_case(search: SearchService) -> None:
    page = search.identifiers(ADMIN, f"{MINE}/PUMP-0002", match=IdentifierMatch.EXACT)
    assert names(page.items) == [f"{MINE}/pump-0002"]
    missing = search.identifiers(ADMIN, f"{THEIRS}/Motor-1", match=IdentifierMatch.EXACT)
    assert missing.items == []
    found = search.identifiers(AUDITOR, f"{THEIRS}/motor-1", match=IdentifierMatch.EXACT)
    assert names(found.items) == [f"{THEIRS}/Motor-1"]


def test_cursors_cannot_be_replayed_elsewhere_or_forged(search: SearchService) -> None:
    page = search.identifiers(MEMBER, "pump", first=1)
    assert page.next_cursor is not None
    with pytest.raises(InvalidValueError):
        search.identifiers(MEMBER, "valve", first=1, after=page.next_cursor)
    with pytest.raises(InvalidValueError):
        search.identifiers(ADMIN, "pump", first=1, after=page.next_cursor)
    # A key outside the prefix it claims to continue.
    scope = listing_scope("identifiers", "contains", "pump", f"{MINE},{ALSO_MINE}")
    forged = encode_cursor(
        scope,
        {
            "source": f"prefix:{MINE}",
            "key": {"handle": {"S": f"{THEIRS}/pump-0001"}, "prefix": {"S": MINE}},
        },
    )
    with pytest.raises(InvalidValueError):
        search.identifiers(MEMBER, "pump", first=1, after=forged)


# Enterprises


def ids(page: SearchPage[Enterprise]) -> list[str]:
    return [e.id for e in page.items]


@pytest.mark.parametrize("principal", [ANONYMOUS, MEMBER, OUTSIDER])
def test_everyone_finds_active_enterprises_by_name_ignoring_case(
    search: SearchService, principal: Principal
) -> None:
    assert ids(search.enterprises(principal, "acme")) == [ACME]
    assert ids(search.enterprises(principal, "VALVES")) == [GLOBEX]
    assert ids(search.enterprises(principal, "glob", match=NameMatch.STARTS_WITH)) == [GLOBEX]
    assert search.enterprises(principal, "valves", match=NameMatch.STARTS_WITH).items == []


def test_staff_find_suspended_enterprises_after_active_ones(search: SearchService) -> None:
    for staff in (AUDITOR, PLATFORM_ADMIN):
        assert ids(search.enterprises(staff, "acme")) == [ACME, INITECH]
        assert ids(search.enterprises(staff, "ACME H", match=NameMatch.STARTS_WITH)) == [INITECH]


def test_names_do_not_match_on_the_id_in_their_key(search: SearchService) -> None:
    assert search.enterprises(AUDITOR, ACME[:8].lower()).items == []


def test_a_credit_code_or_a_prefix_finds_one_enterprise(search: SearchService) -> None:
    assert ids(search.enterprises(ANONYMOUS, GLOBEX.lower())) == [GLOBEX]
    assert ids(search.enterprises(ANONYMOUS, THEIRS)) == [GLOBEX]
    assert search.enterprises(ANONYMOUS, INITECH).items == []
    assert ids(search.enterprises(AUDITOR, "88.100.2004")) == [INITECH]
    assert search.enterprises(ANONYMOUS, "88.100.9999").items == []


def test_directory_pages(search: SearchService) -> None:
    first = search.enterprises(AUDITOR, "a", first=1)
    assert ids(first) == [ACME] and first.next_cursor
    second = search.enterprises(AUDITOR, "a", first=1, after=first.next_cursor)
    assert ids(second) == [GLOBEX] and second.next_cursor
    third = search.enterprises(AUDITOR, "a", first=1, after=second.next_cursor)
    assert ids(third) == [INITECH]
    assert third.next_cursor is None and third.scanned_all
    # A cursor from the directory as staff see it does not fit the public one.
    with pytest.raises(InvalidValueError):
        search.enterprises(ANONYMOUS, "a", first=1, after=second.next_cursor)


def test_stored_enterprises_read_back_whole(tables: Tables, search: SearchService) -> None:
    (found,) = search.enterprises(AUDITOR, GLOBEX).items
    assert found == EnterpriseRepository.to_enterprise(tables.enterprises.get(GLOBEX))
    assert found.profile.service_nodes == (NODE,)


# GraphQL


@dataclass
class Caller:
    node: Any
    principal: Principal


def run(search: SearchService, document: str, variables: dict[str, Any], who: Principal) -> Any:
    schema = strawberry.Schema(query=merge_types("Query", (SearchQuery,)))
    context = Caller(SimpleNamespace(search=search), who)
    result = asyncio.run(schema.execute(document, variables, context_value=context))
    assert result.errors is None, result.errors
    assert result.data is not None
    return result.data


def test_search_identifiers_operation(search: SearchService) -> None:
    variables: dict[str, Any] = {"query": "PUMP-000", "match": "STARTS_WITH", "first": 2}
    answer = run(search, operation("SearchIdentifiers"), variables, ADMIN)["searchIdentifiers"]
    assert answer["__typename"] == "IdentifierSearchConnection"
    assert [e["node"]["suffix"] for e in answer["edges"]] == ["PUMP-0001", "pump-0002"]
    assert answer["pageInfo"]["hasNextPage"] and not answer["scannedAll"]
    variables["after"] = answer["pageInfo"]["endCursor"]
    rest = run(search, operation("SearchIdentifiers"), variables, ADMIN)["searchIdentifiers"]
    assert [e["node"]["handle"] for e in rest["edges"]] == [f"{MINE}/Pump-0003"]
    assert rest["scannedAll"] and not rest["pageInfo"]["hasNextPage"]
    refused: list[tuple[Principal, dict[str, Any], str]] = [
        (ANONYMOUS, {"query": "pump"}, "AuthenticationError"),
        (OUTSIDER, {"query": "pump", "prefix": MINE}, "NotAuthorisedError"),
        (ADMIN, {"query": " "}, "InvalidInputError"),
        (ADMIN, {"query": "pump", "first": 500}, "InvalidInputError"),
    ]
    for who, asked, typename in refused:
        answer = run(search, operation("SearchIdentifiers"), asked, who)["searchIdentifiers"]
        assert answer["__typename"] == typename


@pytest.mark.parametrize(
    ("who", "with_details"),
    [
        (ANONYMOUS, []),
        (OUTSIDER, [GLOBEX]),
        (MEMBER, [ACME]),
        (AUDITOR, [ACME, GLOBEX, INITECH]),
    ],
)
def test_search_enterprises_operation_shows_details_to_staff_and_own_people(
    search: SearchService, who: Principal, with_details: list[str]
) -> None:
    answer = run(search, operation("SearchEnterprises"), {"query": "L"}, who)["searchEnterprises"]
    assert answer["__typename"] == "DirectoryConnection"
    nodes = [edge["node"] for edge in answer["edges"]]
    assert [(n["name"], n["prefix"], n["industry"], n["hosting"]) for n in nodes[:2]] == [
        ("ACME Pumps Ltd", MINE, "C34", "HOSTED"),
        ("Globex Valves", THEIRS, "C34", "SELF_HOSTED"),
    ]
    shown = [n["details"]["id"] for n in nodes if n["details"] is not None]
    assert shown == with_details
    for node in nodes:
        if node["details"] is not None:
            assert node["details"]["profile"]["contact"]["email"] == "li@example.com"


def test_search_through_the_graphql_function(
    node: Node, graphql_api: GraphQLApi, issuer: TokenIssuer
) -> None:
    """The node as built for Lambda answers the published operation."""
    values = parse_values([{"index": 1, "type": "URL", "data": "https://x.example"}], max_values=9)
    for name in (f"{PREFIX}/Pump-1", f"{PREFIX}/VALVE-1", f"{OTHER_PREFIX}/pump-2"):
        node.registry.create(name, values, PLATFORM_ADMIN)
    token = issuer.id_token("enu", groups=["enterprise-user"], enterprise=ENTERPRISE)
    answer = graphql_api.run(operation("SearchIdentifiers"), {"query": "PUMP"}, token)
    assert answer.get("errors") is None, answer
    found = answer["data"]["searchIdentifiers"]
    assert [e["node"]["handle"] for e in found["edges"]] == [f"{PREFIX}/Pump-1"]
    assert found["scannedAll"]
