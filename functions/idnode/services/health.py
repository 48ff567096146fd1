"""Probing self-hosted enterprise nodes (SN-11): availability, round-trip time, last failure,
outages and recoveries. Run on a schedule (the health function, every minute)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from idnode.domain.access import Operation, Principal, Scope, authorise
from idnode.domain.enterprises import Enterprise, EnterpriseStatus, Hosting
from idnode.domain.errors import IdnodeError, InvalidValueError
from idnode.domain.health import HealthEvent, NodeHealth, after_probe, node_key
from idnode.domain.routing import NodeAddress
from idnode.store.pages import Page

PROBE_WORKERS = 8
MAX_PAGE = 100
ENTERPRISE_PAGE = 100


class Enterprises(Protocol):
    def by_status(
        self, status: EnterpriseStatus, limit: int, cursor: str | None
    ) -> Page[Enterprise]: ...


class HealthStore(Protocol):
    def get(self, key: str) -> NodeHealth | None: ...
    def save(self, health: NodeHealth, event: HealthEvent | None = None) -> None: ...
    def states(self, limit: int, cursor: str | None) -> Page[NodeHealth]: ...
    def events(self, key: str, limit: int) -> list[HealthEvent]: ...


Probe = Callable[[Sequence[Mapping[str, Any]], str], object]
"""Ask sites for a handle over the Handle protocol; raise IdnodeError if nobody answers."""


@dataclass(frozen=True, slots=True)
class Target:
    enterprise: str
    prefix: str
    node: NodeAddress

    @property
    def address(self) -> str:
        port = self.node.tcp_port or self.node.udp_port or self.node.http_port
        host = f"[{self.node.ip}]" if ":" in self.node.ip else self.node.ip
        return f"{host}:{port}"


@dataclass(frozen=True, slots=True)
class ProbeRun:
    checked: int
    up: int
    down: int
    events: tuple[HealthEvent, ...]


class HealthService:
    def __init__(
        self,
        enterprises: Enterprises,
        store: HealthStore,
        probe: Probe,
        *,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        workers: int = PROBE_WORKERS,
    ) -> None:
        self._enterprises = enterprises
        self._store = store
        self._probe = probe
        self._clock_ms = clock_ms
        self._workers = workers

    def targets(self) -> Iterator[Target]:
        """Every node of every active self-hosted enterprise, per prefix it serves."""
        cursor: str | None = None
        while True:
            page = self._enterprises.by_status(EnterpriseStatus.ACTIVE, ENTERPRISE_PAGE, cursor)
            for enterprise in page.items:
                if enterprise.profile.hosting is not Hosting.SELF_HOSTED:
                    continue
                for node in enterprise.profile.service_nodes:
                    yield Target(enterprise.id, node.ent_prefix or enterprise.prefix, node)
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def probe_all(self) -> ProbeRun:
        """Probe every node once (in parallel, each bounded by the client's deadline)."""
        targets = list(self.targets())
        with ThreadPoolExecutor(max(1, min(self._workers, len(targets) or 1))) as pool:
            results = list(pool.map(self._check, targets))
        events = tuple(event for _, event in results if event is not None)
        up = sum(1 for health, _ in results if health.state.value == "up")
        return ProbeRun(len(results), up, len(results) - up, events)

    def _check(self, target: Target) -> tuple[NodeHealth, HealthEvent | None]:
        key = node_key(target.prefix, target.address)
        before = self._store.get(key) or NodeHealth(
            target.prefix, target.enterprise, target.address, since=self._clock_ms()
        )
        started = time.monotonic()
        failure: str | None = None
        try:
            self._probe([target.node.site()], f"0.NA/{target.prefix}")
        except IdnodeError as exc:
            failure = exc.message
        rtt = (time.monotonic() - started) * 1000
        after, event = after_probe(
            before,
            at=self._clock_ms(),
            rtt_ms=None if failure else round(rtt, 2),
            failure=failure,
        )
        self._store.save(after, event)
        return after, event

    def nodes(self, principal: Principal, first: int, after: str | None) -> Page[NodeHealth]:
        """The nodes' health: every node for staff, their own enterprise's for its admin."""
        scope = authorise(principal, Operation.VIEW_NODE_HEALTH)
        if not 1 <= first <= MAX_PAGE:
            raise InvalidValueError(f"first must be between 1 and {MAX_PAGE}")
        page = self._store.states(first, after)
        if scope is Scope.ANY:
            return page
        kept = [
            (h, c)
            for h, c in zip(page.items, page.cursors, strict=True)
            if h.enterprise == principal.enterprise
        ]
        return Page([h for h, _ in kept], [c for _, c in kept], page.next_cursor)

    def events(self, principal: Principal, health: NodeHealth, limit: int) -> list[HealthEvent]:
        authorise(principal, Operation.VIEW_NODE_HEALTH, enterprise=health.enterprise)
        return self._store.events(health.key, min(max(limit, 1), MAX_PAGE))
