"""Search: who searches what, how queries are read, and how pages stop at their read limit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from idnode.domain.access import ANONYMOUS, Principal, admin_identity, user
from idnode.domain.enterprises import Contact, Enterprise, EnterpriseStatus, Hosting, Profile
from idnode.domain.errors import (
    AuthenticationRequiredError,
    InvalidHandleError,
    InvalidValueError,
    NotAuthorisedError,
)
from idnode.domain.handles import Handle
from idnode.domain.industries import parse_industry
from idnode.domain.records import Record, new_record
from idnode.domain.search import IdentifierMatch, NameMatch, sees_details
from idnode.services.search import DEFAULT_READ_LIMIT, SearchService
from idnode.store.search import Batch, Source, collect, listing_scope
from tests.unit.fakes_figures import InMemoryDirectory, InMemoryIdentifierIndex

NODE_PREFIX = "88.100"
PREFIX, SECOND, OTHER = "88.100.1234", "88.100.1235", "88.100.5678"
ACME, GLOBEX, INITECH = "91350100M000100Y43", "91110000600037341L", "91440300708461136T"
AT = datetime(2026, 3, 1, tzinfo=UTC)

MEMBER = user("enu", ["enterprise-user"], ACME, [SECOND, PREFIX])
ADMIN = user("ena", ["enterprise-admin"], ACME, [PREFIX])
AUDITOR = user("aud", ["auditor"], None, [])
PLATFORM_ADMIN = user("pat", ["platform-admin"], None, [])
APPLICANT = user("someone", [], None, [])
IDENTITY = admin_identity(300, f"{PREFIX}/ADMIN", [PREFIX])


def record(name: str) -> Record:
    return new_record(Handle.parse(name), [], AT)


def enterprise(
    uscc: str, name: str, prefix: str, status: EnterpriseStatus = EnterpriseStatus.ACTIVE
) -> Enterprise:
    profile = Profile(
        legal_name=name,
        uscc=uscc,
        industry=parse_industry("C3411"),
        contact=Contact("Li Lei", "li@example.com", "+86 591 1234 5678"),
        domains=("example.com",),
        hosting=Hosting.HOSTED,
    )
    return Enterprise(uscc, profile, prefix, AT, AT, status)


@pytest.fixture
def index() -> InMemoryIdentifierIndex:
    return InMemoryIdentifierIndex(
        record(f"{PREFIX}/PUMP-0001"),
        record(f"{PREFIX}/Valve-PUMP"),
        record(f"{SECOND}/PUMP-9"),
        record(f"{OTHER}/PUMP-0002"),
    )


@pytest.fixture
def directory() -> InMemoryDirectory:
    return InMemoryDirectory(
        enterprise(ACME, "Acme Pumps Ltd", PREFIX),
        enterprise(GLOBEX, "Globex Valves", OTHER),
        enterprise(INITECH, "Acme Holdings", "88.100.7777", EnterpriseStatus.SUSPENDED),
    )


@pytest.fixture
def search(index: InMemoryIdentifierIndex, directory: InMemoryDirectory) -> SearchService:
    return SearchService(index, directory, NODE_PREFIX)


def names(records: list[Record]) -> list[str]:
    return [r.handle.name for r in records]


# Identifiers: who searches where


def test_enterprise_people_search_the_prefixes_they_administer(
    search: SearchService, index: InMemoryIdentifierIndex
) -> None:
    page = search.identifiers(MEMBER, "pump")
    assert names(page.items) == [f"{PREFIX}/PUMP-0001", f"{PREFIX}/Valve-PUMP", f"{SECOND}/PUMP-9"]
    call = index.calls[-1]
    assert (call.text, call.match, call.prefixes) == (
        "pump",
        IdentifierMatch.CONTAINS,
        [PREFIX, SECOND],
    )
    assert call.read_limit == DEFAULT_READ_LIMIT


def test_staff_search_everything(search: SearchService, index: InMemoryIdentifierIndex) -> None:
    for staff in (AUDITOR, PLATFORM_ADMIN):
        page = search.identifiers(staff, "PUMP-000", match=IdentifierMatch.STARTS_WITH)
        assert names(page.items) == [f"{PREFIX}/PUMP-0001", f"{OTHER}/PUMP-0002"]
        assert index.calls[-1].prefixes is None


def test_a_prefix_narrows_the_search_to_one_the_caller_may_search(
    search: SearchService, index: InMemoryIdentifierIndex
) -> None:
    page = search.identifiers(MEMBER, "pump", prefix=" 88.100.1235 ")
    assert names(page.items) == [f"{SECOND}/PUMP-9"]
    assert index.calls[-1].prefixes == [SECOND]
    assert search.identifiers(AUDITOR, "pump", prefix=OTHER).items[0].handle.prefix == OTHER
    with pytest.raises(NotAuthorisedError):
        search.identifiers(MEMBER, "pump", prefix=OTHER)
    with pytest.raises(InvalidHandleError):
        search.identifiers(MEMBER, "pump", prefix="not a prefix")


@pytest.mark.parametrize("principal", [APPLICANT, IDENTITY])
def test_others_may_not_search_identifiers(search: SearchService, principal: Principal) -> None:
    with pytest.raises(NotAuthorisedError):
        search.identifiers(principal, "pump")


def test_anonymous_callers_are_asked_to_authenticate(search: SearchService) -> None:
    with pytest.raises(AuthenticationRequiredError):
        search.identifiers(ANONYMOUS, "pump")


def test_a_person_without_prefixes_finds_nothing_without_reading(
    search: SearchService, index: InMemoryIdentifierIndex
) -> None:
    lonely = user("new", ["enterprise-admin"], ACME, [])
    page = search.identifiers(lonely, "pump")
    assert page.items == [] and page.scanned_all and page.next_cursor is None
    assert index.calls == []


def test_an_exact_name_is_looked_up_case_insensitively(search: SearchService) -> None:
    page = search.identifiers(ADMIN, "88.100.1234/pump-0001", match=IdentifierMatch.EXACT)
    assert names(page.items) == [f"{PREFIX}/PUMP-0001"]
    assert page.next_cursor is None and page.scanned_all
    # The one result was on the first page.
    after = search.identifiers(
        ADMIN, "88.100.1234/pump-0001", match=IdentifierMatch.EXACT, after=page.cursors[0]
    )
    assert after.items == []
    # Outside the caller's prefixes, or not registered: nothing.
    assert search.identifiers(ADMIN, f"{OTHER}/PUMP-0002", match=IdentifierMatch.EXACT).items == []
    assert search.identifiers(ADMIN, f"{PREFIX}/NONE", match=IdentifierMatch.EXACT).items == []
    with pytest.raises(InvalidHandleError):
        search.identifiers(ADMIN, "no slash", match=IdentifierMatch.EXACT)


@pytest.mark.parametrize(
    ("query", "first"), [("", 20), ("   ", 20), ("x" * 513, 20), ("pump", 0), ("pump", 101)]
)
def test_queries_and_page_sizes_are_checked(search: SearchService, query: str, first: int) -> None:
    with pytest.raises(InvalidValueError):
        search.identifiers(AUDITOR, query, first=first)


def test_the_query_is_trimmed_and_folded_like_identifier_keys(
    search: SearchService, index: InMemoryIdentifierIndex
) -> None:
    search.identifiers(AUDITOR, "  Valve-Ä ")
    # ASCII letters fold, as Handle names do; other letters are matched as written.
    assert index.calls[-1].text == "valve-Ä"


# Enterprises


def ids(page_items: list[Enterprise]) -> list[str]:
    return [e.id for e in page_items]


@pytest.mark.parametrize("principal", [ANONYMOUS, APPLICANT, MEMBER, ADMIN])
def test_everyone_finds_active_enterprises_by_name(
    search: SearchService, directory: InMemoryDirectory, principal: Principal
) -> None:
    assert ids(search.enterprises(principal, "ACME").items) == [ACME]
    assert directory.searched[-1]["statuses"] == (EnterpriseStatus.ACTIVE,)


def test_staff_find_suspended_enterprises_too(
    search: SearchService, directory: InMemoryDirectory
) -> None:
    for staff in (AUDITOR, PLATFORM_ADMIN):
        assert ids(search.enterprises(staff, "acme").items) == [INITECH, ACME]
    assert directory.searched[-1]["statuses"] == (
        EnterpriseStatus.ACTIVE,
        EnterpriseStatus.SUSPENDED,
    )


def test_admin_identities_do_not_search_the_directory(search: SearchService) -> None:
    with pytest.raises(NotAuthorisedError):
        search.enterprises(IDENTITY, "acme")


def test_names_match_by_start_or_anywhere(
    search: SearchService, directory: InMemoryDirectory
) -> None:
    assert ids(search.enterprises(ANONYMOUS, "valves").items) == [GLOBEX]
    assert search.enterprises(ANONYMOUS, "valves", match=NameMatch.STARTS_WITH).items == []
    assert directory.searched[-1] == {
        "text": "valves",
        "match": NameMatch.STARTS_WITH,
        "statuses": (EnterpriseStatus.ACTIVE,),
    }


def test_a_credit_code_or_a_prefix_finds_its_enterprise_exactly(
    search: SearchService, directory: InMemoryDirectory
) -> None:
    assert ids(search.enterprises(ANONYMOUS, GLOBEX.lower()).items) == [GLOBEX]
    assert ids(search.enterprises(ANONYMOUS, " 88.100.5678 ").items) == [GLOBEX]
    # Suspended: staff only.
    assert search.enterprises(ANONYMOUS, INITECH).items == []
    assert ids(search.enterprises(AUDITOR, INITECH).items) == [INITECH]
    assert search.enterprises(ANONYMOUS, "88.100.7777").items == []
    assert ids(search.enterprises(AUDITOR, "88.100.7777").items) == [INITECH]
    # The node's own prefix and prefixes elsewhere are names like any other.
    assert search.enterprises(ANONYMOUS, "88.100").items == []
    assert search.enterprises(ANONYMOUS, "89.1.2").items == []
    assert [s["text"] for s in directory.searched] == ["88.100", "89.1.2"]


def test_details_are_for_staff_and_the_enterprise_s_own_people(
    directory: InMemoryDirectory,
) -> None:
    acme = directory.enterprises[ACME]
    assert sees_details(AUDITOR, acme) and sees_details(PLATFORM_ADMIN, acme)
    assert sees_details(MEMBER, acme) and sees_details(ADMIN, acme)
    outsider = user("feu", ["enterprise-admin"], GLOBEX, [OTHER])
    assert not sees_details(outsider, acme)
    assert not sees_details(ANONYMOUS, acme)
    assert not sees_details(APPLICANT, acme)


# Reading sources page by page


@dataclass
class Shelf:
    """A source over a sorted list of words, reading `limit` words per request at most and
    returning those that pass its filter, like a DynamoDB query with Limit and a filter."""

    name: str
    words: list[str]
    passes: str = ""
    per_request: int = 1_000_000
    requests: int = 0

    def source(self) -> Source[str]:
        def read(start: dict[str, object] | None, limit: int) -> Batch[str]:
            self.requests += 1
            after = str(start["w"]["S"]) if start else ""  # type: ignore[index]
            rest = [w for w in self.words if w > after]
            taken = rest[: min(limit, self.per_request)]
            more = len(rest) > len(taken)
            return Batch(
                [w for w in taken if self.passes in w],
                {"w": {"S": taken[-1]}} if more and taken else None,
                len(taken),
            )

        return Source(
            self.name,
            read,
            lambda w: {"w": {"S": w}},
            lambda key: set(key) == {"w"},
        )


SCOPE = listing_scope("test")


def every_page(
    shelves: list[Shelf], first: int, read_limit: int, matches: str = ""
) -> list[tuple[list[str], bool, int]]:
    pages = []
    cursor = None
    sources = [s.source() for s in shelves]
    for _ in range(100):
        page = collect(
            sources,
            lambda w: matches in w,
            scope=SCOPE,
            first=first,
            read_limit=read_limit,
            cursor=cursor,
        )
        pages.append((page.items, page.scanned_all, page.items_read))
        assert len(page.cursors) == len(page.items)
        assert page.items_read <= read_limit
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor
    raise AssertionError("the search did not end")


def test_pages_hold_the_results_asked_for_across_sources() -> None:
    shelves = [Shelf("a", ["a1", "a2", "a3"]), Shelf("b", ["b1", "b2"])]
    pages = every_page(shelves, first=2, read_limit=100)
    assert [items for items, _, _ in pages] == [["a1", "a2"], ["a3", "b1"], ["b2"]]
    assert [done for _, done, _ in pages] == [False, False, True]


def test_a_page_that_ends_a_source_exactly_continues_with_the_next() -> None:
    pages = every_page([Shelf("a", ["a1", "a2"]), Shelf("b", ["b1"])], first=2, read_limit=100)
    assert [items for items, _, _ in pages] == [["a1", "a2"], ["b1"]]
    last = every_page([Shelf("a", ["a1", "a2"])], first=2, read_limit=100)
    assert last == [(["a1", "a2"], True, 2)]


def test_a_page_stops_at_its_read_limit_with_what_it_found() -> None:
    words = [f"w{n:03d}" for n in range(50)]
    pages = every_page([Shelf("a", words, passes="w04")], first=5, read_limit=20)
    assert pages == [
        ([], False, 20),
        ([], False, 20),
        (["w040", "w041", "w042", "w043", "w044"], False, 10),
        (["w045", "w046", "w047", "w048", "w049"], True, 5),
    ]


def test_a_page_resumes_after_its_last_result_or_where_the_read_stopped() -> None:
    # Results in the middle of a request: the next page starts after the last one taken.
    pages = every_page([Shelf("a", ["w1", "w2", "w3", "w4"], per_request=3)], first=2, read_limit=9)
    assert pages == [(["w1", "w2"], False, 3), (["w3", "w4"], True, 2)]
    # The last result ends a request's results: what the filter dropped after it (b3, b4)
    # is not read again.
    shelf = Shelf("a", ["a1", "a2", "b3", "b4", "c5a"], passes="a", per_request=4)
    pages = every_page([shelf], first=2, read_limit=9)
    assert pages == [(["a1", "a2"], False, 4), (["c5a"], True, 1)]


def test_cursors_belong_to_their_search() -> None:
    shelves = [Shelf("a", ["a1", "a2"]).source()]
    page = collect(shelves, lambda w: True, scope=SCOPE, first=1, read_limit=10, cursor=None)
    assert page.next_cursor is not None
    with pytest.raises(InvalidValueError):
        collect(
            shelves,
            lambda w: True,
            scope=listing_scope("another"),
            first=1,
            read_limit=10,
            cursor=page.next_cursor,
        )
    with pytest.raises(InvalidValueError):
        collect(
            [Shelf("b", ["b1"]).source()],
            lambda w: True,
            scope=SCOPE,
            first=1,
            read_limit=10,
            cursor=page.next_cursor,
        )
