"""The operation log on DynamoDB (moto): append-only entries, filters, pagination across
months and pages, and enterprise admins held to their enterprise."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import strawberry
from moto import mock_aws
from pynamodb.exceptions import PutError

from idnode.api.graphql.context import Context
from idnode.api.graphql.oplog import OperationLogQuery
from idnode.domain.access import Principal, user
from idnode.domain.errors import InvalidValueError, NotAuthorisedError
from idnode.domain.operations import OperationEntry
from idnode.services.operations import OperationFilter, OperationLog
from idnode.store import operations as store
from idnode.store.models import OperationModel, bind
from idnode.store.operations import OperationRepository
from tests.support.identity import REGION
from tests.support.operations import operation

NOW = datetime(2025, 3, 20, 12, 0, tzinfo=UTC)
SOURCE = "198.51.100.4"
AUDITOR = replace(user("audrey", ["auditor"], None, []), source=SOURCE)
PLATFORM_ADMIN = user("pat", ["platform-admin"], None, [])
ERIN = replace(user("erin", ["enterprise-admin"], "ent-1234", ["88.100.1234"]), source=SOURCE)
OLIVER = user("oliver", ["enterprise-admin"], "ent-5678", ["88.100.5678"])
SINCE = OperationFilter(start=datetime(2024, 12, 1, tzinfo=UTC), end=NOW)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def refuse(entry: OperationEntry, error: Exception) -> None:
    raise AssertionError(f"not stored: {entry} ({error!r})")


@pytest.fixture(scope="module")
def table() -> Iterator[type[OperationModel]]:
    """The operation log table alone, seeded once: the reading tests only read it."""
    with mock_aws():
        model = bind(OperationModel, "idnode-operations", REGION, None)
        model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
        seed(model)
        yield model


@pytest.fixture
def log(table: type[OperationModel]) -> OperationLog:
    repository = OperationRepository(table, retention_days=lambda: 400)
    return OperationLog(repository, refuse, clock=lambda: NOW)


JAN_31_LATE = datetime(2025, 1, 31, 23, 59, tzinfo=UTC)  # the last minute of a month

# 2025-01 .. 2025-03: four entries a month, two enterprises, two actors, failures among them.
SEED = [
    # (at, actor, enterprise, action, target, failure)
    (datetime(2025, 1, 5, 9, tzinfo=UTC), ERIN, "ent-1234", "register-identifier", "a/1", None),
    (datetime(2025, 1, 9, 9, tzinfo=UTC), OLIVER, "ent-5678", "register-identifier", "b/1", None),
    (
        datetime(2025, 1, 20, 9, tzinfo=UTC),
        ERIN,
        "ent-1234",
        "delete-identifier",
        "a/1",
        NotAuthorisedError("no"),
    ),
    (
        datetime(2025, 1, 31, 23, 59, tzinfo=UTC),
        PLATFORM_ADMIN,
        None,
        "update-parameters",
        "p",
        None,
    ),
    (datetime(2025, 2, 1, 0, 0, tzinfo=UTC), ERIN, "ent-1234", "register-identifier", "a/2", None),
    (
        datetime(2025, 2, 10, 9, tzinfo=UTC),
        OLIVER,
        "ent-5678",
        "register-identifier",
        "b/2",
        InvalidValueError("bad"),
    ),
    (datetime(2025, 2, 14, 9, tzinfo=UTC), ERIN, "ent-1234", "update-identifier", "a/2", None),
    (datetime(2025, 2, 28, 9, tzinfo=UTC), OLIVER, "ent-5678", "delete-identifier", "b/2", None),
    (datetime(2025, 3, 1, 9, tzinfo=UTC), ERIN, "ent-1234", "register-identifier", "a/3", None),
    (datetime(2025, 3, 2, 9, tzinfo=UTC), OLIVER, "ent-5678", "register-identifier", "b/3", None),
    (
        datetime(2025, 3, 3, 9, tzinfo=UTC),
        PLATFORM_ADMIN,
        None,
        "update-parameters",
        "p",
        RuntimeError("boom"),
    ),
    (datetime(2025, 3, 19, 9, tzinfo=UTC), ERIN, "ent-1234", "register-identifier", "a/4", None),
]


def seed(model: type[OperationModel]) -> None:
    """Record SEED's operations as the services would, through `recording`."""
    clock = Clock()
    log = OperationLog(OperationRepository(model, retention_days=lambda: 400), refuse, clock)
    for at, who, enterprise, action, target, failure in SEED:
        clock.now = at
        try:
            with log.recording(who, action, target, enterprise=enterprise):
                if failure is not None:
                    raise failure
        except (NotAuthorisedError, InvalidValueError, RuntimeError):
            pass


def read_all(
    log: OperationLog, reader: Principal, asked: OperationFilter, first: int
) -> tuple[list[OperationEntry], int]:
    """Every entry, page by page; and how many pages it took."""
    entries: list[OperationEntry] = []
    after = None
    pages = 0
    while True:
        page = log.query(reader, asked, first, after)
        pages += 1
        assert len(page.items) <= first
        entries.extend(page.items)
        if page.next_cursor is None:
            return entries, pages
        after = page.next_cursor
        assert pages < 50


def targets(entries: list[OperationEntry]) -> list[str]:
    return [f"{e.at:%m-%d}:{e.target}" for e in entries]


def expected(**match: Any) -> list[str]:
    rows = [
        row
        for row in SEED
        if all(
            {
                "actor": row[1].name,
                "enterprise": row[2],
                "action": row[3],
                "target": row[4],
                "result": "ok" if row[5] is None else "failed",
            }[k]
            == v
            for k, v in match.items()
        )
    ]
    return [f"{r[0]:%m-%d}:{r[4]}" for r in sorted(rows, key=lambda r: r[0], reverse=True)]


# Appending


def test_an_entry_is_never_overwritten(table: type[OperationModel]) -> None:
    # A table of its own (in the same mocked account), so the seeded one stays as seeded.
    model = bind(OperationModel, "idnode-operations-appending", REGION, None)
    model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
    repository = OperationRepository(model, retention_days=lambda: 200)
    entry = OperationEntry(
        id="e1",
        at=NOW,
        actor="pat",
        actor_kind="user",
        action="update-parameters",
        target="parameters",
        result="ok",
    )
    repository.append(entry)
    with pytest.raises(PutError) as refused:
        repository.append(replace(entry, result="internal", message="rewritten"))
    assert refused.value.cause_response_code == "ConditionalCheckFailedException"
    [stored] = list(model.query("2025-03"))
    assert stored.result == "ok"
    assert stored.expires == NOW + timedelta(days=200)  # retention from the parameter


# Reading


def test_everything_newest_first_across_months(log: OperationLog) -> None:
    entries, _ = read_all(log, AUDITOR, SINCE, 100)
    assert targets(entries) == expected()
    assert entries[0].source == SOURCE


@pytest.mark.parametrize(
    "match",
    [
        {"actor": "erin"},
        {"actor": "oliver"},
        {"enterprise": "ent-5678"},
        {"enterprise": "ent-1234", "actor": "erin", "action": "register-identifier"},
        {"action": "update-parameters"},
        {"target": "a/2"},
        {"result": "failed"},
        {"result": "ok", "enterprise": "ent-1234"},
        {"actor": "oliver", "result": "failed"},
    ],
    ids=lambda match: ",".join(f"{k}={v}" for k, v in match.items()),
)
def test_filters(log: OperationLog, match: dict[str, str]) -> None:
    entries, _ = read_all(log, AUDITOR, replace(SINCE, **match), 3)
    assert targets(entries) == expected(**match)


def test_a_result_filter_may_name_one_kind_of_failure(log: OperationLog) -> None:
    entries, _ = read_all(log, AUDITOR, replace(SINCE, result="not-authorised"), 10)
    assert targets(entries) == ["01-20:a/1"]
    entries, _ = read_all(log, AUDITOR, replace(SINCE, result="internal"), 10)
    assert [(e.target, e.message) for e in entries] == [("p", "internal error")]


def test_a_time_range_reads_only_its_months(log: OperationLog) -> None:
    february = OperationFilter(
        start=datetime(2025, 2, 1, tzinfo=UTC), end=datetime(2025, 3, 1, tzinfo=UTC)
    )
    entries, _ = read_all(log, AUDITOR, february, 100)
    assert targets(entries) == ["02-28:b/2", "02-14:a/2", "02-10:b/2", "02-01:a/2"]
    by_actor, _ = read_all(log, AUDITOR, replace(february, actor="erin"), 100)
    assert targets(by_actor) == ["02-14:a/2", "02-01:a/2"]


def test_the_default_range_is_the_last_30_days(log: OperationLog) -> None:
    entries, _ = read_all(log, AUDITOR, OperationFilter(), 100)
    assert targets(entries) == expected()[:5]  # from 2025-02-18 12:00 on


def test_pages_continue_across_months_without_gaps_or_repeats(log: OperationLog) -> None:
    for first in (1, 2, 3, 5):
        entries, pages = read_all(log, AUDITOR, SINCE, first)
        assert targets(entries) == expected()
        assert pages == -(-len(SEED) // first)  # no empty last page


def test_each_entry_carries_a_cursor_to_resume_after_it(log: OperationLog) -> None:
    page = log.query(AUDITOR, SINCE, 6, None)
    resumed = log.query(AUDITOR, SINCE, 2, page.cursors[2])
    assert targets(resumed.items) == expected()[3:5]


def test_a_cursor_is_refused_by_another_listing(log: OperationLog) -> None:
    cursor = log.query(AUDITOR, SINCE, 2, None).next_cursor
    with pytest.raises(InvalidValueError, match="does not belong to this listing"):
        log.query(AUDITOR, replace(SINCE, action="apply"), 2, cursor)
    with pytest.raises(InvalidValueError, match="does not belong to this listing"):
        log.query(ERIN, SINCE, 2, cursor)
    with pytest.raises(InvalidValueError, match="not valid"):
        log.query(AUDITOR, SINCE, 2, "not-a-cursor!")


def test_a_forged_position_outside_the_range_is_refused(log: OperationLog) -> None:
    from idnode.services.operations import _listing

    scope = _listing(SINCE)
    forged = store.encode_cursor(scope, {"m": "2025-04", "k": "2025-04-01T00:00:00.000000Z#x"})
    with pytest.raises(InvalidValueError, match="does not belong"):
        log.query(AUDITOR, SINCE, 2, forged)
    mismatched = store.encode_cursor(scope, {"m": "2025-01", "k": "2025-02-01T00:00:00.000000Z#x"})
    with pytest.raises(InvalidValueError, match="does not belong"):
        log.query(AUDITOR, SINCE, 2, mismatched)


def test_the_work_behind_a_page_is_bounded(
    log: OperationLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One DynamoDB query per page: a selective filter over three months then takes several
    # pages, some of them empty, but never loses or repeats an entry.
    monkeypatch.setattr(store, "MAX_QUERIES_PER_PAGE", 1)
    asked = replace(SINCE, action="update-parameters")
    entries, pages = read_all(log, AUDITOR, asked, 10)
    assert targets(entries) == expected(action="update-parameters")
    assert pages >= 3


def test_the_work_behind_a_page_is_bounded_within_a_partition(
    log: OperationLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "MAX_QUERIES_PER_PAGE", 1)
    monkeypatch.setattr(store, "MAX_EVALUATED_PER_QUERY", 2)
    asked = replace(SINCE, enterprise="ent-1234", action="delete-identifier")
    entries, pages = read_all(log, AUDITOR, asked, 10)
    assert targets(entries) == ["01-20:a/1"]
    assert pages >= 3


# Enterprise admins


def test_enterprise_admins_see_only_their_enterprise_without_addresses(log: OperationLog) -> None:
    for asked in (SINCE, replace(SINCE, enterprise="ent-5678")):
        entries, _ = read_all(log, ERIN, asked, 2)
        assert targets(entries) == expected(enterprise="ent-1234")
        assert {e.enterprise for e in entries} == {"ent-1234"}
        assert {e.source for e in entries} == {None}
    theirs, _ = read_all(log, OLIVER, replace(SINCE, actor="erin"), 5)
    assert theirs == []  # erin never acted on ent-5678's data


# GraphQL


@pytest.fixture
def run(log: OperationLog) -> Iterator[Any]:
    schema = strawberry.Schema(query=OperationLogQuery)
    # The node as the GraphQL context reaches it: only what this query uses.
    wired = SimpleNamespace(registry=None, log=log)

    def execute(principal: Principal, variables: dict[str, Any]) -> dict[str, Any]:
        context = Context(node=wired, _principal=principal)  # type: ignore[arg-type]
        result = asyncio.run(
            schema.execute(operation("OperationLog"), variables, context_value=context)
        )
        assert result.errors is None, result.errors
        assert result.data is not None
        return result.data["operationLog"]  # type: ignore[no-any-return]

    yield execute


def test_the_example_operation_pages_through_the_log(run: Any) -> None:
    variables: dict[str, Any] = {
        "filter": {"from": "2024-12-01T00:00:00Z", "to": "2025-03-20T12:00:00Z", "actor": "erin"},
        "first": 4,
    }
    first = run(AUDITOR, variables)
    assert first["__typename"] == "OperationLogConnection"
    nodes = [edge["node"] for edge in first["edges"]]
    assert [n["target"] for n in nodes] == ["a/4", "a/3", "a/2", "a/2"]
    assert nodes[0]["source"] == SOURCE
    assert first["pageInfo"]["hasNextPage"] is True
    rest = run(AUDITOR, {**variables, "after": first["pageInfo"]["endCursor"]})
    assert [e["node"]["target"] for e in rest["edges"]] == ["a/1", "a/1"]
    failed = rest["edges"][0]["node"]
    assert (failed["result"], failed["succeeded"], failed["message"]) == (
        "not-authorised",
        False,
        "no",
    )
    assert rest["pageInfo"] == {"hasNextPage": False, "endCursor": None}


def test_the_example_operation_answers_typed_errors(run: Any) -> None:
    enterprise_user = user("eve", ["enterprise-user"], "ent-1234", ["88.100.1234"])
    assert run(enterprise_user, {})["__typename"] == "NotAuthorisedError"
    bad = run(AUDITOR, {"filter": {"result": "Bad Result"}})
    assert bad["__typename"] == "InvalidInputError"
    assert "result must be" in bad["message"]
    erin = run(ERIN, {"filter": {"enterprise": "ent-5678"}, "first": 50})
    assert {e["node"]["enterprise"] for e in erin["edges"]} == {"ent-1234"}
    assert {e["node"]["source"] for e in erin["edges"]} == {None}


def test_a_default_range_that_moved_past_the_cursor_ends_the_listing(
    table: type[OperationModel],
) -> None:
    clock = Clock()
    log = OperationLog(OperationRepository(table, retention_days=lambda: 400), refuse, clock)
    page = log.query(AUDITOR, OperationFilter(), 4, None)
    assert targets(page.items) == expected()[:4]
    clock.now = NOW + timedelta(days=20)  # the last 30 days now start after 03-02
    later = log.query(AUDITOR, OperationFilter(), 4, page.cursors[-1])
    assert (later.items, later.next_cursor) == ([], None)
