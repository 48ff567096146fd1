"""The health of self-hosted enterprise nodes, as the scheduled prober sees it (SN-11).

Each probe asks the node for its prefix handle over the Handle protocol; any Handle answer
(found, not found, not responsible...) shows the node up and speaking the protocol; no answer
in time, or something that is not a Handle message, is a failure. A node goes down after
`FAILURES_FOR_OUTAGE` failures in a row (one lost UDP packet is not an outage) and up again at
its first success; each change of state is an event (outage, recovery) that the node reports
upward.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

FAILURES_FOR_OUTAGE = 2
RTT_SMOOTHING = 0.2  # weight of the newest round-trip time in the running average


class NodeState(StrEnum):
    UP = "up"
    DOWN = "down"


class EventKind(StrEnum):
    OUTAGE = "outage"
    RECOVERY = "recovery"


@dataclass(frozen=True, slots=True)
class NodeHealth:
    """What is known of one enterprise node (times in epoch milliseconds)."""

    prefix: str
    enterprise: str
    address: str  # ip:port of the interface set probed
    state: NodeState = NodeState.UP
    since: int = 0
    checks: int = 0
    successes: int = 0
    consecutive_failures: int = 0
    rtt_ms: float | None = None
    average_rtt_ms: float | None = None
    last_checked: int | None = None
    last_failure_at: int | None = None
    last_failure: str | None = None

    @property
    def key(self) -> str:
        return node_key(self.prefix, self.address)

    @property
    def availability(self) -> float | None:
        """The share of probes answered (None before the first)."""
        return self.successes / self.checks if self.checks else None


@dataclass(frozen=True, slots=True)
class HealthEvent:
    node: str  # the node's key
    at: int
    kind: EventKind
    reason: str | None = None
    duration_ms: int | None = None  # a recovery: how long the outage lasted


def node_key(prefix: str, address: str) -> str:
    return f"{prefix.lower()}#{address}"


def after_probe(
    health: NodeHealth, *, at: int, rtt_ms: float | None, failure: str | None
) -> tuple[NodeHealth, HealthEvent | None]:
    """The node's health after one probe (answered in `rtt_ms`, or failed with `failure`),
    and the event its change of state makes, if any."""
    checks = health.checks + 1
    if failure is None:
        assert rtt_ms is not None
        average = (
            rtt_ms
            if health.average_rtt_ms is None
            else (1 - RTT_SMOOTHING) * health.average_rtt_ms + RTT_SMOOTHING * rtt_ms
        )
        updated = replace(
            health,
            checks=checks,
            successes=health.successes + 1,
            consecutive_failures=0,
            rtt_ms=rtt_ms,
            average_rtt_ms=average,
            last_checked=at,
        )
        if health.state is NodeState.DOWN:
            event = HealthEvent(health.key, at, EventKind.RECOVERY, duration_ms=at - health.since)
            return replace(updated, state=NodeState.UP, since=at), event
        return updated, None
    failures = health.consecutive_failures + 1
    updated = replace(
        health,
        checks=checks,
        consecutive_failures=failures,
        last_checked=at,
        last_failure_at=at,
        last_failure=failure,
    )
    if health.state is NodeState.UP and failures >= FAILURES_FOR_OUTAGE:
        event = HealthEvent(health.key, at, EventKind.OUTAGE, reason=failure)
        return replace(updated, state=NodeState.DOWN, since=at), event
    return updated, None
