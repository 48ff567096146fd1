"""Enterprise prefix allocation (SN-1) and the approval transactions (SN-2).

The next number under the node prefix comes from an atomic counter (UpdateItem ADD on the
`enterprise-prefix` sequence, which returns the new value), so no two approvals are handed the
same number. The approval itself is one DynamoDB transaction: the prefix (only if no such
prefix exists: hand-made ones are skipped by taking the next number), the application from
pending to approved (only at the version it was read, so a decision taken meanwhile cancels
everything), the enterprise (only if none exists with this USCC) and its admin identity. A
cancelled transaction leaves a gap in the numbering; a prefix is never allocated twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from pynamodb.exceptions import TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from idnode.domain.credentials import AdminCredential
from idnode.domain.enterprises import Application, ApplicationStatus, Enterprise, Onboarding
from idnode.domain.errors import ConcurrentUpdateError, InvalidStateError
from idnode.domain.handles import fold_case
from idnode.domain.prefixes import PrefixStatus
from idnode.store.applications import ApplicationRepository
from idnode.store.enterprises import EnterpriseRepository
from idnode.store.models import CredentialModel, PrefixModel, SequenceModel, connection_for

SEQUENCE_ID = "enterprise-prefix"
CONDITION_FAILED = "ConditionalCheckFailed"
CONFLICT = "TransactionConflict"
# Items of the onboarding transaction, in the order they are written (cancellation reasons
# come back in this order).
_PREFIX, _APPLICATION, _ENTERPRISE, _CREDENTIAL = range(4)
_JUMP_ATTEMPTS = 3


class PrefixAllocator:
    def __init__(
        self,
        *,
        sequences: type[SequenceModel],
        prefixes: type[PrefixModel],
        credentials: type[CredentialModel],
        applications: ApplicationRepository,
        enterprises: EnterpriseRepository,
        node_prefix: str,
        first_number: Callable[[], int],
        max_attempts: int = 100,
    ) -> None:
        self._sequences = sequences
        self._prefixes = prefixes
        self._credentials = credentials
        self._applications = applications
        self._enterprises = enterprises
        self._node_prefix = node_prefix
        self._first_number = first_number
        self._max_attempts = max_attempts

    def next_number(self) -> int:
        """A number no other caller has been or will be given (never below the first number)."""
        first = self._first_number()
        counter = self._sequences(SEQUENCE_ID)
        for _ in range(_JUMP_ATTEMPTS):
            counter.update(actions=[self._sequences.next.add(1)])
            number = int(counter.next)
            if number >= first:
                return number
            # A fresh counter, or the first number was raised: move the counter up to just
            # below it. The condition keeps it monotonic when several callers do this at once.
            try:
                counter.update(
                    actions=[self._sequences.next.set(first - 1)],
                    condition=self._sequences.next < first - 1,
                )
            except UpdateError as error:
                if error.cause_response_code != "ConditionalCheckFailedException":
                    raise
        raise ConcurrentUpdateError("the prefix counter kept moving; try again")

    def prefix_for(self, number: int) -> str:
        return f"{self._node_prefix}.{number}"

    def approve_onboarding(self, approval: Callable[[str], Onboarding]) -> Onboarding:
        """Allocate the next free prefix and commit what `approval(prefix)` builds: the approved
        application, the enterprise and its admin credential, all or nothing.

        Raises ConcurrentUpdateError when the application changed since it was read (decided
        meanwhile) and InvalidStateError when the enterprise is onboarded already."""
        for _ in range(self._max_attempts):
            prefix = self.prefix_for(self.next_number())
            onboarding = approval(prefix)
            try:
                self._commit_onboarding(prefix, onboarding)
            except TransactWriteError as error:
                reasons = [r.code if r else None for r in error.cancellation_reasons]
                if _failed(reasons, _APPLICATION):
                    raise ConcurrentUpdateError(
                        f"application {onboarding.application.id} changed meanwhile"
                    ) from None
                if _failed(reasons, _ENTERPRISE):
                    raise InvalidStateError(
                        f"enterprise {onboarding.enterprise.id} is onboarded already"
                    ) from None
                if (
                    _failed(reasons, _PREFIX)
                    or _failed(reasons, _CREDENTIAL)
                    or CONFLICT in reasons
                ):
                    continue  # the number is taken (or contended): take the next one
                raise
            return replace(
                onboarding,
                application=replace(
                    onboarding.application, version=onboarding.application.version + 1
                ),
                enterprise=replace(onboarding.enterprise, version=1),
            )
        raise ConcurrentUpdateError(
            f"no free prefix found in {self._max_attempts} numbers; try again"
        )

    def _commit_onboarding(self, prefix: str, onboarding: Onboarding) -> None:
        application, enterprise = onboarding.application, onboarding.enterprise
        with TransactWrite(connection=connection_for(self._prefixes)) as transaction:
            transaction.save(
                self._prefix_item(prefix, enterprise.id, enterprise.created),
                condition=self._prefixes.prefix.does_not_exist(),
            )
            transaction.save(
                self._applications.to_item(application, version=application.version),
                condition=self._applications.model.status == ApplicationStatus.PENDING.value,
            )
            transaction.save(
                self._enterprises.to_item(enterprise, version=None),
                condition=self._enterprises.model.id.does_not_exist(),
            )
            transaction.save(
                self._credential_item(onboarding.credential, enterprise.created),
                condition=self._credentials.identity.does_not_exist(),
            )

    def approve_change(
        self, application: Application, enterprise: Enterprise
    ) -> tuple[Application, Enterprise]:
        """Commit the approved change application and the enterprise's new profile, each at the
        version it was read; ConcurrentUpdateError if either changed meanwhile."""
        try:
            with TransactWrite(connection=connection_for(self._prefixes)) as transaction:
                transaction.save(
                    self._applications.to_item(application, version=application.version),
                    condition=self._applications.model.status == ApplicationStatus.PENDING.value,
                )
                transaction.save(self._enterprises.to_item(enterprise, version=enterprise.version))
        except TransactWriteError as error:
            raise ConcurrentUpdateError(
                f"application {application.id} or enterprise {enterprise.id} changed meanwhile"
            ) from error
        return (
            replace(application, version=application.version + 1),
            replace(enterprise, version=enterprise.version + 1),
        )

    def _prefix_item(self, prefix: str, enterprise: str, at: datetime) -> PrefixModel:
        return self._prefixes(
            fold_case(prefix),
            name=prefix,
            enterprise=enterprise,
            status=PrefixStatus.ACTIVE.value,
            resolvable=True,
            created=at,
        )

    def _credential_item(self, credential: AdminCredential, at: datetime) -> CredentialModel:
        return self._credentials(
            fold_case(credential.identity),
            name=credential.identity,
            secret_hash=credential.secret_hash,
            prefixes=[fold_case(p) for p in credential.prefixes],
            enabled=credential.enabled,
            created=at,
        )


def _failed(reasons: list[str | None], item: int) -> bool:
    return len(reasons) > item and reasons[item] == CONDITION_FAILED
