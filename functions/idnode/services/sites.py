"""Where the node's prefixes are served: the node's site information and the prefix handles.

A prefix handle (`0.NA/88.100`, `0.NA/88.100.1234`, also asked for without `0.NA/`) names
the site that answers for the prefix. The node's own prefix and every allocated, resolvable
enterprise prefix it hosts are answered with the node's site information (HS_SITE, index 1),
generated from the interfaces actually deployed and the node's public key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from idnode.domain.errors import HandleNotFoundError, InvalidHandleError, PrefixNotServedError
from idnode.domain.handles import is_under, validate_prefix
from idnode.domain.values import DataFormat, Value, ValueData

PREFIX_NAMESPACE = "0.NA"
SITE_INDEX = 1
SITE_TTL = 86_400


def prefix_of_handle(name: str) -> str | None:
    """The prefix a prefix handle names (`0.NA/88.100` or bare `88.100`), else None."""
    head, slash, tail = name.partition("/")
    if not slash:
        return head
    if head.upper() == PREFIX_NAMESPACE:
        return tail
    return None


class SiteService:
    def __init__(
        self,
        node_prefix: str,
        interfaces: str,
        public_key: Callable[[], bytes | None],
        hosted: Callable[[str], bool],
    ) -> None:
        self._node_prefix = node_prefix.lower()
        self._interfaces = interfaces
        self._public_key = public_key
        self._hosted = hosted
        self._since = datetime.now(UTC).replace(microsecond=0)

    @cached_property
    def site(self) -> dict[str, Any] | None:
        """The node's site information in v9 JSON form (None: no interface configured)."""
        from idnode.domain.protocol.site import node_site  # noqa: PLC0415 - off the hot path

        return node_site(self._interfaces, self._public_key())

    def ensure_served(self, handle: str) -> None:
        """Raise PrefixNotServedError (301) for a handle whose prefix is not under the node's."""
        prefix = handle.partition("/")[0]
        if not is_under(prefix.lower(), self._node_prefix):
            raise PrefixNotServedError(
                f"{prefix} is not a prefix of this node: ask the site its prefix handle names",
                handle=handle,
            )

    def prefix_values(
        self, prefix: str, types: Iterable[str] = (), indexes: Iterable[int] = ()
    ) -> tuple[Value, ...]:
        """The values of the prefix handle for `prefix` (filtered as a resolution filters);
        raise if it is not served here."""
        try:
            validate_prefix(prefix)
        except InvalidHandleError as exc:
            raise InvalidHandleError(exc.message, handle=f"{PREFIX_NAMESPACE}/{prefix}") from None
        name = f"{PREFIX_NAMESPACE}/{prefix}"
        folded = prefix.lower()
        if not is_under(folded, self._node_prefix):
            raise PrefixNotServedError(f"{prefix} is not a prefix of this node", handle=name)
        if folded != self._node_prefix and not self._hosted(folded):
            raise HandleNotFoundError(f"{name} is not registered", handle=name)
        if self.site is None:
            raise HandleNotFoundError(
                f"{name}: this node publishes no Handle protocol interface", handle=name
            )
        site = Value(
            index=SITE_INDEX,
            type="HS_SITE",
            data=ValueData(DataFormat.SITE, self.site),
            ttl=SITE_TTL,
            timestamp=self._since,
        )
        wanted_types, wanted_indexes = frozenset(types), frozenset(indexes)
        return tuple(v for v in (site,) if v.matches(wanted_types, wanted_indexes))
