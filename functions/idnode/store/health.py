"""The health table: each enterprise node's current state (`at` = 0) and its events."""

from __future__ import annotations

from pynamodb.exceptions import DoesNotExist

from idnode.domain.health import EventKind, HealthEvent, NodeHealth, NodeState
from idnode.store.models import HealthModel
from idnode.store.pages import Page, decode_cursor, encode_cursor

CURRENT = 0
_SCOPE = "health"


class HealthRepository:
    def __init__(self, model: type[HealthModel]) -> None:
        self._model = model

    def get(self, key: str) -> NodeHealth | None:
        try:
            item = self._model.get(key, CURRENT)
        except DoesNotExist:
            return None
        return _health(item)

    def save(self, health: NodeHealth, event: HealthEvent | None = None) -> None:
        """The node's new state, and the event that came with it (both, or as far as they got:
        the event first, so a state is never recorded without the event that led to it)."""
        if event is not None:
            self._model(
                event.node,
                event.at,
                prefix=health.prefix,
                enterprise=health.enterprise,
                address=health.address,
                kind=event.kind.value,
                reason=event.reason,
                duration_ms=event.duration_ms,
            ).save()
        self._model(
            health.key,
            CURRENT,
            prefix=health.prefix,
            enterprise=health.enterprise,
            address=health.address,
            state=health.state.value,
            since=health.since,
            checks=health.checks,
            successes=health.successes,
            consecutive_failures=health.consecutive_failures,
            rtt_ms=health.rtt_ms,
            average_rtt_ms=health.average_rtt_ms,
            last_checked=health.last_checked,
            last_failure_at=health.last_failure_at,
            last_failure=health.last_failure,
        ).save()

    def states(self, limit: int, cursor: str | None) -> Page[NodeHealth]:
        """Every node's current state, a page at a time (a scan: the nodes are few)."""
        start = decode_cursor(_SCOPE, cursor)
        found = self._model.scan(
            self._model.at == CURRENT, limit=limit, last_evaluated_key=start, page_size=limit
        )
        items = [_health(item) for item in found]
        cursors = [
            encode_cursor(_SCOPE, {"node": {"S": h.key}, "at": {"N": str(CURRENT)}}) for h in items
        ]
        key = found.last_evaluated_key
        return Page(items, cursors, encode_cursor(_SCOPE, key) if key else None)

    def events(self, key: str, limit: int) -> list[HealthEvent]:
        """A node's latest events, newest first."""
        return [
            HealthEvent(
                item.node,
                int(item.at),
                EventKind(item.kind),
                item.reason,
                int(item.duration_ms) if item.duration_ms is not None else None,
            )
            for item in self._model.query(
                key, self._model.at > CURRENT, scan_index_forward=False, limit=limit
            )
        ]


def _health(item: HealthModel) -> NodeHealth:
    return NodeHealth(
        prefix=item.prefix,
        enterprise=item.enterprise,
        address=item.address,
        state=NodeState(item.state),
        since=int(item.since or 0),
        checks=int(item.checks),
        successes=int(item.successes),
        consecutive_failures=int(item.consecutive_failures),
        rtt_ms=item.rtt_ms,
        average_rtt_ms=item.average_rtt_ms,
        last_checked=int(item.last_checked) if item.last_checked is not None else None,
        last_failure_at=int(item.last_failure_at) if item.last_failure_at is not None else None,
        last_failure=item.last_failure,
    )
