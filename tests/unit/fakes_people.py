"""In-memory stand-ins for the user pool, the members table and the credentials table."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

from idnode.domain.access import Role
from idnode.domain.credentials import AdminCredential
from idnode.domain.errors import InvalidStateError, InvalidValueError, NotFoundError
from idnode.domain.handles import fold_case
from idnode.domain.people import Member, Person, PoolPage
from idnode.store.pages import Page, decode_cursor, encode_cursor


def person(
    username: str,
    roles: Sequence[Role] = (),
    enterprise: str | None = None,
    *,
    enabled: bool = True,
    mfa: bool = False,
) -> Person:
    return Person(
        username=username,
        email=f"{username}@example.com",
        name=None,
        enterprise=enterprise,
        roles=frozenset(roles),
        enabled=enabled,
        status="CONFIRMED",
        created=datetime(2025, 1, 1, tzinfo=UTC),
        mfa_enrolled=mfa,
    )


class InMemoryUserPool:
    """People by username, listed in username order in pages of at most `page_limit` (the
    real pool may return short pages too); tokens are opaque offsets."""

    def __init__(self, *people: Person, page_limit: int = 60) -> None:
        self.people = {p.username: p for p in people}
        self.page_limit = page_limit
        self.signed_out: list[str] = []
        self.calls: Counter[str] = Counter()
        self.fail_mfa_with: Exception | None = None

    def add(self, *people: Person) -> None:
        for p in people:
            self.people[p.username] = p

    def get(self, username: str) -> Person:
        self.calls["get"] += 1
        found = self.people.get(username)
        if found is None:
            raise NotFoundError(f"there is no person {username!r}")
        return found

    def get_many(self, usernames: Sequence[str]) -> list[Person | None]:
        self.calls["get_many"] += 1
        return [self.people.get(u) for u in usernames]

    def list(self, limit: int, token: str | None = None) -> PoolPage:
        self.calls["list"] += 1
        if not 1 <= limit <= 60:
            raise InvalidValueError("page size must be between 1 and 60")
        names = sorted(self.people)
        start = int(token.removeprefix("offset-")) if token else 0
        end = start + min(limit, self.page_limit)
        page = [self.people[n] for n in names[start:end]]
        return PoolPage(page, f"offset-{end}" if end < len(names) else None)

    def create(
        self, username: str, email: str, name: str | None = None, enterprise: str | None = None
    ) -> Person:
        self.calls["create"] += 1
        if username in self.people:
            raise InvalidStateError(f"the username {username!r} is taken")
        created = Person(
            username=username,
            email=email,
            name=name,
            enterprise=enterprise,
            roles=frozenset(),
            enabled=True,
            status="FORCE_CHANGE_PASSWORD",
            created=datetime(2025, 1, 1, tzinfo=UTC),
            mfa_enrolled=False,
        )
        self.people[username] = created
        return created

    def set_roles(self, username: str, roles: frozenset[Role]) -> frozenset[Role]:
        self.calls["set_roles"] += 1
        before = self.get(username).roles
        self.people[username] = replace(self.people[username], roles=frozenset(roles))
        return before

    def set_enterprise(self, username: str, enterprise: str | None) -> None:
        self.calls["set_enterprise"] += 1
        self.people[username] = replace(self.get(username), enterprise=enterprise)

    def enable(self, username: str) -> None:
        self.people[username] = replace(self.get(username), enabled=True)

    def disable(self, username: str) -> None:
        self.people[username] = replace(self.get(username), enabled=False)

    def sign_out(self, username: str) -> None:
        self.get(username)
        self.signed_out.append(username)

    def bind(self, username: str, enterprise: str, role: Role) -> None:
        self.calls["bind"] += 1
        found = self.get(username)
        self.people[username] = replace(found, enterprise=enterprise, roles=found.roles | {role})

    def mfa_enrolled(self, username: str) -> bool:
        self.calls["mfa_enrolled"] += 1
        if self.fail_mfa_with is not None:
            raise self.fail_mfa_with
        found = self.people.get(username)
        return bool(found and found.mfa_enrolled)


class InMemoryMembers:
    """Members by (enterprise, username), listed in username order."""

    def __init__(self, *members: Member) -> None:
        self.rows = {(m.enterprise, m.username): m for m in members}

    def put(self, member: Member) -> None:
        self.rows[(member.enterprise, member.username)] = member

    def remove(self, enterprise: str, username: str) -> None:
        self.rows.pop((enterprise, username), None)

    def of(self, enterprise: str) -> dict[str, frozenset[Role]]:
        return {u: m.roles for (e, u), m in self.rows.items() if e == enterprise}

    def list(self, enterprise: str, limit: int, cursor: str | None) -> Page[Member]:
        scope = f"members#{enterprise}"
        start = decode_cursor(scope, cursor)
        after = start["username"]["S"] if start else ""
        names = sorted(u for (e, u) in self.rows if e == enterprise and u > after)
        page = names[:limit]
        cursors = [
            encode_cursor(scope, {"enterprise": {"S": enterprise}, "username": {"S": u}})
            for u in page
        ]
        return Page(
            items=[self.rows[(enterprise, u)] for u in page],
            cursors=cursors,
            next_cursor=cursors[-1] if len(names) > limit else None,
        )


class InMemoryAdminCredentials:
    """Admin credentials by case-folded identity, listed in key order."""

    def __init__(self, *credentials: AdminCredential) -> None:
        self.items = {fold_case(c.identity): c for c in credentials}

    def get(self, identity: str) -> AdminCredential | None:
        return self.items.get(fold_case(identity))

    def put(self, credential: AdminCredential) -> None:
        self.items[fold_case(credential.identity)] = credential

    def create(self, credential: AdminCredential) -> None:
        if fold_case(credential.identity) in self.items:
            raise InvalidStateError(f"the admin identity {credential.identity} exists already")
        self.put(credential)

    def set_secret(self, identity: str, secret_hash: str) -> None:
        self.items[fold_case(identity)] = replace(self._existing(identity), secret_hash=secret_hash)

    def set_enabled(self, identity: str, enabled: bool) -> None:
        self.items[fold_case(identity)] = replace(self._existing(identity), enabled=enabled)

    def _existing(self, identity: str) -> AdminCredential:
        found = self.get(identity)
        if found is None:
            raise NotFoundError(f"there is no admin identity {identity}")
        return found

    def list(
        self, prefixes: Sequence[str] | None, limit: int, cursor: str | None, scope: str
    ) -> Page[AdminCredential]:
        start = decode_cursor(scope, cursor)
        after = start["identity"]["S"] if start else ""
        wanted = None if prefixes is None else {fold_case(p) for p in prefixes}
        keys = sorted(
            k
            for k, c in self.items.items()
            if k > after and (wanted is None or wanted & {fold_case(p) for p in c.prefixes})
        )
        page = keys[:limit]
        cursors = [encode_cursor(scope, {"identity": {"S": k}}) for k in page]
        return Page(
            items=[self.items[k] for k in page],
            cursors=cursors,
            next_cursor=cursors[-1] if len(keys) > limit else None,
        )
