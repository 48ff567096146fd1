"""Daily counters: atomic additions to one item per scope and day, read back by day range."""

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

    def days(self, scope: str, last: str, first: str | None = None) -> dict[str, dict[str, int]]:
        """The scope's counters per day (YYYY-MM-DD) up to `last`, from `first` or else from
        the scope's first day; days without an item are absent."""
        day = self._model.day
        condition = day.between(first, last) if first is not None else day <= last
        # Eventually consistent: figures a second old are good enough, at half the read cost.
        return {
            item.day: {name: int(getattr(item, name) or 0) for name in COUNTERS}
            for item in self._model.query(scope, condition)
        }
