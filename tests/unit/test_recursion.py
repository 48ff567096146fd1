"""RecursiveResolver: recursive resolution at enterprise-node sites, with its cache.

The query is a fake that records every call and answers from a script; the clock is a fake
that only moves when the test moves it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from idnode.adapters.handle_client import Reply
from idnode.domain.errors import (
    HandleNotFoundError,
    ReferralLimitError,
    UpstreamError,
    UpstreamUnavailableError,
    ValuesNotFoundError,
)
from idnode.domain.protocol.wire import (
    RC_ERROR,
    RC_HANDLE_NOT_FOUND,
    RC_PREFIX_REFERRAL,
    RC_SERVER_NOT_RESPONSIBLE,
    RC_SUCCESS,
    RC_VALUES_NOT_FOUND,
)
from idnode.domain.routing import HdlType, NodeAddress
from idnode.domain.values import DataFormat, Permissions, Value, ValueData, parse_values
from idnode.services.recursion import RecursiveResolver

HANDLE = "88.100.1234/PUMP-1"
Site = dict[str, Any]


def site(port: int) -> Site:
    """An enterprise node's site (one server, 127.0.0.1, TCP at `port`)."""
    return NodeAddress(HdlType.HS_SITE, "127.0.0.1", 4, tcp_port=port).site()


def port_of(sites: Sequence[Mapping[str, Any]]) -> int:
    return int(sites[0]["servers"][0]["interfaces"][0]["port"])


def values(ttl: int = 86_400, *, data: str = "https://example.com/p1") -> tuple[Value, ...]:
    raw = [
        {"index": 1, "type": "URL", "data": data, "ttl": ttl},
        {"index": 2, "type": "EMAIL", "data": "ops@example.com", "ttl": 86_400},
    ]
    return tuple(parse_values(raw, max_values=10))


def referral_to(target: Site, value_type: str = "HS_SITE.PREFIX") -> Reply:
    value = Value(1, value_type, ValueData(DataFormat.SITE, target), 86_400)
    return Reply(RC_PREFIX_REFERRAL, "", (value,), "", "127.0.0.1:1/TCP")


def success(answer: tuple[Value, ...], server: str = "127.0.0.1:2641/TCP") -> Reply:
    return Reply(RC_SUCCESS, HANDLE, answer, "", server)


def code(response_code: int, message: str = "") -> Reply:
    return Reply(response_code, "", (), message, "127.0.0.1:2641/TCP")


@dataclass
class Clock:
    now: float = 1_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Call:
    sites: Sequence[Mapping[str, Any]]
    handle: str
    types: Sequence[str]
    indexes: Sequence[int]


@dataclass
class FakeQuery:
    """Answers with `answer(sites, handle)`: a Reply, or an exception to raise."""

    answer: Callable[[Sequence[Mapping[str, Any]], str], Reply | Exception]
    calls: list[Call] = field(default_factory=list)

    def __call__(
        self,
        sites: Sequence[Mapping[str, Any]],
        handle: str,
        types: Sequence[str] = (),
        indexes: Sequence[int] = (),
    ) -> Reply:
        self.calls.append(Call(sites, handle, types, indexes))
        result = self.answer(sites, handle)
        if isinstance(result, Exception):
            raise result
        return result

    @property
    def ports(self) -> list[int]:
        return [port_of(call.sites) for call in self.calls]


def always(reply: Reply | Exception) -> FakeQuery:
    return FakeQuery(lambda _sites, _handle: reply)


def down() -> UpstreamUnavailableError:
    return UpstreamUnavailableError("no enterprise node answered", handle=HANDLE)


SITES = [site(2641)]


# ---- the cache -------------------------------------------------------------------------------


def test_first_resolution_queries_the_sites_with_the_filter() -> None:
    answer = values()
    query = always(success(answer))
    resolver = RecursiveResolver(query, clock=Clock())

    got = resolver.resolve(HANDLE, SITES, ["URL"], [1])

    assert got.values == answer
    assert got.handle == HANDLE
    assert got.site == "127.0.0.1:2641/TCP"
    assert (got.from_cache, got.stale, got.age) == (False, False, 0.0)
    assert len(query.calls) == 1
    call = query.calls[0]
    assert (call.sites, call.handle, tuple(call.types), tuple(call.indexes)) == (
        SITES,
        HANDLE,
        ("URL",),
        (1,),
    )


def test_a_hit_within_the_ttl_makes_no_query_and_reports_its_age() -> None:
    answer = values(ttl=300)
    query = always(success(answer))
    clock = Clock()
    resolver = RecursiveResolver(query, clock=clock)
    resolver.resolve(HANDLE, SITES)

    clock.now += 299.5
    got = resolver.resolve(HANDLE, SITES)

    assert len(query.calls) == 1
    assert got.from_cache is True
    assert got.stale is False
    assert got.age == pytest.approx(299.5)
    assert got.values == answer
    assert got.site == "127.0.0.1:2641/TCP"


def test_the_cache_key_ignores_case_but_not_the_filter() -> None:
    query = always(success(values()))
    resolver = RecursiveResolver(query, clock=Clock())
    resolver.resolve(HANDLE, SITES)

    assert resolver.resolve(HANDLE.upper(), SITES).from_cache is True
    assert resolver.resolve(HANDLE, SITES, ["URL"]).from_cache is False
    assert resolver.resolve(HANDLE, SITES, (), [2]).from_cache is False
    assert len(query.calls) == 3


def test_expiry_refetches() -> None:
    first, second = values(ttl=300), values(ttl=300, data="https://example.com/new")
    replies = iter([success(first), success(second)])
    query = FakeQuery(lambda _sites, _handle: next(replies))
    clock = Clock()
    resolver = RecursiveResolver(query, clock=clock)
    resolver.resolve(HANDLE, SITES)

    clock.now += 300  # the shortest TTL has passed
    got = resolver.resolve(HANDLE, SITES)

    assert len(query.calls) == 2
    assert got.from_cache is False
    assert got.values == second
    clock.now += 10
    assert resolver.resolve(HANDLE, SITES).values == second  # the new answer is kept
    assert len(query.calls) == 2


def test_the_ttl_is_the_shortest_of_the_values() -> None:
    query = always(success(values(ttl=30)))  # the other value has 86400
    clock = Clock()
    resolver = RecursiveResolver(query, clock=clock)
    resolver.resolve(HANDLE, SITES)

    clock.now += 29
    assert resolver.resolve(HANDLE, SITES).from_cache is True
    clock.now += 1
    assert resolver.resolve(HANDLE, SITES).from_cache is False
    assert len(query.calls) == 2


def test_the_ttl_is_capped_by_max_ttl() -> None:
    query = always(success(values(ttl=86_400)))
    clock = Clock()
    resolver = RecursiveResolver(query, clock=clock, max_ttl=100)
    resolver.resolve(HANDLE, SITES)

    clock.now += 99
    assert resolver.resolve(HANDLE, SITES).from_cache is True
    clock.now += 1
    assert resolver.resolve(HANDLE, SITES).from_cache is False
    assert len(query.calls) == 2


def test_a_ttl_of_zero_is_not_cached() -> None:
    query = always(success(values(ttl=0)))
    resolver = RecursiveResolver(query, clock=Clock())

    assert resolver.resolve(HANDLE, SITES).from_cache is False
    assert resolver.resolve(HANDLE, SITES).from_cache is False
    assert len(query.calls) == 2


def test_not_found_is_cached_and_raised_again_from_the_cache() -> None:
    query = always(code(RC_HANDLE_NOT_FOUND))
    clock = Clock()
    resolver = RecursiveResolver(query, clock=clock, negative_ttl=30)

    with pytest.raises(HandleNotFoundError) as first:
        resolver.resolve(HANDLE, SITES)
    clock.now += 29
    with pytest.raises(HandleNotFoundError) as cached:
        resolver.resolve(HANDLE, SITES)

    assert len(query.calls) == 1
    assert cached.value.handle == HANDLE
    assert cached.value.message == first.value.message
    clock.now += 1
    with pytest.raises(HandleNotFoundError):
        resolver.resolve(HANDLE, SITES)
    assert len(query.calls) == 2


def test_not_found_is_kept_60_seconds_at_most() -> None:
    query = always(code(RC_HANDLE_NOT_FOUND))
    clock = Clock()
    resolver = RecursiveResolver(query, clock=clock, negative_ttl=3_600)
    with pytest.raises(HandleNotFoundError):
        resolver.resolve(HANDLE, SITES)

    clock.now += 59
    with pytest.raises(HandleNotFoundError):
        resolver.resolve(HANDLE, SITES)
    assert len(query.calls) == 1
    clock.now += 1
    with pytest.raises(HandleNotFoundError):
        resolver.resolve(HANDLE, SITES)
    assert len(query.calls) == 2


def test_use_cache_false_always_queries_and_stores_nothing() -> None:
    query = always(success(values()))
    resolver = RecursiveResolver(query, clock=Clock())

    assert resolver.resolve(HANDLE, SITES, use_cache=False).from_cache is False
    assert resolver.resolve(HANDLE, SITES, use_cache=False).from_cache is False
    assert len(query.calls) == 2
    assert resolver.resolve(HANDLE, SITES).from_cache is False  # nothing was stored
    assert len(query.calls) == 3


def test_use_cache_false_bypasses_a_cached_answer() -> None:
    query = always(success(values()))
    resolver = RecursiveResolver(query, clock=Clock())
    resolver.resolve(HANDLE, SITES)

    assert resolver.resolve(HANDLE, SITES, use_cache=False).from_cache is False
    assert len(query.calls) == 2


def test_use_cache_false_does_not_store_not_found() -> None:
    query = always(code(RC_HANDLE_NOT_FOUND))
    resolver = RecursiveResolver(query, clock=Clock())
    with pytest.raises(HandleNotFoundError):
        resolver.resolve(HANDLE, SITES, use_cache=False)

    with pytest.raises(HandleNotFoundError):
        resolver.resolve(HANDLE, SITES)
    assert len(query.calls) == 2


def test_answers_with_restricted_values_are_not_cached() -> None:
    secret = Value(
        3,
        "SECRET",
        ValueData(DataFormat.STRING, "hidden"),
        86_400,
        permissions=Permissions(public_read=False),
    )
    query = always(success((*values(), secret)))
    resolver = RecursiveResolver(query, clock=Clock())

    resolver.resolve(HANDLE, SITES)
    assert resolver.resolve(HANDLE, SITES).from_cache is False
    assert len(query.calls) == 2


def test_capacity_evicts_the_least_recently_used() -> None:
    query = FakeQuery(lambda _sites, handle: Reply(RC_SUCCESS, handle, values(), "", "s"))
    resolver = RecursiveResolver(query, clock=Clock(), capacity=2)
    a, b, c = (f"88.100.1234/{name}" for name in "abc")
    resolver.resolve(a, SITES)
    resolver.resolve(b, SITES)
    assert resolver.resolve(a, SITES).from_cache is True  # a is now the most recent

    resolver.resolve(c, SITES)  # evicts b, the least recently used

    assert resolver.resolve(a, SITES).from_cache is True
    assert resolver.resolve(c, SITES).from_cache is True
    assert [call.handle for call in query.calls] == [a, b, c]
    assert resolver.resolve(b, SITES).from_cache is False
    assert [call.handle for call in query.calls] == [a, b, c, b]


# ---- stale answers ---------------------------------------------------------------------------


def test_an_expired_answer_is_served_stale_while_the_node_is_down() -> None:
    answer = values(ttl=300)
    replies: list[Reply | Exception] = [success(answer), down(), down()]
    query = FakeQuery(lambda _sites, _handle: replies.pop(0))
    clock = Clock()
    resolver = RecursiveResolver(query, clock=clock, stale_for=600)
    resolver.resolve(HANDLE, SITES)

    clock.now += 300 + 599
    got = resolver.resolve(HANDLE, SITES)

    assert len(query.calls) == 2  # the node was asked first
    assert got.stale is True
    assert got.from_cache is True
    assert got.values == answer
    assert got.age == pytest.approx(899)
    clock.now += 1  # 600 s past expiry: too old to serve
    with pytest.raises(UpstreamUnavailableError):
        resolver.resolve(HANDLE, SITES)
    assert len(query.calls) == 3


def test_stale_serving_ends_when_the_node_answers_again() -> None:
    first, second = values(ttl=300), values(ttl=300, data="https://example.com/new")
    replies: list[Reply | Exception] = [success(first), down(), success(second)]
    query = FakeQuery(lambda _sites, _handle: replies.pop(0))
    clock = Clock()
    resolver = RecursiveResolver(query, clock=clock, stale_for=600)
    resolver.resolve(HANDLE, SITES)
    clock.now += 400

    assert resolver.resolve(HANDLE, SITES).stale is True
    got = resolver.resolve(HANDLE, SITES)

    assert (got.stale, got.from_cache, got.values) == (False, False, second)


def test_without_a_cached_answer_unavailable_is_raised() -> None:
    query = always(down())
    resolver = RecursiveResolver(query, clock=Clock())

    with pytest.raises(UpstreamUnavailableError):
        resolver.resolve(HANDLE, SITES)


def test_garbage_from_the_node_is_not_covered_by_a_stale_answer() -> None:
    replies: list[Reply | Exception] = [
        success(values(ttl=300)),
        UpstreamError("garbage", handle=HANDLE),
    ]
    query = FakeQuery(lambda _sites, _handle: replies.pop(0))
    clock = Clock()
    resolver = RecursiveResolver(query, clock=clock, stale_for=600)
    resolver.resolve(HANDLE, SITES)
    clock.now += 400

    with pytest.raises(UpstreamError):
        resolver.resolve(HANDLE, SITES)


# ---- referrals -------------------------------------------------------------------------------


@pytest.mark.parametrize("value_type", ["HS_SITE.PREFIX", "HS_SITE"])
def test_a_referral_is_followed_to_the_site_it_names(value_type: str) -> None:
    answer = values()
    target = site(3000)

    def answer_at(sites: Sequence[Mapping[str, Any]], _handle: str) -> Reply:
        if port_of(sites) == 2641:
            return referral_to(target, value_type)
        return success(answer, "127.0.0.1:3000/TCP")

    query = FakeQuery(answer_at)
    resolver = RecursiveResolver(query, clock=Clock())

    got = resolver.resolve(HANDLE, SITES, ["URL"])

    assert query.ports == [2641, 3000]
    assert query.calls[1].sites == [target]
    assert query.calls[1].handle == HANDLE
    assert tuple(query.calls[1].types) == ("URL",)
    assert got.values == answer
    assert got.site == "127.0.0.1:3000/TCP"


def test_a_referred_answer_is_cached() -> None:
    target = site(3000)
    query = FakeQuery(
        lambda sites, _h: referral_to(target) if port_of(sites) == 2641 else success(values())
    )
    resolver = RecursiveResolver(query, clock=Clock())
    resolver.resolve(HANDLE, SITES)

    assert resolver.resolve(HANDLE, SITES).from_cache is True
    assert query.ports == [2641, 3000]


def chain(length: int, end: Reply) -> FakeQuery:
    """Site 2641 refers to 2642, ... up to 2641 + length, which answers `end`."""

    def answer_at(sites: Sequence[Mapping[str, Any]], _handle: str) -> Reply:
        port = port_of(sites)
        return referral_to(site(port + 1)) if port < 2641 + length else end

    return FakeQuery(answer_at)


def test_referrals_up_to_the_hop_limit_are_followed() -> None:
    query = chain(3, success(values()))
    resolver = RecursiveResolver(query, clock=Clock(), hop_limit=3)

    assert resolver.resolve(HANDLE, SITES).values == values()
    assert query.ports == [2641, 2642, 2643, 2644]


def test_a_chain_longer_than_the_hop_limit_is_cut() -> None:
    query = chain(4, success(values()))
    resolver = RecursiveResolver(query, clock=Clock(), hop_limit=3)

    with pytest.raises(ReferralLimitError) as raised:
        resolver.resolve(HANDLE, SITES)

    assert query.ports == [2641, 2642, 2643, 2644]
    assert raised.value.handle == HANDLE
    assert raised.value.response_code == 6


def test_two_sites_referring_to_each_other_are_cut_at_once() -> None:
    a, b = site(2641), site(2642)
    query = FakeQuery(lambda sites, _h: referral_to(b if port_of(sites) == 2641 else a))
    resolver = RecursiveResolver(query, clock=Clock(), hop_limit=10)

    with pytest.raises(ReferralLimitError, match="loop"):
        resolver.resolve(HANDLE, [a])

    assert query.ports == [2641, 2642]  # not hop_limit queries


def test_a_site_referring_to_itself_is_a_loop() -> None:
    query = always(referral_to(site(2641)))
    resolver = RecursiveResolver(query, clock=Clock(), hop_limit=10)

    with pytest.raises(ReferralLimitError, match="loop"):
        resolver.resolve(HANDLE, SITES)
    assert len(query.calls) == 1


def test_a_referral_without_a_site_is_an_upstream_error() -> None:
    text = Value(1, "URL", ValueData(DataFormat.STRING, "https://example.com"), 86_400)
    query = always(Reply(RC_PREFIX_REFERRAL, "", (text,), "", "s"))
    resolver = RecursiveResolver(query, clock=Clock())

    with pytest.raises(UpstreamError, match="without naming a site") as raised:
        resolver.resolve(HANDLE, SITES)
    assert not isinstance(raised.value, ReferralLimitError)


# ---- other answers ---------------------------------------------------------------------------


@pytest.mark.parametrize("response_code", [RC_ERROR, RC_SERVER_NOT_RESPONSIBLE, 402])
def test_other_response_codes_are_upstream_errors_naming_the_code(response_code: int) -> None:
    query = always(code(response_code, "the node says no"))
    resolver = RecursiveResolver(query, clock=Clock())

    with pytest.raises(UpstreamError) as raised:
        resolver.resolve(HANDLE, SITES)

    assert type(raised.value) is UpstreamError
    assert f"response code {response_code}" in raised.value.message
    assert "the node says no" in raised.value.message
    assert raised.value.handle == HANDLE


def test_an_upstream_error_is_not_cached() -> None:
    query = always(code(RC_ERROR))
    resolver = RecursiveResolver(query, clock=Clock())
    for _ in range(2):
        with pytest.raises(UpstreamError):
            resolver.resolve(HANDLE, SITES)
    assert len(query.calls) == 2


def test_values_not_found_is_raised_and_not_cached() -> None:
    query = always(code(RC_VALUES_NOT_FOUND))
    resolver = RecursiveResolver(query, clock=Clock())

    for _ in range(2):
        with pytest.raises(ValuesNotFoundError) as raised:
            resolver.resolve(HANDLE, SITES, ["NOPE"])
        assert raised.value.handle == HANDLE
    assert len(query.calls) == 2
