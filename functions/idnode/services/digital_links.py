"""GS1 Digital Link: the links of registered GS1 keys and resolving requests to them.

Managing links needs `manage-links` on the enterprise that holds the key's identifier
prefix, and every change is recorded in the operation log. Resolving is public: it reads the
requested key and every key it walks up to (serial, lot, GTIN) in one batch, and the most
specific registered key that has links answers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from idnode.domain import links as domain
from idnode.domain.access import Operation, Principal, Scope, authorise
from idnode.domain.errors import HandleNotFoundError, InvalidValueError, NotAuthorisedError
from idnode.domain.handles import Handle
from idnode.domain.schemes import SchemeKey
from idnode.domain.schemes.gs1 import digital_link_path, parent_key, parse_gs1
from idnode.services.metering import Meter
from idnode.services.operations import OperationLog
from idnode.store.keys import KeyEntry


class KeyStore(Protocol):
    def get(self, key: SchemeKey | str) -> KeyEntry | None: ...
    def get_many(self, keys: Sequence[SchemeKey | str]) -> list[KeyEntry]: ...
    def set_links(
        self, key: SchemeKey | str, links: Sequence[dict[str, Any]], *, at: int, expected: int
    ) -> KeyEntry: ...


@dataclass(frozen=True, slots=True)
class KeyLinks:
    """A registered GS1 key, the identifier it maps to and its links."""

    key: SchemeKey
    identifier: str
    links: tuple[domain.Link, ...]
    version: int

    @property
    def path(self) -> str:
        return digital_link_path(self.key)


@dataclass(frozen=True, slots=True)
class Redirect:
    """Send the client to ``location`` (307)."""

    location: str
    anchor: str


@dataclass(frozen=True, slots=True)
class LinksetReply:
    """Answer with the linkset (200)."""

    document: dict[str, Any]
    anchor: str


Resolved = Redirect | LinksetReply


class DigitalLinkService:
    def __init__(
        self,
        keys: KeyStore,
        *,
        check_resolvable: Callable[[Handle], None],
        meter: Meter,
        log: OperationLog,
        enterprise_of: Callable[[str], str | None],
        clock: Callable[[], int],
    ) -> None:
        self._keys = keys
        self._check_resolvable = check_resolvable
        self._meter = meter
        self._log = log
        self._enterprise_of = enterprise_of
        self._clock = clock

    # Management

    def links(self, principal: Principal, key: str) -> KeyLinks:
        """A registered key's links, for those who manage them."""
        parsed = parse_gs1(key)
        entry = self._require(parsed)
        self._authorise(principal, entry)
        return _key_links(parsed, entry)

    def set_links(
        self,
        principal: Principal,
        key: str,
        links: Sequence[Mapping[str, Any]],
        *,
        expected_version: int | None = None,
    ) -> KeyLinks:
        """Replace a registered key's links. With ``expected_version``, only if the links are
        still at that version (ConcurrentUpdateError otherwise)."""
        with self._log.recording(principal, "set-digital-links", key) as op:
            parsed = parse_gs1(key)
            op.target = str(parsed)
            entry = self._require(parsed)
            op.enterprise = self._authorise(principal, entry)
            built = domain.build_links(links)
            if expected_version is not None and expected_version < 0:
                raise InvalidValueError("expectedVersion must not be negative")
            expected = entry.links_version if expected_version is None else expected_version
            updated = self._keys.set_links(
                parsed, [link.to_json() for link in built], at=self._clock(), expected=expected
            )
            op.details = {"links": len(built), "version": updated.links_version}
            return _key_links(parsed, updated)

    def _require(self, key: SchemeKey) -> KeyEntry:
        entry = self._keys.get(key)
        if entry is None:
            raise HandleNotFoundError(
                f"{key} is not registered: register an identifier <your prefix>/{key.value} "
                "first; links are kept for registered keys only",
                handle=str(key),
            )
        return entry

    def _authorise(self, principal: Principal, entry: KeyEntry) -> str | None:
        """Authorise managing the key's links; the enterprise that holds its prefix."""
        prefix = Handle.parse(entry.handle).prefix
        enterprise = self._enterprise_of(prefix)
        if enterprise is None:
            # A prefix of no enterprise (the node's own): platform administrators only.
            if authorise(principal, Operation.MANAGE_LINKS) is not Scope.ANY:
                raise NotAuthorisedError(
                    f"{principal.name} may not manage links here", handle=entry.handle
                )
            return None
        authorise(principal, Operation.MANAGE_LINKS, enterprise=enterprise)
        return enterprise

    # Resolution

    def resolve(
        self,
        path: str,
        *,
        root: str,
        link_type: str | None = None,
        languages: Sequence[str] = (),
        wants_linkset: bool = False,
        query: Sequence[tuple[str, str]] = (),
    ) -> Resolved:
        """Resolve a Digital Link request path (``/01/<gtin>/21/<serial>``) on this resolver.

        Raises InvalidHandleError for a malformed path or InvalidValueError for an unknown
        link type (400), HandleNotFoundError when no resolvable key of the chain has links.
        """
        key = parse_gs1(path)
        anchor = root.rstrip("/") + digital_link_path(key)
        wanted = None
        if link_type is not None and link_type not in domain.LINKSET_REQUESTS:
            wanted = domain.expand_link_type(link_type)
        entry, links = self._answering(key)
        self._meter.count(Handle.parse(entry.handle).prefix, "resolutions")
        if wants_linkset or link_type in domain.LINKSET_REQUESTS:
            return LinksetReply(domain.linkset(anchor, links), anchor)
        chosen = domain.select(links, wanted, languages)
        return Redirect(domain.with_query(chosen.href, query), anchor)

    def _answering(self, key: SchemeKey) -> tuple[KeyEntry, tuple[domain.Link, ...]]:
        chain: list[SchemeKey] = []
        current: SchemeKey | None = key
        while current is not None:
            chain.append(current)
            current = parent_key(current)
        found = {entry.key: entry for entry in self._keys.get_many(chain)}
        registered = [
            entry
            for entry in (found.get(str(k)) for k in chain)
            if entry is not None and self._resolvable(entry)
        ]
        if not registered:
            raise HandleNotFoundError(
                f"{digital_link_path(key)} is not registered on this resolver", handle=str(key)
            )
        for entry in registered:
            links = domain.stored_links(entry.links)
            if links:
                return entry, links
        raise HandleNotFoundError(
            f"{digital_link_path(key)} is registered but has no links to resolve to",
            handle=str(key),
        )

    def _resolvable(self, entry: KeyEntry) -> bool:
        try:
            self._check_resolvable(Handle.parse(entry.handle))
        except HandleNotFoundError:
            return False
        return True


def _key_links(key: SchemeKey, entry: KeyEntry) -> KeyLinks:
    return KeyLinks(
        key=key,
        identifier=entry.handle,
        links=domain.stored_links(entry.links),
        version=entry.links_version,
    )
