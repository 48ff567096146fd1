"""Applications and the decisions on them. Created once (conditional write), changed only with
the version they were read at, never deleted; listed by status (the auditors' queue), by
applicant and by enterprise, in order of submission."""

from __future__ import annotations

from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError
from pynamodb.expressions.condition import Condition

from idnode.domain.enterprises import (
    Application,
    ApplicationKind,
    ApplicationStatus,
    Decision,
    Profile,
)
from idnode.domain.errors import ConcurrentUpdateError, InvalidStateError, InvalidValueError
from idnode.store.models import ApplicationModel
from idnode.store.pages import Page, decode_cursor, encode_cursor

# Index name -> the attribute its partition is keyed on.
_INDEXES = {"byStatus": "status", "byApplicant": "applicant", "byEnterprise": "enterprise"}
_SCAN_PAGE = 100  # items read per request when a filter may skip many


def submitted_key(application: Application) -> str:
    """Sorts by submission time; the id keeps keys unique."""
    return f"{application.submitted.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}#{application.id}"


def _conditional_failure(error: PutError) -> bool:
    return error.cause_response_code == "ConditionalCheckFailedException"


class ApplicationRepository:
    def __init__(self, model: type[ApplicationModel]) -> None:
        self._model = model

    @property
    def model(self) -> type[ApplicationModel]:
        return self._model

    def get(self, application_id: str) -> Application | None:
        try:
            item = self._model.get(application_id, consistent_read=True)
        except DoesNotExist:
            return None
        return self.to_application(item)

    def create(self, application: Application) -> Application:
        item = self.to_item(application, version=None)
        try:
            item.save(condition=self._model.id.does_not_exist())
        except PutError as error:
            if _conditional_failure(error):
                raise InvalidStateError(f"application {application.id} exists already") from None
            raise
        return self.to_application(item)

    def save(self, application: Application) -> Application:
        """Store a changed application; ConcurrentUpdateError if it changed since it was read."""
        item = self.to_item(application, version=application.version)
        try:
            item.save()
        except PutError as error:
            if _conditional_failure(error):
                raise ConcurrentUpdateError(
                    f"application {application.id} changed meanwhile"
                ) from None
            raise
        return self.to_application(item)

    # Listings, each cursor bound to its listing.

    def by_status(
        self, status: ApplicationStatus, limit: int, cursor: str | None, *, newest_first: bool
    ) -> Page[Application]:
        return self._list("byStatus", status.value, limit, cursor, newest_first=newest_first)

    def by_applicant(
        self,
        applicant: str,
        limit: int,
        cursor: str | None,
        *,
        status: ApplicationStatus | None = None,
        newest_first: bool = True,
    ) -> Page[Application]:
        return self._list(
            "byApplicant", applicant, limit, cursor, newest_first=newest_first, status=status
        )

    def by_enterprise(
        self,
        enterprise: str,
        limit: int,
        cursor: str | None,
        *,
        status: ApplicationStatus | None = None,
        newest_first: bool = True,
    ) -> Page[Application]:
        return self._list(
            "byEnterprise", enterprise, limit, cursor, newest_first=newest_first, status=status
        )

    def count_pending_of(self, applicant: str) -> int:
        return int(
            self._model.count(
                applicant,
                index_name="byApplicant",
                filter_condition=self._model.status == ApplicationStatus.PENDING.value,
            )
        )

    def pending_for(self, enterprise: str) -> Application | None:
        """A pending application (of either kind) for this enterprise, if any."""
        found = self._model.query(
            enterprise,
            index_name="byEnterprise",
            filter_condition=self._model.status == ApplicationStatus.PENDING.value,
            limit=1,
            page_size=_SCAN_PAGE,
        )
        return next((self.to_application(item) for item in found), None)

    def _list(
        self,
        index: str,
        partition: str,
        limit: int,
        cursor: str | None,
        *,
        newest_first: bool,
        status: ApplicationStatus | None = None,
    ) -> Page[Application]:
        order = "newest" if newest_first else "oldest"
        scope = f"applications/{index}/{partition}/{status.value if status else '*'}/{order}"
        start = decode_cursor(scope, cursor)
        if start is not None and not _is_key_of(start, index, partition):
            raise InvalidValueError("the cursor does not belong to this listing")
        condition: Condition | None = None
        if status is not None:
            condition = self._model.status == status.value
        results = self._model.query(
            partition,
            index_name=index,
            filter_condition=condition,
            scan_index_forward=not newest_first,
            limit=limit,
            last_evaluated_key=start,
            page_size=limit if status is None else max(limit, _SCAN_PAGE),
        )
        items = list(results)
        last = results.last_evaluated_key
        return Page(
            items=[self.to_application(item) for item in items],
            cursors=[encode_cursor(scope, _key_of(item, index)) for item in items],
            next_cursor=encode_cursor(scope, last) if last else None,
        )

    # Conversion (also used by the transactions that decide applications)

    def to_item(self, application: Application, version: int | None) -> ApplicationModel:
        decision = application.decision
        item = self._model(
            application.id,
            kind=application.kind.value,
            enterprise=application.enterprise,
            applicant=application.applicant,
            profile=application.profile.to_json(),
            status=application.status.value,
            submitted=application.submitted,
            submitted_key=submitted_key(application),
            decided_by=decision.by if decision else None,
            decided_at=decision.at if decision else None,
            reason=decision.reason if decision else None,
            prefix=application.prefix,
        )
        if version is not None:
            item.version = version
        return item

    @staticmethod
    def to_application(item: ApplicationModel) -> Application:
        decision = None
        if item.decided_by is not None and item.decided_at is not None:
            decision = Decision(item.decided_by, item.decided_at, item.reason)
        return Application(
            id=item.id,
            kind=ApplicationKind(item.kind),
            enterprise=item.enterprise,
            applicant=item.applicant,
            profile=Profile.from_json(item.profile),
            submitted=item.submitted,
            status=ApplicationStatus(item.status),
            decision=decision,
            prefix=item.prefix,
            version=item.version or 0,
        )


def _key_of(item: ApplicationModel, index: str) -> dict[str, Any]:
    partition = _INDEXES[index]
    return {
        "id": {"S": item.id},
        partition: {"S": getattr(item, partition)},
        "submitted_key": {"S": item.submitted_key},
    }


def _is_key_of(key: dict[str, Any], index: str, partition: str) -> bool:
    """A start key of this index and partition: exactly its three string attributes."""
    attribute = _INDEXES[index]
    if set(key) != {"id", attribute, "submitted_key"}:
        return False
    if not all(
        isinstance(v, dict) and set(v) == {"S"} and isinstance(v["S"], str) for v in key.values()
    ):
        return False
    return bool(key[attribute]["S"] == partition)
