"""Search (SN-6): identifiers and the enterprise directory, filtered by what the caller's
role may see."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from stdnum.cn import uscc

from idnode.domain.access import Operation, Principal, Scope, authorise
from idnode.domain.enterprises import Enterprise, EnterpriseStatus
from idnode.domain.errors import InvalidHandleError, NotAuthorisedError
from idnode.domain.handles import Handle, fold_case, is_under, validate_prefix
from idnode.domain.records import Record
from idnode.domain.search import (
    IdentifierMatch,
    NameMatch,
    check_page_size,
    search_text,
    sees_suspended,
)
from idnode.store.search import SearchPage, listing_scope, single

DEFAULT_PAGE = 20
# Items one page may read, matching or not: about 1 MB of identifiers, 500 read units.
DEFAULT_READ_LIMIT = 1000


class IdentifierIndex(Protocol):
    def get(self, handle: Handle) -> Record | None: ...

    def search(
        self,
        text: str,
        match: IdentifierMatch,
        prefixes: Sequence[str] | None,
        *,
        first: int,
        read_limit: int,
        cursor: str | None,
    ) -> SearchPage[Record]: ...


class Directory(Protocol):
    def get(self, enterprise_id: str) -> Enterprise | None: ...

    def holder_of(self, prefix: str) -> Enterprise | None: ...

    def search(
        self,
        text: str,
        match: NameMatch,
        statuses: Sequence[EnterpriseStatus],
        *,
        first: int,
        read_limit: int,
        cursor: str | None,
    ) -> SearchPage[Enterprise]: ...


class SearchService:
    def __init__(
        self,
        identifiers: IdentifierIndex,
        directory: Directory,
        node_prefix: str,
        *,
        read_limit: int = DEFAULT_READ_LIMIT,
    ) -> None:
        self._identifiers = identifiers
        self._directory = directory
        self._node_prefix = node_prefix
        self._read_limit = read_limit

    def identifiers(
        self,
        principal: Principal,
        query: str,
        *,
        match: IdentifierMatch = IdentifierMatch.CONTAINS,
        prefix: str | None = None,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
    ) -> SearchPage[Record]:
        """Identifiers matching `query`: staff search the whole registry, enterprise people
        the prefixes they administer; `prefix` narrows to one of those."""
        granted = authorise(principal, Operation.SEARCH_IDENTIFIERS)
        text = search_text(query)
        check_page_size(first)
        allowed = None if granted is Scope.ANY else sorted(principal.prefixes)
        prefixes = allowed
        if prefix is not None:
            wanted = fold_case(validate_prefix(prefix.strip()))
            if allowed is not None and wanted not in allowed:
                raise NotAuthorisedError(
                    f"{principal.name} may not search identifiers under prefix {prefix.strip()}"
                )
            prefixes = [wanted]
        if match is IdentifierMatch.EXACT:
            handle = Handle.parse(text)
            scope = listing_scope("identifier", handle.key)
            if prefixes is not None and handle.prefix_key not in prefixes:
                return single(None, scope, after)
            return single(self._identifiers.get(handle), scope, after)
        if prefixes is not None and not prefixes:
            return SearchPage([], [], None, True, 0)
        return self._identifiers.search(
            fold_case(text),
            match,
            prefixes,
            first=first,
            read_limit=self._read_limit,
            cursor=after,
        )

    def enterprises(
        self,
        principal: Principal,
        query: str,
        *,
        match: NameMatch = NameMatch.CONTAINS,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
    ) -> SearchPage[Enterprise]:
        """Enterprises by unified social credit code or allocated prefix (exactly), else by
        name. Everyone finds active enterprises; staff suspended ones too."""
        authorise(principal, Operation.SEARCH_ENTERPRISES)
        text = search_text(query)
        check_page_size(first)
        statuses = (
            (EnterpriseStatus.ACTIVE, EnterpriseStatus.SUSPENDED)
            if sees_suspended(principal)
            else (EnterpriseStatus.ACTIVE,)
        )
        code = text.upper()
        if uscc.is_valid(code):
            found = self._directory.get(uscc.compact(code))
            return self._exact(found, statuses, listing_scope("enterprise", code), after)
        if self._is_enterprise_prefix(text):
            found = self._directory.holder_of(text)
            return self._exact(found, statuses, listing_scope("holder", fold_case(text)), after)
        return self._directory.search(
            text.casefold(),
            match,
            statuses,
            first=first,
            read_limit=self._read_limit,
            cursor=after,
        )

    def _is_enterprise_prefix(self, text: str) -> bool:
        try:
            validate_prefix(text)
        except InvalidHandleError:
            return False
        return is_under(text, self._node_prefix) and fold_case(text) != fold_case(self._node_prefix)

    @staticmethod
    def _exact(
        found: Enterprise | None,
        statuses: Sequence[EnterpriseStatus],
        scope: str,
        after: str | None,
    ) -> SearchPage[Enterprise]:
        visible = found if found is not None and found.status in statuses else None
        return single(visible, scope, after)
