"""Where the node's prefixes are served: its own site, or a self-hosted enterprise's node.

A prefix handle (`0.NA/88.100`, `0.NA/88.100.1234`, also asked for without `0.NA/`) names
the site that answers for the prefix:
- the node's own prefix and every allocated, resolvable enterprise prefix it hosts: the
  node's site information (HS_SITE, index 1), generated from the interfaces actually
  deployed and the node's public key;
- a self-hosted enterprise's prefix: its enterprise node(s), as `idnode.domain.routing`
  writes them (HS_SITE and HS_SITE.PREFIX, or HS_SERV and HS_SERV.PREFIX);
- a prefix below a self-hosted one that is not allocated itself (a derived prefix): a
  prefix referral to the ancestor's HS_SITE.PREFIX / HS_SERV.PREFIX sites, as Handle.Net
  v9 answers it.

Handles under a self-hosted prefix are not stored here: `referral_for` says where they are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from idnode.domain.errors import HandleNotFoundError, InvalidHandleError, PrefixNotServedError
from idnode.domain.handles import PREFIX_NAMESPACE, is_under, prefix_of_handle, validate_prefix
from idnode.domain.routing import (
    SERVICE_PREFIX,
    NodeAddress,
    prefix_values,
    service_values,
)
from idnode.domain.values import DataFormat, Value, ValueData, select

SITE_INDEX = 1
SITE_TTL = 86_400
_PREFIX_TYPES = frozenset({"HS_SITE.PREFIX", "HS_SERV.PREFIX"})
_SITE_TYPES = frozenset({"HS_SITE", "HS_SERV"})


@dataclass(frozen=True, slots=True)
class Referral:
    """Where a name is resolved instead of here."""

    values: tuple[Value, ...]  # what a prefix referral (303) carries
    sites: tuple[dict[str, Any], ...]  # the enterprise nodes to ask, in order


@dataclass(frozen=True, slots=True)
class Located:
    """A name answered without a record stored here: values the node generates (prefix and
    service handles), or, with `referral` set, a name to be resolved elsewhere (`values` are
    then what the referral carries)."""

    values: tuple[Value, ...]
    referral: Referral | None = None


class SiteService:
    def __init__(
        self,
        node_prefix: str,
        interfaces: str,
        public_key: Callable[[], bytes | None],
        hosted: Callable[[str], bool],
        routes: Callable[[str], tuple[NodeAddress, ...]] = lambda _prefix: (),
    ) -> None:
        self._node_prefix = node_prefix.lower()
        self._display_prefix = node_prefix
        self._interfaces = interfaces
        self._public_key = public_key
        self._hosted = hosted
        self._routes = routes
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

    def prefix_answer(
        self, prefix: str, types: Iterable[str] = (), indexes: Iterable[int] = ()
    ) -> Located:
        """The values of the prefix handle for `prefix` (filtered as a resolution filters),
        or the referral for a derived prefix; raise if it is not served here."""
        name = f"{PREFIX_NAMESPACE}/{prefix}"
        try:
            validate_prefix(prefix)
        except InvalidHandleError as exc:
            raise InvalidHandleError(exc.message, handle=name) from None
        folded = prefix.lower()
        if not is_under(folded, self._node_prefix):
            raise PrefixNotServedError(f"{prefix} is not a prefix of this node", handle=name)
        if folded != self._node_prefix:
            nodes = self._routes(folded)
            if nodes:
                return Located(
                    select(
                        prefix_values(nodes, prefix, self._display_prefix, self._since),
                        types,
                        indexes,
                    )
                )
            if not self._hosted(folded):
                referral = self._derived(folded)
                if referral is None:
                    raise HandleNotFoundError(f"{name} is not registered", handle=name)
                return Located(referral.values, referral)
        return Located(select(self._own(name), types, indexes))

    def locate(
        self, handle: str, types: Iterable[str] = (), indexes: Iterable[int] = ()
    ) -> Located | None:
        """Where `handle` is answered when not from a stored record: a prefix handle or a
        service handle (generated here), or a name under a self-hosted prefix (a referral).
        None: it is one of the node's own names, stored here or nowhere."""
        prefix = prefix_of_handle(handle)
        if prefix is not None:
            return self.prefix_answer(prefix, types, indexes)
        referral = self.referral_for(handle)
        if referral is not None:
            return Located(referral.values, referral)
        service = self.service_handle_values(handle)
        if service is not None:
            return Located(select(service, types, indexes))
        return None

    def referral_for(self, handle: str) -> Referral | None:
        """Where `prefix/suffix` is resolved, when its prefix is (below) a self-hosted one."""
        prefix = handle.partition("/")[0].lower()
        nodes = self._routes(prefix)
        if nodes:
            values = prefix_values(nodes, prefix, self._display_prefix, self._since)
            sites = tuple(n.site() for n in nodes)
            return Referral(tuple(v for v in values if v.type in _SITE_TYPES), sites)
        if self._hosted(prefix) or prefix == self._node_prefix:
            return None
        return self._derived(prefix)

    def service_handle_values(self, handle: str) -> tuple[Value, ...] | None:
        """The values of a service handle `<node prefix>/0.SERV.<prefix>` (None: not one)."""
        head, _, suffix = handle.partition("/")
        if head.lower() != self._node_prefix or not suffix.upper().startswith(
            SERVICE_PREFIX.upper()
        ):
            return None
        prefix = suffix[len(SERVICE_PREFIX) :].lower()
        values = service_values(self._routes(prefix), prefix, self._since)
        if not values:
            raise HandleNotFoundError(f"{handle} is not registered", handle=handle)
        return values

    def _derived(self, prefix: str) -> Referral | None:
        """The referral for a prefix below a self-hosted one (walking up to the node's)."""
        ancestor = prefix
        while "." in ancestor:
            ancestor = ancestor.rpartition(".")[0]
            if ancestor == self._node_prefix or not is_under(ancestor, self._node_prefix):
                return None
            nodes = self._routes(ancestor)
            if nodes:
                values = prefix_values(nodes, ancestor, self._display_prefix, self._since)
                return Referral(
                    tuple(v for v in values if v.type in _PREFIX_TYPES),
                    tuple(n.site() for n in nodes),
                )
        return None

    def _own(self, name: str) -> tuple[Value, ...]:
        if self.site is None:
            raise HandleNotFoundError(
                f"{name}: this node publishes no Handle protocol interface", handle=name
            )
        return (
            Value(
                index=SITE_INDEX,
                type="HS_SITE",
                data=ValueData(DataFormat.SITE, self.site),
                ttl=SITE_TTL,
                timestamp=self._since,
            ),
        )
