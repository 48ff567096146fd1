"""A small in-process cache with expiry, for lookups a warm function repeats."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class TtlCache(Generic[T]):
    """At most `size` entries, each forgotten `ttl` seconds after it was put."""

    def __init__(self, ttl: float, size: int, clock: Callable[[], float]) -> None:
        self._ttl, self._size, self._clock = ttl, size, clock
        self._items: OrderedDict[str, tuple[float, T]] = OrderedDict()

    def get(self, key: str) -> T | None:
        hit = self._items.get(key)
        if hit is None or hit[0] < self._clock():
            self._items.pop(key, None)
            return None
        return hit[1]

    def put(self, key: str, value: T) -> None:
        self._items[key] = (self._clock() + self._ttl, value)
        self._items.move_to_end(key)
        while len(self._items) > self._size:
            self._items.popitem(last=False)

    def get_or_load(self, key: str, load: Callable[[], T]) -> T:
        hit = self.get(key)
        if hit is None:
            hit = load()
            self.put(key, hit)
        return hit
