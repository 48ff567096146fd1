"""In-memory stand-ins for the onboarding service's stores and ports.

They keep the stores' contracts: applications and enterprises are created once and saved
only at the version they were read (else ConcurrentUpdateError); the allocation commits the
prefix, the approved application, the enterprise and its credential all or nothing, skipping
numbers whose prefix exists. A test may slip a rival write in before the next commit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from idnode.domain.access import Role
from idnode.domain.credentials import AdminCredential
from idnode.domain.enterprises import (
    Application,
    ApplicationStatus,
    Enterprise,
    Onboarding,
)
from idnode.domain.errors import ConcurrentUpdateError, InvalidStateError
from idnode.domain.handles import fold_case
from idnode.domain.prefixes import Prefix, PrefixStatus
from idnode.store.pages import Page, decode_cursor, encode_cursor


class InMemoryApplications:
    def __init__(self) -> None:
        self.items: dict[str, Application] = {}

    def get(self, application_id: str) -> Application | None:
        return self.items.get(application_id)

    def create(self, application: Application) -> Application:
        if application.id in self.items:
            raise InvalidStateError(f"application {application.id} exists already")
        stored = replace(application, version=1)
        self.items[application.id] = stored
        return stored

    def save(self, application: Application) -> Application:
        current = self.items.get(application.id)
        if current is None or current.version != application.version:
            raise ConcurrentUpdateError(f"application {application.id} changed meanwhile")
        stored = replace(application, version=application.version + 1)
        self.items[application.id] = stored
        return stored

    def by_status(
        self, status: ApplicationStatus, limit: int, cursor: str | None, *, newest_first: bool
    ) -> Page[Application]:
        return self._page(
            f"status/{status.value}/{newest_first}",
            [a for a in self.items.values() if a.status is status],
            limit,
            cursor,
            newest_first,
        )

    def by_applicant(
        self,
        applicant: str,
        limit: int,
        cursor: str | None,
        *,
        status: ApplicationStatus | None = None,
        newest_first: bool = True,
    ) -> Page[Application]:
        chosen = [
            a
            for a in self.items.values()
            if a.applicant == applicant and (status is None or a.status is status)
        ]
        return self._page(f"applicant/{applicant}/{status}", chosen, limit, cursor, newest_first)

    def by_enterprise(
        self,
        enterprise: str,
        limit: int,
        cursor: str | None,
        *,
        status: ApplicationStatus | None = None,
        newest_first: bool = True,
    ) -> Page[Application]:
        chosen = [
            a
            for a in self.items.values()
            if a.enterprise == enterprise and (status is None or a.status is status)
        ]
        return self._page(f"enterprise/{enterprise}/{status}", chosen, limit, cursor, newest_first)

    def count_pending_of(self, applicant: str) -> int:
        return sum(1 for a in self.items.values() if a.applicant == applicant and a.pending)

    def pending_for(self, enterprise: str) -> Application | None:
        return next(
            (a for a in self.items.values() if a.enterprise == enterprise and a.pending), None
        )

    @staticmethod
    def _page(
        scope: str, chosen: list[Application], limit: int, cursor: str | None, newest_first: bool
    ) -> Page[Application]:
        ordered = sorted(chosen, key=lambda a: (a.submitted, a.id), reverse=newest_first)
        start = decode_cursor(scope, cursor)
        if start is not None:
            position = [a.id for a in ordered].index(start["id"]) + 1
            ordered = ordered[position:]
        page = ordered[:limit]
        cursors = [encode_cursor(scope, {"id": a.id}) for a in page]
        more = len(ordered) > limit
        return Page(items=page, cursors=cursors, next_cursor=cursors[-1] if more else None)


class InMemoryEnterprises:
    def __init__(self, prefixes: dict[str, Prefix]) -> None:
        self.items: dict[str, Enterprise] = {}
        self.prefixes = prefixes  # shared with the allocation

    def get(self, enterprise_id: str) -> Enterprise | None:
        return self.items.get(enterprise_id)

    def save(self, enterprise: Enterprise) -> Enterprise:
        current = self.items.get(enterprise.id)
        if current is None or current.version != enterprise.version:
            raise ConcurrentUpdateError(f"enterprise {enterprise.id} changed meanwhile")
        stored = replace(enterprise, version=enterprise.version + 1)
        self.items[enterprise.id] = stored
        return stored

    def change_status(self, enterprise: Enterprise, *, resolvable: bool) -> Enterprise:
        stored = self.save(enterprise)
        status = PrefixStatus.ACTIVE if enterprise.active else PrefixStatus.SUSPENDED
        for key, prefix in list(self.prefixes.items()):
            if prefix.enterprise == enterprise.id:
                self.prefixes[key] = replace(prefix, status=status, resolvable=resolvable)
        return stored


Rival = Callable[[], None]


class InMemoryAllocation:
    """The counter, the prefixes and the approval transactions."""

    def __init__(
        self,
        applications: InMemoryApplications,
        enterprises: InMemoryEnterprises,
        node_prefix: str = "88.100",
        first_number: int = 1000,
    ) -> None:
        self._applications = applications
        self._enterprises = enterprises
        self._node_prefix = node_prefix
        self.counter = first_number - 1
        self.prefixes = enterprises.prefixes
        self.credentials: dict[str, AdminCredential] = {}
        self.rivals: list[Rival] = []
        self.commits = 0

    def add_prefix(self, name: str, enterprise: str) -> None:
        self.prefixes[fold_case(name)] = Prefix(name, enterprise)

    def approve_onboarding(self, approval: Callable[[str], Onboarding]) -> Onboarding:
        for _ in range(100):
            self.counter += 1
            prefix = f"{self._node_prefix}.{self.counter}"
            onboarding = approval(prefix)
            self._rival()
            application, enterprise = onboarding.application, onboarding.enterprise
            current = self._applications.items.get(application.id)
            if current is None or current.version != application.version or not current.pending:
                raise ConcurrentUpdateError(f"application {application.id} changed meanwhile")
            if enterprise.id in self._enterprises.items:
                raise InvalidStateError(f"enterprise {enterprise.id} is onboarded already")
            if fold_case(prefix) in self.prefixes:
                continue
            identity = fold_case(onboarding.credential.identity)
            if identity in self.credentials:
                continue
            self.prefixes[fold_case(prefix)] = Prefix(prefix, enterprise.id)
            stored_application = replace(application, version=application.version + 1)
            stored_enterprise = replace(enterprise, version=1)
            self._applications.items[application.id] = stored_application
            self._enterprises.items[enterprise.id] = stored_enterprise
            self.credentials[identity] = onboarding.credential
            self.commits += 1
            return replace(onboarding, application=stored_application, enterprise=stored_enterprise)
        raise ConcurrentUpdateError("no free prefix")

    def approve_change(
        self, application: Application, enterprise: Enterprise
    ) -> tuple[Application, Enterprise]:
        self._rival()
        current_application = self._applications.items.get(application.id)
        current_enterprise = self._enterprises.items.get(enterprise.id)
        if (
            current_application is None
            or current_application.version != application.version
            or not current_application.pending
            or current_enterprise is None
            or current_enterprise.version != enterprise.version
        ):
            raise ConcurrentUpdateError("changed meanwhile")
        stored_application = replace(application, version=application.version + 1)
        stored_enterprise = replace(enterprise, version=enterprise.version + 1)
        self._applications.items[application.id] = stored_application
        self._enterprises.items[enterprise.id] = stored_enterprise
        self.commits += 1
        return stored_application, stored_enterprise

    def _rival(self) -> None:
        if self.rivals:
            self.rivals.pop(0)()


class FakeDirectory:
    def __init__(self) -> None:
        self.bound: list[tuple[str, str, Role]] = []
        self.fail_with: Exception | None = None

    def bind(self, username: str, enterprise: str, role: Role) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.bound.append((username, enterprise, role))


class RecordingCounters:
    """Counter additions, summed per scope and counter."""

    def __init__(self) -> None:
        self.totals: dict[tuple[str, str], int] = {}
        self.days: set[str] = set()

    def add(self, scope: str, day: str, counts: Mapping[str, int]) -> None:
        self.days.add(day)
        for name, delta in counts.items():
            self.totals[(scope, name)] = self.totals.get((scope, name), 0) + delta

    def of(self, scope: str, name: str) -> int:
        return self.totals.get((scope, name), 0)


def profile_input(**overrides: Any) -> dict[str, Any]:
    """A valid profile as the API receives it, with fields replaced as asked."""
    raw: dict[str, Any] = {
        "legalName": "Acme Pumps Co., Ltd.",
        "uscc": "91110000600037341L",
        "industry": "C3411",
        "contact": {"name": "Li Lei", "email": "li.lei@acme.com.cn", "phone": "+86 10 6552 8888"},
        "addresses": ["114.114.114.0/24", "2400:3200::1"],
        "domains": ["acme.com.cn"],
        "hosting": "hosted",
        "serviceNodes": [],
    }
    raw.update(overrides)
    return raw
