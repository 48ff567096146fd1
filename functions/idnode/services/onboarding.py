"""Enterprise onboarding and audit (SN-1, SN-2): people apply, auditors decide, approval
allocates a prefix and creates the enterprise with its admin identity; enterprise admins
request changes that go through the same review; platform admins suspend and reinstate.

Every operation is authorised against the matrix (`idnode.domain.access`) and recorded in
the operation log, refusals included. Applications are never deleted.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from idnode.domain.access import HS_ADMIN, Operation, Principal, Role, Scope, authorise
from idnode.domain.credentials import AdminCredential, hash_secret, new_secret
from idnode.domain.enterprises import (
    ADMIN_INDEX,
    Application,
    ApplicationKind,
    ApplicationStatus,
    Decision,
    Enterprise,
    EnterpriseStatus,
    Onboarding,
    Profile,
    admin_handle,
    admin_identity_of,
    parse_profile,
    parse_reason,
)
from idnode.domain.errors import (
    ConcurrentUpdateError,
    HandleAlreadyExistsError,
    InvalidStateError,
    InvalidValueError,
    NotAuthorisedError,
    NotFoundError,
    QuotaExceededError,
)
from idnode.domain.handles import Handle
from idnode.domain.parameters import NodeType, Parameters
from idnode.domain.records import Record, new_record
from idnode.domain.values import DataFormat, Value, ValueData
from idnode.services.metering import Counters
from idnode.services.operations import OperationLog, Pending
from idnode.store.pages import Page

# HS_ADMIN of the admin handle: everything but the NA rights and listing (the Handle default).
ADMIN_PERMISSIONS = "011111110011"
ADMIN_VALUE_INDEX = 100
_ATTEMPTS = 5


class Enterprises(Protocol):
    def get(self, enterprise_id: str) -> Enterprise | None: ...
    def change_status(self, enterprise: Enterprise, *, resolvable: bool) -> Enterprise: ...


class Applications(Protocol):
    def get(self, application_id: str) -> Application | None: ...
    def create(self, application: Application) -> Application: ...
    def save(self, application: Application) -> Application: ...
    def by_status(
        self, status: ApplicationStatus, limit: int, cursor: str | None, *, newest_first: bool
    ) -> Page[Application]: ...
    def by_applicant(
        self,
        applicant: str,
        limit: int,
        cursor: str | None,
        *,
        status: ApplicationStatus | None = None,
        newest_first: bool = True,
    ) -> Page[Application]: ...
    def by_enterprise(
        self,
        enterprise: str,
        limit: int,
        cursor: str | None,
        *,
        status: ApplicationStatus | None = None,
        newest_first: bool = True,
    ) -> Page[Application]: ...
    def count_pending_of(self, applicant: str) -> int: ...
    def pending_for(self, enterprise: str) -> Application | None: ...


class Allocation(Protocol):
    def approve_onboarding(self, approval: Callable[[str], Onboarding]) -> Onboarding: ...
    def approve_change(
        self, application: Application, enterprise: Enterprise
    ) -> tuple[Application, Enterprise]: ...


class AdminHandles(Protocol):
    """Where the admin handle record is created (the identifier repository)."""

    def create(self, record: Record) -> Record: ...


class Directory(Protocol):
    """The people directory (Cognito): binds a person to an enterprise in a role."""

    def bind(self, username: str, enterprise: str, role: Role) -> None: ...


def _uscc_key(enterprise_id: str) -> str:
    return enterprise_id.strip().upper()


class OnboardingService:
    def __init__(
        self,
        *,
        enterprises: Enterprises,
        applications: Applications,
        allocation: Allocation,
        admin_handles: AdminHandles,
        directory: Directory,
        counters: Counters,
        log: OperationLog,
        parameters: Callable[[], Parameters] = Parameters,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
        on_incomplete: Callable[[str, Exception], None] = lambda _step, _error: None,
    ) -> None:
        self._enterprises = enterprises
        self._applications = applications
        self._allocation = allocation
        self._admin_handles = admin_handles
        self._directory = directory
        self._counters = counters
        self._log = log
        self._parameters = parameters
        self._clock = clock
        self._new_id = new_id
        self._on_incomplete = on_incomplete

    # Applying

    def apply(self, principal: Principal, profile_input: Mapping[str, Any]) -> Application:
        """A person (without a role yet) applies to onboard their enterprise."""
        with self._log.recording(principal, "apply-for-enterprise", "new application") as op:
            authorise(principal, Operation.APPLY)
            profile = parse_profile(profile_input)
            op.enterprise = profile.uscc
            if any(node.ent_prefix for node in profile.service_nodes):
                raise InvalidValueError(
                    "serviceNodes: entPrefix names a prefix, and an applicant has none yet"
                )
            self._check_industry(profile)
            if self._enterprises.get(profile.uscc) is not None:
                raise InvalidStateError(
                    f"enterprise {profile.uscc} is onboarded already; its enterprise admin may "
                    "request a change of its data"
                )
            self._check_open(principal, profile.uscc)
            return self._submit(op, principal, ApplicationKind.ONBOARDING, profile)

    def request_change(self, principal: Principal, profile_input: Mapping[str, Any]) -> Application:
        """An enterprise admin asks for the enterprise's profile to be replaced (reviewed)."""
        with self._log.recording(
            principal,
            "request-enterprise-change",
            principal.enterprise or "enterprise",
            enterprise=principal.enterprise,
        ) as op:
            enterprise_id = self._own_enterprise(principal, Operation.REQUEST_CHANGE)
            profile = parse_profile(profile_input)
            if profile.uscc != enterprise_id:
                raise InvalidValueError(
                    f"uscc: the unified social credit code identifies the enterprise and cannot "
                    f"change (it is {enterprise_id})"
                )
            enterprise = self._require_enterprise(enterprise_id)
            for node in profile.service_nodes:
                if node.ent_prefix and node.ent_prefix.lower() != enterprise.prefix.lower():
                    raise InvalidValueError(
                        f"serviceNodes: entPrefix {node.ent_prefix} is not a prefix of this "
                        f"enterprise (it holds {enterprise.prefix})"
                    )
            if enterprise.profile == profile:
                raise InvalidValueError("the requested profile is the enterprise's current one")
            self._check_industry(profile)
            self._check_open(principal, enterprise_id)
            return self._submit(op, principal, ApplicationKind.CHANGE, profile)

    def withdraw(self, principal: Principal, application_id: str) -> Application:
        """The applicant withdraws a pending application (it stays, as withdrawn)."""
        with self._log.recording(principal, "withdraw-application", application_id) as op:
            authorise(principal, Operation.WITHDRAW_APPLICATION)
            application = self._require_application(application_id, op)
            authorise(principal, Operation.WITHDRAW_APPLICATION, owner=application.applicant)
            decided = application.withdrawn(Decision(principal.name, self._clock()))
            return self._save_decision(decided)

    # Reading

    def get(self, principal: Principal, application_id: str) -> Application:
        with self._log.recording(principal, "view-application", application_id) as op:
            authorise(principal, Operation.VIEW_APPLICATIONS)
            application = self._require_application(application_id, op)
            authorise(
                principal,
                Operation.VIEW_APPLICATIONS,
                enterprise=application.enterprise,
                owner=application.applicant,
            )
            return application

    def list(
        self,
        principal: Principal,
        status: ApplicationStatus | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> Page[Application]:
        """Applications the caller may see: auditors and platform admins every applicant's (by
        status; the pending queue, oldest first, when no status is named), an enterprise admin
        their enterprise's, anyone else their own (newest first)."""
        target = status.value if status else "applications"
        with self._log.recording(principal, "list-applications", target) as op:
            scope = authorise(principal, Operation.VIEW_APPLICATIONS)
            limit = self._page_size(first)
            if scope is Scope.ANY:
                wanted = status or ApplicationStatus.PENDING
                return self._applications.by_status(
                    wanted, limit, after, newest_first=wanted is not ApplicationStatus.PENDING
                )
            if scope is Scope.ENTERPRISE:
                enterprise_id = self._own_enterprise(principal, Operation.VIEW_APPLICATIONS)
                op.enterprise = enterprise_id
                return self._applications.by_enterprise(enterprise_id, limit, after, status=status)
            return self._applications.by_applicant(principal.name, limit, after, status=status)

    def history(
        self, principal: Principal, enterprise_id: str, first: int = 50, after: str | None = None
    ) -> Page[Application]:
        """Every application of one enterprise and the decision on it, newest first."""
        enterprise_id = _uscc_key(enterprise_id)
        with self._log.recording(
            principal, "list-enterprise-applications", enterprise_id, enterprise=enterprise_id
        ):
            authorise(principal, Operation.VIEW_APPLICATIONS, enterprise=enterprise_id)
            return self._applications.by_enterprise(enterprise_id, self._page_size(first), after)

    def enterprise(self, principal: Principal, enterprise_id: str) -> Enterprise:
        enterprise_id = _uscc_key(enterprise_id)
        with self._log.recording(
            principal, "view-enterprise", enterprise_id, enterprise=enterprise_id
        ):
            authorise(principal, Operation.VIEW_ENTERPRISE, enterprise=enterprise_id)
            return self._require_enterprise(enterprise_id)

    # Deciding

    def approve(
        self, principal: Principal, application_id: str, reason: str | None = None
    ) -> Application:
        """An auditor approves: an onboarding gets its prefix, enterprise and admin identity; a
        change replaces the enterprise's profile."""
        with self._log.recording(principal, "approve-application", application_id) as op:
            authorise(principal, Operation.DECIDE_APPLICATION)
            why = parse_reason(reason, required=False)
            application = self._require_application(application_id, op)
            self._check_not_own(principal, application)
            application.require_pending()
            decision = Decision(principal.name, self._clock(), why)
            if application.kind is ApplicationKind.ONBOARDING:
                return self._onboard(application, decision, op)
            return self._change(application, decision, op)

    def reject(self, principal: Principal, application_id: str, reason: str) -> Application:
        with self._log.recording(principal, "reject-application", application_id) as op:
            authorise(principal, Operation.DECIDE_APPLICATION)
            why = parse_reason(reason, required=True)
            application = self._require_application(application_id, op)
            self._check_not_own(principal, application)
            decided = application.rejected(Decision(principal.name, self._clock(), why))
            return self._save_decision(decided)

    # Suspension

    def suspend(
        self,
        principal: Principal,
        enterprise_id: str,
        reason: str,
        stop_resolution: bool | None = None,
    ) -> Enterprise:
        """Stop the enterprise's writes (its prefixes take none) and, if asked or by the node's
        default, its resolution too."""
        enterprise_id = _uscc_key(enterprise_id)
        with self._log.recording(
            principal, "suspend-enterprise", enterprise_id, enterprise=enterprise_id
        ) as op:
            authorise(principal, Operation.SUSPEND_ENTERPRISE)
            why = parse_reason(reason, required=True)
            stop = (
                self._parameters().suspension_stops_resolution
                if stop_resolution is None
                else stop_resolution
            )
            op.details.update(reason=why, stopResolution=stop)
            return self._set_status(enterprise_id, EnterpriseStatus.SUSPENDED, resolvable=not stop)

    def reinstate(
        self, principal: Principal, enterprise_id: str, reason: str | None = None
    ) -> Enterprise:
        enterprise_id = _uscc_key(enterprise_id)
        with self._log.recording(
            principal, "reinstate-enterprise", enterprise_id, enterprise=enterprise_id
        ) as op:
            authorise(principal, Operation.SUSPEND_ENTERPRISE)
            why = parse_reason(reason, required=False)
            if why:
                op.details["reason"] = why
            return self._set_status(enterprise_id, EnterpriseStatus.ACTIVE, resolvable=True)

    # Steps

    def _submit(
        self, op: Pending, principal: Principal, kind: ApplicationKind, profile: Profile
    ) -> Application:
        application = Application(
            id=self._new_id(),
            kind=kind,
            enterprise=profile.uscc,
            applicant=principal.name,
            profile=profile,
            submitted=self._clock(),
        )
        op.target = application.id
        op.details["kind"] = kind.value
        return self._applications.create(application)

    def _onboard(self, application: Application, decision: Decision, op: Pending) -> Application:
        if self._enterprises.get(application.enterprise) is not None:
            raise InvalidStateError(
                f"enterprise {application.enterprise} is onboarded already; reject this application"
            )
        # The admin identity's first secret is thrown away: the enterprise admin issues the
        # one their systems use. Hashed once, whatever number the allocation ends on.
        secret_hash = hash_secret(new_secret())

        def approval(prefix: str) -> Onboarding:
            at = decision.at
            return Onboarding(
                application=application.approved(decision, prefix),
                enterprise=Enterprise(
                    id=application.enterprise,
                    profile=application.profile,
                    prefix=prefix,
                    created=at,
                    updated=at,
                ),
                credential=AdminCredential(admin_identity_of(prefix), secret_hash, (prefix,)),
            )

        try:
            onboarding = self._allocation.approve_onboarding(approval)
        except ConcurrentUpdateError:
            self._explain_decided(application.id)
            raise
        enterprise = onboarding.enterprise
        op.details.update(kind=application.kind.value, prefix=enterprise.prefix)
        self._complete_onboarding(application, enterprise, op)
        return onboarding.application

    def _complete_onboarding(
        self, application: Application, enterprise: Enterprise, op: Pending
    ) -> None:
        """What follows a committed approval. The approval stands if one of these fails; what
        did not happen is named in the operation log entry, for a platform admin to finish."""
        steps: list[tuple[str, Callable[[], None]]] = [
            ("admin-handle", lambda: self._create_admin_handle(enterprise)),
            (
                "bind-applicant",
                lambda: self._directory.bind(
                    application.applicant, enterprise.id, Role.ENTERPRISE_ADMIN
                ),
            ),
            ("statistics", lambda: self._count_onboarding(enterprise)),
        ]
        incomplete = []
        for name, step in steps:
            try:
                step()
            except Exception as error:  # the decision is committed: report, do not undo
                incomplete.append(name)
                self._on_incomplete(name, error)
        if incomplete:
            op.details["incomplete"] = incomplete

    def _create_admin_handle(self, enterprise: Enterprise) -> None:
        """The admin handle's record, so that Handle clients find their admin identity."""
        name = admin_handle(enterprise.prefix)
        admin = ValueData(
            DataFormat.ADMIN,
            {"handle": name, "index": ADMIN_INDEX, "permissions": ADMIN_PERMISSIONS},
        )
        record = new_record(
            Handle.parse(name), [Value(ADMIN_VALUE_INDEX, HS_ADMIN, admin)], enterprise.created
        )
        with contextlib.suppress(HandleAlreadyExistsError):
            self._admin_handles.create(record)

    def _count_onboarding(self, enterprise: Enterprise) -> None:
        day = self._day()
        for scope in ("node", f"industry#{enterprise.industry}"):
            self._counters.add(scope, day, {"enterprises": 1, "prefixes": 1})
        self._counters.add(f"enterprise#{enterprise.id}", day, {"prefixes": 1})

    def _change(self, application: Application, decision: Decision, op: Pending) -> Application:
        op.details["kind"] = application.kind.value
        for _ in range(_ATTEMPTS):
            enterprise = self._require_enterprise(application.enterprise)
            changed = enterprise.with_profile(application.profile, decision.at)
            try:
                approved, _saved = self._allocation.approve_change(
                    application.approved(decision), changed
                )
            except ConcurrentUpdateError:
                # Either the application was decided meanwhile (then say so) or the
                # enterprise changed (then apply the change to what it is now).
                self._explain_decided(application.id)
                continue
            if enterprise.industry != changed.industry and enterprise.active:
                self._move_industry(enterprise.industry, changed.industry)
            return approved
        raise ConcurrentUpdateError(f"enterprise {application.enterprise} kept changing; try again")

    def _move_industry(self, before: str, after: str) -> None:
        day = self._day()
        with contextlib.suppress(Exception):  # statistics never undo a decision
            self._counters.add(f"industry#{before}", day, {"enterprises": -1, "prefixes": -1})
            self._counters.add(f"industry#{after}", day, {"enterprises": 1, "prefixes": 1})

    def _set_status(
        self, enterprise_id: str, status: EnterpriseStatus, *, resolvable: bool
    ) -> Enterprise:
        for _ in range(_ATTEMPTS):
            enterprise = self._require_enterprise(enterprise_id)
            changed = enterprise.with_status(status, self._clock())
            try:
                saved = self._enterprises.change_status(changed, resolvable=resolvable)
            except ConcurrentUpdateError:
                continue
            delta = 1 if status is EnterpriseStatus.ACTIVE else -1
            with contextlib.suppress(Exception):  # statistics never undo a decision
                day = self._day()
                for scope in ("node", f"industry#{saved.industry}"):
                    self._counters.add(scope, day, {"enterprises": delta})
            return saved
        raise ConcurrentUpdateError(f"enterprise {enterprise_id} kept changing; try again")

    def _save_decision(self, decided: Application) -> Application:
        try:
            return self._applications.save(decided)
        except ConcurrentUpdateError:
            self._explain_decided(decided.id)
            raise

    def _explain_decided(self, application_id: str) -> None:
        """After a lost race: raise InvalidStateError if the application is no longer pending."""
        current = self._applications.get(application_id)
        if current is None or not current.pending:
            status = current.status.value if current else "gone"
            raise InvalidStateError(
                f"application {application_id} was {status} meanwhile"
            ) from None

    # Checks

    def _check_industry(self, profile: Profile) -> None:
        """An industry node takes enterprises of its own industries only."""
        parameters = self._parameters()
        if parameters.node_type is not NodeType.INDUSTRY or not parameters.industries:
            return
        if not any(profile.industry.within(code) for code in parameters.industries):
            served = ", ".join(parameters.industries)
            raise InvalidValueError(
                f"industry: this industry node serves {served} only; {profile.industry.code} "
                "is not among them (name a division, e.g. C34, if you gave only a section)"
            )

    def _check_open(self, principal: Principal, enterprise_id: str) -> None:
        """One pending application per enterprise; a few pending ones per applicant."""
        if self._applications.pending_for(enterprise_id) is not None:
            raise InvalidStateError(
                f"an application for enterprise {enterprise_id} is pending already"
            )
        limit = self._parameters().max_pending_applications
        if self._applications.count_pending_of(principal.name) >= limit:
            raise QuotaExceededError(
                f"{principal.name} has {limit} pending applications, the most allowed; "
                "withdraw one or wait for a decision"
            )

    @staticmethod
    def _check_not_own(principal: Principal, application: Application) -> None:
        if application.applicant == principal.name:
            raise NotAuthorisedError(f"{principal.name} may not decide their own application")

    @staticmethod
    def _own_enterprise(principal: Principal, operation: Operation) -> str:
        authorise(principal, operation)
        if principal.enterprise is None:
            raise NotAuthorisedError(f"{principal.name} is not bound to an enterprise")
        authorise(principal, operation, enterprise=principal.enterprise)
        return principal.enterprise

    def _require_application(self, application_id: str, op: Pending) -> Application:
        application = self._applications.get(application_id.strip())
        if application is None:
            raise NotFoundError(f"there is no application {application_id}")
        op.enterprise = application.enterprise
        return application

    def _require_enterprise(self, enterprise_id: str) -> Enterprise:
        enterprise = self._enterprises.get(enterprise_id)
        if enterprise is None:
            raise NotFoundError(f"there is no enterprise {enterprise_id}")
        return enterprise

    def _page_size(self, first: int) -> int:
        most = self._parameters().max_page_size
        if not 1 <= first <= most:
            raise InvalidValueError(f"first: a page holds 1 to {most} items")
        return first

    def _day(self) -> str:
        return self._clock().strftime("%Y-%m-%d")
