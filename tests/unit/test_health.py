"""Enterprise node health: the state machine of probes, and the prober over fakes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from idnode.domain.access import user
from idnode.domain.enterprises import Contact, Enterprise, EnterpriseStatus, Hosting, Profile
from idnode.domain.errors import NotAuthorisedError, UpstreamUnavailableError
from idnode.domain.health import (
    EventKind,
    HealthEvent,
    NodeHealth,
    NodeState,
    after_probe,
)
from idnode.domain.industries import parse_industry
from idnode.domain.routing import HdlType, NodeAddress
from idnode.services.health import HealthService
from idnode.store.pages import Page

START = NodeHealth("88.100.1234", "ent-1", "192.0.2.7:2641", since=0)


def test_a_success_counts_and_measures() -> None:
    health, event = after_probe(START, at=1000, rtt_ms=12.0, failure=None)
    assert event is None
    assert (health.checks, health.successes, health.rtt_ms, health.average_rtt_ms) == (
        1,
        1,
        12.0,
        12.0,
    )
    health, _ = after_probe(health, at=2000, rtt_ms=22.0, failure=None)
    assert health.average_rtt_ms == pytest.approx(14.0)
    assert health.availability == 1.0


def test_one_failure_is_not_an_outage_two_are_and_the_first_answer_recovers() -> None:
    once, event = after_probe(START, at=1000, rtt_ms=None, failure="timed out")
    assert (once.state, event) == (NodeState.UP, None)
    assert (once.last_failure, once.last_failure_at) == ("timed out", 1000)
    twice, outage = after_probe(once, at=2000, rtt_ms=None, failure="refused")
    assert twice.state is NodeState.DOWN and twice.since == 2000
    assert outage == HealthEvent(START.key, 2000, EventKind.OUTAGE, reason="refused")
    still, none = after_probe(twice, at=3000, rtt_ms=None, failure="refused")
    assert (still.state, none) == (NodeState.DOWN, None)  # one event per outage
    back, recovery = after_probe(still, at=9000, rtt_ms=5.0, failure=None)
    assert back.state is NodeState.UP and back.since == 9000
    assert recovery == HealthEvent(START.key, 9000, EventKind.RECOVERY, duration_ms=7000)
    assert back.availability == pytest.approx(1 / 4)


class FakeEnterprises:
    def __init__(self, items: list[Enterprise]) -> None:
        self.items = items

    def by_status(
        self, status: EnterpriseStatus, limit: int, cursor: str | None
    ) -> Page[Enterprise]:
        start = int(cursor or 0)
        chunk = [e for e in self.items if e.status is status][start : start + limit]
        more = start + limit < len(self.items)
        return Page(
            chunk,
            [str(start + i + 1) for i in range(len(chunk))],
            str(start + limit) if more else None,
        )


class FakeStore:
    def __init__(self) -> None:
        self.saved: dict[str, NodeHealth] = {}
        self.saved_events: list[HealthEvent] = []

    def get(self, key: str) -> NodeHealth | None:
        return self.saved.get(key)

    def save(self, health: NodeHealth, event: HealthEvent | None = None) -> None:
        self.saved[health.key] = health
        if event is not None:
            self.saved_events.append(event)

    def states(self, limit: int, cursor: str | None) -> Page[NodeHealth]:
        items = list(self.saved.values())[:limit]
        return Page(items, [h.key for h in items], None)

    def events(self, key: str, limit: int) -> list[HealthEvent]:
        return [e for e in reversed(self.saved_events) if e.node == key][:limit]


def _enterprise(uscc: str, prefix: str, hosting: Hosting, *nodes: NodeAddress) -> Enterprise:
    at = datetime(2026, 12, 1, tzinfo=UTC)
    profile = Profile(
        legal_name="Acme",
        uscc=uscc,
        industry=parse_industry("C3411"),
        contact=Contact("Li", "li@example.com", "+86 591 1234 5678"),
        domains=("example.com",),
        hosting=hosting,
        service_nodes=nodes,
    )
    return Enterprise(uscc, profile, prefix, at, at)


UP_NODE = NodeAddress(HdlType.HS_SITE, "192.0.2.7", 4, tcp_port=2641)
DOWN_NODE = NodeAddress(HdlType.HS_SITE, "192.0.2.9", 4, udp_port=2641, ent_prefix="88.100.5")


def test_the_prober_probes_every_self_hosted_node_and_records_outages() -> None:
    enterprises = FakeEnterprises(
        [
            _enterprise("ent-1", "88.100.1", Hosting.SELF_HOSTED, UP_NODE),
            _enterprise("ent-2", "88.100.2", Hosting.HOSTED),
            _enterprise("ent-3", "88.100.5", Hosting.SELF_HOSTED, DOWN_NODE),
        ]
    )
    asked: list[tuple[str, str]] = []

    def probe(sites: Sequence[Mapping[str, Any]], handle: str) -> object:
        address = sites[0]["servers"][0]["address"]
        asked.append((address, handle))
        if address == "192.0.2.9":
            raise UpstreamUnavailableError("no enterprise node answered")
        return object()

    store = FakeStore()
    clock = iter(range(1000, 100_000, 1000))
    service = HealthService(enterprises, store, probe, clock_ms=lambda: next(clock), workers=1)
    first = service.probe_all()
    assert sorted(asked) == [("192.0.2.7", "0.NA/88.100.1"), ("192.0.2.9", "0.NA/88.100.5")]
    assert (first.checked, first.up, first.down, first.events) == (2, 2, 0, ())
    second = service.probe_all()
    assert (second.up, second.down) == (1, 1)
    (outage,) = second.events
    assert outage.kind is EventKind.OUTAGE and outage.node == "88.100.5#192.0.2.9:2641"
    assert store.saved["88.100.1#192.0.2.7:2641"].rtt_ms is not None


def test_who_may_see_node_health() -> None:
    store = FakeStore()
    store.save(NodeHealth("88.100.1", "ent-1", "192.0.2.7:2641"))
    store.save(NodeHealth("88.100.2", "ent-2", "192.0.2.8:2641"))
    service = HealthService(FakeEnterprises([]), store, lambda *_: None)
    auditor = user("audrey", ["auditor"], None, [])
    assert len(service.nodes(auditor, 50, None).items) == 2
    admin = user("alice", ["enterprise-admin"], "ent-2", [])
    assert [h.enterprise for h in service.nodes(admin, 50, None).items] == ["ent-2"]
    with pytest.raises(NotAuthorisedError):
        service.events(admin, NodeHealth("88.100.1", "ent-1", "192.0.2.7:2641"), 5)
    stranger = user("sam", [], None, [])
    with pytest.raises(NotAuthorisedError):
        service.nodes(stranger, 50, None)
