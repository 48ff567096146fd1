"""Search (SN-6): how a query matches, and what of an enterprise a caller may see.

- Identifiers match case-insensitively for ASCII letters, as Handle names do: `EXACT` is a
  whole name, `STARTS_WITH` and `CONTAINS` look at the suffix only.
- Enterprises match by unified social credit code or allocated prefix (exactly), else by
  name (case-insensitive, `str.casefold`).
- The directory of enterprises is public: everyone sees the active ones and their public
  fields (name, prefix, industry, hosting mode); staff see suspended ones too, and contact
  details go to staff and the enterprise's own people only.
"""

from __future__ import annotations

from enum import StrEnum

from idnode.domain.access import Operation, Principal, Scope, scopes
from idnode.domain.enterprises import Enterprise
from idnode.domain.errors import InvalidValueError

MAX_QUERY_LENGTH = 512  # an identifier name's limit
MIN_PAGE, MAX_PAGE = 1, 100


class IdentifierMatch(StrEnum):
    EXACT = "exact"  # the query is a whole identifier name
    STARTS_WITH = "starts-with"  # suffixes that begin with the query
    CONTAINS = "contains"  # suffixes that contain the query


class NameMatch(StrEnum):
    STARTS_WITH = "starts-with"
    CONTAINS = "contains"


def search_text(raw: str) -> str:
    """The query as matched: without surrounding white space, not empty, not too long."""
    text = raw.strip()
    if not text:
        raise InvalidValueError("query: give something to search for")
    if len(text) > MAX_QUERY_LENGTH:
        raise InvalidValueError(f"query: at most {MAX_QUERY_LENGTH} characters")
    return text


def check_page_size(first: int) -> None:
    if not MIN_PAGE <= first <= MAX_PAGE:
        raise InvalidValueError(f"first: between {MIN_PAGE} and {MAX_PAGE} results per page")


def sees_suspended(principal: Principal) -> bool:
    """Staff (who may view any enterprise) find suspended enterprises too."""
    return Scope.ANY in scopes(principal, Operation.VIEW_ENTERPRISE)


def sees_details(principal: Principal, enterprise: Enterprise) -> bool:
    """Whether `principal` may see more of `enterprise` than the public directory shows
    (its code, status and contact details): staff, and the enterprise's own people."""
    granted = scopes(principal, Operation.VIEW_ENTERPRISE)
    return Scope.ANY in granted or (
        Scope.ENTERPRISE in granted and principal.enterprise == enterprise.id
    )
