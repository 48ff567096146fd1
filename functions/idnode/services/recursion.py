"""Recursive resolution at self-hosted enterprise nodes, with a cache.

A handle under a self-hosted prefix is resolved at the sites its prefix handle names; a site
that answers with a prefix referral (303) is followed to the sites it names, up to a limit,
and a loop is cut. Answers are cached in the process (per warm function, or per TCP/UDP
service) for the shortest TTL of their values, capped; "not found" for a short time.
Callers that authenticate, or ask for restricted values, never get a cached answer. While
every site of an enterprise node is down, a cached answer is served stale for a bounded
time, marked as such.

The cache lives in the process: a hit costs no I/O at all (measured in bench/); a warm
function's cache is lost when Lambda reclaims it, which at worst costs one more query.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from idnode.domain.errors import (
    HandleNotFoundError,
    ReferralLimitError,
    UpstreamError,
    UpstreamUnavailableError,
    ValuesNotFoundError,
)
from idnode.domain.protocol.wire import (
    RC_HANDLE_NOT_FOUND,
    RC_PREFIX_REFERRAL,
    RC_SUCCESS,
    RC_VALUES_NOT_FOUND,
)
from idnode.domain.routing import referral_sites
from idnode.domain.values import Value

MAX_TTL = 3_600  # seconds an answer is kept at most, whatever its values say
NEGATIVE_TTL = 60  # seconds "not found" is kept
STALE_FOR = 3_600  # seconds a kept answer may be served stale while its node is down
CAPACITY = 10_000  # answers kept at most (least recently used go first)
HOP_LIMIT = 10  # referrals followed at most


@dataclass(frozen=True, slots=True)
class Referred:
    """An answer from an enterprise node, and where it came from."""

    handle: str
    values: tuple[Value, ...]
    site: str  # the server that answered (address:port/protocol)
    from_cache: bool = False
    age: float = 0.0  # seconds since it was fetched
    stale: bool = False


@dataclass(frozen=True, slots=True)
class _Entry:
    answer: Referred | None  # None: not found
    fetched: float
    expires: float
    message: str = ""


class RecursiveResolver:
    def __init__(
        self,
        query: Callable[..., Any],
        *,
        clock: Callable[[], float] = time.monotonic,
        capacity: int = CAPACITY,
        max_ttl: int = MAX_TTL,
        negative_ttl: int = NEGATIVE_TTL,
        stale_for: int = STALE_FOR,
        hop_limit: int = HOP_LIMIT,
    ) -> None:
        self._query = query
        self._clock = clock
        self._capacity = capacity
        self._max_ttl = max_ttl
        self._negative_ttl = min(negative_ttl, NEGATIVE_TTL)
        self._stale_for = stale_for
        self._hop_limit = hop_limit
        self._entries: OrderedDict[tuple[str, tuple[str, ...], tuple[int, ...]], _Entry] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    def resolve(
        self,
        handle: str,
        sites: Sequence[Mapping[str, Any]],
        types: Sequence[str] = (),
        indexes: Sequence[int] = (),
        *,
        use_cache: bool = True,
    ) -> Referred:
        """The answer for `handle` from the enterprise node at `sites` (or the cache)."""
        key = (handle.casefold(), tuple(types), tuple(indexes))
        now = self._clock()
        entry = self._get(key) if use_cache else None
        if entry is not None and now < entry.expires:
            return self._from(entry, handle, now, stale=False)
        try:
            answer = self._fetch(handle, sites, types, indexes)
        except HandleNotFoundError as missing:
            if use_cache:
                self._put(key, _Entry(None, now, now + self._negative_ttl, missing.message))
            raise
        except UpstreamUnavailableError:
            if entry is not None and now < entry.expires + self._stale_for:
                return self._from(entry, handle, now, stale=True)
            raise
        ttl = min([self._max_ttl, *(v.ttl for v in answer.values)])
        if use_cache and ttl > 0 and not any(v.restricted for v in answer.values):
            self._put(key, _Entry(answer, now, now + ttl))
        return answer

    def _from(self, entry: _Entry, handle: str, now: float, *, stale: bool) -> Referred:
        if entry.answer is None:
            raise HandleNotFoundError(entry.message or f"{handle} is not registered", handle=handle)
        cached = entry.answer
        return Referred(cached.handle, cached.values, cached.site, True, now - entry.fetched, stale)

    def _get(self, key: tuple[str, tuple[str, ...], tuple[int, ...]]) -> _Entry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def _put(self, key: tuple[str, tuple[str, ...], tuple[int, ...]], entry: _Entry) -> None:
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)

    def _fetch(
        self,
        handle: str,
        sites: Sequence[Mapping[str, Any]],
        types: Sequence[str],
        indexes: Sequence[int],
    ) -> Referred:
        seen: set[str] = set()
        for _hop in range(self._hop_limit + 1):
            key = _sites_key(sites)
            if key in seen:
                raise ReferralLimitError(
                    f"the referrals for {handle} go round in a loop", handle=handle
                )
            seen.add(key)
            reply = self._query(sites, handle, types, indexes)
            code = reply.response_code
            if code == RC_SUCCESS:
                return Referred(handle, reply.values, reply.server)
            if code == RC_HANDLE_NOT_FOUND:
                raise HandleNotFoundError(
                    f"{handle} is not registered at its enterprise node", handle=handle
                )
            if code == RC_VALUES_NOT_FOUND:
                raise ValuesNotFoundError(
                    f"{handle} has none of the values asked for", handle=handle
                )
            if code != RC_PREFIX_REFERRAL:
                raise UpstreamError(
                    f"the enterprise node answered {handle} with response code {code}"
                    + (f": {reply.message}" if reply.message else ""),
                    handle=handle,
                )
            sites = referral_sites(reply.values)
            if not sites:
                raise UpstreamError(
                    f"the enterprise node referred {handle} without naming a site", handle=handle
                )
        raise ReferralLimitError(
            f"{handle} was referred more than {self._hop_limit} times", handle=handle
        )


def _sites_key(sites: Sequence[Mapping[str, Any]]) -> str:
    return "|".join(
        sorted(
            f"{server.get('address')}:{interface.get('port')}/{interface.get('protocol')}"
            for site in sites
            for server in site.get("servers") or ()
            for interface in server.get("interfaces") or ()
        )
    )
