"""People (SN-8, IOT-1): accounts in the user pool, the roles they hold (user-pool groups) and
the enterprise they act for (the `custom:enterprise` attribute).

Rules the people service enforces (docs/authorisation.md):
- enterprise roles need an enterprise: a person holding one acts for exactly one enterprise;
- enterprise admins grant and withdraw enterprise roles only, and only to their own people;
- nobody changes their own roles or disables themselves.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from idnode.domain.access import Role
from idnode.domain.errors import InvalidValueError

ENTERPRISE_ROLES = frozenset({Role.ENTERPRISE_ADMIN, Role.ENTERPRISE_USER})
STAFF_ROLES = frozenset({Role.PLATFORM_ADMIN, Role.AUDITOR})
# Roles a person exercises only with a second factor enrolled (IOT-10).
SECOND_FACTOR_ROLES = STAFF_ROLES

MAX_USERNAME_LENGTH = 128
MAX_EMAIL_LENGTH = 254
MAX_NAME_LENGTH = 256
MAX_ENTERPRISE_LENGTH = 128  # the user pool's `custom:enterprise` attribute holds at most 128
# Lower-case so that the pool (case-insensitive sign-in), tokens and the members table agree.
_USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._@+-]*$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ENTERPRISE_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]*$")


@dataclass(frozen=True, slots=True)
class Person:
    """An account of the user pool as the node sees it."""

    username: str
    email: str | None
    name: str | None
    enterprise: str | None
    roles: frozenset[Role]
    enabled: bool
    status: str  # the pool's account status, e.g. FORCE_CHANGE_PASSWORD, CONFIRMED
    created: datetime | None = None
    mfa_enrolled: bool | None = None  # None: not known from the listing that found the person


@dataclass(frozen=True, slots=True)
class PoolPage:
    """People in the pool's order, and the pool's token for the next call (None: no more)."""

    people: list[Person]
    next_token: str | None


@dataclass(frozen=True, slots=True)
class Member:
    """A person bound to an enterprise, as listed per enterprise."""

    enterprise: str
    username: str
    roles: frozenset[Role]
    created: datetime | None = None


def parse_roles(names: Iterable[str]) -> frozenset[Role]:
    """Role names as given by a client; unknown ones are refused by name."""
    roles: set[Role] = set()
    for name in names:
        if name not in Role._value2member_map_:
            known = ", ".join(r.value for r in Role)
            raise InvalidValueError(f"unknown role {name!r}: use one of {known}")
        roles.add(Role(name))
    return frozenset(roles)


def validate_username(username: str) -> str:
    """The username in its stored (lower-case) form."""
    folded = username.strip().lower()
    if not folded:
        raise InvalidValueError("the username is empty")
    if len(folded) > MAX_USERNAME_LENGTH:
        raise InvalidValueError(f"the username is longer than {MAX_USERNAME_LENGTH} characters")
    if not _USERNAME_RE.fullmatch(folded):
        raise InvalidValueError(
            f"invalid username {username!r}: use letters, digits and . _ @ + - "
            "(starting with a letter or digit)"
        )
    return folded


def validate_email(email: str) -> str:
    email = email.strip()
    if len(email) > MAX_EMAIL_LENGTH or not _EMAIL_RE.fullmatch(email):
        raise InvalidValueError(f"invalid email address {email!r}")
    return email


def validate_name(name: str | None) -> str | None:
    if name is None:
        return None
    name = name.strip()
    if not name:
        return None
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidValueError(f"the name is longer than {MAX_NAME_LENGTH} characters")
    if not name.isprintable():
        raise InvalidValueError("the name contains a non-printable character")
    return name


def validate_enterprise(enterprise: str) -> str:
    """An enterprise id as the pool stores it (the enterprises' ids are USCCs)."""
    if not enterprise or len(enterprise) > MAX_ENTERPRISE_LENGTH:
        raise InvalidValueError(f"an enterprise id has 1 to {MAX_ENTERPRISE_LENGTH} characters")
    if not _ENTERPRISE_RE.fullmatch(enterprise):
        raise InvalidValueError(f"invalid enterprise id {enterprise!r}")
    return enterprise


def check_roles_need_enterprise(roles: frozenset[Role], enterprise: str | None) -> None:
    """Enterprise roles without an enterprise would administer nothing: refuse them."""
    if enterprise is None and roles & ENTERPRISE_ROLES:
        raise InvalidValueError("enterprise roles need an enterprise: bind the person to one first")


def role_names(roles: Iterable[Role]) -> list[str]:
    return sorted(r.value for r in roles)
