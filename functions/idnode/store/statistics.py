"""Daily counters: atomic additions to one item per scope and day."""

from __future__ import annotations

from collections.abc import Mapping

from idnode.store.models import CounterModel

COUNTERS = ("registrations", "resolutions", "deletions", "identifiers", "enterprises", "prefixes")


class CounterRepository:
    def __init__(self, model: type[CounterModel]) -> None:
        self._model = model

    def add(self, scope: str, day: str, counts: Mapping[str, int]) -> None:
        """Add `counts` (counter name -> delta) to the scope's counters of `day`."""
        actions = [
            getattr(self._model, name).add(delta)
            for name, delta in counts.items()
            if delta and name in COUNTERS
        ]
        if actions:
            self._model(scope, day).update(actions=actions)
