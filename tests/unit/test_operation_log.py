"""The operation log: recording every operation's outcome, and who may read what of it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from idnode.domain.access import ANONYMOUS, Principal, admin_identity, user
from idnode.domain.errors import (
    AuthenticationRequiredError,
    InvalidValueError,
    NotAuthorisedError,
)
from idnode.domain.operations import OK, OperationEntry
from idnode.services.operations import (
    DEFAULT_RANGE,
    OperationFilter,
    OperationLog,
    error_kind,
)
from tests.unit.fakes_operations import QueriedOperations

NOW = datetime(2025, 3, 15, 12, 0, tzinfo=UTC)
SOURCE = "203.0.113.7"
PLATFORM_ADMIN = replace(user("pat", ["platform-admin"], None, []), source=SOURCE)
AUDITOR = replace(user("audrey", ["auditor"], None, []), source=SOURCE)
ENTERPRISE_ADMIN = replace(
    user("erin", ["enterprise-admin"], "ent-1234", ["88.100.1234"]), source=SOURCE
)
ENTERPRISE_USER = user("eve", ["enterprise-user"], "ent-1234", ["88.100.1234"])


class Unrecorded:
    """The fallback sink: what could not be stored, and why."""

    def __init__(self) -> None:
        self.calls: list[tuple[OperationEntry, Exception]] = []

    def __call__(self, entry: OperationEntry, error: Exception) -> None:
        self.calls.append((entry, error))


@pytest.fixture
def store() -> QueriedOperations:
    return QueriedOperations()


@pytest.fixture
def unrecorded() -> Unrecorded:
    return Unrecorded()


@pytest.fixture
def log(store: QueriedOperations, unrecorded: Unrecorded) -> OperationLog:
    return OperationLog(store, unrecorded, clock=lambda: NOW, max_page_size=lambda: 100)


# Recording


def test_a_successful_operation_is_recorded_with_who_what_when_and_where(
    log: OperationLog, store: QueriedOperations
) -> None:
    with log.recording(ENTERPRISE_ADMIN, "register-identifier", "88.100.1234/A") as op:
        op.enterprise = "ent-1234"
        op.details["created"] = True
    [entry] = store.entries
    assert (entry.actor, entry.actor_kind) == ("erin", "user")
    assert (entry.action, entry.target, entry.result) == (
        "register-identifier",
        "88.100.1234/A",
        OK,
    )
    assert entry.succeeded
    assert entry.at == NOW
    assert entry.source == SOURCE
    assert entry.enterprise == "ent-1234"
    assert entry.details == {"created": True}
    assert entry.message is None


def test_a_typed_failure_is_recorded_with_its_kind_and_message_and_still_raised(
    log: OperationLog, store: QueriedOperations
) -> None:
    with (
        pytest.raises(NotAuthorisedError),
        log.recording(ENTERPRISE_USER, "delete-identifier", "88.100.5678/B"),
    ):
        raise NotAuthorisedError("eve may not change identifiers under prefix 88.100.5678")
    [entry] = store.entries
    assert entry.result == "not-authorised"
    assert not entry.succeeded
    assert entry.message == "eve may not change identifiers under prefix 88.100.5678"


def test_an_unexpected_failure_is_recorded_without_its_details(
    log: OperationLog, store: QueriedOperations
) -> None:
    with (
        pytest.raises(RuntimeError),
        log.recording(PLATFORM_ADMIN, "update-parameters", "parameters"),
    ):
        raise RuntimeError("connection reset by 10.0.0.12")
    [entry] = store.entries
    assert entry.result == "internal"
    assert entry.message == "internal error"  # nothing of the cause leaks into the log


def test_a_store_failure_goes_to_the_fallback_and_never_fails_the_operation(
    log: OperationLog, store: QueriedOperations, unrecorded: Unrecorded
) -> None:
    store.fail_with = RuntimeError("throttled")
    with log.recording(PLATFORM_ADMIN, "suspend-enterprise", "ent-1234") as op:
        outcome = "done"
        op.details["reason"] = "unpaid"
    assert outcome == "done"
    [(entry, error)] = unrecorded.calls
    assert (entry.action, entry.target, entry.result) == ("suspend-enterprise", "ent-1234", OK)
    assert entry.details == {"reason": "unpaid"}
    assert str(error) == "throttled"


def test_a_store_failure_while_recording_a_failure_keeps_the_original_error(
    log: OperationLog, store: QueriedOperations, unrecorded: Unrecorded
) -> None:
    store.fail_with = RuntimeError("throttled")
    with (
        pytest.raises(NotAuthorisedError),
        log.recording(ENTERPRISE_USER, "delete-identifier", "x/y"),
    ):
        raise NotAuthorisedError("no")
    assert unrecorded.calls[0][0].result == "not-authorised"


def test_the_block_may_rename_its_target(log: OperationLog, store: QueriedOperations) -> None:
    with log.recording(ENTERPRISE_ADMIN, "mint-identifier", "88.100.1234") as op:
        op.target = "88.100.1234/0A1B"
    assert store.entries[0].target == "88.100.1234/0A1B"


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (NotAuthorisedError("x"), "not-authorised"),
        (AuthenticationRequiredError("x"), "authentication-required"),
        (InvalidValueError("x"), "invalid-value"),
        (KeyError("x"), "key"),
    ],
)
def test_error_kinds_are_kebab_case_class_names(error: Exception, kind: str) -> None:
    assert error_kind(error) == kind


# Reading: who may read what


def entry(at: datetime, enterprise: str | None = "ent-1234") -> OperationEntry:
    return OperationEntry(
        id=at.strftime("%H%M%S"),
        at=at,
        actor="erin",
        actor_kind="user",
        action="register-identifier",
        target="88.100.1234/A",
        result=OK,
        enterprise=enterprise,
        source=SOURCE,
    )


@pytest.mark.parametrize("reader", [PLATFORM_ADMIN, AUDITOR], ids=["platform-admin", "auditor"])
def test_staff_read_any_enterprise_and_see_addresses(
    log: OperationLog, store: QueriedOperations, reader: Principal
) -> None:
    store.entries.append(entry(NOW - timedelta(hours=1)))
    page = log.query(reader, OperationFilter(enterprise="ent-5678"), 10, None)
    assert store.last.query.enterprise == "ent-5678"
    assert page.items[0].source == SOURCE
    log.query(reader, OperationFilter(), 10, None)
    assert store.last.query.enterprise is None


def test_enterprise_admins_are_held_to_their_enterprise_whatever_they_ask(
    log: OperationLog, store: QueriedOperations
) -> None:
    store.entries.append(entry(NOW - timedelta(hours=1)))
    for asked in (None, "ent-5678"):
        page = log.query(ENTERPRISE_ADMIN, OperationFilter(enterprise=asked), 10, None)
        assert store.last.query.enterprise == "ent-1234"
        assert page.items[0].source is None  # addresses are for staff only


def test_an_enterprise_admin_without_an_enterprise_reads_nothing(log: OperationLog) -> None:
    stray = user("sam", ["enterprise-admin"], None, [])
    with pytest.raises(NotAuthorisedError):
        log.query(stray, OperationFilter(), 10, None)


@pytest.mark.parametrize(
    ("reader", "error"),
    [
        (ENTERPRISE_USER, NotAuthorisedError),
        (user("pam", [], None, []), NotAuthorisedError),
        (admin_identity(300, "88.100.1234/ADMIN", ["88.100.1234"]), NotAuthorisedError),
        (ANONYMOUS, AuthenticationRequiredError),
    ],
    ids=["enterprise-user", "person", "admin-identity", "anonymous"],
)
def test_others_may_not_read_the_log(
    log: OperationLog, store: QueriedOperations, reader: Principal, error: type[Exception]
) -> None:
    with pytest.raises(error):
        log.query(reader, OperationFilter(), 10, None)
    assert store.asked == []


# Reading: the filter


def test_without_times_the_last_30_days_are_read(
    log: OperationLog, store: QueriedOperations
) -> None:
    log.query(AUDITOR, OperationFilter(), 10, None)
    assert (store.last.query.start, store.last.query.end) == (NOW - DEFAULT_RANGE, NOW)


def test_a_missing_bound_is_filled_in_from_the_other(
    log: OperationLog, store: QueriedOperations
) -> None:
    since = datetime(2025, 3, 1, tzinfo=UTC)
    log.query(AUDITOR, OperationFilter(start=since), 10, None)
    assert (store.last.query.start, store.last.query.end) == (since, NOW)
    until = datetime(2025, 2, 1, tzinfo=UTC)
    log.query(AUDITOR, OperationFilter(end=until), 10, None)
    assert (store.last.query.start, store.last.query.end) == (until - DEFAULT_RANGE, until)


def test_times_are_read_in_utc_and_a_time_without_a_zone_is_utc(
    log: OperationLog, store: QueriedOperations
) -> None:
    beijing = timezone(timedelta(hours=8))
    log.query(
        AUDITOR,
        OperationFilter(
            start=datetime(2025, 3, 1, 8, 0, tzinfo=beijing), end=datetime(2025, 3, 2, 0, 0)
        ),
        10,
        None,
    )
    assert store.last.query.start == datetime(2025, 3, 1, 0, 0, tzinfo=UTC)
    assert store.last.query.end == datetime(2025, 3, 2, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("asked", "message"),
    [
        (OperationFilter(start=NOW, end=NOW), "from must be before to"),
        (OperationFilter(start=NOW + timedelta(days=1)), "from must be before to"),
        (OperationFilter(start=NOW - timedelta(days=401)), "more than 400 days"),
        (OperationFilter(result="Failed!"), "result must be"),
        (OperationFilter(actor=""), "actor must be 1 to 512 characters"),
        (OperationFilter(target="x" * 513), "target must be 1 to 512 characters"),
    ],
)
def test_bad_filters_are_refused_with_a_reason(
    log: OperationLog, store: QueriedOperations, asked: OperationFilter, message: str
) -> None:
    with pytest.raises(InvalidValueError, match=message):
        log.query(AUDITOR, asked, 10, None)
    assert store.asked == []


@pytest.mark.parametrize("result", ["ok", "failed", "not-authorised", "concurrent-update"])
def test_result_filters(log: OperationLog, store: QueriedOperations, result: str) -> None:
    log.query(AUDITOR, OperationFilter(result=result), 10, None)
    assert store.last.query.result == result


@pytest.mark.parametrize("first", [0, 101, -1])
def test_page_size_is_bounded_by_the_parameter(log: OperationLog, first: int) -> None:
    with pytest.raises(InvalidValueError, match="between 1 and 100"):
        log.query(AUDITOR, OperationFilter(), first, None)


def test_cursors_are_bound_to_the_filter_but_not_to_the_moving_default_range(
    store: QueriedOperations, unrecorded: Unrecorded
) -> None:
    now = [NOW]
    log = OperationLog(store, unrecorded, clock=lambda: now[0])
    log.query(AUDITOR, OperationFilter(action="apply"), 10, None)
    first = store.last.scope
    now[0] += timedelta(minutes=5)
    log.query(AUDITOR, OperationFilter(action="apply"), 10, "cursor")
    assert store.last.scope == first
    assert store.last.cursor == "cursor"
    log.query(AUDITOR, OperationFilter(action="withdraw-application"), 10, None)
    assert store.last.scope != first
    log.query(AUDITOR, OperationFilter(action="apply", start=NOW - timedelta(days=2)), 10, None)
    assert store.last.scope != first


def test_an_enterprise_admins_cursor_is_bound_to_their_enterprise(
    log: OperationLog, store: QueriedOperations
) -> None:
    log.query(ENTERPRISE_ADMIN, OperationFilter(), 10, None)
    own = store.last.scope
    log.query(AUDITOR, OperationFilter(enterprise="ent-1234"), 10, None)
    assert store.last.scope == own  # the same listing, whoever reads it
    log.query(AUDITOR, OperationFilter(enterprise="ent-5678"), 10, None)
    assert store.last.scope != own
